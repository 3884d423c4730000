package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify/webhook"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

func FuzzPatchBody(f *testing.F) {
	f.Add(`{"status": "resolved", "resolvedReason": "fraud"}`)
	f.Add(`{"@odata.type": "#microsoft.graph.partner.security.partnerSecurityAlert", "status": "String", "resolvedReason": "String"}`)
	f.Add(`{"status": "investigating", "resolvedReason": null}`)
	f.Add(`{"status": "ACTIVE"}`)
	f.Add(`{"status": 1e400}`)
	f.Add(`[]`)
	f.Add(`null`)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := parseObject([]byte(body))
		if err != nil {
			return
		}
		pb, err := parsePatch(m)
		if err != nil {
			return
		}
		// Whatever is accepted is a state the store accepts.
		if (pb.status == alert.StatusResolved) != (pb.reason != alert.ReasonNone) {
			t.Fatalf("accepted %q: status %s with reason %q", body, pb.status, pb.reason)
		}
		if err := store.CheckTransition(alert.StatusActive, pb.status, pb.reason); err != nil && pb.status != alert.StatusActive {
			t.Fatalf("accepted %q, which the store refuses: %v", body, err)
		}
	})
}

func FuzzRuleBody(f *testing.F) {
	f.Add(`{"alertType": "KV_TORAccess", "reason": "x", "suppressionAlertsScope": {"allOf": [{"field": "entities.ip.address", "in": ["10.0.0.0/8"]}]}}`)
	f.Add(`{"alertType": "*", "reason": "x", "suppressionAlertsScope": null, "customerTenantId": "T"}`)
	f.Add(`{"alertType": "a", "reason": "b", "expirationDateUtc": "2030-01-01T00:00:00Z", "state": "disabled"}`)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := parseObject([]byte(body))
		if err != nil {
			return
		}
		p := &principal{tok: store.Token{TenantID: "t"}, tenants: []string{"t"}}
		r := ruleForTest()
		if err := applyRule(&r, m, p, time.Unix(0, 0)); err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted an invalid rule from %q: %v", body, err)
		}
		if r.TenantID != "t" {
			t.Fatalf("accepted a rule for tenant %q from a token of tenant t", r.TenantID)
		}
	})
}

func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"ja", "nl-NL, en;q=0.5", "de, *;q=0.1", "en;q=abc, ja;q=0", ";;,,", "JA-jp;Q=1.0"} {
		f.Add(s)
	}
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, h string) {
		l, ok := acceptLanguage(h)
		if ok && l != "en" && l != "ja" && l != "nl" {
			t.Fatalf("acceptLanguage(%q) = %q", h, l)
		}
	})
}

// fuzzEnv is a handler over a store with alerts of two tenants and a token
// of the first.
type fuzzEnv struct {
	h     http.Handler
	token string
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(tb.TempDir(), store.DefaultFile))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	t0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var alerts []*alert.Alert
	for i := range 40 {
		tenant := []string{"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"}[i%2]
		a := &alert.Alert{ID: fmt.Sprintf("x%02d", i), Type: []string{"KV_TORAccess", "CryptoMining"}[i%3%2], Fingerprint: fmt.Sprint(i),
			Severity: alert.SeverityLow, Status: alert.StatusActive, TenantID: tenant, SubscriptionID: "",
			Detected: t0.Add(time.Duration(i) * time.Hour), Count: i}
		if i%5 == 0 {
			a.Status, a.ResolvedReason, a.ResolvedBy, a.ResolvedOn = alert.StatusResolved, alert.ReasonFraud, "x%_'", t0
		}
		if i%7 == 0 {
			a.LastObserved, a.PreviousID, a.SubscriptionID = t0, "x00", "33333333-3333-4333-8333-333333333333"
		}
		alerts = append(alerts, a)
	}
	if err := st.SaveAlerts(ctx, alerts); err != nil {
		tb.Fatal(err)
	}
	text, _, err := IssueToken(ctx, st, TokenRequest{TenantID: "11111111-1111-4111-8111-111111111111"}, store.Actor{Name: "t", At: t0}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzEnv{h: New(Options{Store: st, Directory: &tenancy.Directory{}}), token: text}
}

