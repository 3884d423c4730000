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

func testStatusTransitions(t *testing.T, s store.Store) {
	ctx := context.Background()
	const (
		active        = alert.StatusActive
		investigating = alert.StatusInvestigating
		resolved      = alert.StatusResolved
	)
	// How to bring a fresh (active) alert to the starting status.
	setup := map[alert.Status][]struct {
		to     alert.Status
		reason alert.ResolvedReason
	}{
		active:        nil,
		investigating: {{investigating, ""}},
		resolved:      {{investigating, ""}, {resolved, alert.ReasonFraud}},
	}
	tests := []struct {
		from    alert.Status
		to      alert.Status
		reason  alert.ResolvedReason
		wantErr error
	}{
		{active, investigating, "", nil},
		{active, resolved, alert.ReasonLegitimate, nil},
		{active, resolved, alert.ReasonFraud, nil},
		{investigating, resolved, alert.ReasonIgnore, nil},
		{active, resolved, "", store.ErrInvalid},
		{active, resolved, "stale", store.ErrInvalid},
		{active, investigating, alert.ReasonFraud, store.ErrInvalid},
		{active, "closed", "", store.ErrInvalid},
		{active, "", "", store.ErrInvalid},
		{active, active, "", store.ErrInvalidTransition},
		{investigating, active, "", store.ErrInvalidTransition},
		{investigating, investigating, "", store.ErrInvalidTransition},
		{resolved, active, "", store.ErrInvalidTransition},
		{resolved, investigating, "", store.ErrInvalidTransition},
		{resolved, resolved, alert.ReasonLegitimate, store.ErrInvalidTransition},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%s_to_%s_%s", tc.from, tc.to, tc.reason), func(t *testing.T) {
			id := fmt.Sprintf("st%02d", i)
			save(t, s, full(id))
			var logs []alert.ActivityLog
			from := active
			for j, step := range setup[tc.from] {
				at := t0.Add(time.Duration(j+1) * time.Minute)
				if _, err := s.UpdateStatus(ctx, id, step.to, step.reason, "setup", at); err != nil {
					t.Fatalf("setup %s: %v", step.to, err)
				}
				logs = append(logs, alert.ActivityLog{StatusFrom: from, StatusTo: step.to, UpdatedBy: "setup", UpdatedTime: at})
				from = step.to
			}
			before := get(t, s, id)

			at := t0.Add(time.Hour + 123456789*time.Nanosecond)
			got, err := s.UpdateStatus(ctx, id, tc.to, tc.reason, "Jan de Vries (ヤン)", at)
			if tc.wantErr != nil {
				wantErr(t, "UpdateStatus", err, tc.wantErr)
				if got != nil {
					t.Errorf("UpdateStatus returned %+v with its error", got)
				}
				same(t, "alert after a refused change", get(t, s, id), before)
				return
			}
			if err != nil {
				t.Fatalf("UpdateStatus: %v", err)
			}
			want := normal(before)
			want.Status, want.ResolvedReason, want.Updated = tc.to, tc.reason, at.UTC().Truncate(time.Microsecond)
			if tc.to == resolved {
				want.ResolvedBy, want.ResolvedOn = "Jan de Vries (ヤン)", want.Updated
			}
			want.ActivityLogs = normal(&alert.Alert{ActivityLogs: append(logs,
				alert.ActivityLog{StatusFrom: tc.from, StatusTo: tc.to, UpdatedBy: "Jan de Vries (ヤン)", UpdatedTime: at})}).ActivityLogs
			same(t, "returned alert", got, want)
			same(t, "stored alert", get(t, s, id), want)
		})
	}
}

func testStatusArguments(t *testing.T, s store.Store) {
	ctx := context.Background()
	save(t, s, simple("args", 1))
	_, err := s.UpdateStatus(ctx, "args", alert.StatusInvestigating, "", "", t0)
	wantErr(t, "UpdateStatus without updatedBy", err, store.ErrInvalid)
	_, err = s.UpdateStatus(ctx, "args", alert.StatusInvestigating, "", "me", time.Time{})
	wantErr(t, "UpdateStatus without time", err, store.ErrInvalid)
	_, err = s.UpdateStatus(ctx, "", alert.StatusInvestigating, "", "me", t0)
	wantErr(t, "UpdateStatus without id", err, store.ErrInvalid)
	if got := get(t, s, "args"); got.Status != alert.StatusActive || got.ActivityLogs != nil {
		t.Errorf("after refused changes: status %s, logs %+v", got.Status, got.ActivityLogs)
	}
}

func testConcurrentResolve(t *testing.T, s store.Store) {
	ctx := context.Background()
	save(t, s, simple("race", 1))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.UpdateStatus(ctx, "race", alert.StatusResolved, alert.ReasonFraud, fmt.Sprintf("analyst%d", i), t0.Add(time.Duration(i)*time.Second))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("analyst%d and analyst%d both resolved the alert", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrInvalidTransition):
			t.Errorf("analyst%d: %v, want ErrInvalidTransition", i, err)
		}
	}
	got := get(t, s, "race")
	if winner < 0 || len(got.ActivityLogs) != 1 || got.ActivityLogs[0].UpdatedBy != fmt.Sprintf("analyst%d", winner) ||
		got.ResolvedBy != got.ActivityLogs[0].UpdatedBy {
		t.Errorf("winner %d, alert resolved by %q with logs %+v", winner, got.ResolvedBy, got.ActivityLogs)
	}
}

func testFindOpen(t *testing.T, s store.Store) {
	ctx := context.Background()
	mk := func(id string, last time.Duration) *alert.Alert {
		a := simple(id, 1)
		a.Fingerprint, a.LastObserved = "shared", t0.Add(last)
		return a
	}
	old := mk("old", 2*time.Hour)
	old.Status, old.ResolvedReason = alert.StatusResolved, alert.ReasonIgnore
	save(t, s, old, mk("cur", 0), mk("cur2", 30*time.Minute), mk("nolast", -time.Hour))
	if _, err := s.UpdateStatus(ctx, "cur2", alert.StatusInvestigating, "", "ana", t0); err != nil {
		t.Fatal(err)
	}
	a := get(t, s, "nolast")
	a.LastObserved = time.Time{}
	save(t, s, a)

	for _, want := range []string{"cur2", "cur", "nolast"} {
		got, err := s.FindOpenByFingerprint(ctx, "shared")
		if err != nil {
			t.Fatalf("FindOpenByFingerprint: %v (want %s)", err, want)
		}
		if got.ID != want {
			t.Fatalf("FindOpenByFingerprint = %s, want %s", got.ID, want)
		}
		if _, err := s.UpdateStatus(ctx, want, alert.StatusResolved, alert.ReasonLegitimate, "ana", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.FindOpenByFingerprint(ctx, "shared")
	wantErr(t, "FindOpenByFingerprint with all resolved", err, store.ErrNotFound)
}
