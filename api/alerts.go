package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

// alertEntitySet is the alerts' path in @odata.context.
const alertEntitySet = "security/partner/securityAlerts"

// alertODataType is partnerSecurityAlert's OData type name.
const alertODataType = "microsoft.graph.partner.security.partnerSecurityAlert"

func (h *handler) listAlerts(w http.ResponseWriter, r *http.Request, p *principal) error {
	c, err := compileQuery(alertSchema, r.URL.Query())
	if err != nil {
		return err
	}
	q := c.q
	ctx := r.Context()
	body := listBody{Context: h.contextURL(r, alertEntitySet, q.Select, false), Value: []json.RawMessage{}}
	lq := store.ListQuery{TenantIDs: p.tenants, Filter: c.filter, OrderBy: c.orderBy, Offset: q.Skip}
	if q.Count {
		n, err := h.st.CountAlerts(ctx, lq)
		if err != nil {
			return err
		}
		body.Count = &n
	}
	if q.Top > 0 {
		lq.Limit = q.Top + 1 // one more tells whether there is a next page
		alerts, err := h.st.ListAlerts(ctx, lq)
		if err != nil {
			return err
		}
		if len(alerts) > q.Top {
			alerts = alerts[:q.Top]
			body.NextLink = h.baseURL(r) + r.URL.Path + "?" + q.NextPage(r.URL.Query()).Encode()
		}
		lang := pickLanguage(r, h.lang)
		for _, a := range alerts {
			b, err := marshalSelected(render(a, lang), q.Select)
			if err != nil {
				return err
			}
			body.Value = append(body.Value, b)
		}
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// alertInScope returns the alert with the ID if the principal may see it.
func (h *handler) alertInScope(r *http.Request, p *principal, id string) (*alert.Alert, error) {
	a, err := h.st.GetAlert(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !p.owns(a.TenantID) {
		return nil, notFound("the item does not exist or is not in this token's scope")
	}
	return a, nil
}

// writeAlert answers with one alert, with @odata.context, trimmed to sel.
func (h *handler) writeAlert(w http.ResponseWriter, r *http.Request, a *alert.Alert, sel []string) error {
	b, err := marshalSelected(render(a, pickLanguage(r, h.lang)), sel)
	if err != nil {
		return err
	}
	ctxURL, _ := json.Marshal(h.contextURL(r, alertEntitySet, sel, true))
	out := make([]byte, 0, len(b)+len(ctxURL)+20)
	out = append(out, `{"@odata.context":`...)
	out = append(out, ctxURL...)
	if len(b) > 2 {
		out = append(out, ',')
		out = append(out, b[1:]...)
	} else {
		out = append(out, '}')
	}
	writeRaw(w, http.StatusOK, out)
	return nil
}

func (h *handler) getAlert(w http.ResponseWriter, r *http.Request, p *principal) error {
	// $select applies; the other options are checked but have no effect on
	// a single entity.
	c, err := compileQuery(alertSchema, r.URL.Query())
	if err != nil {
		return err
	}
	a, err := h.alertInScope(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.writeAlert(w, r, a, c.q.Select)
}

// patchBody is a checked PATCH body.
type patchBody struct {
	status alert.Status
	reason alert.ResolvedReason
}

// parsePatch checks an update of partnerSecurityAlert: status (required)
// and resolvedReason (required exactly when status is resolved), and
// optionally "@odata.type" as Graph's SDKs send it.
func parsePatch(m map[string]json.RawMessage) (patchBody, error) {
	if err := odataType(m, alertODataType); err != nil {
		return patchBody{}, err
	}
	readOnly := func(name string) bool { _, ok := alertSchema.Props[name]; return ok }
	if err := unknownMembers(m, []string{"status", "resolvedReason"}, readOnly); err != nil {
		return patchBody{}, err
	}
	status, ok, err := enumMember(m, "status", statusEnum, false)
	if err != nil {
		return patchBody{}, err
	}
	if !ok {
		return patchBody{}, badRequest("status is required: active, investigating or resolved")
	}
	if status == "unknownFutureValue" {
		return patchBody{}, badRequest("status unknownFutureValue cannot be set; use active, investigating or resolved")
	}
	reason, _, err := enumMember(m, "resolvedReason", reasonEnum, true)
	if err != nil {
		return patchBody{}, err
	}
	if reason == "unknownFutureValue" {
		return patchBody{}, badRequest("resolvedReason unknownFutureValue cannot be set; use legitimate, ignore or fraud")
	}
	pb := patchBody{status: alert.Status(status), reason: alert.ResolvedReason(reason)}
	switch {
	case pb.status == alert.StatusResolved && pb.reason == alert.ReasonNone:
		return patchBody{}, badRequest("resolvedReason is required when status is resolved: legitimate, ignore or fraud")
	case pb.status != alert.StatusResolved && pb.reason != alert.ReasonNone:
		return patchBody{}, badRequest(fmt.Sprintf("resolvedReason is only for status resolved, not %s", pb.status))
	}
	return pb, nil
}

func (h *handler) patchAlert(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := readObject(w, r)
	if err != nil {
		return err
	}
	pb, err := parsePatch(m)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	cur, err := h.alertInScope(r, p, id)
	if err != nil {
		return err
	}
	if cur.Status == pb.status && cur.ResolvedReason == pb.reason {
		return h.writeAlert(w, r, cur, nil) // already so: nothing to change or record
	}
	a, err := h.st.ChangeStatus(r.Context(), store.StatusChange{
		ID: id, To: pb.status, Reason: pb.reason, By: p.actor(h.now()), TenantIDs: p.tenants,
	})
	if err != nil {
		return err
	}
	h.changed(a)
	return h.writeAlert(w, r, a, nil)
}

// changed tells OnAlertChange about an alert the API changed.
func (h *handler) changed(a *alert.Alert) {
	if h.onChange != nil && a != nil {
		h.onChange(a.Clone())
	}
}

// maxStaleDays bounds olderThanDays (a century).
const maxStaleDays = 36500

// staleBody is the answer of resolveStale.
type staleBody struct {
	Context       string   `json:"@odata.context"`
	OlderThan     string   `json:"olderThanDateTime"`
	ResolvedCount int      `json:"resolvedCount"`
	Value         []string `json:"value"`
}

func (h *handler) resolveStale(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := readObject(w, r)
	if err != nil {
		return err
	}
	days, err := parseStale(m)
	if err != nil {
		return err
	}
	now := h.now()
	before := now.Add(-time.Duration(days) * 24 * time.Hour)
	ids, err := h.st.ResolveStale(r.Context(), store.StaleResolve{Before: before, By: p.actor(now), TenantIDs: p.tenants})
	if err != nil {
		return err
	}
	if h.onChange != nil {
		for _, id := range ids {
			a, err := h.st.GetAlert(r.Context(), id)
			if err != nil {
				return err
			}
			h.changed(a)
		}
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, http.StatusOK, staleBody{
		Context:   h.baseURL(r) + versionPrefix(r.URL.Path) + "/$metadata#Collection(Edm.String)",
		OlderThan: before.UTC().Format(time.RFC3339Nano), ResolvedCount: len(ids), Value: ids,
	})
	return nil
}

// parseStale checks a resolveStale body: {"olderThanDays": N}, N a whole
// number from 1 to maxStaleDays.
func parseStale(m map[string]json.RawMessage) (int, error) {
	if err := unknownMembers(m, []string{"olderThanDays"}, func(string) bool { return false }); err != nil {
		return 0, err
	}
	raw, ok := m["olderThanDays"]
	if !ok {
		return 0, badRequest("olderThanDays is required")
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, badRequest("olderThanDays must be a number")
	}
	days, err := n.Int64()
	if err != nil || days < 1 || days > maxStaleDays {
		return 0, badRequest(fmt.Sprintf("olderThanDays must be a whole number from 1 to %d, not %s", maxStaleDays, n))
	}
	return int(days), nil
}
