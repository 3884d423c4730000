package dispatch

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/store"
)

// childEnv names the database a re-executed test binary dispatches from.
const childEnv = "VIGIL_DISPATCH_CHILD_DB"

// childLease is the lease of the child dispatchers: what a killed one's
// claims wait before they are given back.
const childLease = 2 * time.Second

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(runChild(path))
	}
	os.Exit(m.Run())
}

// runChild is a dispatcher process: it delivers the outbox of the database
// until killed (or SIGTERM).
func runChild(path string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	s, err := store.OpenSQLite(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	n, err := loopbackWebhook()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	d, err := New(Options{Outbox: s, Notifiers: []notify.Notifier{n}, Lease: childLease, Poll: 50 * time.Millisecond, Batch: 32, Workers: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = d.Run(ctx)
	return 0
}

func startChild(t *testing.T, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestKilledDispatcherLosesNothing kills a dispatcher process with SIGKILL
// in the middle of delivering, starts another, and checks that every
// notification arrived and that the only repeats are of entries the dead
// one had in flight, under the same idempotency key.
func TestKilledDispatcherLosesNothing(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/vigil.db"
	s := openStore(t, path)
	rc := newReceiver(t)
	rc.delay = 3 * time.Millisecond // slow enough to be killed mid-batch
	addWebhook(t, s, "webhook:a", rc.url())
	addWebhook(t, s, "webhook:b", rc.url())
	const n = 400
	if err := s.SaveAlerts(ctx, alerts("k", n, time.Now())); err != nil {
		t.Fatal(err)
	}
	const entries = 2 * n

	first := startChild(t, path)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if k, _, _ := rc.counts(); k >= entries/4 {
			break
		}
		if time.Now().After(deadline) {
			_ = first.Process.Kill()
			t.Fatal("first dispatcher delivered too little in 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt, _, _ := rc.counts()
	cnt, err := s.OutboxCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %d deliveries; outbox %v", killedAt, cnt)
	if cnt[store.OutboxPending] == 0 {
		t.Fatal("nothing left pending: the kill came too late to test anything")
	}

	second := startChild(t, path)
	defer func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_ = second.Wait()
	}()
	deadline = time.Now().Add(60 * time.Second)
	for {
		cnt, err = s.OutboxCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cnt[store.OutboxPending] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still pending after 60 s: %v", cnt)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cnt[store.OutboxDone] != entries || cnt[store.OutboxFailed] != 0 {
		t.Fatalf("outbox %v, want %d done", cnt, entries)
	}
	keys, requests, dup := rc.counts()
	if keys != entries {
		t.Fatalf("receiver got %d distinct keys, want %d", keys, entries)
	}
	// Repeats are only of what the killed process had claimed and not
	// finished: at most its workers' batches.
	if len(dup) > 2*32 {
		t.Errorf("%d keys repeated, more than the killed dispatcher held", len(dup))
	}
	all, err := s.ListOutbox(ctx, store.OutboxQuery{Limit: 10 * entries})
	if err != nil {
		t.Fatal(err)
	}
	retried := map[string]bool{}
	for _, e := range all {
		if e.Attempts > 1 {
			retried[e.Key] = true
		}
	}
	for _, k := range dup {
		if !retried[k] {
			t.Errorf("key %s delivered twice but claimed once", k)
		}
	}
	t.Logf("%d entries, %d requests, %d repeated (same key) after the kill, %d entries claimed twice", keys, requests, len(dup), len(retried))
}
