package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

func TestLoginSessionLogout(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)

	code, loc, _ := c.do("GET", "/?status=all", nil)
	if code != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape("/?status=all") {
		t.Fatalf("signed out: %d %q", code, loc)
	}
	if code, body := c.get("/login"); code != http.StatusOK || !strings.Contains(body, `name="token"`) {
		t.Fatalf("login page: %d", code)
	}
	for _, bad := range []string{"", "nope", "vgl_" + strings.Repeat("A", 43)} {
		code, _, body := c.do("POST", "/login", url.Values{"token": {bad}})
		if code != http.StatusUnauthorized || !strings.Contains(body, "That token is not valid.") {
			t.Errorf("token %q: %d", bad, code)
		}
	}
	// A POST without a session is refused, not redirected.
	if code, _, _ := c.do("POST", "/alerts/bulk", url.Values{"action": {"fraud"}}); code != http.StatusUnauthorized {
		t.Errorf("POST without session: %d", code)
	}

	code, loc, _ = c.do("POST", "/login", url.Values{"token": {e.tokens[rolePartner]}, "next": {"//evil.example/x"}})
	if code != http.StatusSeeOther || loc != "/" {
		t.Fatalf("login with a foreign next: %d %q", code, loc)
	}
	u, _ := url.Parse(e.srv.URL)
	var sess *http.Cookie
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == "vigil_session" {
			sess = ck
		}
	}
	if sess == nil {
		t.Fatal("no session cookie")
	}
	code, body := c.get("/")
	if code != http.StatusOK || !strings.Contains(body, "ana@woodgrove.example") {
		t.Fatalf("alerts page after login: %d", code)
	}

	// Logout needs the CSRF token.
	if code, _, _ := c.do("POST", "/logout", url.Values{}); code != http.StatusForbidden {
		t.Errorf("logout without CSRF: %d", code)
	}
	if code, _, _ := c.do("POST", "/logout", url.Values{"csrf": {"wrong"}}); code != http.StatusForbidden {
		t.Errorf("logout with a wrong CSRF token: %d", code)
	}
	code, loc, _ = c.post("/logout", nil)
	if code != http.StatusSeeOther || loc != "/login" {
		t.Fatalf("logout: %d %q", code, loc)
	}
	// The old cookie no longer works, even when replayed.
	req, _ := http.NewRequest("GET", e.srv.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: "vigil_session", Value: sess.Value})
	res, err := e.srv.Client().Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed session after logout: %d", res.StatusCode)
	}
}

