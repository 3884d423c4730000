package azops

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// Logic is what one detection does with the state S of one partition key.
// The Shard calls it from one goroutine.
type Logic[S any] interface {
	// Pending returns the key's reorder buffer (part of S).
	Pending(s *S) *Buffer
	// Release handles one record of the key, in event-time order.
	Release(key string, s *S, r *Rec, emit detect.Emitter)
	// Tick closes the windows of the key that end at or before watermark and
	// reports whether the key holds nothing any more, so it can be dropped.
	Tick(key string, s *S, watermark time.Time, emit detect.Emitter) (idle bool)
	// Check validates state read back by Restore.
	Check(s *S) error
}

// Speculator is an optional interface of a Logic that can emit early (see
// detect.Speculator). Speculate is given a key's state and its pending
// records in event-time order, and emits the candidates Release would emit
// for them if no other record arrived first. It must not change s or the
// records.
type Speculator[S any] interface {
	Speculate(key string, s *S, pending []Rec, emit detect.Emitter)
}

// stateVersion is written with every key's state; Restore refuses others.
const stateVersion = 1

// MaxPending is the most records one key holds waiting for the watermark;
// beyond it the oldest half is released at once (an input that far out of
// order, or an engine that never advances, must not grow memory without end).
const MaxPending = 8192

// SweepEvery is how much event time passes between two sweeps over every key
// (closing windows, dropping idle keys). Records are released on every
// Advance; only timers wait for the sweep, so a window's summary leaves at
// most this late, and what it says does not depend on when it leaves.
const SweepEvery = time.Minute

// Shard is a detect.Shard keeping one S per partition key.
type Shard[S any] struct {
	logic     Logic[S]
	states    map[string]*S
	active    []string // keys holding records not yet released
	spare     []string
	nextSweep time.Time
	// fresh are the keys that received records since the last Speculate
	// (only kept when the logic is a Speculator).
	fresh   []string
	isFresh map[string]bool
	spec    Speculator[S]
	// pool keeps the buffers of dropped keys for new ones, so keys that come
	// and go (a vault read now and then) do not regrow a buffer each time.
	pool [][]Rec
}

const (
	poolSize   = 256  // buffers kept
	poolMaxCap = 4096 // larger buffers are let go
)

// NewShard returns an empty shard running logic.
func NewShard[S any](logic Logic[S]) *Shard[S] {
	sh := &Shard[S]{logic: logic, states: make(map[string]*S)}
	if sp, ok := logic.(Speculator[S]); ok {
		sh.spec, sh.isFresh = sp, map[string]bool{}
	}
	return sh
}

// Speculate implements detect.Speculator: the logic, when it can, emits
// early for the keys that received records since the last call.
func (sh *Shard[S]) Speculate(emit detect.Emitter) {
	if sh.spec == nil {
		return
	}
	for _, key := range sh.fresh {
		s := sh.states[key]
		if s == nil {
			continue
		}
		b := sh.logic.Pending(s)
		if b.Len() == 0 {
			continue
		}
		b.sort()
		sh.spec.Speculate(key, s, b.Recs, emit)
	}
	clear(sh.fresh)
	sh.fresh = sh.fresh[:0]
	clear(sh.isFresh)
}

// State returns the state of key, creating it when the key has none, for a
// detection that updates what does not depend on order (counters, first
// and last times) at once instead of buffering the record.
func (sh *Shard[S]) State(key string) *S {
	s := sh.states[key]
	if s == nil {
		s = new(S)
		sh.states[key] = s
	}
	return s
}

// Process implements detect.Shard: it copies op into the key's buffer.
func (sh *Shard[S]) Process(op *event.Op, key string, emit detect.Emitter) {
	s := sh.states[key]
	if s == nil {
		s = new(S)
		sh.states[key] = s
		if n := len(sh.pool); n > 0 {
			sh.logic.Pending(s).Recs = sh.pool[n-1]
			sh.pool[n-1] = nil
			sh.pool = sh.pool[:n-1]
		}
	}
	b := sh.logic.Pending(s)
	if b.Len() == 0 {
		sh.active = append(sh.active, key)
	}
	b.Add(op)
	if sh.spec != nil && !sh.isFresh[key] {
		sh.isFresh[key] = true
		sh.fresh = append(sh.fresh, key)
	}
	if b.Len() > MaxPending {
		b.ReleaseOldest(MaxPending/2, func(r *Rec) { sh.logic.Release(key, s, r, emit) })
	}
}

// Advance implements detect.Shard: it releases the records older than the
// watermark in time order, and every SweepEvery closes windows and drops
// idle keys.
func (sh *Shard[S]) Advance(watermark time.Time, emit detect.Emitter) {
	next := sh.spare[:0]
	for _, key := range sh.active {
		s := sh.states[key]
		if s == nil {
			continue
		}
		b := sh.logic.Pending(s)
		b.Release(watermark, func(r *Rec) { sh.logic.Release(key, s, r, emit) })
		if b.Len() > 0 {
			next = append(next, key)
		}
	}
	clear(sh.active)
	sh.active, sh.spare = next, sh.active[:0]
	if !sh.nextSweep.IsZero() && watermark.Before(sh.nextSweep) {
		return
	}
	sh.nextSweep = watermark.Add(SweepEvery)
	for key, s := range sh.states {
		idle := sh.logic.Tick(key, s, watermark, emit)
		if b := sh.logic.Pending(s); idle && b.Len() == 0 {
			if c := cap(b.Recs); c > 0 && c <= poolMaxCap && len(sh.pool) < poolSize {
				sh.pool = append(sh.pool, b.Recs[:0])
			}
			delete(sh.states, key)
		}
	}
}

// envelope is one key's serialised state.
type envelope[S any] struct {
	V int `json:"v"`
	S *S  `json:"s"`
}

// Snapshot implements detect.Shard with encoding/json.
func (sh *Shard[S]) Snapshot(save func(key string, state []byte) error) error {
	for key, s := range sh.states {
		data, err := json.Marshal(envelope[S]{V: stateVersion, S: s})
		if err != nil {
			return fmt.Errorf("encode state of key %q: %w", key, err)
		}
		if err := save(key, data); err != nil {
			return err
		}
	}
	return nil
}

// Restore implements detect.Shard.
func (sh *Shard[S]) Restore(key string, state []byte) error {
	var env envelope[S]
	if err := json.Unmarshal(state, &env); err != nil {
		return fmt.Errorf("decode state of key %q: %w", key, err)
	}
	if env.V != stateVersion {
		return fmt.Errorf("state of key %q has version %d, this build reads %d", key, env.V, stateVersion)
	}
	if env.S == nil {
		return fmt.Errorf("state of key %q: %w", key, errors.New("no state"))
	}
	if err := sh.logic.Check(env.S); err != nil {
		return fmt.Errorf("state of key %q: %w", key, err)
	}
	if b := sh.logic.Pending(env.S); b.Len() > MaxPending {
		return fmt.Errorf("state of key %q holds %d pending records, more than %d", key, b.Len(), MaxPending)
	}
	sh.states[key] = env.S
	if sh.logic.Pending(env.S).Len() > 0 && !slices.Contains(sh.active, key) {
		sh.active = append(sh.active, key)
	}
	return nil
}

// Keys returns the number of keys holding state (for tests and metrics).
func (sh *Shard[S]) Keys() int { return len(sh.states) }
