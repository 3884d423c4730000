package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
)

const rulesPath = "/security/partner/alertsSuppressionRules"

// torRule is Defender's documented example rule shape (IP condition with
// "in" and a "contains" condition), adapted to a Key Vault alert.
const torRule = `{
  "alertType": "KV_TORAccess",
  "reason": "SpecificEntityFalsePositive",
  "comment": "Red team exercise from the scanner range",
  "state": "Enabled",
  "expirationDateUtc": "2026-12-31T00:00:00Z",
  "suppressionAlertsScope": {"allOf": [
    {"field": "entities.ip.address", "in": ["185.220.101.0/24"]},
    {"field": "entities.keyvault.name", "contains": "kv-"}
  ]}
}`

func TestSuppressionRulesAPI(t *testing.T) {
	e := newEnv(t)
	e.seed()
	created := e.do("POST", "/v1.0"+rulesPath, "aRW", torRule).want(t, http.StatusCreated)
	id, _ := created.body["id"].(string)
	if len(id) != 36 || created.header.Get("Location") != e.srv.URL+"/v1.0"+rulesPath+"/"+id {
		t.Fatalf("created: %s (Location %q)", created.raw, created.header.Get("Location"))
	}
	for k, want := range map[string]any{
		"state": "Enabled", "customerTenantId": tenantA, "partnerId": nil, "resolvedReason": "ignore",
		"createdBy": "danas@fabrikam.example", "expirationDateUtc": "2026-12-31T00:00:00Z",
	} {
		if created.body[k] != want {
			t.Errorf("created %s = %v, want %v", k, created.body[k], want)
		}
	}
	// The silencer took the rule at once: a matching new alert is suppressed.
	a := mkAlert("new", "KV_TORAccess", tenantA, alert.SeverityMedium, t0)
	if !e.sil.Apply(a, t0) || a.SuppressedBy != id || a.ResolvedBy != "suppression:"+id {
		t.Errorf("new alert not suppressed by the rule: %+v", a)
	}
	other := mkAlert("other", "KV_TORAccess", tenantB, alert.SeverityMedium, t0)
	if e.sil.Apply(other, t0) {
		t.Error("tenant A's rule suppressed tenant B's alert")
	}

	// Other tenants cannot see, change or delete it; its partner can see it.
	for _, role := range []string{"bRW", "qRW"} {
		e.do("GET", rulesPath+"/"+id, role, nil).want(t, http.StatusNotFound)
		e.do("PATCH", rulesPath+"/"+id, role, `{"state": "Disabled"}`).want(t, http.StatusNotFound)
		e.do("DELETE", rulesPath+"/"+id, role, nil).want(t, http.StatusNotFound)
		if n := len(e.do("GET", rulesPath, role, nil).want(t, 200).values()); n != 0 {
			t.Errorf("%s lists %d rules", role, n)
		}
	}
	if got := e.do("GET", rulesPath, "partnerRO", nil).want(t, 200).ids(); len(got) != 1 || got[0] != id {
		t.Errorf("partner lists %v", got)
	}
	e.do("PATCH", rulesPath+"/"+id, "aRO", `{"state": "Disabled"}`).want(t, http.StatusForbidden)
	e.do("POST", rulesPath, "bRW", strings.Replace(torRule, `"state"`, `"customerTenantId": "`+tenantA+`", "state"`, 1)).want(t, http.StatusForbidden)

	// Changing it: recorded with old and new, and the silencer follows.
	e.clock.Set(t0.Add(time.Hour))
	upd := e.do("PATCH", rulesPath+"/"+id, "partnerRW", `{"state": "Disabled", "comment": null}`).want(t, http.StatusOK)
	if upd.body["state"] != "Disabled" || upd.body["comment"] != "" || upd.body["lastModifiedBy"] != "samanthab@contoso.com" ||
		upd.body["createdBy"] != "danas@fabrikam.example" || upd.body["lastModifiedUtc"] != "2026-11-20T13:00:00Z" {
		t.Errorf("updated: %s", upd.raw)
	}
	if b := mkAlert("new2", "KV_TORAccess", tenantA, alert.SeverityMedium, t0); e.sil.Apply(b, t0) {
		t.Error("a disabled rule still suppresses")
	}
	e.do("DELETE", rulesPath+"/"+id, "aRW", nil).want(t, http.StatusNoContent)
	e.do("GET", rulesPath+"/"+id, "aRW", nil).want(t, http.StatusNotFound)

	acts := e.do("GET", "/security/partner/activityLogs?$filter=resourceType+eq+'suppressionRule'&$orderby=id", "aRO", nil).want(t, 200).values()
	var seq []string
	for _, a := range acts {
		seq = append(seq, a["operationType"].(string)+" by "+a["userPrincipalName"].(string))
	}
	if strings.Join(seq, "; ") != "Suppression Rule Created by danas@fabrikam.example; Suppression Rule Updated by samanthab@contoso.com; Suppression Rule Deleted by danas@fabrikam.example" {
		t.Errorf("rule records: %q", seq)
	}
	if len(acts) == 3 && (!strings.Contains(acts[1]["resourceOldValue"].(string), `"enabled":true`) || !strings.Contains(acts[1]["resourceNewValue"].(string), `"enabled":false`)) {
		t.Errorf("update record lacks old and new: %v", acts[1])
	}

	// A partner-wide rule covers its customers, not another partner's.
	pw := e.do("POST", rulesPath, "partnerRW", `{"alertType": "CryptoMining", "reason": "Other", "resolvedReason": "legitimate"}`).want(t, http.StatusCreated)
	if pw.body["customerTenantId"] != nil || pw.body["partnerId"] != partnerP {
		t.Errorf("partner-wide rule: %s", pw.raw)
	}
	for tenant, want := range map[string]bool{tenantA: true, tenantB: true, tenantC: false} {
		c := mkAlert("cm", "CryptoMining", tenant, alert.SeverityHigh, t0)
		if got := e.sil.Apply(c, t0); got != want || (got && c.ResolvedReason != alert.ReasonLegitimate) {
			t.Errorf("partner-wide rule on tenant %s: %v (%s), want %v", tenant, got, c.ResolvedReason, want)
		}
	}
	if n := len(e.do("GET", rulesPath, "aRO", nil).values()); n != 0 {
		t.Errorf("a customer lists its partner's partner-wide rule (%d)", n)
	}
	e.do("GET", rulesPath+"/"+pw.body["id"].(string), "aRO", nil).want(t, http.StatusNotFound)
}

