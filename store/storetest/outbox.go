package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

// OutboxStore is a store with an outbox.
type OutboxStore interface {
	store.Store
	store.Outbox
}

// RunOutbox runs the outbox conformance suite: entries written with the
// alert changes, claims under a lease, fenced finishes, retries, failures
// kept, targets deleted. open must return a new, empty store for each call;
// RunOutbox closes it when the subtest ends.
func RunOutbox(t *testing.T, open func(t *testing.T) OutboxStore) {
	t.Helper()
	tests := []struct {
		name string
		f    func(t *testing.T, s OutboxStore)
	}{
		{"ChangesFanOut", testOutboxChanges},
		{"NoTargetsNoEntries", testOutboxNoTargets},
		{"ClaimLease", testOutboxLease},
		{"FinishRetryFail", testOutboxFinish},
		{"DeleteTargetFailsPending", testOutboxDeleteTarget},
		{"EnqueueListPrune", testOutboxEnqueue},
		{"ConcurrentClaims", testOutboxConcurrent},
		{"Marks", testOutboxMarks},
		{"Invalid", testOutboxInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.f(t, s)
		})
	}
}

func putTargets(t *testing.T, s OutboxStore, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.PutTarget(context.Background(), store.Target{ID: id, Kind: "webhook", Source: "config", Config: []byte(`{"url":"https://x"}`)}); err != nil {
			t.Fatalf("PutTarget %s: %v", id, err)
		}
	}
}

func allEntries(t *testing.T, s OutboxStore) []store.OutboxEntry {
	t.Helper()
	es, err := s.ListOutbox(context.Background(), store.OutboxQuery{})
	if err != nil {
		t.Fatalf("ListOutbox: %v", err)
	}
	return es
}

// summary is "target event old>new" of each entry.
func summary(es []store.OutboxEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s %s %s %s>%s", e.TargetID, e.AlertID, e.Event, e.Old, e.New))
	}
	return out
}

