package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// Tenants and partners of the tests. docsTenant, docsSub and docsVAR are the
// IDs of Graph's documentation examples.
const (
	docsAlertID = "d8b202fc-a216-3404-69ef-bdffa445eff6"
	docsTenant  = "1889e718-414b-4bad-8bbe-c1135bd39a41"
	docsSub     = "5f6e6521-6e5f-4b0b-80aa-bd44fad7a398"
	docsVAR     = "c296b2ce-8cd1-4346-9e82-d8eccca70d65"

	tenantA  = docsTenant
	tenantB  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantC  = "0d5b4f37-7a1e-4f33-9d8c-2f3c1b6e8a10"
	partnerP = "4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01"
	partnerQ = "9e3c2b1a-5d4f-4e6a-8b7c-1a2b3c4d5e6f"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// clock is a settable wall clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// env is a running API over a real SQLite file.
type env struct {
	t       *testing.T
	st      *store.SQLite
	srv     *httptest.Server
	clock   *clock
	sil     *silence.Silencer
	changed []*alert.Alert
	mu      sync.Mutex
	tok     map[string]string // role -> token text
}

// directory: partner P manages tenants A and B, partner Q manages C.
func directory() *tenancy.Directory {
	return &tenancy.Directory{
		Partners: []tenancy.Partner{
			{ID: partnerP, Name: "Contoso CSP", Customers: []string{tenantA, strings.ToUpper(tenantB)}},
			{ID: partnerQ, Name: "Northwind CSP", Customers: []string{tenantC}},
		},
		Customers: []tenancy.Customer{
			{TenantID: tenantA, Name: "Fabrikam", Subscriptions: []tenancy.Subscription{{ID: docsSub, Name: "production"}}},
		},
	}
}

// newEnv starts the API and issues one token per role: partnerRW,
// partnerRO, aRW, aRO, bRW, qRW.
func newEnv(t *testing.T, edit ...func(*api.Options)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), store.DefaultFile))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, clock: &clock{t: t0}, tok: map[string]string{}}
	dir := directory()
	e.sil = silence.New(st, dir)
	opts := api.Options{
		Store: st, Directory: dir, Silencer: e.sil, Now: e.clock.Now, TokenUseInterval: -1,
		OnAlertChange: func(a *alert.Alert) {
			e.mu.Lock()
			e.changed = append(e.changed, a)
			e.mu.Unlock()
		},
	}
	for _, f := range edit {
		f(&opts)
	}
	e.srv = httptest.NewServer(api.New(opts))
	t.Cleanup(func() {
		e.srv.Close()
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, r := range []struct {
		role            string
		partner, tenant string
		write           bool
		name            string
	}{
		{"partnerRW", partnerP, "", true, "samanthab@contoso.com"},
		{"partnerRO", partnerP, "", false, "auditor@contoso.com"},
		{"aRW", "", tenantA, true, "danas@fabrikam.example"},
		{"aRO", "", tenantA, false, ""},
		{"bRW", "", tenantB, true, "ops@tailspin.example"},
		{"qRW", partnerQ, "", true, "admin@northwind.example"},
	} {
		text, _, err := api.IssueToken(ctx, st, api.TokenRequest{PartnerID: r.partner, TenantID: r.tenant, Write: r.write, Name: r.name},
			store.Actor{Name: "test", At: t0.Add(-time.Hour)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.tok[r.role] = text
	}
	return e
}

// resp is a decoded response.
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends a request with the role's token ("" for none) and decodes the
// JSON answer.
func (e *env) do(method, path, role string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.tok[role])
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) resp {
	e.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := resp{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", req.Method, req.URL, err, raw)
		}
	}
	return out
}

// want fails unless the response has the status.
func (r resp) want(t *testing.T, status int) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	return r
}

// errCode returns the Graph error code of an error body.
func (r resp) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	if m, _ := e["message"].(string); m == "" {
		return "(no message) " + c
	}
	return c
}

// values returns the "value" array of a list answer.
func (r resp) values() []map[string]any {
	vs, _ := r.body["value"].([]any)
	out := make([]map[string]any, 0, len(vs))
	for _, v := range vs {
		m, _ := v.(map[string]any)
		out = append(out, m)
	}
	return out
}

