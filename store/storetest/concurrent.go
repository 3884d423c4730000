package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

// testReadsDuringWrites runs readers while one goroutine saves batches and
// another changes statuses. Every read must succeed and see a consistent
// snapshot: an alert's count, details and evidence all from the same save,
// its status agreeing with its activity logs.
func testReadsDuringWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	const (
		nAlerts = 20
		rounds  = 30
		readers = 4
	)
	batch := func(round int) []*alert.Alert {
		out := make([]*alert.Alert, nAlerts)
		for i := range out {
			a := simple(fmt.Sprintf("c%02d", i), i)
			a.Count = round
			a.Details = map[string]string{"round": strconv.Itoa(round)}
			for j := range round {
				a.Evidence = append(a.Evidence, alert.Evidence{Time: t0.Add(time.Duration(j) * time.Second), Operation: "round " + strconv.Itoa(round)})
			}
			out[i] = a
		}
		return out
	}
	save(t, s, batch(1)...)

	check := func(a *alert.Alert) error {
		want := "round " + a.Details["round"]
		if a.Details["round"] != strconv.Itoa(a.Count) || len(a.Evidence) != a.Count {
			return fmt.Errorf("%s: count %d, details round %s, %d evidence", a.ID, a.Count, a.Details["round"], len(a.Evidence))
		}
		for _, e := range a.Evidence {
			if e.Operation != want {
				return fmt.Errorf("%s: evidence %q in %s", a.ID, e.Operation, want)
			}
		}
		if (a.Status == alert.StatusInvestigating) != (len(a.ActivityLogs) == 1) {
			return fmt.Errorf("%s: status %s with %d activity logs", a.ID, a.Status, len(a.ActivityLogs))
		}
		return nil
	}

	var (
		done  atomic.Bool
		reads atomic.Int64
		wg    sync.WaitGroup
		wwg   sync.WaitGroup
	)
	wwg.Go(func() {
		for r := 2; r <= rounds; r++ {
			if err := s.SaveAlerts(ctx, batch(r)); err != nil {
				t.Errorf("SaveAlerts round %d: %v", r, err)
				return
			}
		}
	})
	wwg.Go(func() {
		for i := range nAlerts {
			if _, err := s.UpdateStatus(ctx, fmt.Sprintf("c%02d", i), alert.StatusInvestigating, "", "ana", t0); err != nil {
				t.Errorf("UpdateStatus: %v", err)
				return
			}
		}
	})
	for r := range readers {
		wg.Go(func() {
			for i := 0; !done.Load() || i < 10; i++ {
				reads.Add(1)
				var err error
				switch (i + r) % 4 {
				case 0:
					var list []*alert.Alert
					list, err = s.ListAlerts(ctx, store.ListQuery{})
					if err == nil && len(list) != nAlerts {
						err = fmt.Errorf("ListAlerts: %d alerts", len(list))
					}
					for _, a := range list {
						err = cmpErr(err, check(a))
					}
				case 1:
					var a *alert.Alert
					a, err = s.GetAlert(ctx, fmt.Sprintf("c%02d", i%nAlerts))
					if err == nil {
						err = check(a)
					}
				case 2:
					var n int
					n, err = s.CountAlerts(ctx, store.ListQuery{TenantIDs: []string{"tenant-0", "tenant-1"}})
					if err == nil && n != nAlerts {
						err = fmt.Errorf("CountAlerts = %d", n)
					}
				case 3:
					var list []*alert.Alert
					list, err = s.ListAlerts(ctx, store.ListQuery{Statuses: []alert.Status{alert.StatusInvestigating}, Limit: 5})
					for _, a := range list {
						err = cmpErr(err, check(a))
					}
				}
				if err != nil {
					t.Errorf("reader %d, read %d: %v", r, i, err)
					return
				}
			}
		})
	}
	wwg.Wait()
	done.Store(true)
	wg.Wait()

	final, err := s.ListAlerts(ctx, store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range final {
		if a.Count != rounds || a.Status != alert.StatusInvestigating {
			t.Errorf("%s at the end: count %d, status %s", a.ID, a.Count, a.Status)
		}
	}
	t.Logf("%d reads", reads.Load())
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
