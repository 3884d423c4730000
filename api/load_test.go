package api_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// The load data: loadTenants customer tenants, the first loadManaged of
// them managed by one partner; alerts spread over types, statuses,
// severities, five subscriptions per tenant and a year of detections.
const (
	loadTenants = 50
	loadManaged = 10
	loadPartner = "0a0a0a0a-0000-4000-8000-00000000000a"
)

func loadTenant(i int) string { return fmt.Sprintf("%08x-1111-4111-8111-111111111111", i) }

// loadEnd is the detection time of the newest load alert.
var loadEnd = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// buildLoadDB writes n alerts (one evidence row each) straight into a new
// store file with one INSERT ... SELECT over a recursive counter, then
// gathers the planner's statistics, as a long-running store has them.
func buildLoadDB(tb testing.TB, n int) string {
	tb.Helper()
	if dir := os.Getenv("VIGIL_LOAD_DB"); dir != "" {
		// A kept database: built once, reused while it has n alerts.
		path := filepath.Join(dir, fmt.Sprintf("load-%d.db", n))
		if _, err := os.Stat(path); err == nil {
			tb.Logf("reusing %s", path)
			return path
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		return buildLoadDBAt(tb, path, n)
	}
	return buildLoadDBAt(tb, filepath.Join(tb.TempDir(), store.DefaultFile), n)
}

func buildLoadDBAt(tb testing.TB, path string, n int) string {
	tb.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, path) // creates the schema
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-524288)&_pragma=temp_store(2)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	// Indexes are dropped during the insert and built afterwards, by
	// sorting, which is many times faster than updating them row by row.
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
	if err := rows.Close(); err != nil {
		tb.Fatal(err)
	}
	for name := range indexes {
		if _, err := db.ExecContext(ctx, "DROP INDEX "+name); err != nil {
			tb.Fatal(err)
		}
	}
	end := loadEnd.UnixMicro()
	_, err = db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
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
	'[{"type":"keyvault","role":"compromised","name":"kv"},{"type":"ip","role":"attacker","address":"185.220.101.4","country":"DE"}]',
	'{"vault":"kv","caller":"ana@fabrikam.example","callerIp":"185.220.101.4","count":"3"}',
	CASE WHEN i % 10 < 4 THEN '' WHEN i % 10 < 7 THEN 'legitimate' WHEN i % 10 < 9 THEN 'ignore' ELSE 'fraud' END,
	CASE WHEN i % 10 < 4 THEN '' ELSE 'ana@contoso.example' END,
	CASE WHEN i % 10 < 4 THEN NULL ELSE ? - i * 31000000 + 3600000000 END,
	'', ''
