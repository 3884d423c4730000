package store_test

import (
	"context"
	"testing"

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
