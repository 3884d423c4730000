package api_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
)

const alertsPath = "/security/partner/securityAlerts"

func TestPatchLifecycle(t *testing.T) {
	e := newEnv(t)
	e.seed()
	path := "/v1.0" + alertsPath + "/a00"
	bad := []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"unknown status", `{"status": "closed"}`, 400, "BadRequest", `status "closed" is not one of`},
		{"future value", `{"status": "unknownFutureValue"}`, 400, "BadRequest", "cannot be set"},
		{"no status", `{"resolvedReason": "fraud"}`, 400, "BadRequest", "status is required"},
		{"resolved without reason", `{"status": "resolved"}`, 400, "BadRequest", "resolvedReason is required"},
		{"reason without resolution", `{"status": "investigating", "resolvedReason": "fraud"}`, 400, "BadRequest", "only for status resolved"},
		{"unknown reason", `{"status": "resolved", "resolvedReason": "boring"}`, 400, "BadRequest", `resolvedReason "boring" is not one of`},
		{"read-only property", `{"status": "resolved", "resolvedReason": "fraud", "severity": "low"}`, 400, "BadRequest", "severity is read-only"},
		{"unknown property", `{"status": "resolved", "resolvedReason": "fraud", "colour": "red"}`, 400, "BadRequest", `unknown property "colour"`},
		{"wrong odata type", `{"@odata.type": "#microsoft.graph.user", "status": "investigating"}`, 400, "BadRequest", "@odata.type"},
		{"not an object", `["status"]`, 400, "BadRequest", "not a JSON object"},
		{"trailing data", `{"status": "investigating"} {}`, 400, "BadRequest", "after its JSON object"},
		{"number status", `{"status": 2}`, 400, "BadRequest", "must be a string"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("PATCH", path, "aRW", tc.body)
			if r.status != tc.status || r.errCode() != tc.code || !strings.Contains(r.message(), tc.msg) {
				t.Errorf("%d %s, want %d %s mentioning %q", r.status, r.raw, tc.status, tc.code, tc.msg)
			}
		})
	}
	req, _ := http.NewRequest("PATCH", e.srv.URL+path, strings.NewReader(`status=resolved`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+e.tok["aRW"])
	if r := e.send(req); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("form body: %d %s", r.status, r.raw)
	}
	e.do("PATCH", path, "aRO", `{"status": "investigating"}`).want(t, http.StatusForbidden)

	e.clock.Set(t0.Add(time.Minute))
	r := e.do("PATCH", path, "aRW", `{"@odata.type": "#microsoft.graph.partner.security.partnerSecurityAlert", "status": "Investigating", "resolvedReason": null}`).want(t, http.StatusOK)
	if r.body["status"] != "investigating" || r.body["resolvedReason"] != nil || r.body["@odata.context"] != e.srv.URL+"/v1.0/$metadata#security/partner/securityAlerts/$entity" {
		t.Errorf("after investigating: %s", r.raw)
	}
	// The same status again changes and records nothing.
	e.clock.Set(t0.Add(2 * time.Minute))
	e.do("PATCH", path, "aRW", `{"status": "investigating"}`).want(t, http.StatusOK)
	e.clock.Set(t0.Add(3 * time.Minute))
	r = e.do("PATCH", path, "partnerRW", `{"status": "resolved", "resolvedReason": "legitimate"}`).want(t, http.StatusOK)
	if r.body["resolvedBy"] != "samanthab@contoso.com" || r.body["resolvedOnDateTime"] != "2026-11-20T12:03:00Z" {
		t.Errorf("after resolve: %s", r.raw)
	}
	logs := r.body["activityLogs"].([]any)
	want := []string{"active>investigating by danas@fabrikam.example at 2026-11-20T12:01:00Z",
		"investigating>resolved by samanthab@contoso.com at 2026-11-20T12:03:00Z"}
	var got []string
	for _, l := range logs {
		m := l.(map[string]any)
		got = append(got, m["statusFrom"].(string)+">"+m["statusTo"].(string)+" by "+m["updatedBy"].(string)+" at "+m["updatedDateTime"].(string))
	}
	if !slices.Equal(got, want) {
		t.Errorf("activityLogs = %q, want %q", got, want)
	}
	// Resolved is final.
	for _, body := range []string{`{"status": "active"}`, `{"status": "resolved", "resolvedReason": "fraud"}`} {
		if r := e.do("PATCH", path, "aRW", body); r.status != http.StatusConflict || r.errCode() != "notAllowed" {
			t.Errorf("%s on a resolved alert: %d %s", body, r.status, r.raw)
		}
	}
	if r := e.do("PATCH", alertsPath+"/nope", "aRW", `{"status": "investigating"}`); r.status != 404 {
		t.Errorf("unknown alert: %d", r.status)
	}
	// Each change is in the system activity log, and OnAlertChange heard it.
	acts := e.do("GET", "/security/partner/activityLogs?operationType=security+alert+status+updated&$orderby=operationDate", "aRO", nil).want(t, 200).values()
	if len(acts) != 2 || acts[0]["resourceId"] != "a00" || acts[0]["resourceNewValue"] != "investigating" ||
		acts[1]["resourceNewValue"] != "resolved (legitimate)" || acts[1]["userPrincipalName"] != "samanthab@contoso.com" || acts[1]["partnerId"] != partnerP {
		t.Errorf("status records = %v", acts)
	}
	if len(e.changed) != 2 || e.changed[1].Status != alert.StatusResolved {
		t.Errorf("OnAlertChange got %d alerts", len(e.changed))
	}
}

