package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

// RunShared runs the tests of several instances writing one database at
// once: open must return n handles (each with its own connections, as
// separate processes would have) on one new, empty database. RunShared
// closes them.
func RunShared(t *testing.T, open func(t *testing.T, n int) []store.Store) {
	t.Helper()
	tests := []struct {
		name string
		n    int
		f    func(t *testing.T, ss []store.Store)
	}{
		{"ConcurrentUpsertOneFingerprint", 4, testConcurrentUpsert},
		{"ConcurrentLifecycle", 3, testConcurrentLifecycle},
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

// testConcurrentUpsert has every instance save the same alerts (one ID per
// fingerprint, as alert.AlertID derives it) again and again, in batches
// whose order differs per instance, each save carrying its writer and
// round in count, details and evidence. At the end every alert is one row
// whose fields all come from one save (never a mix of two), with one
// activity log entry however many instances saved it.
func testConcurrentUpsert(t *testing.T, ss []store.Store) {
	ctx := context.Background()
	const (
		nAlerts = 12
		rounds  = 15
	)
	mk := func(w, round, i int) *alert.Alert {
		fp := fmt.Sprintf("fp-shared-%02d", i)
		a := simple(alert.AlertID(fp, t0), i)
		a.Fingerprint = fp
		a.Count = w*1000 + round
		a.Details = map[string]string{"writer": strconv.Itoa(w), "round": strconv.Itoa(round)}
		for j := range round%4 + 1 {
			a.Evidence = append(a.Evidence, alert.Evidence{Time: t0.Add(time.Duration(j) * time.Second),
				Operation: fmt.Sprintf("w%d r%d", w, round)})
		}
		a.ActivityLogs = []alert.ActivityLog{{StatusFrom: alert.StatusActive, StatusTo: alert.StatusActive, UpdatedBy: "vigil", UpdatedTime: t0}}
		return a
	}
	var wg sync.WaitGroup
	for w, s := range ss {
		wg.Go(func() {
			for round := range rounds {
				batch := make([]*alert.Alert, nAlerts)
				for i := range nAlerts {
					// Writers go through the alerts in different orders.
					k := i
					if w%2 == 1 {
						k = nAlerts - 1 - i
					}
					batch[i] = mk(w, round, (k+w*5)%nAlerts)
				}
				if err := s.SaveAlerts(ctx, batch); err != nil {
					t.Errorf("writer %d round %d: %v", w, round, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for r, s := range ss {
		n, err := s.CountAlerts(ctx, store.ListQuery{})
		if err != nil || n != nAlerts {
			t.Fatalf("reader %d: CountAlerts = %d, %v; want %d", r, n, err, nAlerts)
		}
	}
	list, err := ss[0].ListAlerts(ctx, store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		w, round := a.Count/1000, a.Count%1000
		want := map[string]string{"writer": strconv.Itoa(w), "round": strconv.Itoa(round)}
		if a.Details["writer"] != want["writer"] || a.Details["round"] != want["round"] {
			t.Errorf("%s: count %d but details %v", a.ID, a.Count, a.Details)
		}
		if len(a.Evidence) != round%4+1 {
			t.Errorf("%s: %d evidence for round %d", a.ID, len(a.Evidence), round)
		}
		for _, e := range a.Evidence {
			if e.Operation != fmt.Sprintf("w%d r%d", w, round) {
				t.Errorf("%s: evidence %q mixed into the save of writer %d round %d", a.ID, e.Operation, w, round)
			}
		}
		if len(a.ActivityLogs) != 1 {
			t.Errorf("%s: %d activity logs, want 1", a.ID, len(a.ActivityLogs))
		}
		if a.ID != alert.AlertID(a.Fingerprint, t0) {
			t.Errorf("%s: fingerprint %s", a.ID, a.Fingerprint)
		}
	}
}

// testConcurrentLifecycle has instances triage the same alerts while
// another keeps saving repeats of them: every alert ends resolved exactly
// once, with one activity log entry per transition that happened, and no
// repeat undoes a triage.
func testConcurrentLifecycle(t *testing.T, ss []store.Store) {
	ctx := context.Background()
	const nAlerts = 10
	ids := make([]string, nAlerts)
	for i := range ids {
		a := simple(fmt.Sprintf("life-%02d", i), i)
		ids[i] = a.ID
		save(t, ss[0], a)
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won = map[string]int{} // resolutions that succeeded, per alert
	)
	wg.Go(func() { // the detector: repeats, status active
		for round := range 20 {
			batch := make([]*alert.Alert, nAlerts)
			for i := range batch {
				batch[i] = simple(ids[i], i)
				batch[i].Count = round + 2
			}
			if err := ss[0].SaveAlerts(ctx, batch); err != nil {
				t.Errorf("repeat %d: %v", round, err)
				return
			}
		}
	})
	for w, s := range ss[1:] {
		wg.Go(func() {
			by := "analyst-" + strconv.Itoa(w)
			for _, id := range ids {
				if _, err := s.UpdateStatus(ctx, id, alert.StatusInvestigating, "", by, t0.Add(time.Minute)); err != nil {
					wantErr(t, "UpdateStatus investigating", err, store.ErrInvalidTransition)
				}
				_, err := s.UpdateStatus(ctx, id, alert.StatusResolved, alert.ReasonFraud, by, t0.Add(2*time.Minute))
				if err == nil {
					mu.Lock()
					won[id]++
					mu.Unlock()
					continue
				}
				wantErr(t, "UpdateStatus resolved", err, store.ErrInvalidTransition)
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if won[id] != 1 {
			t.Errorf("%s resolved %d times", id, won[id])
		}
		a := get(t, ss[len(ss)-1], id)
		if a.Status != alert.StatusResolved || a.ResolvedReason != alert.ReasonFraud {
			t.Errorf("%s ends %s (%s)", id, a.Status, a.ResolvedReason)
		}
		if a.Count != 21 {
			t.Errorf("%s: count %d, want the last repeat's 21", id, a.Count)
		}
		var toResolved, toInvestigating int
		for _, l := range a.ActivityLogs {
			switch l.StatusTo {
			case alert.StatusResolved:
				toResolved++
			case alert.StatusInvestigating:
				toInvestigating++
			}
		}
		if toResolved != 1 || toInvestigating > 1 {
			t.Errorf("%s: %d resolutions and %d investigations logged: %+v", id, toResolved, toInvestigating, a.ActivityLogs)
		}
	}
}