func TestCookieAttributesAndRevocation(t *testing.T) {
	for _, tls := range []bool{false, true} {
		e := newEnv(t, tls)
		res, err := e.client(t).c.PostForm(e.srv.URL+"/login", url.Values{"token": {e.tokens[rolePartner]}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var sc string
		for _, v := range res.Header.Values("Set-Cookie") {
			if strings.HasPrefix(v, "vigil_session=") {
				sc = v
			}
		}
		if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") || strings.Contains(sc, "Secure") != tls {
			t.Errorf("tls %v: Set-Cookie %q", tls, sc)
		}
	}

	e := newEnv(t, false)
	c := e.client(t)
	c.login(roleCustomer)
	if code, _ := c.get("/"); code != http.StatusOK {
		t.Fatal(code)
	}
	toks, _ := e.st.ListTokens(context.Background())
	for _, tk := range toks {
		if tk.TenantID == tenantC {
			if _, err := e.st.RevokeToken(context.Background(), tk.ID, store.Actor{Name: "test", At: testNow}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if code, _, _ := c.do("GET", "/", nil); code != http.StatusSeeOther {
		t.Errorf("after revocation: %d, want a redirect to the login page", code)
	}
	if code, _, body := c.do("POST", "/login", url.Values{"token": {e.tokens[roleCustomer]}}); code != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Errorf("login with a revoked token: %d", code)
	}
}

func TestSecurityHeadersAndCrossOrigin(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	c.login(rolePartner)
	req, _ := http.NewRequest("GET", e.srv.URL+"/", nil)
	res, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: %v", res.Header)
	}
	// A cross-site form post is refused before the handler, CSRF token or not.
	form := url.Values{"csrf": {c.csrf("/")}, "action": {"fraud"}, "id": {e.of(tenantA)[0].ID}}
	req, _ = http.NewRequest("POST", e.srv.URL+"/alerts/bulk", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err = c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: %d", res.StatusCode)
	}
	if a, _ := e.st.GetAlert(context.Background(), e.of(tenantA)[0].ID); a.Status == alert.StatusResolved {
		t.Error("the cross-site POST changed the alert")
	}
	// No inline script or style, which the policy would block.
	for _, p := range []string{"/", "/alerts/" + e.of(tenantA)[0].ID, "/summary", "/rules", "/activity", "/login"} {
		_, body := c.get(p)
		if strings.Contains(body, "style=") || strings.Contains(body, "<script>") || strings.Contains(body, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(body) {
			t.Errorf("%s has inline script or style", p)
		}
	}
	if code, body := c.get("/static/app.css"); code != http.StatusOK || !strings.Contains(body, "--high") {
		t.Errorf("style sheet: %d", code)
	}
	if code, body := c.get("/no/such/page"); code != http.StatusNotFound || !strings.Contains(body, "There is no such page") {
		t.Errorf("unknown page: %d", code)
	}
}

func TestTenantIsolation(t *testing.T) {
	for _, kind := range envStores {
		t.Run(kind, func(t *testing.T) { testTenantIsolation(t, newEnvOn(t, false, kind)) })
	}
}

func testTenantIsolation(t *testing.T, e *env) {
	if len(e.of(tenantA)) == 0 || len(e.of(tenantC)) == 0 {
		t.Fatal("fixture: tenants A and C need alerts")
	}
	partner, customer := e.client(t), e.client(t)
	partner.login(rolePartner)
	customer.login(roleCustomer)

	ids := func(c *client, path string) []string {
		code, body := c.get(path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", path, code)
		}
		return alertIDs(body)
	}
	want := func(as []*alert.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s []string) []string { slices.Sort(s); return s }
	if got := sorted(ids(customer, "/?status=all&size=100")); !slices.Equal(got, want(e.of(tenantC))) {
		t.Errorf("customer sees %v, want %v", got, want(e.of(tenantC)))
	}
	if got := sorted(ids(partner, "/?status=all&size=100")); !slices.Equal(got, want(e.of(tenantA, tenantB))) {
		t.Errorf("partner sees %v, want %v", got, want(e.of(tenantA, tenantB)))
	}
	if got := ids(partner, "/?status=all&tenant="+tenantC); len(got) != 0 {
		t.Errorf("partner filtering by another tenant sees %v", got)
	}
	if got := sorted(ids(partner, "/?status=all&size=100&tenant="+tenantB)); !slices.Equal(got, want(e.of(tenantB))) {
		t.Errorf("partner, tenant B: %v", got)
	}
	other := e.of(tenantA)[0]
	if code, _ := customer.get("/alerts/" + other.ID); code != http.StatusNotFound {
		t.Errorf("customer opening another tenant's alert: %d", code)
	}
	for _, path := range []string{"/alerts/" + other.ID + "/status", "/alerts/" + other.ID + "/playbook", "/alerts/" + other.ID + "/rule"} {
		code, _, _ := customer.post(path, url.Values{"status": {"resolved"}, "reason": {"fraud"}, "done": {"0"},
			"reason ": {"x"}, "resolution": {"ignore"}, "cond": {"0"}})
		if code != http.StatusNotFound {
			t.Errorf("customer POST %s: %d", path, code)
		}
	}
	customer.post("/alerts/bulk", url.Values{"action": {"fraud"}, "id": {other.ID}})
	if a, _ := e.st.GetAlert(context.Background(), other.ID); a.Status != other.Status {
		t.Errorf("a customer's bulk action changed another tenant's alert to %s", a.Status)
	}
	if ticks, _ := e.st.PlaybookTicks(context.Background(), other.ID); len(ticks) != 0 {
		t.Errorf("a customer ticked another tenant's playbook: %v", ticks)
	}
	// The summary counts only what the token sees.
	_, body := customer.get("/summary")
	if !strings.Contains(body, `id="sum-customers">1<`) {
		t.Errorf("customer summary does not count one customer")
	}
	_, body = partner.get("/summary")
	if !strings.Contains(body, `id="sum-customers">2<`) {
		t.Errorf("partner summary does not count two customers")
	}
	// The activity log shows the customer its own records only.
	_, body = customer.get("/activity")
	for _, a := range e.of(tenantA, tenantB) {
		if strings.Contains(body, a.ID) {
			t.Errorf("customer's activity log shows alert %s of another tenant", a.ID)
		}
	}
}

func TestBulkAndStatusChanges(t *testing.T) {
	for _, kind := range envStores {
		t.Run(kind, func(t *testing.T) { testBulkAndStatusChanges(t, newEnvOn(t, false, kind)) })
	}
}

func testBulkAndStatusChanges(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(t)
	c.login(rolePartner)
	mine := e.of(tenantA, tenantB)
	if len(mine) < 3 {
		t.Fatalf("fixture: %d alerts for the partner", len(mine))
	}
	code, loc, _ := c.post("/alerts/bulk", url.Values{"action": {"investigate"}, "id": {mine[0].ID, mine[1].ID}, "back": {"/?severity=high"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/?") || !strings.Contains(loc, "severity=high") || !strings.Contains(loc, "n=2") {
		t.Fatalf("bulk: %d %q", code, loc)
	}
	if _, body := c.get(loc); !strings.Contains(body, "2 alert(s) changed.") {
		t.Error("no flash message after the bulk action")
	}
	for _, a := range mine[:2] {
		got, _ := e.st.GetAlert(ctx, a.ID)
		if got.Status != alert.StatusInvestigating || got.ActivityLogs[len(got.ActivityLogs)-1].UpdatedBy != "ana@woodgrove.example" {
			t.Errorf("%s: %s %+v", a.ID, got.Status, got.ActivityLogs)
		}
	}
	if !slices.Contains(e.changed, mine[0].ID) {
		t.Error("OnAlertChange was not called")
	}
	code, _, _ = c.post("/alerts/"+mine[2].ID+"/status", url.Values{"status": {"resolved"}, "reason": {"fraud"}})
	if got, _ := e.st.GetAlert(ctx, mine[2].ID); code != http.StatusSeeOther || got.Status != alert.StatusResolved || got.ResolvedReason != alert.ReasonFraud {
		t.Errorf("resolve: %d %s %s", code, got.Status, got.ResolvedReason)
	}
	// Resolved is final.
	if code, _, _ := c.post("/alerts/"+mine[2].ID+"/status", url.Values{"status": {"investigating"}}); code != http.StatusConflict {
		t.Errorf("resolved -> investigating: %d", code)
	}
	for _, form := range []url.Values{
		{"status": {"resolved"}},                           // no reason
		{"status": {"resolved"}, "reason": {"stale"}},      // unknown reason
		{"status": {"active"}},                             // not a target
		{"status": {"investigating"}, "reason": {"fraud"}}, // reason without resolving
	} {
		if code, _, _ := c.post("/alerts/"+mine[0].ID+"/status", form); code != http.StatusBadRequest {
			t.Errorf("%v: %d", form, code)
		}
	}
	if code, _, _ := c.post("/alerts/bulk", url.Values{"action": {"delete"}, "id": {mine[0].ID}}); code != http.StatusBadRequest {
		t.Errorf("unknown bulk action: %d", code)
	}

	reader := e.client(t)
	reader.login(roleReader)
	_, body := reader.get("/")
	if strings.Contains(body, `value="fraud"`) || !strings.Contains(body, "read only") {
		t.Error("the read-only token is offered the bulk actions")
	}
	if code, _, _ := reader.post("/alerts/bulk", url.Values{"action": {"fraud"}, "id": {mine[3%len(mine)].ID}}); code != http.StatusForbidden {
		t.Errorf("read-only bulk: %d", code)
	}
}

func TestPlaybookChecklist(t *testing.T) {
	for _, kind := range envStores {
		t.Run(kind, func(t *testing.T) { testPlaybookChecklist(t, newEnvOn(t, false, kind)) })
	}
}

func testPlaybookChecklist(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.client(t)
	c.login(rolePartner)
	a := e.of(tenantA)[0]
	entry, _ := alert.Lookup(a.Type)
	steps := len(entry.Text("en").Remediation)
	if steps < 3 {
		t.Fatalf("%s has %d steps", a.Type, steps)
	}
	code, loc, _ := c.post("/alerts/"+a.ID+"/playbook", url.Values{"done": {"0", "2"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "n=2") {
		t.Fatalf("tick: %d %q", code, loc)
	}
	ticks, _ := e.st.PlaybookTicks(ctx, a.ID)
	if len(ticks) != 2 || !ticks[0].Done || ticks[0].Step != 0 || ticks[1].Step != 2 || ticks[1].By != "ana@woodgrove.example" {
		t.Fatalf("ticks: %+v", ticks)
	}
	_, body := c.get("/alerts/" + a.ID)
	if !strings.Contains(body, `id="step-0" name="done" value="0" checked`) || strings.Contains(body, `id="step-1" name="done" value="1" checked`) {
		t.Error("the page does not show the ticks")
	}
	c.post("/alerts/"+a.ID+"/playbook", url.Values{"done": {"0"}})
	ticks, _ = e.st.PlaybookTicks(ctx, a.ID)
	if len(ticks) != 2 || !ticks[0].Done || ticks[1].Done {
		t.Errorf("untick: %+v", ticks)
	}
	if code, _, _ := c.post("/alerts/"+a.ID+"/playbook", url.Values{"done": {strconv.Itoa(steps)}}); code != http.StatusBadRequest {
		t.Errorf("step past the end: %d", code)
	}
}

func TestRuleFromAlert(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	c := e.client(t)
	c.login(rolePartner)
	var a *alert.Alert
	for _, x := range e.of(tenantA, tenantB) {
		for _, en := range x.Entities {
			if en.Type == alert.EntityIP && en.Address != "" && x.Status != alert.StatusResolved {
				a = x
			}
		}
	}
	if a == nil {
		t.Fatal("fixture: no open alert with an IP entity")
	}
	_, body := c.get("/alerts/" + a.ID)
	var cond string
	for _, m := range strings.Split(body, `name="cond" value="`)[1:] {
		n, _, _ := strings.Cut(m, `"`)
		if strings.Contains(strings.SplitN(m, "</label>", 2)[0], "entities.ip.address") {
			cond = n
			break
		}
	}
	if cond == "" {
		t.Fatal("the rule form offers no IP condition")
	}
	code, loc, _ := c.post("/alerts/"+a.ID+"/rule", url.Values{"cond": {cond}, "typeOnly": {"on"}, "tenantOnly": {"on"},
		"reason": {"SpecificEntityFalsePositive"}, "resolution": {"legitimate"}, "expires": {"30"}, "comment": {"pentest"}, "resolve": {"on"}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/rules") {
		t.Fatalf("create rule: %d %q", code, loc)
	}
	rules, _ := e.st.ListRules(ctx, nil)
	if len(rules) != 1 {
		t.Fatalf("rules: %+v", rules)
	}
	r := rules[0]
	if r.AlertType != a.Type || r.TenantID != a.TenantID || r.PartnerID != partnerID || r.Comment != "pentest" ||
		len(r.Conditions) != 1 || r.Conditions[0].Field != "entities.ip.address" || !r.Expires.Equal(testNow.AddDate(0, 0, 30)) {
		t.Errorf("rule: %+v", r)
	}
	if e.sil.Len() != 1 {
		t.Errorf("the silencer holds %d rules", e.sil.Len())
	}
	if got, _ := e.st.GetAlert(ctx, a.ID); got.Status != alert.StatusResolved || got.ResolvedReason != alert.ReasonLegitimate {
		t.Errorf("alert after the rule: %s %s", got.Status, got.ResolvedReason)
	}
	_, body = c.get("/rules")
	if !strings.Contains(body, `id="rule-`+r.ID+`"`) || !strings.Contains(body, "pentest") {
		t.Error("the rules page does not show the rule")
	}
	// An empty rule for every type is refused with the reason.
	code, _, body = c.post("/alerts/"+a.ID+"/rule", url.Values{"reason": {"Other"}, "resolution": {"ignore"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "needs at least one condition") {
		t.Errorf("rule without conditions: %d", code)
	}
	// Disable, then delete.
	c.post("/rules/"+r.ID+"/state", url.Values{"enabled": {"false"}})
	if got, _ := e.st.GetRule(ctx, r.ID); got.Enabled {
		t.Error("the rule is still enabled")
	}
	customer := e.client(t)
	customer.login(roleCustomer)
	if code, _, _ := customer.post("/rules/"+r.ID+"/delete", nil); code != http.StatusNotFound {
		t.Errorf("another tenant deleting the rule: %d", code)
	}
	c.post("/rules/"+r.ID+"/delete", nil)
	if _, err := e.st.GetRule(ctx, r.ID); err == nil {
		t.Error("the rule was not deleted")
	}
	acts, _ := e.st.ListActivity(ctx, store.ActivityQuery{OperationTypes: []string{store.OpRuleCreated, store.OpRuleUpdated, store.OpRuleDeleted}})
	if len(acts) != 3 {
		t.Errorf("rule activity records: %d", len(acts))
	}
}

func TestListFiltersMatchTheStore(t *testing.T) {
	for _, kind := range envStores {
		t.Run(kind, func(t *testing.T) { testListFiltersMatchTheStore(t, newEnvOn(t, false, kind)) })
	}
}

func testListFiltersMatchTheStore(t *testing.T, e *env) {
	c := e.client(t)
	c.login(rolePartner)
	mine := e.of(tenantA, tenantB)
	var ip, typ string
	for _, a := range mine {
		for _, en := range a.Entities {
			if en.Address != "" && ip == "" {
				ip = en.Address
			}
		}
	}
	typ = mine[0].Type
	for _, tc := range []struct {
		name  string
		query string
		keep  func(a *alert.Alert) bool
	}{
		{"open", "", func(a *alert.Alert) bool { return a.Status != alert.StatusResolved }},
		{"all high", "status=all&severity=high", func(a *alert.Alert) bool { return a.Severity == alert.SeverityHigh }},
		{"type", "status=all&type=" + typ, func(a *alert.Alert) bool { return a.Type == typ }},
		{"entity text", "status=all&q=" + url.QueryEscape(ip), func(a *alert.Alert) bool {
			b, _ := json.Marshal(a.Entities)
			return strings.Contains(string(b), ip)
		}},
		{"exact entity value", "status=all&q=" + url.QueryEscape(`"`+ip+`"`), func(a *alert.Alert) bool {
			for _, en := range a.Entities {
				if en.Address == ip {
					return true
				}
			}
			return false
		}},
		{"subscription", "status=all&sub=" + mine[0].SubscriptionID, func(a *alert.Alert) bool { return a.SubscriptionID == mine[0].SubscriptionID }},
		{"date range", "status=all&from=2026-11-09&to=2026-11-09", func(a *alert.Alert) bool { return a.Detected.Format("2006-01-02") == "2026-11-09" }},
	} {
		var want []string
		for _, a := range mine {
			if tc.keep(a) {
				want = append(want, a.ID)
			}
		}
		_, body := c.get("/?size=100&" + tc.query)
		got := alertIDs(body)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	}
	// Sorting oldest first, and paging: 2 pages of 25 cover the first 50.
	_, body := c.get("/?status=all&sort=oldest&size=25")
	first := alertIDs(body)
	if len(mine) > 25 {
		if len(first) != 25 || !strings.Contains(body, `rel="next"`) {
			t.Errorf("page 1: %d rows", len(first))
		}
	}
	if len(first) > 0 && first[0] != e.alerts[slices.IndexFunc(e.alerts, func(a *alert.Alert) bool { return a.TenantID != tenantC })].ID {
		t.Errorf("oldest first starts with %s", first[0])
	}
	// The severity counts add up to the partner's alerts.
	n := 0
	for _, sev := range []string{"high", "medium", "low", "informational"} {
		_, body := c.get("/?status=all&size=100&severity=" + sev)
		n += len(alertIDs(body))
	}
	if n != len(mine) {
		t.Errorf("severities add up to %d of %d", n, len(mine))
	}
}

func TestEveryPageInEveryLanguage(t *testing.T) {
	for _, kind := range envStores {
		t.Run(kind, func(t *testing.T) { testEveryPageInEveryLanguage(t, newEnvOn(t, false, kind)) })
	}
}

func testEveryPageInEveryLanguage(t *testing.T, e *env) {
	b, err := os.ReadFile("i18n/en.json")
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]string
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	c.login(rolePartner)
	var bf, vol string
	for _, a := range e.of(tenantA, tenantB) {
		switch {
		case strings.Contains(a.Type, "_BF_") && len(a.Evidence) > 0:
			bf = a.ID
		case a.Type == "KV_OperationVolumeAnomaly":
			vol = a.ID
		}
	}
	pages := []string{"/", "/?status=all", "/alerts/" + e.of(tenantA)[0].ID, "/rules", "/activity", "/summary", "/no/such"}
	if bf != "" {
		pages = append(pages, "/alerts/"+bf)
	}
	if vol != "" {
		pages = append(pages, "/alerts/"+vol)
	}
	want := map[string]string{"en": "Alerts", "ja": "アラート", "nl": "Waarschuwingen"}
	for _, lang := range []string{"en", "ja", "nl"} {
		if code, _, _ := c.do("GET", "/lang/"+lang+"?next=/", nil); code != http.StatusSeeOther {
			t.Fatalf("choose %s: %d", lang, code)
		}
		for _, p := range pages {
			_, body := c.get(p)
			if !strings.Contains(body, `<html lang="`+lang+`">`) || !strings.Contains(body, want[lang]) {
				t.Errorf("%s %s: not in the language", lang, p)
			}
			for k := range keys {
				if len(k) > 6 && strings.Contains(body, ">"+k+"<") || strings.Contains(body, " "+k+"<") {
					t.Errorf("%s %s: untranslated %q", lang, p, k)
				}
			}
			if strings.Contains(body, "%!") {
				t.Errorf("%s %s: a format verb went wrong", lang, p)
			}
		}
	}
	if bf == "" || vol == "" {
		t.Errorf("fixture: brute force %q, volume anomaly %q", bf, vol)
	}
	c.do("GET", "/lang/en?next=/", nil)
	if _, body := c.get("/alerts/" + bf); !strings.Contains(body, "Attempts over time") || !strings.Contains(body, `<svg`) {
		t.Error("brute force alert without its picture")
	}
	if _, body := c.get("/alerts/" + vol); !strings.Contains(body, `class="band"`) || !strings.Contains(body, `class="spike"`) {
		t.Error("volume anomaly without its picture")
	}
	// Accept-Language picks the language when none was chosen.
	c2 := e.client(t)
	c2.login(rolePartner)
	req, _ := http.NewRequest("GET", e.srv.URL+"/", nil)
	req.Header.Set("Accept-Language", "nl-NL,nl;q=0.9,en;q=0.5")
	res, err := c2.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	nlBody, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(nlBody), `<html lang="nl">`) {
		t.Error("Accept-Language nl did not give Dutch")
	}
	if code, body := c2.get("/"); code != http.StatusOK || !strings.Contains(body, `<html lang="en">`) {
		t.Errorf("default language: %d", code)
	}
}

func TestCatalogueStepsAlignAcrossLanguages(t *testing.T) {
	// Playbook ticks are stored by step number, so each language must list
	// the same steps.
	for _, e := range alert.All() {
		n := len(e.Text("en").Remediation)
		for _, l := range []string{"ja", "nl"} {
			if m := len(e.Text(l).Remediation); m != n {
				t.Errorf("%s: %d steps in en, %d in %s", e.ID, n, m, l)
			}
		}
	}
}
