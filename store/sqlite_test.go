package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/store/storetest"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

func openFile(t testing.TB, path string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openFile(t, filepath.Join(t.TempDir(), "vigil.db"))
	})
}

var t0 = time.Date(2025, 11, 3, 9, 14, 27, 123456000, time.UTC)

func sample(id string, nEvidence int) *alert.Alert {
	a := &alert.Alert{
		ID: id, Type: "SSH_Incoming_BF_ManyToOne", Fingerprint: "fp-" + id,
		Severity: alert.SeverityMedium, Status: alert.StatusActive,
		TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", SubscriptionID: "9c2a8d3e-1f4b-4e6a-8c5d-0b7e3f2a1d90",
		Resource: "/subscriptions/9c2a8d3e-1f4b-4e6a-8c5d-0b7e3f2a1d90/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-web-01",
		Detected: t0, FirstObserved: t0, LastObserved: t0.Add(time.Minute), Updated: t0, Count: nEvidence,
		Entities: []alert.Entity{
			{Type: alert.EntityHost, Role: "victim", Name: "vm-web-01"},
			{Type: alert.EntityIP, Role: "attacker", Address: "203.0.113.7", Country: "NL", ASN: 64500},
		},
		Details: map[string]string{"attackers": "57", "port": "22", "beschrijving": "Brute-force via SSH", "説明": "SSHブルートフォース"},
	}
	for i := range nEvidence {
		a.Evidence = append(a.Evidence, alert.Evidence{
			Time: t0.Add(time.Duration(i) * time.Second), Operation: "flow", CallerIP: fmt.Sprintf("203.0.113.%d", i%250),
			Target: "10.0.0.4:22", Result: "SYN", Source: fmt.Sprintf("ipfix:%d", i),
		})
	}
	return a
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	s := openFile(t, path)
	if err := s.SaveAlerts(ctx, []*alert.Alert{sample("a", 3), sample("b", 0)}); err != nil {
		t.Fatal(err)
	}
	want, err := s.UpdateStatus(ctx, "a", alert.StatusResolved, alert.ReasonFraud, "ana", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAlert(ctx, "a"); err == nil {
		t.Error("GetAlert after Close succeeded")
	}

	s = openFile(t, path)
	defer s.Close()
	got, err := s.GetAlert(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	if n, err := s.CountAlerts(ctx, store.ListQuery{}); err != nil || n != 2 {
		t.Errorf("CountAlerts after reopen = %d, %v; want 2", n, err)
	}
}

// TestSQLiteTwoHandles opens the file twice, as `vigil detect --db` does
// while `vigil serve` runs: both write at once and neither sees "database is
// locked".
func TestSQLiteTwoHandles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	s1, s2 := openFile(t, path), openFile(t, path)
	defer s1.Close()
	defer s2.Close()
	var wg sync.WaitGroup
	for h, s := range []*store.SQLite{s1, s2} {
		wg.Go(func() {
			for i := range 20 {
				batch := []*alert.Alert{sample(fmt.Sprintf("h%d-%d", h, i), 5)}
				if err := s.SaveAlerts(ctx, batch); err != nil {
					t.Errorf("handle %d: %v", h, err)
					return
				}
				if _, err := s.ListAlerts(ctx, store.ListQuery{Limit: 10}); err != nil {
					t.Errorf("handle %d: %v", h, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, s := range []*store.SQLite{s1, s2} {
		if n, err := s.CountAlerts(ctx, store.ListQuery{}); err != nil || n != 40 {
			t.Errorf("CountAlerts = %d, %v; want 40", n, err)
		}
	}
}

func TestOpenSQLitePaths(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "weird ?#%20 名前.db")
	s := openFile(t, odd)
	if err := s.SaveAlert(context.Background(), sample("x", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}

	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"", "need a file path"},
		{":memory:", "need a file path"},
		{"file:x.db?mode=memory", "need a file path"},
		{filepath.Join(dir, "missing", "x.db"), "no such file or directory"},
		{filepath.Join(file, "x.db"), "not a directory"},
	} {
		_, err := store.OpenSQLite(context.Background(), tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenSQLite(%q) = %v, want an error with %q", tc.path, err, tc.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.db"), []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "junk.db")); err == nil {
		t.Error("OpenSQLite of a file that is not a database succeeded")
	}
}

// FuzzSQLiteText saves arbitrary text in every kind of place and checks it
// reads back as the documented valid-UTF-8 form, never an error.
func FuzzSQLiteText(f *testing.F) {
	for _, seed := range [][3]string{
		{"vault", "kv-payroll", "SecretGet"},
		{"説明", "不審なアクセス", "シークレットの取得"},
		{"omschrijving", "één verdachte aanmelding", "Geheim ophalen"},
		{"\x00", "\xff\xfe", "a\x00b\xc3"},
		{"", "", ""},
		{"\"quote\\", "</script>&amp;", "\u2028\u2029"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	s, err := store.OpenSQLite(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	n := 0
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, key, value, op string) {
		n++
		a := sample(fmt.Sprintf("f%d", n), 1)
		a.Details = map[string]string{key: value}
		a.Evidence[0].Operation, a.Entities[0].Name, a.ResolvedBy = op, value, ""
		a.TenantID = key
		if err := s.SaveAlert(context.Background(), a); err != nil {
			t.Fatalf("SaveAlert: %v", err)
		}
		got, err := s.GetAlert(context.Background(), a.ID)
		if err != nil {
			t.Fatalf("GetAlert: %v", err)
		}
		k, v, o := cleaned(key), cleaned(value), cleaned(op)
		if got.Details[k] != v || len(got.Details) != 1 || got.Evidence[0].Operation != o ||
			got.Entities[0].Name != v || got.TenantID != k {
			t.Errorf("read back details %q, operation %q, name %q, tenant %q; want %q: %q, %q",
				got.Details, got.Evidence[0].Operation, got.Entities[0].Name, got.TenantID, k, v, o)
		}
	})
}

// cleaned is the documented stored form of text.
func cleaned(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, string(utf8.RuneError)), "\x00", string(utf8.RuneError))
}

func TestSQLiteShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T, n int) []store.Store {
		path := filepath.Join(t.TempDir(), "vigil.db")
		out := make([]store.Store, n)
		for i := range out {
			out[i] = openFile(t, path)
		}
		return out
	})
}

func TestSQLiteOutboxConformance(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) storetest.OutboxStore {
		return openFile(t, filepath.Join(t.TempDir(), "vigil.db"))
	})
}

func TestSQLiteOutboxShared(t *testing.T) {
	storetest.RunOutboxShared(t, func(t *testing.T, n int) []storetest.OutboxStore {
		path := filepath.Join(t.TempDir(), "vigil.db")
		out := make([]storetest.OutboxStore, n)
		for i := range out {
			out[i] = openFile(t, path)
		}
		return out
	})
}
