// Package detecttest runs one detect.Detector without the engine, for tests:
// a Harness feeds events to one shard in the order given, moves the
// watermark as the engine does (newest event time minus the lateness, after
// every event), and collects the candidates in the engine's order. It also
// snapshots a shard and restores it into a fresh one mid-stream, and builds
// Key Vault and Activity Log events by hand (see builder.go).
//
// The harness hands each event to Process in a scratch event.Op that it
// overwrites with junk as soon as Process returns, as the engine reuses its
// batch, so a detector that keeps a slice of the event (AddedAccessPolicy,
// Intel.Hits, Raw) instead of copying it shows up as wrong output.
package detecttest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// Harness drives one shard of one detector.
type Harness struct {
	Det      detect.Detector
	Lateness time.Duration

	shard     detect.Shard
	scratch   event.Op
	watermark time.Time
	maxTime   time.Time
	out       []alert.Candidate
	// Routed counts the events the detector took (Consumes and PartitionKey).
	Routed int
}

// New returns a harness for d whose watermark trails the newest event time
// by lateness.
func New(d detect.Detector, lateness time.Duration) *Harness {
	return &Harness{Det: d, Lateness: lateness, shard: d.NewShard()}
}

// Emit implements detect.Emitter.
func (h *Harness) Emit(c alert.Candidate) { h.out = append(h.out, c) }

// Feed processes ops in order, moving the watermark after each one.
func (h *Harness) Feed(ops ...event.Op) {
	for i := range ops {
		h.process(&ops[i])
		if ops[i].Time.After(h.maxTime) {
			h.maxTime = ops[i].Time
		}
		if wm := h.maxTime.Add(-h.Lateness); wm.After(h.watermark) {
			h.Advance(wm)
		}
	}
}

func (h *Harness) process(op *event.Op) {
	if !h.Det.Consumes(op.Kind) {
		return
	}
	key, ok := h.Det.PartitionKey(op)
	if !ok {
		return
	}
	h.Routed++
	s := &h.scratch
	*s = *op
	s.AddedAccessPolicy = slices.Clone(op.AddedAccessPolicy)
	s.Intel.Hits = slices.Clone(op.Intel.Hits)
	s.Raw = slices.Clone(op.Raw)
	h.shard.Process(s, key, h)
	clobber(s)
}

// clobber overwrites what a detector must not keep, so keeping it shows.
func clobber(s *event.Op) {
	for i := range s.AddedAccessPolicy {
		s.AddedAccessPolicy[i] = "clobbered-by-detecttest"
	}
	for i := range s.Intel.Hits {
		s.Intel.Hits[i] = event.IntelHit{Source: "clobbered", Category: "clobbered"}
	}
	for i := range s.Raw {
		s.Raw[i] = 'X'
	}
	*s = event.Op{Operation: "Clobbered", Time: time.Unix(1, 0).UTC(), ResourceID: "clobbered"}
}

// Advance moves the watermark to wm if it is later, as the engine does.
func (h *Harness) Advance(wm time.Time) {
	if !wm.After(h.watermark) {
		return
	}
	h.watermark = wm
	h.shard.Advance(wm, h)
}

// Flush closes every window (the engine's Flush at the end of an input).
func (h *Harness) Flush() { h.Advance(h.maxTime.Add(100 * 365 * 24 * time.Hour)) }

// Watermark returns the current watermark.
func (h *Harness) Watermark() time.Time { return h.watermark }

// Reload snapshots the shard and restores every key into a fresh shard,
// which replaces it, as a restart does.
func (h *Harness) Reload() error {
	fresh := h.Det.NewShard()
	var keys int
	err := h.shard.Snapshot(func(key string, state []byte) error {
		keys++
		if err := fresh.Restore(key, slices.Clone(state)); err != nil {
			return fmt.Errorf("restore key %q: %w", key, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reload %s (%d keys): %w", h.Det.Name(), keys, err)
	}
	h.shard = fresh
	return nil
}

// Candidates returns what was emitted so far, in the engine's order.
func (h *Harness) Candidates() []alert.Candidate {
	out := slices.Clone(h.out)
	slices.SortStableFunc(out, Compare)
	return out
}

// Run feeds ops to a fresh harness, flushes, and returns the candidates.
func Run(d detect.Detector, lateness time.Duration, ops []event.Op) []alert.Candidate {
	h := New(d, lateness)
	h.Feed(ops...)
	h.Flush()
	return h.Candidates()
}

// RunReload is Run with a snapshot and restore into a fresh shard after the
// first at events.
func RunReload(d detect.Detector, lateness time.Duration, ops []event.Op, at int) ([]alert.Candidate, error) {
	h := New(d, lateness)
	h.Feed(ops[:at]...)
	if err := h.Reload(); err != nil {
		return nil, err
	}
	h.Feed(ops[at:]...)
	h.Flush()
	return h.Candidates(), nil
}

// Compare orders candidates as the engine does (detect.CompareCandidates).
func Compare(a, b alert.Candidate) int { return detect.CompareCandidates(a, b) }

// CheckCandidate reports what every candidate must satisfy: a type, a
// count of at least 1, First <= Last, Time == Last, evidence no longer than
// maxEvidence and not empty, evidence times within [First, Last] and sorted,
// fingerprint keys, typed entities, a resource, and no evidence or detail
// carrying the harness's clobbered values.
func CheckCandidate(tb testing.TB, c alert.Candidate, maxEvidence int) {
	tb.Helper()
	fail := func(format string, args ...any) {
		tb.Helper()
		tb.Errorf("%s candidate at %s: "+format, append([]any{c.Type, c.Time.Format(time.RFC3339)}, args...)...)
	}
	if c.Type == "" {
		fail("no type")
	}
	if c.Count < 1 {
		fail("count %d < 1", c.Count)
	}
	if c.Last.Before(c.First) {
		fail("last %s before first %s", c.Last, c.First)
	}
	if !c.Time.Equal(c.Last) {
		fail("time %s is not last %s", c.Time, c.Last)
	}
	if c.Resource == "" {
		fail("no resource")
	}
	if len(c.FingerprintKeys) == 0 {
		fail("no fingerprint keys")
	}
	if len(c.Evidence) == 0 || len(c.Evidence) > maxEvidence || len(c.Evidence) > c.Count {
		fail("%d evidence records for count %d, cap %d", len(c.Evidence), c.Count, maxEvidence)
	}
	for i, e := range c.Evidence {
		if e.Time.Before(c.First) || e.Time.After(c.Last) {
			fail("evidence %d at %s outside [%s, %s]", i, e.Time, c.First, c.Last)
		}
		if i > 0 && e.Time.Before(c.Evidence[i-1].Time) {
			fail("evidence %d out of time order", i)
		}
		if e.Operation == "Clobbered" || e.Resource == "clobbered" {
			fail("evidence %d was kept from a reused event", i)
		}
	}
	for i, e := range c.Entities {
		if e.Type == "" {
			fail("entity %d has no type", i)
		}
		for _, s := range e.Intel {
			if s == "clobbered (clobbered)" {
				fail("entity %d intel was kept from a reused event", i)
			}
		}
	}
	for k, v := range c.Details {
		if v == "clobbered-by-detecttest" {
			fail("detail %s was kept from a reused event", k)
		}
	}
}
