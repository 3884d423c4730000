package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/store"
)

// AlertStore is what a StoreSink needs of a store.
type AlertStore interface {
	SaveAlerts(ctx context.Context, alerts []*alert.Alert) error
	RecordActivity(ctx context.Context, acts ...store.Activity) error
}

// StoreSink is the sink that keeps alerts in a store: it collects every
// state of every alert the chain hands on and saves the latest state of
// each in one transaction per Commit, with the system activity records of
// the new ones ("Azure Fraud Event Detected", suppression). `vigil detect
// --db` and `vigil serve` both store through it. It is used from the
// pipeline's goroutine only.
type StoreSink struct {
	st  AlertStore
	now func() time.Time

	pending []*alert.Alert
	index   map[string]int // alert ID -> position in pending
	acts    []store.Activity
}

var _ Updater = (*StoreSink)(nil)

// NewStoreSink returns a sink saving to st; now stamps activity records
// (nil: time.Now).
func NewStoreSink(st AlertStore, now func() time.Time) *StoreSink {
	if now == nil {
		now = time.Now
	}
	return &StoreSink{st: st, now: now, index: map[string]int{}}
}

// Updated implements Updater.
func (s *StoreSink) Updated(a *alert.Alert, created bool) error {
	if created {
		s.acts = append(s.acts, store.AlertActivities(a, s.now())...)
	}
	if i, ok := s.index[a.ID]; ok {
		s.pending[i] = a // a later state of the same alert in this batch
		return nil
	}
	s.index[a.ID] = len(s.pending)
	s.pending = append(s.pending, a)
	return nil
}

// Closed implements Sink: every state was collected as it came, so a closed
// alert needs nothing more.
func (s *StoreSink) Closed(*alert.Alert) error { return nil }

// Record adds system activity records to write with the next Commit.
func (s *StoreSink) Record(acts ...store.Activity) { s.acts = append(s.acts, acts...) }

// Pending returns the number of alerts waiting for Commit.
func (s *StoreSink) Pending() int { return len(s.pending) }

// Commit saves the pending alerts in one transaction, then their activity
// records. On error nothing is forgotten: the next Commit tries again.
func (s *StoreSink) Commit(ctx context.Context) error {
	if len(s.pending) > 0 {
		if err := s.st.SaveAlerts(ctx, s.pending); err != nil {
			return fmt.Errorf("store %d alerts: %w", len(s.pending), err)
		}
		clear(s.pending)
		s.pending = s.pending[:0]
		clear(s.index)
	}
	if len(s.acts) > 0 {
		if err := s.st.RecordActivity(ctx, s.acts...); err != nil {
			return fmt.Errorf("record %d activity entries: %w", len(s.acts), err)
		}
		clear(s.acts)
		s.acts = s.acts[:0]
	}
	return nil
}