// message returns the message of an error body.
func (r resp) message() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// TestRecurrenceOpensLinkedAlert runs the lifecycle of issue part 2 with
// the real alert manager: an alert resolved through the API, then the same
// activity again, gives a new alert linked to the resolved one, and both
// are kept.
func TestRecurrenceOpensLinkedAlert(t *testing.T) {
	ctx := context.Background()
	m := alert.NewManager(alert.ManagerOptions{Now: func() time.Time { return t0 }})
	e := newEnv(t, func(o *apiOptions) { o.OnAlertChange = m.Track })
	cand := func(at time.Time) alert.Candidate {
		return alert.Candidate{
			Type: "KV_TORAccess", Time: at, TenantID: tenantA, SubscriptionID: docsSub,
			Resource:        "/subscriptions/" + docsSub + "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod",
			Entities:        []alert.Entity{{Type: alert.EntityIP, Role: "attacker", Address: "185.220.101.4"}},
			Details:         map[string]string{"vault": "kv-prod", "caller": "ana@fabrikam.example", "callerIp": "185.220.101.4"},
			FingerprintKeys: []string{"kv-prod", "185.220.101.4"},
		}
	}
	first, created, err := m.Add(cand(t0.Add(-2 * time.Hour)))
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if err := e.st.SaveAlert(ctx, first); err != nil {
		t.Fatal(err)
	}
	e.do("PATCH", alertsPath+"/"+first.ID, "aRW", `{"status": "resolved", "resolvedReason": "fraud"}`).want(t, http.StatusOK)

	again, created, err := m.Add(cand(t0.Add(-time.Hour)))
	if err != nil || !created || again.ID == first.ID {
		t.Fatalf("repeat after resolution: created %v, id %s (first %s), %v", created, again.ID, first.ID, err)
	}
	if err := e.st.SaveAlert(ctx, again); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", alertsPath+"/"+again.ID, "aRO", nil).want(t, http.StatusOK)
	if r.body["previousAlertId"] != first.ID || r.body["status"] != "active" {
		t.Errorf("new alert: previousAlertId %v, status %v", r.body["previousAlertId"], r.body["status"])
	}
	old := e.do("GET", alertsPath+"/"+first.ID, "aRO", nil).want(t, http.StatusOK)
	if old.body["status"] != "resolved" || old.body["resolvedReason"] != "fraud" {
		t.Errorf("the resolved alert was reopened: %s", old.raw)
	}
	list := e.do("GET", alertsPath+"?$filter="+url.QueryEscape("previousAlertId eq '"+first.ID+"'"), "aRO", nil).want(t, http.StatusOK)
	if ids := list.ids(); len(ids) != 1 || ids[0] != again.ID {
		t.Errorf("filter on previousAlertId: %v", ids)
	}
}

