package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/vigil-security/vigil/internal/pgtest"
	"github.com/vigil-security/vigil/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// buildLoadPostgres writes the load data of buildLoadDB (the same IDs,
// tenants, types, statuses, severities and times) into a new PostgreSQL
// database with one INSERT ... SELECT over generate_series, builds the
// indexes afterwards, vacuums and analyses, and returns its URL.
func buildLoadPostgres(tb testing.TB, n int) string {
	tb.Helper()
	ctx := context.Background()
	dsn := pgtest.DSN(tb)
	st, err := store.OpenPostgres(ctx, dsn) // creates the schema
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	start := time.Now()
	exec := func(q string, args ...any) {
		tb.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			tb.Fatalf("%.60s...: %v", q, err)
		}
	}
	indexes := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE tablename = 'alerts' AND indexname <> 'alerts_pkey'`)
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
		exec("DROP INDEX " + name)
	}
	exec(`INSERT INTO alerts (id, type, fingerprint, severity, severity_rank, status, tenant_id, subscription_id, resource,
	detected_at, first_observed_at, last_observed_at, updated_at, event_count, entities, details,
	resolved_reason, resolved_by, resolved_on, suppressed_by, previous_id)
SELECT lpad(to_hex(i), 8, '0') || '-' || lpad(to_hex(i % 65536), 4, '0') || '-4000-8000-' || lpad(to_hex(i::bigint * 7919), 12, '0'),
	CASE i % 4 WHEN 0 THEN 'KV_TORAccess' WHEN 1 THEN 'KV_ListGetAnomaly' WHEN 2 THEN 'ARM_OperationFromSuspiciousIP' ELSE 'CryptoMining' END,
	'fp' || lpad(to_hex(i), 8, '0'),
	CASE i % 7 WHEN 0 THEN 'high' WHEN 1 THEN 'high' WHEN 2 THEN 'low' WHEN 3 THEN 'informational' ELSE 'medium' END,
	CASE i % 7 WHEN 0 THEN 3 WHEN 1 THEN 3 WHEN 2 THEN 1 WHEN 3 THEN 0 ELSE 2 END,
	CASE WHEN i % 10 < 3 THEN 'active' WHEN i % 10 = 3 THEN 'investigating' ELSE 'resolved' END,
	lpad(to_hex((i / 10) % 50), 8, '0') || '-1111-4111-8111-111111111111',
	lpad(to_hex((i / 10) % 50), 8, '0') || '-2222-4222-8222-' || lpad(to_hex((i / 500) % 5), 12, '0'),
	'/subscriptions/' || lpad(to_hex((i / 10) % 50), 8, '0') || '-2222-4222-8222-' || lpad(to_hex((i / 500) % 5), 12, '0') ||
		'/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-' || (i % 997),
	$1::timestamptz - i * interval '31 seconds', $1::timestamptz - i * interval '31 seconds' - interval '60 seconds',
	$1::timestamptz - i * interval '31 seconds', $1::timestamptz - i * interval '31 seconds', 1 + i % 40,
	'[{"type":"keyvault","role":"compromised","name":"kv"},{"type":"ip","role":"attacker","address":"185.220.101.4","country":"DE"}]',
	'{"vault":"kv","caller":"ana@fabrikam.example","callerIp":"185.220.101.4","count":"3"}',
	CASE WHEN i % 10 < 4 THEN '' WHEN i % 10 < 7 THEN 'legitimate' WHEN i % 10 < 9 THEN 'ignore' ELSE 'fraud' END,
	CASE WHEN i % 10 < 4 THEN '' ELSE 'ana@contoso.example' END,
	CASE WHEN i % 10 < 4 THEN NULL ELSE $1::timestamptz - i * interval '31 seconds' + interval '1 hour' END,
	'', ''
FROM generate_series(0, $2::integer - 1) AS i`, loadEnd, n)
	for _, ddl := range indexes {
		exec(ddl)
	}
	exec(`INSERT INTO evidence (alert_id, ordinal, time, fields)
		SELECT id, 0, detected_at, '{"operation":"SecretGet","callerIp":"185.220.101.4","result":"Success"}' FROM alerts`)
	exec("VACUUM ANALYZE")
	var size string
	if err := db.QueryRowContext(ctx, "SELECT pg_size_pretty(pg_database_size(current_database()))").Scan(&size); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("wrote %d alerts into PostgreSQL in %s (database %s)", n, time.Since(start).Round(time.Millisecond), size)
	return dsn
}