func TestSuppressionRuleValidation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, body, msg string }{
		{"mute everything", `{"alertType": "*", "reason": "x"}`, "at least one condition"},
		{"no reason", `{"alertType": "KV_TORAccess"}`, "reason is required"},
		{"bad field", `{"alertType": "*", "reason": "x", "suppressionAlertsScope": {"allOf": [{"field": "entities.ip.port", "in": ["22"]}]}}`, "unknown property"},
		{"bad prefix", `{"alertType": "*", "reason": "x", "suppressionAlertsScope": {"allOf": [{"field": "entities.ip.address", "in": ["10.0.0.0/99"]}]}}`, "not an address"},
		{"unknown scope member", `{"alertType": "*", "reason": "x", "suppressionAlertsScope": {"allOf": [{"field": "resourceId", "equals": "x"}]}}`, "suppressionAlertsScope must be"},
		{"past expiry", `{"alertType": "KV_TORAccess", "reason": "x", "expirationDateUtc": "2020-01-01T00:00:00Z"}`, "in the past"},
		{"bad expiry", `{"alertType": "KV_TORAccess", "reason": "x", "expirationDateUtc": "tomorrow"}`, "not a date and time"},
		{"expired state", `{"alertType": "KV_TORAccess", "reason": "x", "state": "Expired"}`, "state"},
		{"read-only", `{"alertType": "KV_TORAccess", "reason": "x", "createdBy": "me"}`, "read-only"},
		{"unknown", `{"alertType": "KV_TORAccess", "reason": "x", "name": "n"}`, "unknown property"},
		{"bad resolution", `{"alertType": "KV_TORAccess", "reason": "x", "resolvedReason": "unknownFutureValue"}`, "resolvedReason"},
		{"control in type", `{"alertType": "KV_TORAccess\n2026-01-01 INFO forged", "reason": "x"}`, "control character"},
		{"control in value", `{"alertType": "*", "reason": "x", "suppressionAlertsScope": {"allOf": [{"field": "resourceId", "in": ["a\u001b[2J"]}]}}`, "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", rulesPath, "aRW", tc.body)
			if r.status != http.StatusBadRequest || !strings.Contains(r.message(), tc.msg) {
				t.Errorf("%d %s, want 400 mentioning %q", r.status, r.raw, tc.msg)
			}
		})
	}
	if n := len(e.do("GET", rulesPath, "aRO", nil).values()); n != 0 {
		t.Errorf("%d rules stored from bad requests", n)
	}
}
