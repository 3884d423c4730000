package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// ruleEntitySet is the rules' path in @odata.context.
const ruleEntitySet = "security/partner/alertsSuppressionRules"

// ruleScope is Defender's suppressionAlertsScope.
type ruleScope struct {
	AllOf []silence.Condition `json:"allOf"`
}

// ruleJSON is a suppression rule as served: Defender's alertsSuppressionRule
// properties (flattened, as Graph entities are), and Vigil's scope,
// resolution and authorship.
type ruleJSON struct {
	ID                     string     `json:"id"`
	AlertType              string     `json:"alertType"`
	Reason                 string     `json:"reason"`
	Comment                string     `json:"comment"`
	ExpirationDateUtc      *string    `json:"expirationDateUtc"`
	State                  string     `json:"state"`
	SuppressionAlertsScope *ruleScope `json:"suppressionAlertsScope"`
	ResolvedReason         string     `json:"resolvedReason"`
	PartnerID              *string    `json:"partnerId"`
	CustomerTenantID       *string    `json:"customerTenantId"`
	CreatedDateTime        string     `json:"createdDateTime"`
	CreatedBy              string     `json:"createdBy"`
	LastModifiedUtc        string     `json:"lastModifiedUtc"`
	LastModifiedBy         string     `json:"lastModifiedBy"`
}

// ruleWritable are the members a create or update may set.
var ruleWritable = []string{"alertType", "reason", "comment", "expirationDateUtc", "state",
	"suppressionAlertsScope", "resolvedReason", "customerTenantId"}

// ruleReadOnly are the members only the server sets.
var ruleReadOnly = []string{"id", "partnerId", "createdDateTime", "createdBy", "lastModifiedUtc", "lastModifiedBy"}

func renderRule(r *silence.Rule, now time.Time) ruleJSON {
	out := ruleJSON{
		ID: r.ID, AlertType: r.AlertType, Reason: r.Reason, Comment: r.Comment, State: r.State(now),
		ResolvedReason: string(r.Resolution()), PartnerID: nullable(r.PartnerID), CustomerTenantID: nullable(r.TenantID),
		CreatedDateTime: r.Created.UTC().Format(time.RFC3339Nano), CreatedBy: r.CreatedBy,
		LastModifiedUtc: r.Updated.UTC().Format(time.RFC3339Nano), LastModifiedBy: r.UpdatedBy,
	}
	if !r.Expires.IsZero() {
		s := r.Expires.UTC().Format(time.RFC3339Nano)
		out.ExpirationDateUtc = &s
	}
	if len(r.Conditions) > 0 {
		out.SuppressionAlertsScope = &ruleScope{AllOf: r.Conditions}
	}
	return out
}

// seesRule reports whether the principal may see and change the rule: a
// rule of one of its tenants, or its partner's partner-wide rule.
func (p *principal) seesRule(r *silence.Rule) bool {
	if r.TenantID != "" {
		return p.owns(r.TenantID)
	}
	return p.tok.PartnerID != "" && r.PartnerID == p.tok.PartnerID
}

// applyRule sets r's members from a create or update body, checking the
// tenant against what the principal may reach. now rejects expiries in
// the past.
func applyRule(r *silence.Rule, m map[string]json.RawMessage, p *principal, now time.Time) error {
	isReadOnly := func(name string) bool {
		for _, n := range ruleReadOnly {
			if n == name {
				return true
			}
		}
		return false
	}
	if err := unknownMembers(m, ruleWritable, isReadOnly); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		dst  *string
		null bool
	}{{"alertType", &r.AlertType, false}, {"reason", &r.Reason, false}, {"comment", &r.Comment, true}} {
		v, ok, err := stringMember(m, f.name, f.null)
		if err != nil {
			return err
		}
		if ok {
			*f.dst = v
		}
	}
	if v, ok, err := stringMember(m, "expirationDateUtc", true); err != nil {
		return err
	} else if ok {
		r.Expires = time.Time{}
		if v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return badRequest(fmt.Sprintf("expirationDateUtc %q is not a date and time such as 2026-12-01T00:00:00Z", v))
			}
			if !t.After(now) {
				return badRequest("expirationDateUtc is in the past")
			}
			r.Expires = t
		}
	}
	if v, ok, err := enumMember(m, "state", []string{silence.StateEnabled, silence.StateDisabled}, false); err != nil {
		return err
	} else if ok {
		r.Enabled = v == silence.StateEnabled
	}
	if v, ok, err := enumMember(m, "resolvedReason", []string{"legitimate", "ignore", "fraud"}, true); err != nil {
		return err
	} else if ok {
		r.ResolvedReason = alert.ResolvedReason(v)
	}
	if raw, ok := m["suppressionAlertsScope"]; ok {
		r.Conditions = nil
		if string(raw) != "null" {
			var sc ruleScope
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&sc); err != nil {
				return badRequest("suppressionAlertsScope must be {\"allOf\": [{\"field\": ..., \"in\": [...]} or {\"field\": ..., \"contains\": ...}]}: " + err.Error())
			}
			r.Conditions = sc.AllOf
		}
	}
	if v, ok, err := stringMember(m, "customerTenantId", true); err != nil {
		return err
	} else if ok {
		r.TenantID = tenancy.NormalizeID(v)
	}
	if r.TenantID == "" && p.partner() == "" {
		r.TenantID = p.tok.TenantID // a customer's rule is for its tenant
	}
	if r.TenantID != "" && !p.owns(r.TenantID) {
		return &httpError{http.StatusForbidden, CodeAccessDenied, fmt.Sprintf("customer tenant %s is not in this token's scope", r.TenantID)}
	}
	if err := r.Validate(); err != nil {
		return badRequest(strings.TrimPrefix(err.Error(), "silence: "))
	}
	return nil
}

