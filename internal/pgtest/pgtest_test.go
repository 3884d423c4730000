package pgtest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

func TestMain(m *testing.M) { Main(m) }

func query(t *testing.T, dsn, q string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	var out string
	if err := db.QueryRowContext(context.Background(), q).Scan(&out); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// TestDSN: each DSN is a new, empty, writable database of its own, in
// UTF-8, dropped when its test ends.
func TestDSN(t *testing.T) {
	var names []string
	for range 2 {
		dsn := DSN(t)
		names = append(names, query(t, dsn, "SELECT current_database()"))
		if n := query(t, dsn, "SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public'"); n != "0" {
			t.Errorf("%s has %s tables, want none", dsn, n)
		}
		if enc := query(t, dsn, "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()"); enc != "UTF8" {
			t.Errorf("encoding %s", enc)
		}
		if err := exec1(dsn, "CREATE TABLE t (x int)"); err != nil {
			t.Fatal(err)
		}
		if n := query(t, dsn, "WITH i AS (INSERT INTO t VALUES (1) RETURNING x) SELECT count(*)::text FROM i"); n != "1" {
			t.Errorf("inserted %s rows", n)
		}
	}
	if names[0] == names[1] || !strings.HasPrefix(names[0], "vigil_test_") {
		t.Errorf("databases %v", names)
	}
	var inner string
	t.Run("dropped", func(t *testing.T) {
		inner = query(t, DSN(t), "SELECT current_database()")
	})
	if n := query(t, DSN(t), "SELECT count(*)::text FROM pg_database WHERE datname = '"+inner+"'"); n != "0" {
		t.Errorf("database %s of an ended test still exists", inner)
	}
}

func TestBin(t *testing.T) {
	bin, err := Bin()
	if err != nil && os.Getenv(EnvDSN) != "" {
		t.Skipf("the tests use the server of %s; no local binaries: %v", EnvDSN, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bin, "/usr/lib/postgresql/") || !strings.HasSuffix(bin, "/bin") {
		t.Errorf("Bin() = %s", bin)
	}
}
