package alert

import (
	"testing"
	"time"
)

func early(c Candidate) Candidate {
	c.Early = true
	return c
}

// TestManagerEarlyThenConfirmed: an early candidate opens a provisional
// alert at once; further early ones change nothing; the first in-order
// candidate replaces what it observed (keeping its ID), and later ones merge.
func TestManagerEarlyThenConfirmed(t *testing.T) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	a, created := mustAdd(t, m, early(torCandidate(t0, 1)))
	if !created || !a.Provisional() || a.Count != 1 {
		t.Fatalf("early candidate: created %v, provisional %v, count %d", created, a.Provisional(), a.Count)
	}
	id := a.ID
	if got, created, err := m.Add(early(torCandidate(t0.Add(time.Minute), 2))); err != nil || got != nil || created {
		t.Fatalf("second early candidate: %v, %v, %v; want nothing", got, created, err)
	}
	// The in-order pass saw an earlier record the early pass had not.
	c := torCandidate(t0.Add(-time.Minute), 0)
	c.Count = 3
	c.Last = t0.Add(time.Minute)
	b, created := mustAdd(t, m, c)
	if created || b.ID != id {
		t.Fatalf("confirmation: created %v, id %s, want the provisional alert %s", created, b.ID, id)
	}
	if b.Provisional() || b.Count != 3 || !b.FirstObserved.Equal(t0.Add(-time.Minute)) || !b.LastObserved.Equal(t0.Add(time.Minute)) {
		t.Fatalf("confirmed alert: provisional %v, count %d, %s..%s", b.Provisional(), b.Count, b.FirstObserved, b.LastObserved)
	}
	if len(b.Evidence) != 1 || b.Evidence[0].Source != torCandidate(t0, 0).Evidence[0].Source {
		t.Errorf("evidence %+v, want the confirming candidate's only", b.Evidence)
	}
	if !b.Detected.Equal(t0) {
		t.Errorf("detected %s, want the early detection's %s", b.Detected, t0)
	}
	d, _ := mustAdd(t, m, torCandidate(t0.Add(2*time.Minute), 4))
	if d.ID != id || d.Count != 4 {
		t.Errorf("repeat after confirmation: id %s count %d, want merged (count 4)", d.ID, d.Count)
	}
}

// TestManagerEarlyAfterConfirmed: an early candidate for an alert the
// in-order pass already made changes nothing.
func TestManagerEarlyAfterConfirmed(t *testing.T) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	mustAdd(t, m, torCandidate(t0, 1))
	if got, _, err := m.Add(early(torCandidate(t0.Add(time.Minute), 2))); err != nil || got != nil {
		t.Fatalf("early candidate for a confirmed alert: %v, %v", got, err)
	}
}

// TestManagerConfirmKeepsTriage: an analyst who resolved a provisional
// alert keeps the resolution when it is confirmed; an early candidate
// after a confirmed, resolved alert opens a new provisional one linked to it.
func TestManagerConfirmKeepsTriage(t *testing.T) {
	m := NewManager(ManagerOptions{Now: fixedNow})
	a, _ := mustAdd(t, m, early(torCandidate(t0, 1)))
	a.Status, a.ResolvedReason, a.ResolvedBy = StatusResolved, ReasonFraud, "analyst"
	m.Track(a)
	b, created := mustAdd(t, m, torCandidate(t0, 1))
	if created || b.ID != a.ID || b.Status != StatusResolved || b.ResolvedReason != ReasonFraud || b.Provisional() {
		t.Fatalf("confirmation of a resolved provisional alert: created %v, id %s, %s/%s, provisional %v",
			created, b.ID, b.Status, b.ResolvedReason, b.Provisional())
	}
	c, created := mustAdd(t, m, early(torCandidate(t0.Add(time.Hour), 2)))
	if !created || c.PreviousID != a.ID || !c.Provisional() {
		t.Fatalf("early repeat after resolution: created %v, previous %q, provisional %v", created, c.PreviousID, c.Provisional())
	}
}