func sameList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func testOutboxChanges(t *testing.T, s OutboxStore) {
	ctx := context.Background()
	putTargets(t, s, "a", "b")
	a := simple("x1", 1)
	save(t, s, a)
	save(t, s, a) // a repeat changes nothing notifiable
	a2 := *a
	a2.Count, a2.Severity = 5, alert.SeverityHigh
	save(t, s, &a2)
	a3 := a2
	a3.Severity = alert.SeverityMedium // lowering is not notified
	save(t, s, &a3)
	if _, err := s.UpdateStatus(ctx, "x1", alert.StatusInvestigating, "", "analyst", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b := simple("x2", 2)
	b.Status, b.ResolvedReason = alert.StatusResolved, alert.ReasonLegitimate // saved already resolved (suppressed)
	save(t, s, b)
	// Saving x1 active again keeps the stored status: nothing to notify.
	save(t, s, &a3)
	got := summary(allEntries(t, s))
	sameList(t, "entries", got, []string{
		"a x1 alertCreated >active", "b x1 alertCreated >active",
		"a x1 severityRaised low>high", "b x1 severityRaised low>high",
		"a x1 statusChanged active>investigating", "b x1 statusChanged active>investigating",
		"a x2 alertCreated >resolved", "b x2 alertCreated >resolved",
	})
	es := allEntries(t, s)
	keys := map[string]bool{}
	for _, e := range es {
		if e.State != store.OutboxPending || e.Attempts != 0 || e.Key == "" {
			t.Errorf("entry %d: state %s attempts %d key %q", e.ID, e.State, e.Attempts, e.Key)
		}
		if keys[e.Key] {
			t.Errorf("duplicate key %s", e.Key)
		}
		keys[e.Key] = true
		if e.AlertID == "x1" && (e.TenantID != "tenant-1" || e.SubscriptionID != "sub" || e.AlertType != "Type1") {
			t.Errorf("entry %d: alert fields %+v", e.ID, e)
		}
	}
	if es[2].Severity != alert.SeverityHigh || es[0].Severity != alert.SeverityLow {
		t.Errorf("severities %s, %s", es[0].Severity, es[2].Severity)
	}
	select {
	case <-s.OutboxSignal():
	default:
		t.Error("no signal after entries were written")
	}
}

func testOutboxNoTargets(t *testing.T, s OutboxStore) {
	save(t, s, simple("x1", 1))
	if es := allEntries(t, s); len(es) != 0 {
		t.Fatalf("entries without targets: %v", summary(es))
	}
	putTargets(t, s, "a")
	a := simple("x1", 1)
	a.Severity = alert.SeverityMedium
	save(t, s, a)
	sameList(t, "after target", summary(allEntries(t, s)), []string{"a x1 severityRaised low>medium"})
}

func testOutboxLease(t *testing.T, s OutboxStore) {
	ctx := context.Background()
	putTargets(t, s, "a")
	for i := range 3 {
		save(t, s, simple(fmt.Sprintf("x%d", i), i))
	}
	now := time.Now().Add(time.Second)
	c1, err := s.ClaimOutbox(ctx, store.Claim{Owner: "d1", Now: now, Lease: time.Minute, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(c1) != 2 || c1[0].AlertID != "x0" || c1[1].AlertID != "x1" || c1[0].Attempts != 1 || c1[0].Owner != "d1" {
		t.Fatalf("first claim: %+v", c1)
	}
	c2, err := s.ClaimOutbox(ctx, store.Claim{Owner: "d2", Now: now, Lease: time.Minute, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2) != 1 || c2[0].AlertID != "x2" {
		t.Fatalf("second claim sees leased entries: %+v", c2)
	}
	// d1 dies; after its lease d2 gets its entries, with a new attempt.
	c3, err := s.ClaimOutbox(ctx, store.Claim{Owner: "d2", Now: now.Add(61 * time.Second), Lease: time.Minute, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(c3) != 3 || c3[0].Attempts != 2 || c3[0].Key != c1[0].Key {
		t.Fatalf("claim after lease: %+v", c3)
	}
	// d1's late finish is fenced off; d2's counts.
	lost, err := s.FinishOutbox(ctx, "d1", []store.Finish{{ID: c1[0].ID, Attempts: 1, State: store.OutboxDone, At: now}})
	if err != nil || len(lost) != 1 || lost[0] != c1[0].ID {
		t.Fatalf("stale finish: lost %v, %v", lost, err)
	}
	var fs []store.Finish
	for _, e := range c3 {
		fs = append(fs, store.Finish{ID: e.ID, Attempts: e.Attempts, State: store.OutboxDone, Result: "delivered", At: now.Add(62 * time.Second)})
	}
	if lost, err := s.FinishOutbox(ctx, "d2", fs); err != nil || len(lost) != 0 {
		t.Fatalf("finish: lost %v, %v", lost, err)
	}
	n, err := s.OutboxCounts(ctx)
	if err != nil || n[store.OutboxDone] != 3 || n[store.OutboxPending] != 0 {
		t.Fatalf("counts %v, %v", n, err)
	}
	if n, err := s.OutboxCounts(ctx, store.OutboxFailed); err != nil || len(n) != 1 || n[store.OutboxFailed] != 0 {
		t.Fatalf("counts of failed only: %v, %v", n, err)
	}
	if c, err := s.ClaimOutbox(ctx, store.Claim{Owner: "d3", Now: now.Add(time.Hour), Lease: time.Minute, Limit: 10}); err != nil || len(c) != 0 {
		t.Fatalf("claim with nothing due: %v, %v", c, err)
	}
	e, err := s.GetOutbox(ctx, c3[0].ID)
	if err != nil || e.Result != "delivered" || e.Done.IsZero() {
		t.Fatalf("done entry %+v, %v", e, err)
	}
}

func testOutboxFinish(t *testing.T, s OutboxStore) {
	ctx := context.Background()
	putTargets(t, s, "a")
	save(t, s, simple("x1", 1), simple("x2", 2))
	now := time.Now().Add(time.Second)
	c, err := s.ClaimOutbox(ctx, store.Claim{Owner: "d", Now: now, Lease: time.Minute, Limit: 10})
	if err != nil || len(c) != 2 {
		t.Fatalf("claim %v, %v", c, err)
	}
	retryAt := now.Add(30 * time.Second)
	_, err = s.FinishOutbox(ctx, "d", []store.Finish{
		{ID: c[0].ID, Attempts: 1, State: store.OutboxPending, Next: retryAt, Error: "503 Service Unavailable", At: now},
		{ID: c[1].ID, Attempts: 1, State: store.OutboxFailed, Error: "410 Gone", At: now},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ClaimOutbox(ctx, store.Claim{Owner: "d", Now: retryAt.Add(-time.Millisecond), Lease: time.Minute, Limit: 10}); len(c) != 0 {
		t.Fatalf("claimed before the retry time: %v", summary(c))
	}
	again, err := s.ClaimOutbox(ctx, store.Claim{Owner: "d", Now: retryAt, Lease: time.Minute, Limit: 10})
	if err != nil || len(again) != 1 || again[0].ID != c[0].ID || again[0].Attempts != 2 || again[0].LastError != "503 Service Unavailable" {
		t.Fatalf("retry claim %+v, %v", again, err)
	}
	failed, err := s.ListOutbox(ctx, store.OutboxQuery{States: []string{store.OutboxFailed}})
	if err != nil || len(failed) != 1 || failed[0].LastError != "410 Gone" || failed[0].Done.IsZero() {
		t.Fatalf("failed list %+v, %v", failed, err)
	}
	// Pruning keeps failed entries.
	if n, err := s.PruneOutbox(ctx, now.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	// Requeued, the failed entry is due again with its attempts reset.
	if n, err := s.RequeueOutbox(ctx, []string{"other"}, now); err != nil || n != 0 {
		t.Fatalf("requeue of another target: %d, %v", n, err)
	}
	if n, err := s.RequeueOutbox(ctx, nil, retryAt.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("requeue: %d, %v", n, err)
	}
	re, err := s.ClaimOutbox(ctx, store.Claim{Owner: "d", Now: retryAt.Add(time.Hour), Lease: time.Minute, Limit: 10})
	if err != nil || len(re) != 2 || re[1].ID != c[1].ID || re[1].Attempts != 1 || re[1].LastError != "410 Gone" {
		t.Fatalf("claim after requeue: %+v, %v", re, err)
	}
	if _, err := s.FinishOutbox(ctx, "d", []store.Finish{{ID: 1, State: "sent"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad state: %v", err)
	}
	if _, err := s.FinishOutbox(ctx, "d", []store.Finish{{ID: 1, State: store.OutboxPending}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("retry without time: %v", err)
	}
}

func testOutboxDeleteTarget(t *testing.T, s OutboxStore) {
	ctx := context.Background()
	putTargets(t, s, "a", "b")
	save(t, s, simple("x1", 1))
	if err := s.DeleteTarget(ctx, "a", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTarget(ctx, "a", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete again: %v", err)
	}
	es := allEntries(t, s)
	if len(es) != 2 || es[0].State != store.OutboxFailed || es[0].LastError != "target deleted" || es[1].State != store.OutboxPending {
		t.Fatalf("entries after delete: %+v", es)
	}
	if n, err := s.RequeueOutbox(ctx, nil, time.Now()); err != nil || n != 0 {
		t.Errorf("requeued %d entries of a deleted target: %v", n, err)
	}
	ts, err := s.ListTargets(ctx)
	if err != nil || len(ts) != 1 || ts[0].ID != "b" {
		t.Fatalf("targets %+v, %v", ts, err)
	}
	if _, err := s.GetTarget(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
}

func testOutboxEnqueue(t *testing.T, s OutboxStore) {
	ctx := context.Background()
	putTargets(t, s, "a")
	if _, err := s.Enqueue(ctx, store.OutboxEntry{TargetID: "nope", Event: "test-created"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("enqueue for no target: %v", err)
	}
	at := time.Now()
	e, err := s.Enqueue(ctx, store.OutboxEntry{TargetID: "a", Event: "test-created", Payload: []byte(`{"x":1}`), Created: at})
	if err != nil {
		t.Fatal(err)
	}
	if e.ID == 0 || e.Key == "" || string(e.Payload) != `{"x":1}` || e.State != store.OutboxPending || !e.Next.Equal(e.Created) {
		t.Fatalf("enqueued %+v", e)
	}
	c, err := s.ClaimOutbox(ctx, store.Claim{Owner: "d", Now: at.Add(time.Second), Lease: time.Minute, Limit: 5})
	if err != nil || len(c) != 1 {
		t.Fatalf("claim %v, %v", c, err)
	}
	if _, err := s.FinishOutbox(ctx, "d", []store.Finish{{ID: e.ID, Attempts: 1, State: store.OutboxDone, At: at}}); err != nil {
		t.Fatal(err)
	}
	if l, err := s.ListOutbox(ctx, store.OutboxQuery{TargetIDs: []string{"b"}}); err != nil || len(l) != 0 {
		t.Errorf("list other target: %v, %v", l, err)
	}
	if l, err := s.ListOutbox(ctx, store.OutboxQuery{AfterID: e.ID}); err != nil || len(l) != 0 {
		t.Errorf("list after: %v, %v", l, err)
	}
	if n, err := s.PruneOutbox(ctx, at.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if _, err := s.GetOutbox(ctx, e.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pruned entry: %v", err)
	}
	d := store.OutboxEntry{TargetID: "a", Event: "dailySummary", AlertID: "daily:2026-12-07", Created: at}
	first, added, err := s.EnqueueOnce(ctx, d)
	if err != nil || !added || first.AlertID != d.AlertID {
		t.Fatalf("EnqueueOnce: %+v, %v, %v", first, added, err)
	}
	again, added, err := s.EnqueueOnce(ctx, d)
	if err != nil || added || again.ID != first.ID {
		t.Errorf("EnqueueOnce again: entry %d (first %d), added %v, %v", again.ID, first.ID, added, err)
	}
	d.AlertID = "daily:2026-12-08"
	if next, added, err := s.EnqueueOnce(ctx, d); err != nil || !added || next.ID == first.ID {
		t.Errorf("EnqueueOnce of the next day: entry %d, added %v, %v", next.ID, added, err)
	}
	if _, _, err := s.EnqueueOnce(ctx, store.OutboxEntry{TargetID: "nope", Event: "dailySummary"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EnqueueOnce for no target: %v", err)
	}
}

func testOutboxConcurrent(t *testing.T, s OutboxStore) {
	ctx := context.Background()
	putTargets(t, s, "a")
	var list []*alert.Alert
	for i := range 200 {
		list = append(list, simple(fmt.Sprintf("x%03d", i), i))
	}
	save(t, s, list...)
	now := time.Now().Add(time.Second)
	var (
		mu   sync.Mutex
		seen = map[int64]string{}
		wg   sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			owner := fmt.Sprintf("d%d", w)
			for {
				c, err := s.ClaimOutbox(ctx, store.Claim{Owner: owner, Now: now, Lease: time.Hour, Limit: 7})
				if err != nil {
					t.Error(err)
					return
				}
				if len(c) == 0 {
					return
				}
				mu.Lock()
				for _, e := range c {
					if prev, ok := seen[e.ID]; ok {
						t.Errorf("entry %d claimed by %s and %s", e.ID, prev, owner)
					}
					seen[e.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Errorf("claimed %d of 200", len(seen))
	}
}

func testOutboxMarks(t *testing.T, s OutboxStore) {
	ctx := context.Background()
	if m, err := s.Mark(ctx, "mail:x"); err != nil || !m.IsZero() {
		t.Fatalf("absent mark %v, %v", m, err)
	}
	at := t0
	for range 2 {
		if err := s.SetMark(ctx, "mail:x", at); err != nil {
			t.Fatal(err)
		}
		m, err := s.Mark(ctx, "mail:x")
		if err != nil || !m.Equal(at.UTC().Truncate(time.Microsecond)) {
			t.Fatalf("mark %v, %v; want %v", m, err, at)
		}
		at = at.Add(time.Hour)
	}
}

func testOutboxInvalid(t *testing.T, s OutboxStore) {
	ctx := context.Background()
	for _, tg := range []store.Target{{Kind: "webhook", Source: "api"}, {ID: "x", Source: "api"}, {ID: "x", Kind: "webhook", Source: "elsewhere"}} {
		if err := s.PutTarget(ctx, tg); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutTarget(%+v): %v", tg, err)
		}
	}
	for _, c := range []store.Claim{{Now: t0, Lease: time.Second, Limit: 1}, {Owner: "d", Now: t0, Limit: 1}, {Owner: "d", Now: t0, Lease: time.Second}} {
		if _, err := s.ClaimOutbox(ctx, c); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ClaimOutbox(%+v): %v", c, err)
		}
	}
}