func TestListQueries(t *testing.T) {
	e := newEnv(t)
	e.seed()
	get := func(role string, q url.Values) resp {
		t.Helper()
		return e.do("GET", alertsPath+"?"+q.Encode(), role, nil)
	}
	// Paging by @odata.nextLink walks every alert once, in order.
	var walked []string
	next := e.srv.URL + alertsPath + "?$top=3&$orderby=detectedDateTime%20desc&$count=true"
	for pages := 0; next != ""; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		req, _ := http.NewRequest("GET", next, nil)
		req.Header.Set("Authorization", "Bearer "+e.tok["partnerRO"])
		r := e.send(req).want(t, http.StatusOK)
		if r.body["@odata.count"] != 10.0 {
			t.Errorf("page %d: @odata.count = %v", pages, r.body["@odata.count"])
		}
		walked = append(walked, r.ids()...)
		next, _ = r.body["@odata.nextLink"].(string)
		if next != "" && !strings.HasPrefix(next, e.srv.URL+alertsPath+"?") {
			t.Fatalf("nextLink %q", next)
		}
	}
	all := get("partnerRO", url.Values{"$orderby": {"detectedDateTime desc"}}).want(t, 200).ids()
	if len(walked) != 10 || !slices.Equal(walked, all) {
		t.Errorf("paged %v, unpaged %v", walked, all)
	}

	tests := []struct {
		name string
		q    url.Values
		want []string
	}{
		{"default order newest first", url.Values{"$top": {"3"}}, []string{"a00", "a01", "a02"}},
		{"filter and order", url.Values{"$filter": {"severity eq 'high' and status eq 'active'"}, "$orderby": {"id desc"}}, []string{docsAlertID, "a03", "a00"}},
		{"severity ordered by rank", url.Values{"$filter": {"alertType ne 'CryptoMining'"}, "$orderby": {"severity desc, id"}}, []string{"a00", "a03", "a01", "a04", "a02"}},
		{"in", url.Values{"$filter": {"alertType in ('KV_ListGetAnomaly', 'ARM_OperationFromSuspiciousIP')"}, "$orderby": {"id"}}, []string{"a01", "a02", "a04"}},
		{"dates", url.Values{"$filter": {"detectedDateTime ge 2026-11-19T00:00:00Z and detectedDateTime lt 2026-11-20T00:00:00Z"}}, []string{"a02", "a03"}},
		{"skip", url.Values{"$orderby": {"id"}, "$skip": {"4"}}, []string{"a04", docsAlertID}},
		{"top 0", url.Values{"$top": {"0"}}, nil},
		{"unresolved", url.Values{"$filter": {"resolvedReason eq null and resolvedBy eq null"}, "$top": {"1"}}, []string{"a00"}},
		{"customer tenant", url.Values{"$filter": {"customerTenantId eq " + strings.ToUpper(tenantA) + " and subscriptionId eq '" + docsSub + "'"}, "$top": {"1"}}, []string{"a00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := get("aRO", tc.q).want(t, http.StatusOK)
			if got := r.ids(); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	sel := get("aRO", url.Values{"$select": {"status,ID,previousAlertId"}, "$top": {"1"}}).want(t, 200)
	if sel.body["@odata.context"] != e.srv.URL+"/$metadata#security/partner/securityAlerts(status,id,previousAlertId)" {
		t.Errorf("@odata.context = %v", sel.body["@odata.context"])
	}
	if v := sel.values()[0]; len(v) != 3 || v["id"] != "a00" || v["status"] != "active" || v["previousAlertId"] != nil {
		t.Errorf("$select gave %v", v)
	}

	ja := e.do("GET", alertsPath+"/a00?lang=ja", "aRO", nil).want(t, 200)
	nl := e.do("GET", alertsPath+"/a00", "aRO", nil)
	req, _ := http.NewRequest("GET", e.srv.URL+alertsPath+"/a00", nil)
	req.Header.Set("Authorization", "Bearer "+e.tok["aRO"])
	req.Header.Set("Accept-Language", "de-DE, nl-NL;q=0.8, ja;q=0.5")
	nl = e.send(req).want(t, 200)
	en := e.do("GET", alertsPath+"/a00", "aRO", nil).want(t, 200)
	if ja.body["displayName"] != "TOR 出口ノードからキー コンテナーへのアクセス" ||
		nl.body["displayName"] != "Toegang vanaf een TOR-eindknooppunt tot een sleutelkluis" ||
		en.body["displayName"] != "Access from a TOR exit node to a key vault" {
		t.Errorf("languages: ja %v, nl %v, en %v", ja.body["displayName"], nl.body["displayName"], en.body["displayName"])
	}

	for _, q := range []url.Values{
		{"$filter": {"status eq 'closed'"}},
		{"$filter": {"displayName eq 'x'"}},
		{"$filter": {"customerTenantId eq 'not-a-guid'"}},
		{"$filter": {"status eq 'active'; DROP TABLE alerts"}},
		{"$orderby": {"description"}},
		{"$top": {"5000"}},
		{"$expand": {"activityLogs"}},
		{"$select": {"nope"}},
		{"$skiptoken": {"garbage"}},
	} {
		r := get("aRO", q)
		if r.status != http.StatusBadRequest || r.errCode() != "BadRequest" {
			t.Errorf("%v: %d %s", q, r.status, r.raw)
		}
	}
}

func TestResolveStale(t *testing.T) {
	e := newEnv(t)
	e.seed()
	path := "/beta" + alertsPath + "/resolveStale"
	for _, body := range []string{`{}`, `{"olderThanDays": 0}`, `{"olderThanDays": 1.5}`, `{"olderThanDays": "x"}`, `{"olderThanDays": 3, "force": true}`} {
		if r := e.do("POST", path, "partnerRW", body); r.status != 400 {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}
	e.do("POST", path, "partnerRO", `{"olderThanDays": 1}`).want(t, http.StatusForbidden)
	// Tenant A's alerts were detected 1, 11, 21, 31 and 41 hours ago (and
	// the documentation alert in 2024): older than one day are a03, a04 and it.
	r := e.do("POST", path, "aRW", `{"olderThanDays": 1}`).want(t, http.StatusOK)
	ids, _ := r.body["value"].([]any)
	if r.body["resolvedCount"] != 3.0 || len(ids) != 3 || r.body["olderThanDateTime"] != "2026-11-19T12:00:00Z" {
		t.Errorf("resolveStale: %s", r.raw)
	}
	left := e.do("GET", alertsPath+"?$filter=status+eq+'resolved'&$orderby=id", "aRO", nil).want(t, 200)
	if got := left.ids(); !slices.Equal(got, []string{"a03", "a04", docsAlertID}) {
		t.Errorf("resolved: %v", got)
	}
	a := e.do("GET", alertsPath+"/a04", "aRO", nil).body
	if a["resolvedReason"] != "ignore" || a["resolvedBy"] != "danas@fabrikam.example" {
		t.Errorf("a04: %v %v", a["resolvedReason"], a["resolvedBy"])
	}
	if len(e.changed) != 3 {
		t.Errorf("OnAlertChange heard %d alerts, want 3", len(e.changed))
	}
	if again := e.do("POST", path, "aRW", `{"olderThanDays": 1}`).want(t, 200); again.body["resolvedCount"] != 0.0 {
		t.Errorf("second run resolved %v", again.body["resolvedCount"])
	}
}