// FuzzListFilter sends any $filter and $orderby through the whole list
// path (parser, rewrite, compiler, store): the answer is 200 or 400, never
// 500, and holds only the token's tenant's alerts.
func FuzzListFilter(f *testing.F) {
	for _, s := range []string{
		"status eq 'active'", "customerTenantId eq 22222222-2222-4222-8222-222222222222",
		"not (customerTenantId eq 11111111-1111-4111-8111-111111111111) or true",
		"resolvedBy eq null or contains(resolvedBy, '%_')", "subscriptionId in (null, 33333333-3333-4333-8333-333333333333)",
		"count gt 3 and (severity eq 'low' or id ge 'x10')", "lastObservedDateTime ne null", "previousAlertId eq 'x00'",
		"detectedDateTime ge 2026-11-21", "resolvedOnDateTime lt 2030-01-01T00:00:00Z",
	} {
		f.Add(s, "detectedDateTime desc")
	}
	f.Add("", "severity, count desc")
	e := newFuzzEnv(f)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, filter, orderby string) {
		q := url.Values{"$filter": {filter}, "$orderby": {orderby}, "$top": {"100"}, "$count": {"true"}}
		if filter == "" {
			q.Del("$filter")
		}
		if orderby == "" {
			q.Del("$orderby")
		}
		req := httptest.NewRequest("GET", "/security/partner/securityAlerts?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusBadRequest:
			return
		case http.StatusOK:
		default:
			t.Fatalf("$filter %q $orderby %q: %d %s", filter, orderby, rec.Code, rec.Body)
		}
		var body struct {
			Count int `json:"@odata.count"`
			Value []struct {
				Tenant string `json:"customerTenantId"`
			} `json:"value"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if body.Count != len(body.Value) {
			t.Fatalf("count %d for %d alerts", body.Count, len(body.Value))
		}
		for _, v := range body.Value {
			if !strings.HasPrefix(v.Tenant, "1111") {
				t.Fatalf("$filter %q returned an alert of tenant %s", filter, v.Tenant)
			}
		}
	})
}

func ruleForTest() silence.Rule { return silence.Rule{Enabled: true} }

func FuzzWebhookRegistrationBody(f *testing.F) {
	f.Add(`{"WebhookUrl": "https://hooks.example.com/x", "WebhookEvents": ["azure-fraud-event-detected", "test-created"]}`)
	f.Add(`{"WebhookUrl": "http://10.0.0.1/", "WebhookEvents": ["test-created"], "Payload": "alert", "Language": "ja"}`)
	f.Add(`{"WebhookUrl": "http://[::ffff:127.0.0.1]:80/", "WebhookEvents": ["test-created"]}`)
	f.Add(`{"WebhookUrl": "https://x", "WebhookEvents": [], "Language": "de"}`)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := parseObject([]byte(body))
		if err != nil {
			return
		}
		var c webhook.Config
		guard := &webhook.Guard{}
		if err := applyRegistrationMembers(m, &c, guard); err != nil {
			return
		}
		if _, err := guard.CheckURL(c.URL); err != nil {
			t.Fatalf("accepted URL %q: %v", c.URL, err)
		}
		if len(c.Events) == 0 {
			t.Fatalf("accepted no events from %q", body)
		}
		for _, e := range c.Events {
			if !slices.Contains(webhook.Events(), e) {
				t.Fatalf("accepted event %q", e)
			}
		}
		if c.Payload != "" && c.Payload != webhook.PayloadEvent && c.Payload != webhook.PayloadAlert {
			t.Fatalf("accepted payload %q", c.Payload)
		}
	})
}
