package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/store"
)

// activityEntitySet is the activity log's path in @odata.context.
const activityEntitySet = "security/partner/activityLogs"

// keyValue is one customizedData entry, as in Partner Center's auditRecord.
type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// activityJSON is one activity record as served, after Partner Center's
// auditRecord.
type activityJSON struct {
	ID                string     `json:"id"`
	OperationDate     string     `json:"operationDate"`
	OperationType     string     `json:"operationType"`
	OperationStatus   string     `json:"operationStatus"`
	PartnerID         *string    `json:"partnerId"`
	CustomerID        *string    `json:"customerId"`
	UserPrincipalName string     `json:"userPrincipalName"`
	ResourceType      string     `json:"resourceType"`
	ResourceID        string     `json:"resourceId"`
	ResourceOldValue  *string    `json:"resourceOldValue"`
	ResourceNewValue  *string    `json:"resourceNewValue"`
	CustomizedData    []keyValue `json:"customizedData"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func renderActivity(a *store.Activity) activityJSON {
	out := activityJSON{
		ID: strconv.FormatInt(a.ID, 10), OperationDate: a.Time.UTC().Format(time.RFC3339Nano),
		OperationType: a.OperationType, OperationStatus: "succeeded",
		PartnerID: nullable(a.PartnerID), CustomerID: nullable(a.TenantID), UserPrincipalName: a.Actor,
		ResourceType: a.ResourceType, ResourceID: a.ResourceID,
		ResourceOldValue: nullable(a.OldValue), ResourceNewValue: nullable(a.NewValue),
		CustomizedData: []keyValue{},
	}
	for _, k := range slices.Sorted(maps.Keys(a.Details)) {
		out.CustomizedData = append(out.CustomizedData, keyValue{k, a.Details[k]})
	}
	return out
}

// parseDay reads a startDate or endDate: an RFC 3339 date-time, or a date
// (midnight UTC). For endDate a bare date means the end of that day.
func parseDay(name, v string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, badRequest(fmt.Sprintf("%s %q is neither a date (2026-11-01) nor a date and time (2026-11-01T00:00:00Z)", name, v))
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// activityFilters reads startDate, endDate and operationType (repeatable,
// or comma-separated).
func activityFilters(v url.Values, q *store.ActivityQuery) error {
	var err error
	if s := v.Get("startDate"); s != "" {
		if q.From, err = parseDay("startDate", s, false); err != nil {
			return err
		}
	}
	if s := v.Get("endDate"); s != "" {
		if q.To, err = parseDay("endDate", s, true); err != nil {
			return err
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return badRequest("startDate must be before endDate")
	}
	for _, s := range v["operationType"] {
		for op := range strings.SplitSeq(s, ",") {
			if op = strings.TrimSpace(op); op != "" {
				q.OperationTypes = append(q.OperationTypes, canonicalOperation(op))
			}
		}
	}
	return nil
}

// canonicalOperation returns the operation type's canonical spelling when
// op names one without regard to case, else op itself (which then matches
// nothing).
func canonicalOperation(op string) string {
	for _, o := range store.OperationTypes() {
		if strings.EqualFold(o, op) {
			return o
		}
	}
	return op
}

func (h *handler) listActivity(w http.ResponseWriter, r *http.Request, p *principal) error {
	v := r.URL.Query()
	c, err := compileQuery(activitySchema, v)
	if err != nil {
		return err
	}
	q := c.q
	aq := store.ActivityQuery{Scope: p.activityScope(), Filter: c.filter, OrderBy: c.orderBy, Offset: q.Skip}
	if err := activityFilters(v, &aq); err != nil {
		return err
	}
	ctx := r.Context()
	body := listBody{Context: h.contextURL(r, activityEntitySet, q.Select, false), Value: []json.RawMessage{}}
	if q.Count {
		n, err := h.st.CountActivity(ctx, aq)
		if err != nil {
			return err
		}
		body.Count = &n
	}
	if q.Top > 0 {
		aq.Limit = q.Top + 1
		acts, err := h.st.ListActivity(ctx, aq)
		if err != nil {
			return err
		}
		if len(acts) > q.Top {
			acts = acts[:q.Top]
			body.NextLink = h.baseURL(r) + r.URL.Path + "?" + q.NextPage(v).Encode()
		}
		for i := range acts {
			b, err := marshalSelected(renderActivity(&acts[i]), q.Select)
			if err != nil {
				return err
			}
			body.Value = append(body.Value, b)
		}
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