// refreshRules reloads the silencer after a rule change.
func (h *handler) refreshRules(ctx context.Context) {
	if h.sil == nil {
		return
	}
	if err := h.sil.Refresh(context.WithoutCancel(ctx)); err != nil {
		h.log.ErrorContext(ctx, "api: cannot refresh suppression rules", slog.Any("error", err))
	}
}

func (h *handler) writeRule(w http.ResponseWriter, r *http.Request, status int, rule *silence.Rule) error {
	b, err := json.Marshal(renderRule(rule, h.now()))
	if err != nil {
		return err
	}
	ctxURL, _ := json.Marshal(h.contextURL(r, ruleEntitySet, nil, true))
	out := append([]byte(`{"@odata.context":`), ctxURL...)
	out = append(out, ',')
	out = append(out, b[1:]...)
	writeRaw(w, status, out)
	return nil
}

func (h *handler) listRules(w http.ResponseWriter, r *http.Request, p *principal) error {
	rules, err := h.st.ListRules(r.Context(), p.activityScope())
	if err != nil {
		return err
	}
	body := listBody{Context: h.contextURL(r, ruleEntitySet, nil, false), Value: []json.RawMessage{}}
	now := h.now()
	for i := range rules {
		if !p.seesRule(&rules[i]) {
			continue
		}
		b, err := json.Marshal(renderRule(&rules[i], now))
		if err != nil {
			return err
		}
		body.Value = append(body.Value, b)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// ruleInScope returns the rule with the ID if the principal may see it.
func (h *handler) ruleInScope(r *http.Request, p *principal) (*silence.Rule, error) {
	rule, err := h.st.GetRule(r.Context(), r.PathValue("id"))
	// Another tenant's rule answers exactly as a rule that does not exist,
	// so a token cannot learn which IDs exist outside its scope.
	if errors.Is(err, store.ErrNotFound) || err == nil && !p.seesRule(&rule) {
		return nil, notFound(msgNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &rule, nil
}

func (h *handler) getRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	rule, err := h.ruleInScope(r, p)
	if err != nil {
		return err
	}
	return h.writeRule(w, r, http.StatusOK, rule)
}

func (h *handler) createRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := readObject(w, r)
	if err != nil {
		return err
	}
	now := h.now()
	rule := silence.Rule{Enabled: true, PartnerID: p.partner()}
	if err := applyRule(&rule, m, p, now); err != nil {
		return err
	}
	stored, err := h.st.CreateRule(r.Context(), rule, p.actor(now))
	if err != nil {
		return err
	}
	h.refreshRules(r.Context())
	w.Header().Set("Location", h.baseURL(r)+r.URL.Path+"/"+stored.ID)
	return h.writeRule(w, r, http.StatusCreated, &stored)
}

func (h *handler) patchRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := readObject(w, r)
	if err != nil {
		return err
	}
	rule, err := h.ruleInScope(r, p)
	if err != nil {
		return err
	}
	now := h.now()
	if err := applyRule(rule, m, p, now); err != nil {
		return err
	}
	stored, err := h.st.UpdateRule(r.Context(), *rule, p.actor(now))
	if err != nil {
		return err
	}
	h.refreshRules(r.Context())
	return h.writeRule(w, r, http.StatusOK, &stored)
}

func (h *handler) deleteRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	rule, err := h.ruleInScope(r, p)
	if err != nil {
		return err
	}
	if err := h.st.DeleteRule(r.Context(), rule.ID, p.actor(h.now())); err != nil {
		return err
	}
	h.refreshRules(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
