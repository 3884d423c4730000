package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/internal/pgtest"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
	"github.com/vigil-security/vigil/web"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The test directory: a partner managing Contoso and Fabrikam, and
// Northwind on its own. The simulated estates' subscriptions are shared out
// among the three.
const (
	partnerID = "0a0a0a0a-0000-4000-8000-00000000000a"
	tenantA   = "aaaaaaaa-1111-4111-8111-111111111111" // Contoso, the partner's
	tenantB   = "bbbbbbbb-1111-4111-8111-111111111111" // Fabrikam, the partner's
	tenantC   = "cccccccc-1111-4111-8111-111111111111" // Northwind, not the partner's
)

// testNow is the wall clock of the tests: a week after the simulated
// estates end, so the summary's 60 days hold every alert.
var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// envStore is a store the dashboard runs on.
type envStore interface {
	store.Security
	store.Dashboard
}

// env is a dashboard over a real store (SQLite, or PostgreSQL with
// newEnvOn) holding the simulated estates' alerts.
type env struct {
	srv    *httptest.Server
	base   string       // the server's URL
	hc     *http.Client // a client of the server
	st     envStore
	sil    *silence.Silencer
	dir    *tenancy.Directory
	alerts []*alert.Alert // as stored, oldest first
	tokens map[string]string
	// changed collects the alerts OnAlertChange was called with.
	changed []string
}

// Token roles of env.tokens.
const (
	rolePartner  = "partner"  // read-write, partner
	roleReader   = "reader"   // read-only, partner
	roleCustomer = "customer" // read-write, Northwind
)

// newEnv is newEnvOn a new SQLite store.
func newEnv(t testing.TB, tls bool) *env {
	t.Helper()
	return newEnvOn(t, tls, "sqlite")
}

// envStores name the stores newEnvOn opens.
var envStores = []string{"sqlite", "postgres"}

// newEnvOn serves the dashboard over a new store of the kind named
// ("sqlite" or "postgres", a throwaway database from package pgtest).
func newEnvOn(t testing.TB, tls bool, kind string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{tokens: map[string]string{}}
	var st envStore
	var err error
	switch kind {
	case "sqlite":
		st, err = store.OpenSQLite(ctx, filepath.Join(t.TempDir(), store.DefaultFile))
	case "postgres":
		st, err = store.OpenPostgres(ctx, pgtest.DSN(t))
	default:
		t.Fatalf("no store %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	t.Cleanup(func() { st.Close() })

	var subs []string
	for _, a := range realAlerts(t) {
		if a.SubscriptionID != "" && !slices.Contains(subs, a.SubscriptionID) {
			subs = append(subs, a.SubscriptionID)
		}
	}
	slices.Sort(subs)
	e.dir = &tenancy.Directory{
		Partners: []tenancy.Partner{{ID: partnerID, Name: "Woodgrove Partners", Customers: []string{tenantA, tenantB}}},
		Customers: []tenancy.Customer{
			{TenantID: tenantA, Name: "Contoso"}, {TenantID: tenantB, Name: "Fabrikam"}, {TenantID: tenantC, Name: "Northwind"},
		},
	}
	for i, s := range subs {
		c := &e.dir.Customers[i%3]
		c.Subscriptions = append(c.Subscriptions, tenancy.Subscription{ID: s, Name: fmt.Sprintf("%s-sub-%d", strings.ToLower(c.Name), i)})
	}
	if err := e.dir.Validate(); err != nil {
		t.Fatal(err)
	}
	idx := tenancy.NewIndex(e.dir)
	for _, a := range realAlerts(t) {
		a = a.Clone()
		a.TenantID, _ = idx.TenantOfSubscription(a.SubscriptionID)
		if a.TenantID == "" {
			a.TenantID = tenantC
		}
		e.alerts = append(e.alerts, a)
	}
	if err := st.SaveAlerts(ctx, e.alerts); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.alerts {
		if err := st.RecordActivity(ctx, store.AlertActivities(a, testNow.Add(-time.Hour))...); err != nil {
			t.Fatal(err)
		}
	}
	for role, req := range map[string]api.TokenRequest{
		rolePartner:  {PartnerID: partnerID, Write: true, Name: "ana@woodgrove.example"},
		roleReader:   {PartnerID: partnerID, Name: "auditor@woodgrove.example"},
		roleCustomer: {TenantID: tenantC, Write: true, Name: "bo@northwind.example"},
	} {
		text, _, err := api.IssueToken(ctx, st, req, store.Actor{Name: "test", At: testNow}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[role] = text
	}
	e.sil = silence.New(st, e.dir)
	ui := web.New(web.Options{
		Store: st, Directory: e.dir, Silencer: e.sil, Now: func() time.Time { return testNow },
		OnAlertChange: func(a *alert.Alert) { e.changed = append(e.changed, a.ID) },
	})
	mux := http.NewServeMux()
	apiHandler := api.New(api.Options{Store: st, Directory: e.dir, Silencer: e.sil, Now: func() time.Time { return testNow }})
	mux.Handle("/security/", apiHandler)
	mux.Handle("/", ui)
	if tls {
		e.srv = httptest.NewTLSServer(mux)
	} else {
		e.srv = httptest.NewServer(mux)
	}
	t.Cleanup(e.srv.Close)
	e.base, e.hc = e.srv.URL, e.srv.Client()
	return e
}

// of returns the stored alerts of the tenants.
func (e *env) of(tenants ...string) []*alert.Alert {
	var out []*alert.Alert
	for _, a := range e.alerts {
		if slices.Contains(tenants, a.TenantID) {
			out = append(out, a)
		}
	}
	return out
}

// client is a browser-like HTTP client with its own cookies that does not
// follow redirects.
type client struct {
	t   testing.TB
	e   *env
	c   *http.Client
	jar http.CookieJar
}

func (e *env) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	c := *e.hc // a copy: the server's client is shared
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: t, e: e, c: &c, jar: jar}
}

// do sends a request and returns the status, the Location and the body.
func (c *client) do(method, path string, form url.Values) (int, string, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	code, _, body := c.do("GET", path, nil)
	return code, body
}

// login signs in with the role's token.
func (c *client) login(role string) {
	c.t.Helper()
	code, loc, body := c.do("POST", "/login", url.Values{"token": {c.e.tokens[role]}, "next": {"/"}})
	if code != http.StatusSeeOther || loc != "/" {
		c.t.Fatalf("login as %s: %d %q %.300s", role, code, loc, body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token the page at path carries.
func (c *client) csrf(path string) string {
	c.t.Helper()
	code, body := c.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		c.t.Fatalf("no CSRF token on %s (%d)", path, code)
	}
	return m[1]
}

// post sends a form with the session's CSRF token.
func (c *client) post(path string, form url.Values) (int, string, string) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", c.csrf("/"))
	return c.do("POST", path, form)
}

// alertIDs returns the alert IDs a page links to, in order, each once.
func alertIDs(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`href="/alerts/([^"#/]+)"`).FindAllStringSubmatch(body, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}