// ids returns the "id" of each value.
func (r resp) ids() []string {
	var out []string
	for _, v := range r.values() {
		s, _ := v["id"].(string)
		out = append(out, s)
	}
	return out
}

// mkAlert builds a stored alert of the catalogue type typ for tenant.
func mkAlert(id, typ, tenant string, sev alert.Severity, detected time.Time) *alert.Alert {
	sub := "9c2a8d3e-1f4b-4e6a-8c5d-0b7e3f2a1d90"
	if tenant == docsTenant {
		sub = docsSub
	}
	vault := "/subscriptions/" + sub + "/resourceGroups/rg-prod/providers/Microsoft.KeyVault/vaults/kv-" + id
	return &alert.Alert{
		ID: id, Type: typ, Fingerprint: "fp-" + id, Severity: sev, Status: alert.StatusActive,
		TenantID: tenant, SubscriptionID: sub, Resource: vault,
		Detected: detected, FirstObserved: detected.Add(-time.Minute), LastObserved: detected, Count: 3,
		Entities: []alert.Entity{
			{Type: alert.EntityKeyVault, Role: "compromised", ResourceID: vault, Name: "kv-" + id},
			{Type: alert.EntityIP, Role: "attacker", Address: "185.220.101.4", Country: "DE"},
		},
		Evidence: []alert.Evidence{{Time: detected, Operation: "SecretGet", CallerIP: "185.220.101.4", Resource: vault, Result: "Success"}},
		Details: map[string]string{"vault": "kv-" + id, "caller": "ana@fabrikam.example", "callerIp": "185.220.101.4",
			"count": "3", "first": detected.Add(-time.Minute).Format(time.RFC3339), "last": detected.Format(time.RFC3339)},
	}
}

// docsAlert is the alert of Graph's documentation examples, as Vigil would
// store it.
func docsAlert() *alert.Alert {
	d := time.Date(2024, 1, 23, 16, 3, 33, 50_000_000, time.UTC)
	return &alert.Alert{
		ID: docsAlertID, Type: "CryptoMining", Fingerprint: "fp-docs", Severity: alert.SeverityHigh, Status: alert.StatusActive,
		TenantID: docsTenant, SubscriptionID: docsSub,
		Resource: "/subscriptions/" + docsSub + "/resourceGroups/resourcegroup-name/providers/Microsoft.Compute/virtualMachines/vm-name",
		Detected: d, FirstObserved: d, LastObserved: d, Count: 5,
		Details: map[string]string{
			alert.DetailValueAddedReseller: docsVAR, api.DetailCatalogOfferID: "MS-AZR-0017G",
			"VM_IP": `[  "vm-ip"]`, "MiningPool_IP": `[  "mining-pool-ip"]`, "ConnectionCount": "5",
			"CryptoCurrencyMiningPoolDomainName": "pool-name.com",
		},
	}
}

// seed stores the documentation alert and a spread of alerts: A has 6, B
// has 4, C has 3 (IDs a0.., b0.., c0..).
func (e *env) seed() {
	e.t.Helper()
	alerts := []*alert.Alert{docsAlert()}
	types := []string{"KV_TORAccess", "KV_ListGetAnomaly", "ARM_OperationFromSuspiciousIP"}
	sevs := []alert.Severity{alert.SeverityHigh, alert.SeverityMedium, alert.SeverityLow}
	for i, n := range map[string]int{tenantA: 5, tenantB: 4, tenantC: 3} {
		prefix := map[string]string{tenantA: "a", tenantB: "b", tenantC: "c"}[i]
		for j := range n {
			a := mkAlert(fmt.Sprintf("%s%02d", prefix, j), types[j%3], i, sevs[j%3], t0.Add(-time.Duration(10*j+len(prefix))*time.Hour))
			alerts = append(alerts, a)
		}
	}
	if err := e.st.SaveAlerts(context.Background(), alerts); err != nil {
		e.t.Fatal(err)
	}
}

// apiOptions shortens the option editors' type.
type apiOptions = api.Options
