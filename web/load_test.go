package web_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
	"github.com/vigil-security/vigil/web"
)

// The load data, as api's load test has it: loadTenants customer tenants,
// the first loadManaged of them managed by one partner; alerts spread over
// types, statuses, severities, five subscriptions per tenant and a year of
// detections, 31 s apart.
const (
	loadTenants = 50
	loadManaged = 10
	loadPartner = "0a0a0a0a-0000-4000-8000-00000000000a"
)

func loadTenant(i int) string { return fmt.Sprintf("%08x-1111-4111-8111-111111111111", i) }

// loadEnd is the detection time of the newest load alert.
var loadEnd = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// loadDB returns a store file with n alerts: kept in $VIGIL_LOAD_DB when
// set (built once, reused), else built in a temporary directory.
func loadDB(tb testing.TB, n int) string {
	tb.Helper()
	if dir := os.Getenv("VIGIL_LOAD_DB"); dir != "" {
		path := filepath.Join(dir, fmt.Sprintf("web-load-%d.db", n))
		if _, err := os.Stat(path); err == nil {
			return path
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		return buildLoadDB(tb, path, n)
	}
	return buildLoadDB(tb, filepath.Join(tb.TempDir(), store.DefaultFile), n)
}

// buildLoadDB writes n alerts (one evidence row each) with one INSERT ...
// SELECT over a recursive counter, builds the indexes afterwards and
// gathers the planner's statistics, as a long-running store has them.
func buildLoadDB(tb testing.TB, path string, n int) string {
	tb.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, path) // creates the schema
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-524288)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	indexes := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'alerts' AND sql IS NOT NULL`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var name, ddl string
		if err := rows.Scan(&name, &ddl); err != nil {
			tb.Fatal(err)
		}
		indexes[name] = ddl
	}
	rows.Close()
	for name := range indexes {
		if _, err := db.ExecContext(ctx, "DROP INDEX "+name); err != nil {
			tb.Fatal(err)
		}
	}
	end := loadEnd.UnixMicro()
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
INSERT INTO alerts (id, type, fingerprint, severity, severity_rank, status, tenant_id, subscription_id, resource,
	detected_at, first_observed_at, last_observed_at, updated_at, event_count, entities, details,
	resolved_reason, resolved_by, resolved_on, suppressed_by, previous_id)
SELECT printf('%08x-%04x-4000-8000-%012x', i, i % 65536, i * 7919),
	CASE i % 4 WHEN 0 THEN 'KV_TORAccess' WHEN 1 THEN 'KV_ListGetAnomaly' WHEN 2 THEN 'ARM_OperationFromSuspiciousIP' ELSE 'CryptoMining' END,
	printf('fp%08x', i),
	CASE i % 7 WHEN 0 THEN 'high' WHEN 1 THEN 'high' WHEN 2 THEN 'low' WHEN 3 THEN 'informational' ELSE 'medium' END,
	CASE i % 7 WHEN 0 THEN 3 WHEN 1 THEN 3 WHEN 2 THEN 1 WHEN 3 THEN 0 ELSE 2 END,
	CASE WHEN i % 10 < 3 THEN 'active' WHEN i % 10 = 3 THEN 'investigating' ELSE 'resolved' END,
	printf('%08x-1111-4111-8111-111111111111', (i / 10) % 50),
	printf('%08x-2222-4222-8222-%012x', (i / 10) % 50, (i / 500) % 5),
	printf('/subscriptions/%08x-2222-4222-8222-%012x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-%d', (i / 10) % 50, (i / 500) % 5, i % 997),
	? - i * 31000000, ? - i * 31000000 - 60000000, ? - i * 31000000, ? - i * 31000000, 1 + i % 40,
	printf('[{"type":"keyvault","role":"compromised","name":"kv-%d"},{"type":"ip","role":"attacker","address":"185.220.%d.%d","country":"DE"}]', i % 997, (i / 256) % 256, i % 256),
	'{"vault":"kv","caller":"ana@fabrikam.example","callerIp":"185.220.101.4","count":"3"}',
	CASE WHEN i % 10 < 4 THEN '' WHEN i % 10 < 7 THEN 'legitimate' WHEN i % 10 < 9 THEN 'ignore' ELSE 'fraud' END,
	CASE WHEN i % 10 < 4 THEN '' ELSE 'ana@contoso.example' END,
	CASE WHEN i % 10 < 4 THEN NULL ELSE ? - i * 31000000 + 3600000000 END,
	'', ''
FROM n`, n, end, end, end, end, end); err != nil {
		tb.Fatalf("bulk insert: %v", err)
	}
	for _, ddl := range indexes {
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO evidence (alert_id, ordinal, time, fields)
		SELECT id, 0, detected_at, '{"operation":"SecretGet","callerIp":"185.220.101.4","result":"Success"}' FROM alerts`); err != nil {
		tb.Fatalf("bulk insert evidence: %v", err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("wrote %d alerts in %s", n, time.Since(start).Round(time.Millisecond))
	return path
}

// serverTimes records how long the dashboard took to answer each request,
// inside the server.
type serverTimes struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *serverTimes) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		d := time.Since(start)
		s.mu.Lock()
		s.d = append(s.d, d)
		s.mu.Unlock()
	})
}

func (s *serverTimes) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.d
	s.d = nil
	slices.Sort(out)
	return out
}

// loadDashboard serves the dashboard over the load file and returns a
// signed-in client for the partner and one for a customer.
func loadDashboard(tb testing.TB, path string) (*httptest.Server, *serverTimes, map[string]*http.Client) {
	tb.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	dir := &tenancy.Directory{Partners: []tenancy.Partner{{ID: loadPartner, Name: "Load Partner"}}}
	for i := range loadManaged {
		dir.Partners[0].Customers = append(dir.Partners[0].Customers, loadTenant(i))
	}
	times := &serverTimes{}
	srv := httptest.NewServer(times.wrap(web.New(web.Options{Store: st, Directory: dir, Now: func() time.Time { return loadEnd }})))
	tb.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	clients := map[string]*http.Client{}
	for role, req := range map[string]api.TokenRequest{"partner": {PartnerID: loadPartner}, "customer": {TenantID: loadTenant(7)}} {
		text, _, err := api.IssueToken(ctx, st, req, store.Actor{Name: "load", At: time.Now()}, nil)
		if err != nil {
			tb.Fatal(err)
		}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		res, err := c.PostForm(srv.URL+"/login", url.Values{"token": {text}})
		if err != nil {
			tb.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			tb.Fatalf("login as %s: %d", role, res.StatusCode)
		}
		clients[role] = c
	}
	times.take()
	return srv, times, clients
}

// loadPage is one list page of the load test.
type loadPage struct{ name, role, query string }

func loadPages() []loadPage {
	return []loadPage{
		{"customer-open", "customer", ""},
		{"customer-all-by-severity", "customer", "status=all&sort=severity"},
		{"partner-open", "partner", ""},
		{"partner-all", "partner", "status=all"},
		{"partner-open-high", "partner", "severity=high"},
		{"partner-type-30d", "partner", "status=all&type=KV_TORAccess&range=30d"},
		{"partner-tenant-sub", "partner", "status=all&tenant=" + loadTenant(3) + "&sub=00000003-2222-4222-8222-000000000002"},
		{"partner-resolved-page-20", "partner", "status=resolved&page=20&size=50"},
		{"partner-entity-text", "partner", "status=all&q=185.220.3.7"},
		{"partner-oldest-100", "partner", "status=all&sort=oldest&size=100"},
	}
}

// measurePage requests the page n times and returns the server times.
func measurePage(tb testing.TB, srv *httptest.Server, times *serverTimes, c *http.Client, p loadPage, n int) []time.Duration {
	tb.Helper()
	for range n {
		res, err := c.Get(srv.URL + "/?" + p.query)
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `<table class="alerts"`) {
			tb.Fatalf("%s: %d %.300s", p.name, res.StatusCode, body)
		}
	}
	return times.take()
}

func pct(d []time.Duration, p float64) time.Duration {
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TestListPageLoad measures the alert list page's server time over a large
// store. It runs only when VIGIL_LOAD_ALERTS is set (for example to
// 1000000); VIGIL_LOAD_REQUESTS sets the requests per page (default 100),
// VIGIL_LOAD_P99_MS, when set, fails a page whose p99 is above it, and
// VIGIL_LOAD_DB=DIR keeps the generated database for the next run. Each
// page's line gives the server time (p50, p99, max) and the process's CPU
// time per request (client and server, as they share the process):
//
//	VIGIL_LOAD_ALERTS=1000000 VIGIL_LOAD_P99_MS=200 go test -run TestListPageLoad -v ./web
func TestListPageLoad(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("VIGIL_LOAD_ALERTS"))
	if n <= 0 {
		t.Skip("set VIGIL_LOAD_ALERTS=1000000 to run the load test")
	}
	reqs := 100
	if v, err := strconv.Atoi(os.Getenv("VIGIL_LOAD_REQUESTS")); err == nil && v > 0 {
		reqs = v
	}
	limit, _ := strconv.Atoi(os.Getenv("VIGIL_LOAD_P99_MS"))
	srv, times, clients := loadDashboard(t, loadDB(t, n))
	var all []time.Duration
	for _, p := range loadPages() {
		measurePage(t, srv, times, clients[p.role], p, 20) // warm the page cache
		cpu := cpuTime()
		d := measurePage(t, srv, times, clients[p.role], p, reqs)
		cpu = (cpuTime() - cpu) / time.Duration(reqs)
		all = append(all, d...)
		t.Logf("%-26s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  cpu %6.2f ms/request", p.name,
			ms(pct(d, 0.50)), ms(pct(d, 0.99)), ms(d[len(d)-1]), ms(cpu))
		if limit > 0 && pct(d, 0.99) > time.Duration(limit)*time.Millisecond {
			t.Errorf("%s: p99 %.2f ms is above %d ms", p.name, ms(pct(d, 0.99)), limit)
		}
	}
	slices.Sort(all)
	t.Logf("%-26s p50 %7.2f ms  p99 %7.2f ms  (%d alerts, %d requests)", "all", ms(pct(all, 0.50)), ms(pct(all, 0.99)), n, len(all))
}

// BenchmarkListPage renders the partner's open-alerts page over
// VIGIL_BENCH_ALERTS alerts (default 100,000).
func BenchmarkListPage(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("VIGIL_BENCH_ALERTS")); err == nil && v > 0 {
		n = v
	}
	srv, times, clients := loadDashboard(b, loadDB(b, n))
	p := loadPages()[2]
	measurePage(b, srv, times, clients[p.role], p, 3)
	b.ReportAllocs()
	for b.Loop() {
		measurePage(b, srv, times, clients[p.role], p, 1)
	}
}
