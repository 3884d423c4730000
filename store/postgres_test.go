package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/vigil-security/vigil/alert"

	"github.com/vigil-security/vigil/internal/pgtest"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// openPostgres opens a store on a new, empty PostgreSQL database, closed
// when the test ends.
func openPostgres(t testing.TB) *store.Postgres {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.OpenPostgres(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		return s
	})
}

func TestPostgresOutboxConformance(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) storetest.OutboxStore {
		s, err := store.OpenPostgres(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		return s
	})
}

func TestPostgresOutboxShared(t *testing.T) {
	storetest.RunOutboxShared(t, func(t *testing.T, n int) []storetest.OutboxStore {
		dsn := pgtest.DSN(t)
		out := make([]storetest.OutboxStore, n)
		for i := range out {
			s, err := store.OpenPostgres(context.Background(), dsn)
			if err != nil {
				t.Fatalf("OpenPostgres: %v", err)
			}
			out[i] = s
		}
		return out
	})
}

func TestPostgresShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T, n int) []store.Store {
		dsn := pgtest.DSN(t)
		out := make([]store.Store, n)
		errs := make(chan error, n)
		// Instances starting together migrate once, under the lock.
		for i := range out {
			go func() {
				var err error
				out[i], err = store.OpenPostgres(context.Background(), dsn)
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatalf("OpenPostgres: %v", err)
			}
		}
		return out
	})
}

// BenchmarkPostgresSaveAlerts saves batches of 1,000 alerts with 10
// evidence each in one transaction ("insert"), and single repeats of
// stored alerts, one transaction each ("repeat"), into PostgreSQL.
func BenchmarkPostgresSaveAlerts(b *testing.B) {
	const batchSize, evidence = 1000, 10
	ctx := context.Background()
	b.Run("insert", func(b *testing.B) {
		s := openPostgres(b)
		n := 0
		for b.Loop() {
			b.StopTimer()
			alerts := make([]*alert.Alert, batchSize)
			for i := range alerts {
				alerts[i] = sample(fmt.Sprintf("ins-%d-%04d", n, i), evidence)
			}
			n++
			b.StartTimer()
			if err := s.SaveAlerts(ctx, alerts); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*batchSize)/b.Elapsed().Seconds(), "alerts/s")
	})
	// With two notification targets, each new alert also writes two
	// outbox entries in its transaction (and locks its ID first).
	b.Run("insert-2-targets", func(b *testing.B) {
		s := openPostgres(b)
		for _, id := range []string{"webhook:a", "mail:b"} {
			if err := s.PutTarget(ctx, store.Target{ID: id, Kind: "webhook", Source: "config"}); err != nil {
				b.Fatal(err)
			}
		}
		n := 0
		for b.Loop() {
			b.StopTimer()
			alerts := make([]*alert.Alert, batchSize)
			for i := range alerts {
				alerts[i] = sample(fmt.Sprintf("ins-%d-%04d", n, i), evidence)
			}
			n++
			b.StartTimer()
			if err := s.SaveAlerts(ctx, alerts); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*batchSize)/b.Elapsed().Seconds(), "alerts/s")
	})
	b.Run("repeat", func(b *testing.B) {
		s := openPostgres(b)
		a := sample("rep", evidence)
		for b.Loop() {
			a.Count++
			a.Evidence = append(a.Evidence[:evidence-1], alert.Evidence{Time: t0.Add(time.Duration(a.Count) * time.Second), Operation: "flow"})
			if err := s.SaveAlert(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPostgresMigrations checks that the embedded migrations are applied
// once, versioned as goose records them, and that reopening applies none.
func TestPostgresMigrations(t *testing.T) {
	dsn := pgtest.DSN(t)
	for range 2 {
		s, err := store.OpenPostgres(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	var rows, top int
	if err := db.QueryRow(`SELECT count(*), max(version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &top); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migrations/postgres/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files: %v %v", files, err)
	}
	// Versions need not be contiguous (goose applies what is there in
	// order): the highest is the last file's.
	var last int
	if _, err := fmt.Sscanf(filepath.Base(files[len(files)-1]), "%05d_", &last); err != nil {
		t.Fatalf("migration %s: %v", files[len(files)-1], err)
	}
	if rows != len(files) || top != last {
		t.Errorf("goose_db_version: %d rows up to version %d; want %d up to %d", rows, top, len(files), last)
	}
	sqlite, err := filepath.Glob("migrations/sqlite/*.sql")
	if err != nil || len(sqlite) != len(files) {
		t.Errorf("%d SQLite migrations, %d PostgreSQL ones: the schemas must move together", len(sqlite), len(files))
	}
}

// TestPostgresPoolMaxConns: pool_max_conns bounds the store's connections
// and is not sent to the server; a bad value is ErrInvalid.
func TestPostgresPoolMaxConns(t *testing.T) {
	dsn := pgtest.DSN(t)
	s, err := store.OpenPostgres(context.Background(), dsn+"&pool_max_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := s.SaveAlert(context.Background(), sample(fmt.Sprintf("pool-%d", i), 2)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 1 || n > 2 {
		t.Errorf("the store holds %d connections, want 1 or 2", n)
	}
	for _, bad := range []string{"&pool_max_conns=0", "&pool_max_conns=x"} {
		if _, err := store.OpenPostgres(context.Background(), dsn+bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("OpenPostgres(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}