FROM n`, n, end, end, end, end, end)
	if err != nil {
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

// loadServer serves the API over the load database (a SQLite file or a
// PostgreSQL URL) and returns it with a partner token and a customer token.
func loadServer(tb testing.TB, db string) (*httptest.Server, map[string]string) {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	dir := &tenancy.Directory{Partners: []tenancy.Partner{{ID: loadPartner}}}
	for i := range loadManaged {
		dir.Partners[0].Customers = append(dir.Partners[0].Customers, loadTenant(i))
	}
	toks := map[string]string{}
	for role, req := range map[string]api.TokenRequest{
		"partner":  {PartnerID: loadPartner},
		"customer": {TenantID: loadTenant(7)},
	} {
		text, _, err := api.IssueToken(ctx, st, req, store.Actor{Name: "load", At: time.Now()}, nil)
		if err != nil {
			tb.Fatal(err)
		}
		toks[role] = text
	}
	srv := httptest.NewServer(api.New(api.Options{Store: st, Directory: dir}))
	tb.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return srv, toks
}

// loadQuery is one list request of the load test.
type loadQuery struct {
	name, role string
	q          url.Values
}

func loadQueries() []loadQuery {
	month := loadEnd.AddDate(0, 0, -30).Format(time.RFC3339)
	return []loadQuery{
		{"customer-active", "customer", url.Values{"$filter": {"status eq 'active'"}}},
		{"customer-open-high-50", "customer", url.Values{"$filter": {"status in ('active', 'investigating') and severity eq 'high'"}, "$top": {"50"}}},
		{"customer-type-month-count", "customer", url.Values{"$filter": {"alertType eq 'KV_TORAccess' and detectedDateTime ge " + month}, "$count": {"true"}, "$top": {"20"}}},
		{"partner-unresolved", "partner", url.Values{"$filter": {"resolvedReason eq null and status ne 'investigating'"}}},
		{"partner-tenant-subscription", "partner", url.Values{"$filter": {"customerTenantId eq " + loadTenant(3) + " and subscriptionId eq 00000003-2222-4222-8222-000000000002"}, "$top": {"25"}}},
		{"partner-fraud-oldest", "partner", url.Values{"$filter": {"resolvedReason eq 'fraud' and detectedDateTime lt " + month}, "$orderby": {"detectedDateTime asc"}, "$top": {"10"}}},
		{"partner-page-50", "partner", url.Values{"$filter": {"severity ne 'informational'"}, "$skip": {"5000"}, "$top": {"100"}}},
	}
}

// measure sends the query n times and returns the sorted latencies.
func measure(tb testing.TB, srv *httptest.Server, token string, lq loadQuery, n int) []time.Duration {
	tb.Helper()
	u := srv.URL + "/security/partner/securityAlerts?" + lq.q.Encode()
	out := make([]time.Duration, 0, n)
	for range n {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		res, err := srv.Client().Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		d := time.Since(start)
		if err != nil || res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"value":[{`) {
			tb.Fatalf("%s: %d %.300s %v", lq.name, res.StatusCode, body, err)
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

func pct(d []time.Duration, p float64) time.Duration {
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// loadStores are the stores the load test and benchmark run on:
// VIGIL_LOAD_STORE, a comma-separated list of sqlite and postgres (default
// sqlite).
func loadStores(tb testing.TB) []string {
	v := os.Getenv("VIGIL_LOAD_STORE")
	if v == "" {
		return []string{"sqlite"}
	}
	var out []string
	for k := range strings.SplitSeq(v, ",") {
		switch k = strings.TrimSpace(k); k {
		case "sqlite", "postgres":
			out = append(out, k)
		default:
			tb.Fatalf("VIGIL_LOAD_STORE: unknown store %q (sqlite or postgres)", k)
		}
	}
	return out
}

// buildLoad builds the load database of n alerts in the store kind and
// returns what store.Open takes.
func buildLoad(tb testing.TB, kind string, n int) string {
	if kind == "postgres" {
		return buildLoadPostgres(tb, n)
	}
	return buildLoadDB(tb, n)
}

// TestListLoad measures list requests with filters over a large store,
// over real HTTP. It runs only when VIGIL_LOAD_ALERTS is set (for example
// to 1000000); VIGIL_LOAD_STORE picks the stores (sqlite, postgres or
// both, comma-separated; default sqlite; PostgreSQL as internal/pgtest
// gives it); VIGIL_LOAD_REQUESTS sets the requests per query (default 200)
// and VIGIL_LOAD_P99_MS, when set, fails a query whose p99 is above it;
// VIGIL_LOAD_DB=DIR keeps the generated SQLite database in DIR for the
// next run. Run it alone:
//
//	VIGIL_LOAD_ALERTS=1000000 VIGIL_LOAD_STORE=sqlite,postgres go test -run TestListLoad -v -timeout 30m ./api
func TestListLoad(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("VIGIL_LOAD_ALERTS"))
	if n <= 0 {
		t.Skip("set VIGIL_LOAD_ALERTS=1000000 to run the load test")
	}
	for _, kind := range loadStores(t) {
		t.Run(kind, func(t *testing.T) { listLoad(t, kind, n) })
	}
}

func listLoad(t *testing.T, kind string, n int) {
	reqs := 200
	if v, err := strconv.Atoi(os.Getenv("VIGIL_LOAD_REQUESTS")); err == nil && v > 0 {
		reqs = v
	}
	limit, _ := strconv.Atoi(os.Getenv("VIGIL_LOAD_P99_MS"))
	srv, toks := loadServer(t, buildLoad(t, kind, n))
	var all []time.Duration
	for _, lq := range loadQueries() {
		measure(t, srv, toks[lq.role], lq, 5) // warm the page cache
		d := measure(t, srv, toks[lq.role], lq, reqs)
		all = append(all, d...)
		t.Logf("%-28s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms", lq.name, ms(pct(d, 0.50)), ms(pct(d, 0.99)), ms(d[len(d)-1]))
		if limit > 0 && pct(d, 0.99) > time.Duration(limit)*time.Millisecond {
			t.Errorf("%s: p99 %.2f ms is above %d ms", lq.name, ms(pct(d, 0.99)), limit)
		}
	}
	slices.Sort(all)
	t.Logf("%-28s p50 %7.2f ms  p99 %7.2f ms  (%s, %d alerts, %d requests)", "all", ms(pct(all, 0.50)), ms(pct(all, 0.99)), kind, n, len(all))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkListFiltered runs the load test's queries as benchmarks over
// VIGIL_BENCH_ALERTS alerts (default 1,000,000) in each store of
// VIGIL_LOAD_STORE, reporting p50 and p99:
//
//	go test -run x -bench ListFiltered -benchtime 100x ./api
func BenchmarkListFiltered(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("VIGIL_BENCH_ALERTS")); err == nil && v > 0 {
		n = v
	}
	for _, kind := range loadStores(b) {
		b.Run(kind, func(b *testing.B) { benchList(b, kind, n) })
	}
}

func benchList(b *testing.B, kind string, n int) {
	srv, toks := loadServer(b, buildLoad(b, kind, n))
	for _, lq := range loadQueries() {
		b.Run(lq.name, func(b *testing.B) {
			measure(b, srv, toks[lq.role], lq, 3)
			b.ReportAllocs()
			var d []time.Duration
			for b.Loop() {
				d = append(d, measure(b, srv, toks[lq.role], lq, 1)...)
			}
			slices.Sort(d)
			b.ReportMetric(ms(pct(d, 0.50)), "p50-ms")
			b.ReportMetric(ms(pct(d, 0.99)), "p99-ms")
		})
	}
}
