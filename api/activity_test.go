package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/store"
)

const activityPath = "/security/partner/activityLogs"

func TestActivityLogAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Detections as `vigil serve` records them, on three days.
	for i, a := range []*alert.Alert{
		mkAlert("a10", "KV_TORAccess", tenantA, alert.SeverityMedium, t0),
		mkAlert("a11", "KV_ListGetAnomaly", tenantA, alert.SeverityMedium, t0),
		mkAlert("b10", "KV_TORAccess", tenantB, alert.SeverityMedium, t0),
	} {
		if err := e.st.RecordActivity(ctx, store.AlertActivities(a, time.Date(2026, 11, 1+i, 8, 0, 0, 0, time.UTC))...); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(r resp) string {
		var out []string
		for _, v := range r.values() {
			out = append(out, v["resourceId"].(string))
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		role, query, want string
	}{
		{"aRO", "operationType=Azure+Fraud+Event+Detected", "a11,a10"},
		{"partnerRO", "operationType=Azure+Fraud+Event+Detected", "b10,a11,a10"},
		{"qRW", "operationType=Azure+Fraud+Event+Detected", ""},
		{"partnerRO", "operationType=Azure+Fraud+Event+Detected&startDate=2026-11-02&endDate=2026-11-02", "a11"},
		{"partnerRO", "operationType=azure+fraud+event+detected&startDate=2026-11-02T08:00:00Z", "b10,a11"},
		{"partnerRO", "operationType=Azure+Fraud+Event+Detected&endDate=2026-11-02T08:00:00Z", "a10"},
		{"partnerRO", "$filter=" + url.QueryEscape("operationType eq 'Azure Fraud Event Detected' and customerId eq "+tenantB), "b10"},
		{"partnerRO", "$filter=" + url.QueryEscape("operationDate lt 2026-11-03 and resourceType eq 'securityAlert'") + "&$orderby=operationDate", "a10,a11"},
		{"aRO", "$filter=" + url.QueryEscape("customerId eq "+tenantB), ""},
		{"partnerRO", "operationType=API+Token+Created,API+Token+Revoked&$filter=" + url.QueryEscape("customerId eq null"), "*2"},
	}
	for _, tc := range tests {
		t.Run(tc.role+"?"+tc.query, func(t *testing.T) {
			r := e.do("GET", activityPath+"?"+tc.query, tc.role, nil).want(t, http.StatusOK)
			got := ids(r)
			if strings.HasPrefix(tc.want, "*") {
				got = "*" + string(rune('0'+len(r.values())))
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	r := e.do("GET", activityPath+"?operationType=Azure+Fraud+Event+Detected&$top=1&$count=true", "partnerRO", nil).want(t, 200)
	v := r.values()
	if r.body["@odata.count"] != 3.0 || len(v) != 1 || r.body["@odata.nextLink"] == nil {
		t.Fatalf("page: %s", r.raw)
	}
	rec := v[0]
	if rec["operationStatus"] != "succeeded" || rec["operationDate"] != "2026-11-03T08:00:00Z" || rec["customerId"] != tenantB ||
		rec["userPrincipalName"] != "vigil" || rec["resourceType"] != "securityAlert" {
		t.Errorf("record: %v", rec)
	}
	for _, q := range []string{"startDate=yesterday", "startDate=2026-11-03&endDate=2026-11-01", "$filter=actor+eq+'x'", "$orderby=details"} {
		if r := e.do("GET", activityPath+"?"+q, "partnerRO", nil); r.status != 400 || r.errCode() != "BadRequest" {
			t.Errorf("%s: %d %s", q, r.status, r.raw)
		}
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	e.seed()
	path := e.srv.URL + alertsPath
	for name, header := range map[string]string{
		"none":      "",
		"basic":     "Basic dXNlcjpwYXNz",
		"malformed": "Bearer vgl_short",
		"unknown":   "Bearer vgl_" + strings.Repeat("A", 43),
		"jwt":       "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
	} {
		req, _ := http.NewRequest("GET", path, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		r := e.send(req)
		if r.status != http.StatusUnauthorized || r.errCode() != "InvalidAuthenticationToken" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %s %q", name, r.status, r.raw, r.header.Get("WWW-Authenticate"))
		}
	}
	// Revocation takes effect at the next request.
	e.do("GET", alertsPath, "bRW", nil).want(t, http.StatusOK)
	toks, err := e.st.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.TenantID == tenantB {
			if _, err := e.st.RevokeToken(context.Background(), tok.ID, store.Actor{Name: "cli", At: t0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r := e.do("GET", alertsPath, "bRW", nil); r.status != http.StatusUnauthorized || !strings.Contains(r.message(), "revoked") {
		t.Errorf("revoked token: %d %s", r.status, r.raw)
	}
	// Every use is on record (TokenUseInterval < 0 in these tests).
	e.do("GET", alertsPath+"/a00", "aRO", nil)
	uses := e.do("GET", activityPath+"?operationType=API+Token+Used", "aRO", nil).want(t, 200).values()
	// This listing and the get before it; the aRO token has no name, so it
	// acts as "token:<id>".
	if len(uses) != 2 || uses[0]["customerId"] != tenantA || !strings.HasPrefix(uses[0]["userPrincipalName"].(string), "token:") {
		t.Errorf("token use records: %v", uses)
	}
}

func TestTokenUseCoalesced(t *testing.T) {
	e := newEnv(t, func(o *apiOptions) { o.TokenUseInterval = time.Minute })
	for range 5 {
		e.do("GET", alertsPath, "aRO", nil).want(t, 200)
	}
	e.clock.Set(t0.Add(time.Minute))
	e.do("GET", alertsPath, "aRO", nil).want(t, 200)
	uses := e.do("GET", activityPath+"?operationType=API+Token+Used&$orderby=id", "aRO", nil).values()
	// First use at once (1 request); the next record after a minute carries
	// the 5 requests since (4 in the first minute and the one that made it
	// due); the listing request itself is the first of the next window.
	if len(uses) != 2 {
		t.Fatalf("records: %v", uses)
	}
	count := func(v map[string]any) string {
		for _, kv := range v["customizedData"].([]any) {
			if m := kv.(map[string]any); m["key"] == "requests" {
				return m["value"].(string)
			}
		}
		return ""
	}
	if count(uses[0]) != "1" || count(uses[1]) != "5" {
		t.Errorf("request counts %s, %s; want 1, 5", count(uses[0]), count(uses[1]))
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nowhere", 404, "itemNotFound", ""},
		{"GET", "/v2.0/security/partner/securityAlerts", 404, "itemNotFound", ""},
		{"DELETE", "/beta" + alertsPath + "/x", 405, "methodNotAllowed", "GET, PATCH"},
		{"PUT", alertsPath, 405, "methodNotAllowed", "GET"},
		{"GET", alertsPath + "/resolveStale", 404, "itemNotFound", ""},
		{"PUT", alertsPath + "/resolveStale", 405, "methodNotAllowed", "POST"},
		{"POST", "/openapi.yaml", 405, "methodNotAllowed", "GET"},
	} {
		r := e.do(tc.method, tc.path, "aRW", nil)
		if r.status != tc.status || r.errCode() != tc.code || r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d %s (Allow %q)", tc.method, tc.path, r.status, r.raw, r.header.Get("Allow"))
		}
	}
}

// TestOpenAPIDescribesEveryRoute: the served document parses, and its
// paths and methods are exactly the API's routes.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/openapi.yaml", "", nil).want(t, http.StatusOK)
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(r.raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	inDoc := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			switch m {
			case "get", "put", "post", "patch", "delete":
				inDoc[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	served := map[string]bool{}
	for _, rt := range api.Routes() {
		served[rt] = true
		if !inDoc[rt] {
			t.Errorf("route %s is not in openapi.yaml", rt)
		}
	}
	for op := range inDoc {
		if !served[op] {
			t.Errorf("openapi.yaml describes %s, which is not served", op)
		}
	}
	j := e.do("GET", "/openapi.json", "", nil).want(t, http.StatusOK)
	if j.body["openapi"] != "3.1.0" || j.body["paths"] == nil {
		t.Errorf("openapi.json: %.200s", j.raw)
	}
}
