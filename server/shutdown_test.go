package server

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/tenancy"
)

// TestShutdownCutShortLosesNothing: a drain cut short by
// server.shutdownTimeout is a clean stop (Serve returns nil, so vigil serve
// exits 0): what was accepted and not processed stays in the spool, the
// next start reads it, and the alerts are those of a run that was never
// stopped. Repeated, so that the deadline falls between items and inside
// one (the bodies are then large).
func TestShutdownCutShortLosesNothing(t *testing.T) {
	const records = 60000
	bodies := kvLoad(t, records, 1000, time.Time{})
	dir := tenancy.Directory{Customers: []tenancy.Customer{{
		TenantID: "1889e718-414b-4bad-8bbe-c1135bd39a41", Subscriptions: []tenancy.Subscription{{ID: torSubscription(t, bodies)}},
	}}}
	clean := baseConfig(t)
	clean.Directory = dir
	spoolAll(t, clean, bodies)
	ts := start(t, clean)
	ts.processed(t, records)
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	want := alertSummary(t, clean)
	if len(want) == 0 {
		t.Fatal("the load raised no alerts")
	}

	// Bodies of 20,000 records, so that the deadline falls inside one.
	var large [][]byte
	for i := 0; i < len(bodies); i += 20 {
		large = append(large, bytes.Join(bodies[i:min(i+20, len(bodies))], nil))
	}
	for round, load := range [][][]byte{large, bodies, large} {
		cfg := baseConfig(t)
		cfg.Directory = dir
		cfg.Server.ShutdownTimeout = time.Millisecond
		spoolAll(t, cfg, load)
		ts := start(t, cfg)
		waitFor(t, "processing to begin", func() bool { return ts.Counters().Records.Load() > int64(round)*500 })
		if err := ts.stop(); err != nil {
			t.Fatalf("round %d: a drain cut short by the shutdown timeout returned %v", round, err)
		}
		if ts.spool.Bytes() == 0 {
			t.Fatalf("round %d: the drain was not cut short; the test needs a larger backlog", round)
		}
		cfg.Server.ShutdownTimeout = time.Minute
		ts2 := start(t, cfg)
		waitFor(t, "the rest to be processed", func() bool { return ts2.spool.Bytes() == 0 && len(ts2.queue) == 0 })
		if err := ts2.stop(); err != nil {
			t.Fatal(err)
		}
		if got := alertSummary(t, cfg); !maps.Equal(got, want) {
			t.Errorf("round %d: after a stop cut short and a restart the alerts are\n%v\nwant (a run never stopped)\n%v", round, got, want)
		}
	}
}

// spoolAll spools bodies without running the pipeline, as a burst of
// pushes accepted before it could keep up.
func spoolAll(t *testing.T, cfg config.Config, bodies [][]byte) {
	t.Helper()
	s, err := New(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, b := range bodies {
		if _, err := s.spool.Append(b, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// alertSummary opens the data directory of a stopped server and returns,
// per alert type and fingerprint, the alert's count and evidence size.
func alertSummary(t *testing.T, cfg config.Config) map[string]string {
	t.Helper()
	s, err := New(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]string{}
	for _, a := range listAlerts(t, s.st, "") {
		k := a.Type + " " + a.Fingerprint
		if _, dup := out[k]; dup {
			t.Errorf("alert %s stored twice", k)
		}
		out[k] = fmt.Sprintf("count %d, evidence %d, first %s, last %s", a.Count, len(a.Evidence),
			a.FirstObserved.Format(time.RFC3339Nano), a.LastObserved.Format(time.RFC3339Nano))
	}
	return out
}
