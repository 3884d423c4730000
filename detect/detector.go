// Package detect runs detectors over normalised events on event time.
//
// A Detector declares which event kinds it consumes and, for each event, the
// partition key whose state the event touches (a vault, a principal, a vault
// and principal pair, one of our IP addresses). The Engine shards events by
// (detector, key) over workers so each key's state has exactly one owner and
// needs no lock. Time is the events' own: the engine keeps a watermark (the
// highest event time seen minus the allowed lateness) and tells every shard
// when it moves, so windows close on event time and a week of logs replayed
// from files gives the same alerts as the live week.
//
// The output is the same for the same input whatever the number of workers:
// candidates are collected per batch and ordered by (time, type, fingerprint)
// before they leave the engine.
package detect

import (
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

// Emitter receives the candidates a shard produces.
type Emitter interface {
	Emit(c alert.Candidate)
}

// Detector describes one detection: what it reads, how its state is keyed,
// and how to make the state owner for one worker.
type Detector interface {
	// Name is the detector's stable name, used for metrics and snapshots.
	Name() string
	// Consumes reports whether the detector reads events of this kind.
	Consumes(k event.Kind) bool
	// PartitionKey returns the key of the state op touches, or ok=false when
	// the detector ignores op. It must be a pure function of op.
	PartitionKey(op *event.Op) (key string, ok bool)
	// NewShard returns an empty state owner. The engine makes one per worker
	// and calls it from that worker's goroutine only.
	NewShard() Shard
}

// Shard owns the state of the keys routed to one worker for one detector.
type Shard interface {
	// Process handles one event whose partition key is key. op is read-only
	// and must not be retained after Process returns (copy what you keep).
	Process(op *event.Op, key string, emit Emitter)
	// Advance tells the shard that no event older than watermark is expected
	// any more: windows ending before it close, expired state is dropped.
	Advance(watermark time.Time, emit Emitter)
	// Snapshot calls save for every key that has state, with that state
	// serialised. Keys are independent so a snapshot can be restored into an
	// engine with a different number of workers.
	Snapshot(save func(key string, state []byte) error) error
	// Restore loads one key's state as written by Snapshot.
	Restore(key string, state []byte) error
}

// FlowDetector is a Detector of network flows: it consumes event.KindFlow
// and keys each flow by a number (a hash of our address, or of an address
// pair) so routing a flow allocates nothing. Its shards implement FlowShard.
type FlowDetector interface {
	Detector
	// FlowKey returns the key of the state f touches, or ok=false when the
	// detector ignores f. It must be a pure function of f.
	FlowKey(f *event.Flow) (key uint64, ok bool)
}

// FlowShard is the state owner of a FlowDetector on one worker. Its
// Snapshot must name each key as strconv.FormatUint(key, 10), so a restore
// routes the key to the worker that will own it.
type FlowShard interface {
	Shard
	// ProcessFlow handles one flow whose key is key. f is read-only and must
	// not be retained after ProcessFlow returns.
	ProcessFlow(f *event.Flow, key uint64, emit Emitter)
}

// Speculator is an optional interface of a Shard that holds records back
// until the watermark passes them (so that records delivered out of order
// are seen in event-time order) and can nevertheless tell, from what has
// arrived, that its detection will fire: "emit early, close late". The
// engine calls Speculate after every batch; the shard emits, for the keys
// that received records since the last call, the candidates its in-order
// pass would emit if nothing else arrived, without changing its state. The
// engine marks them alert.Candidate.Early: they open provisional alerts at
// once, which the in-order candidates later confirm.
type Speculator interface {
	Speculate(emit Emitter)
}
