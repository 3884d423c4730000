package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

// RunOutboxShared runs the outbox tests of several instances writing one
// database at once: open must return n handles (each with its own
// connections, as separate processes would have) on one new, empty
// database. RunOutboxShared closes them.
func RunOutboxShared(t *testing.T, open func(t *testing.T, n int) []OutboxStore) {
	t.Helper()
	tests := []struct {
		name string
		n    int
		f    func(t *testing.T, ss []OutboxStore)
	}{
		{"ConcurrentNewAlertOnce", 4, testOutboxConcurrentNew},
		{"DeleteTargetWhileSaving", 2, testOutboxDeleteWhileSaving},
		{"EnqueueOnceRaced", 4, testOutboxEnqueueOnceRaced},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := open(t, tc.n)
			t.Cleanup(func() {
				for _, s := range ss {
					if err := s.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				}
			})
			tc.f(t, ss)
		})
	}
}

// testOutboxConcurrentNew has every instance save the same new alerts at
// once, in different orders, again and again: each alert is reported
// created once per target, however many instances raced to insert it, and
// the repeats report nothing.
func testOutboxConcurrentNew(t *testing.T, ss []OutboxStore) {
	ctx := context.Background()
	putTargets(t, ss[0], "a", "b")
	const nAlerts, rounds = 10, 5
	var wg sync.WaitGroup
	for w, s := range ss {
		wg.Go(func() {
			for range rounds {
				batch := make([]*alert.Alert, nAlerts)
				for i := range nAlerts {
					k := (i + w*3) % nAlerts
					if w%2 == 1 {
						k = nAlerts - 1 - k
					}
					batch[i] = simple(fmt.Sprintf("new-%02d", k), k)
				}
				if err := s.SaveAlerts(ctx, batch); err != nil {
					t.Errorf("instance %d: SaveAlerts: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	es, err := ss[0].ListOutbox(ctx, store.OutboxQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range es {
		seen[fmt.Sprintf("%s %s %s", e.TargetID, e.AlertID, e.Event)]++
	}
	if len(es) != 2*nAlerts {
		t.Errorf("%d entries, want %d (one created per alert and target): %v", len(es), 2*nAlerts, seen)
	}
	for i := range nAlerts {
		for _, tg := range []string{"a", "b"} {
			k := fmt.Sprintf("%s new-%02d %s", tg, i, store.EventAlertCreated)
			if seen[k] != 1 {
				t.Errorf("%s: %d entries, want 1", k, seen[k])
			}
		}
	}
}

// testOutboxDeleteWhileSaving deletes a target while another instance
// saves new alerts: every entry of the deleted target ends failed, none is
// left pending for a target that no longer exists, and the other target
// gets every alert.
func testOutboxDeleteWhileSaving(t *testing.T, ss []OutboxStore) {
	ctx := context.Background()
	putTargets(t, ss[0], "a", "b")
	const batches, size = 30, 5
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for b := range batches {
			if b == 3 {
				close(started)
			}
			batch := make([]*alert.Alert, size)
			for i := range batch {
				batch[i] = simple(fmt.Sprintf("del-%02d-%d", b, i), i)
			}
			if err := ss[0].SaveAlerts(ctx, batch); err != nil {
				t.Errorf("SaveAlerts: %v", err)
				return
			}
		}
	})
	<-started
	if err := ss[1].DeleteTarget(ctx, "b", time.Now()); err != nil {
		t.Fatalf("DeleteTarget: %v", err)
	}
	wg.Wait()
	pending, err := ss[1].ListOutbox(ctx, store.OutboxQuery{TargetIDs: []string{"b"}, States: []string{store.OutboxPending}})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("%d entries pending for the deleted target", len(pending))
	}
	failed, err := ss[1].ListOutbox(ctx, store.OutboxQuery{TargetIDs: []string{"b"}, States: []string{store.OutboxFailed}})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) < 3*size {
		t.Errorf("%d entries of the deleted target failed, want at least the %d saved before", len(failed), 3*size)
	}
	for _, e := range failed {
		if e.LastError != "target deleted" {
			t.Errorf("entry %d: error %q", e.ID, e.LastError)
		}
	}
	kept, err := ss[1].ListOutbox(ctx, store.OutboxQuery{TargetIDs: []string{"a"}, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != batches*size {
		t.Errorf("target a has %d entries, want %d", len(kept), batches*size)
	}
}

// testOutboxEnqueueOnceRaced has every instance enqueue the same entries
// at once (each day's summary, as every instance's scheduler would): each
// is added once, and exactly one instance is told it added it.
func testOutboxEnqueueOnceRaced(t *testing.T, ss []OutboxStore) {
	ctx := context.Background()
	putTargets(t, ss[0], "a")
	const days = 10
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added = map[string]int{}
	)
	for _, s := range ss {
		wg.Go(func() {
			for d := range days {
				day := fmt.Sprintf("daily:2026-12-%02d", d+1)
				_, ok, err := s.EnqueueOnce(ctx, store.OutboxEntry{TargetID: "a", Event: "dailySummary", AlertID: day})
				if err != nil {
					t.Errorf("EnqueueOnce: %v", err)
					return
				}
				if ok {
					mu.Lock()
					added[day]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	es, err := ss[0].ListOutbox(ctx, store.OutboxQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != days {
		t.Errorf("%d entries, want %d", len(es), days)
	}
	for d := range days {
		if day := fmt.Sprintf("daily:2026-12-%02d", d+1); added[day] != 1 {
			t.Errorf("%s: %d instances added it", day, added[day])
		}
	}
}
