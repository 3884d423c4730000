package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/vigil-security/vigil/alert"
)

// chromiumPath finds Debian's chromium. scripts/test installs it when it
// is missing; on CI (CI set) a missing browser fails the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("VIGIL_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found at /usr/bin/chromium (scripts/test installs it: apt-get install -y chromium)")
	}
	t.Skip("chromium not found; run scripts/test, which installs it (apt-get install -y chromium)")
	return ""
}

// browser starts a headless chromium with a fresh profile and returns a
// tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-GB"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser steps, failing the test with what was being done.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// run runs one browser action that returns a value.
func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// shoot saves a screenshot of the window as name.png in $VIGIL_SCREENSHOTS
// (or the test's temporary directory).
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("VIGIL_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	png := run(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// apiGet reads an API resource with a token.
func apiGet(t *testing.T, e *env, token, path string, into any) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}

// apiAlert is the part of the API's alert the test reads.
type apiAlert struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	Severity       string  `json:"severity"`
	ResolvedReason *string `json:"resolvedReason"`
	ResolvedBy     *string `json:"resolvedBy"`
	TenantID       string  `json:"customerTenantId"`
}

// TestBrowserTriage drives Debian's chromium through the dashboard as an
// analyst would: sign in, filter, open an alert with the keyboard, tick a
// playbook step, resolve it, make a suppression rule from another, sign
// out; each result is checked through the REST API. Then a customer's
// token is shown only its own alerts.
func TestBrowserTriage(t *testing.T) {
	e := newEnv(t, false)
	ctx := browser(t)
	base := e.srv.URL
	partnerTok := e.tokens[rolePartner]

	// Sign in.
	do(t, ctx, "login page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	shoot(t, ctx, "login")
	do(t, ctx, "sign in",
		chromedp.SendKeys(chromedp.ID("token"), partnerTok),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS("table.alerts")))
	shoot(t, ctx, "alerts")

	// Filter by the partner's commonest open alert type; the rows are the
	// API's open alerts of that type.
	byType := map[string]int{}
	typ := ""
	for _, a := range e.of(tenantA, tenantB) {
		if a.Status != alert.StatusResolved {
			if byType[a.Type]++; typ == "" || byType[a.Type] > byType[typ] {
				typ = a.Type
			}
		}
	}
	do(t, ctx, "filter",
		chromedp.SetValue(chromedp.ID("f-type"), typ),
		chromedp.Submit(chromedp.ID("f-q")),
		chromedp.WaitReady(chromedp.CSS(`#f-type option[value="`+typ+`"][selected]`)))
	loc := run(t, ctx, "location", chromedp.Location())
	if !strings.Contains(loc, "type="+typ) {
		t.Fatalf("filtered location %s", loc)
	}
	html := run(t, ctx, "list", chromedp.OuterHTML(chromedp.CSS("main")))
	var ofType struct {
		Value []apiAlert `json:"value"`
	}
	apiGet(t, e, partnerTok, "/security/partner/securityAlerts?$top=100&$filter="+
		url.QueryEscape("alertType eq '"+typ+"' and status ne 'resolved'"), &ofType)
	if got := alertIDs(html); len(got) != len(ofType.Value) || len(got) < 2 {
		t.Fatalf("the filtered page lists %d alerts, the API %d", len(got), len(ofType.Value))
	}
	for _, a := range ofType.Value {
		if !strings.Contains(html, a.ID) {
			t.Errorf("alert %s is not on the filtered page", a.ID)
		}
	}

	// Open the first alert with the keyboard: j selects it, Enter opens it.
	first := alertIDs(html)[0]
	do(t, ctx, "keyboard", chromedp.KeyEvent("j"), chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.ID("playbook")))
	if loc := run(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "/alerts/"+first) {
		t.Fatalf("j, Enter opened %s, want alert %s", loc, first)
	}

	// Tick the first playbook step: the page saves it.
	// The server renders the box checked once the tick is stored (the
	// attribute, where a click sets only the property).
	do(t, ctx, "tick", chromedp.Click(chromedp.ID("step-0")), chromedp.WaitReady(chromedp.CSS("#step-0[checked]")))
	if checked := run(t, ctx, "ticked", chromedp.Evaluate[bool](`document.getElementById("step-0").checked`)); !checked {
		t.Error("step 0 is not ticked after saving")
	}
	ticks, err := e.st.PlaybookTicks(context.Background(), first)
	if err != nil || len(ticks) != 1 || !ticks[0].Done || ticks[0].Step != 0 {
		t.Errorf("stored ticks: %+v %v", ticks, err)
	}

	// Resolve it as fraud.
	do(t, ctx, "resolve",
		chromedp.SetValue(chromedp.ID("resolve-reason"), "fraud"),
		chromedp.Click(chromedp.ID("resolve")),
		chromedp.WaitVisible(chromedp.CSS("#alert-status.status-resolved")))
	var got apiAlert
	apiGet(t, e, partnerTok, "/security/partner/securityAlerts/"+first, &got)
	if got.Status != "resolved" || got.ResolvedReason == nil || *got.ResolvedReason != "fraud" ||
		got.ResolvedBy == nil || *got.ResolvedBy != "ana@woodgrove.example" {
		t.Errorf("after resolving: %+v", got)
	}
	if status := run(t, ctx, "status", chromedp.Text(chromedp.ID("alert-status"))); status != "Resolved" {
		t.Errorf("the page shows status %q", status)
	}

	// A brute-force alert: its picture, and a suppression rule from its
	// attacker's address.
	var bf *alert.Alert
	for _, a := range e.of(tenantA, tenantB) {
		if strings.Contains(a.Type, "_BF_") && a.Status != alert.StatusResolved && a.ID != first {
			bf = a
			break
		}
	}
	if bf == nil {
		t.Fatal("fixture: no open brute-force alert for the partner")
	}
	do(t, ctx, "open brute force", chromedp.Navigate(base+"/alerts/"+bf.ID), chromedp.WaitVisible(chromedp.CSS("figure svg")))
	shoot(t, ctx, "alert")
	body := run(t, ctx, "rule form", chromedp.OuterHTML(chromedp.CSS("section.rule-form")))
	m := regexp.MustCompile(`value="(\d+)" id="cond-\d+"><label for="cond-\d+"><span class="mono">entities\.ip\.address</span> = <span class="mono">([^<]+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no IP condition in the rule form: %.500s", body)
	}
	do(t, ctx, "create rule",
		chromedp.Click(chromedp.ID("cond-"+m[1])),
		chromedp.SendKeys(chromedp.ID("rule-comment"), "authorised scan"),
		chromedp.Click(chromedp.ID("create-rule")),
		chromedp.WaitVisible(chromedp.CSS("table.rules")))
	var rules struct {
		Value []struct {
			AlertType string `json:"alertType"`
			Comment   string `json:"comment"`
			State     string `json:"state"`
			Scope     struct {
				AllOf []struct {
					Field string   `json:"field"`
					In    []string `json:"in"`
				} `json:"allOf"`
			} `json:"suppressionAlertsScope"`
		} `json:"value"`
	}
	apiGet(t, e, partnerTok, "/security/partner/alertsSuppressionRules", &rules)
	if len(rules.Value) != 1 || rules.Value[0].AlertType != bf.Type || rules.Value[0].Comment != "authorised scan" ||
		rules.Value[0].State != "Enabled" || len(rules.Value[0].Scope.AllOf) != 1 ||
		rules.Value[0].Scope.AllOf[0].Field != "entities.ip.address" || rules.Value[0].Scope.AllOf[0].In[0] != m[2] {
		t.Errorf("rules through the API: %+v", rules.Value)
	}
	apiGet(t, e, partnerTok, "/security/partner/securityAlerts/"+bf.ID, &got)
	if got.Status != "resolved" {
		t.Errorf("the alert the rule was made from is %s", got.Status)
	}
	shoot(t, ctx, "rules")

	for _, page := range []string{"summary", "activity"} {
		do(t, ctx, page, chromedp.Navigate(base+"/"+page), chromedp.WaitVisible(chromedp.CSS("main h1")))
		shoot(t, ctx, page)
	}
	var vol *alert.Alert
	for _, a := range e.of(tenantA, tenantB) {
		if a.Type == "KV_OperationVolumeAnomaly" {
			vol = a
		}
	}
	if vol != nil {
		do(t, ctx, "volume anomaly", chromedp.Navigate(base+"/alerts/"+vol.ID), chromedp.WaitVisible(chromedp.CSS("figure svg")))
		shoot(t, ctx, "alert-volume")
	}
	do(t, ctx, "japanese", chromedp.Navigate(base+"/lang/ja?next=/"), chromedp.WaitVisible(chromedp.CSS("table.alerts")))
	if h1 := run(t, ctx, "heading", chromedp.Text(chromedp.CSS("main h1"))); h1 != "アラート" {
		t.Errorf("Japanese heading %q", h1)
	}
	shoot(t, ctx, "alerts-ja")
	do(t, ctx, "english", chromedp.Navigate(base+"/lang/en?next=/"), chromedp.WaitVisible(chromedp.CSS("table.alerts")))

	// Sign out: the pages need signing in again.
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.ID("token")))
	do(t, ctx, "after sign-out", chromedp.Navigate(base+"/rules"), chromedp.WaitVisible(chromedp.ID("token")))
	if loc := run(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "/login?next=") {
		t.Errorf("after sign-out /rules went to %s", loc)
	}

	// A customer sees only its own alerts, and not the partner's.
	do(t, ctx, "customer sign in",
		chromedp.SendKeys(chromedp.ID("token"), e.tokens[roleCustomer]),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(".who")))
	do(t, ctx, "customer list", chromedp.Navigate(base+"/?status=all&size=100"), chromedp.WaitVisible(chromedp.CSS("table.alerts")))
	html = run(t, ctx, "customer list", chromedp.OuterHTML(chromedp.CSS("main")))
	ids := alertIDs(html)
	if len(ids) != len(e.of(tenantC)) {
		t.Errorf("the customer's page lists %d alerts, it has %d", len(ids), len(e.of(tenantC)))
	}
	for _, a := range e.of(tenantA, tenantB) {
		if strings.Contains(html, a.ID) {
			t.Errorf("the customer's page shows the partner's alert %s", a.ID)
		}
	}
	do(t, ctx, "other tenant's alert", chromedp.Navigate(base+"/alerts/"+bf.ID), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if text := run(t, ctx, "not found", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "There is no such page") {
		t.Errorf("a customer opening the partner's alert sees: %.200s", text)
	}
}
