package detect

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

// DefaultLateness is how far behind the newest event time the watermark
// trails by default: events may arrive up to this much out of order (Azure
// delivers diagnostic logs in blobs and Event Hubs batches a few minutes apart)
// before the windows they belong to are closed.
const DefaultLateness = 5 * time.Minute

// Options configure an Engine. The zero value is valid.
type Options struct {
	// Workers is the number of shards (and goroutines); 0 means GOMAXPROCS.
	// With 1 the engine runs on the caller's goroutine.
	Workers int
	// Lateness is how far the watermark trails the newest event time: how
	// far out of order events may arrive and still be seen in order. 0 means
	// none (every event is in order as it arrives); configurations default to
	// DefaultLateness. Negative is invalid.
	Lateness time.Duration
	// Early asks shards that can (see Speculator) to emit candidates as
	// soon as their condition holds on the events that have arrived, marked
	// alert.Candidate.Early, instead of only once the watermark releases
	// the events: alerts within seconds on a live input.
	Early bool
}

// Validate reports options that make no sense.
func (o Options) Validate() error {
	var errs []string
	if o.Workers < 0 {
		errs = append(errs, fmt.Sprintf("workers must be >= 0 (0: one per CPU), got %d", o.Workers))
	}
	if o.Lateness < 0 {
		errs = append(errs, fmt.Sprintf("lateness must be >= 0, got %s", o.Lateness))
	}
	if len(errs) > 0 {
		return fmt.Errorf("engine options: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Stats counts what the engine has seen.
type Stats struct {
	Events     int64 // events offered to Process
	Routed     int64 // (event, detector) deliveries
	Late       int64 // events older than the watermark when they arrived (still processed)
	Candidates int64 // candidates emitted
	Watermark  time.Time
}

// Engine shards events over workers by (detector, partition key) and drives
// the detectors' shards on event time. It is not safe for concurrent use: one
// goroutine feeds it batches; the engine fans each batch out to its workers.
type Engine struct {
	detectors []Detector
	workers   []*worker
	lateness  time.Duration
	early     bool

	maxTime   time.Time
	watermark time.Time
	stats     Stats
}

// task is one delivery of an event to one detector's shard.
type task struct {
	op  *event.Op
	det int
	key string
}

// flowTask is one delivery of a flow to one flow detector's shard.
type flowTask struct {
	flow *event.Flow
	det  int
	key  uint64
}

// collector gathers the candidates one worker emits during one step.
type collector struct{ out []alert.Candidate }

// Emit implements Emitter.
func (c *collector) Emit(cand alert.Candidate) {
	if cand.Count == 0 {
		cand.Count = 1
	}
	c.out = append(c.out, cand)
}

// worker owns one shard of every detector.
type worker struct {
	shards    []Shard
	tasks     []task
	flowTasks []flowTask
	col       collector
	jobs      chan func()
}

// New returns an engine running the given detectors. Options that do not
// validate are a programming error and panic: check configuration-made
// options with Options.Validate first.
func New(detectors []Detector, opts Options) *Engine {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	n := opts.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	e := &Engine{detectors: detectors, lateness: opts.Lateness, early: opts.Early}
	for range n {
		w := &worker{shards: make([]Shard, len(detectors))}
		for i, d := range detectors {
			w.shards[i] = d.NewShard()
		}
		if n > 1 {
			w.jobs = make(chan func())
			go w.run()
		}
		e.workers = append(e.workers, w)
	}
	return e
}

func (w *worker) run() {
	for job := range w.jobs {
		job()
	}
}

// Close stops the worker goroutines. The engine must not be used afterwards.
func (e *Engine) Close() {
	for _, w := range e.workers {
		if w.jobs != nil {
			close(w.jobs)
		}
	}
}

// Detectors returns the detectors the engine runs.
func (e *Engine) Detectors() []Detector { return e.detectors }

// Stats returns the counters so far.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.Watermark = e.watermark
	return s
}

// Watermark returns the current watermark (zero before the first event).
func (e *Engine) Watermark() time.Time { return e.watermark }

// shardOf maps a (detector, key) pair to a worker with FNV-1a, so the same
// key always has the same owner and the mapping needs no allocation.
func shardOf(det int, key string, n int) int {
	if n == 1 {
		return 0
	}
	h := uint32(2166136261)
	h = (h ^ uint32(det)) * 16777619
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % uint32(n))
}

// Process runs one batch of events through every detector that consumes them,
// then moves the watermark to the newest event time minus the lateness and
// lets every shard close what that ends. It returns the candidates of the
// batch in a deterministic order. The events are not retained: the caller may
// reuse ops once Process returns.
func (e *Engine) Process(ops []event.Op) []alert.Candidate {
	n := len(e.workers)
	for i := range ops {
		op := &ops[i]
		e.stats.Events++
		if !e.watermark.IsZero() && op.Time.Before(e.watermark) {
			e.stats.Late++
		}
		if op.Time.After(e.maxTime) {
			e.maxTime = op.Time
		}
		for d, det := range e.detectors {
			if !det.Consumes(op.Kind) {
				continue
			}
			key, ok := det.PartitionKey(op)
			if !ok {
				continue
			}
			w := e.workers[shardOf(d, key, n)]
			w.tasks = append(w.tasks, task{op: op, det: d, key: key})
			e.stats.Routed++
		}
	}
	e.each(func(w *worker) {
		for i := range w.tasks {
			t := &w.tasks[i]
			w.shards[t.det].Process(t.op, t.key, &w.col)
		}
		clear(w.tasks) // drop the pointers into ops
		w.tasks = w.tasks[:0]
	})
	if wm := e.maxTime.Add(-e.lateness); wm.After(e.watermark) {
		e.advance(wm)
	}
	if e.early {
		e.speculate()
	}
	return e.collect()
}

// speculate lets every shard that can emit its early candidates.
func (e *Engine) speculate() {
	e.each(func(w *worker) {
		em := earlyEmitter{&w.col}
		for _, s := range w.shards {
			if sp, ok := s.(Speculator); ok {
				sp.Speculate(em)
			}
		}
	})
}

// earlyEmitter marks what it passes on as early.
type earlyEmitter struct{ c *collector }

// Emit implements Emitter.
func (e earlyEmitter) Emit(c alert.Candidate) {
	c.Early = true
	e.c.Emit(c)
}

// shardOfHash maps a (detector, numeric key) pair to a worker.
func shardOfHash(det int, key uint64, n int) int {
	if n == 1 {
		return 0
	}
	h := (key ^ uint64(det)*0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	h ^= h >> 31
	return int(h % uint64(n))
}

// ProcessFlows is Process for network flows: each flow goes to every flow
// detector that wants it, sharded by its numeric key; event time is the
// flow's end. The flows are not retained.
func (e *Engine) ProcessFlows(flows []event.Flow) []alert.Candidate {
	n := len(e.workers)
	for i := range flows {
		f := &flows[i]
		e.stats.Events++
		if !e.watermark.IsZero() && f.End.Before(e.watermark) {
			e.stats.Late++
		}
		if f.End.After(e.maxTime) {
			e.maxTime = f.End
		}
		for d, det := range e.detectors {
			fd, ok := det.(FlowDetector)
			if !ok || !det.Consumes(event.KindFlow) {
				continue
			}
			key, ok := fd.FlowKey(f)
			if !ok {
				continue
			}
			w := e.workers[shardOfHash(d, key, n)]
			w.flowTasks = append(w.flowTasks, flowTask{flow: f, det: d, key: key})
			e.stats.Routed++
		}
	}
	e.each(func(w *worker) {
		for i := range w.flowTasks {
			t := &w.flowTasks[i]
			w.shards[t.det].(FlowShard).ProcessFlow(t.flow, t.key, &w.col)
		}
		clear(w.flowTasks)
		w.flowTasks = w.flowTasks[:0]
	})
	if wm := e.maxTime.Add(-e.lateness); wm.After(e.watermark) {
		e.advance(wm)
	}
	return e.collect()
}

// Flush closes every window as if time had moved past all of them, and
// returns what that emits. Call it at the end of a finite input.
func (e *Engine) Flush() []alert.Candidate {
	end := e.maxTime.Add(100 * 365 * 24 * time.Hour)
	e.advance(end)
	return e.collect()
}

// AdvanceTo moves the watermark to t if t is later than it (for live inputs
// that go quiet: the caller may advance on wall time) and returns what closes.
func (e *Engine) AdvanceTo(t time.Time) []alert.Candidate {
	if t.After(e.watermark) {
		e.advance(t)
	}
	return e.collect()
}

func (e *Engine) advance(wm time.Time) {
	e.watermark = wm
	e.each(func(w *worker) {
		for _, s := range w.shards {
			s.Advance(wm, &w.col)
		}
	})
}

// each runs fn on every worker, in parallel when there are several, and
// waits for all of them.
func (e *Engine) each(fn func(w *worker)) {
	if len(e.workers) == 1 {
		fn(e.workers[0])
		return
	}
	var wg sync.WaitGroup
	wg.Add(len(e.workers))
	for _, w := range e.workers {
		w.jobs <- func() {
			defer wg.Done()
			fn(w)
		}
	}
	wg.Wait()
}

// collect takes every worker's candidates and orders them so the result does
// not depend on the number of workers.
func (e *Engine) collect() []alert.Candidate {
	var out []alert.Candidate
	for _, w := range e.workers {
		out = append(out, w.col.out...)
		clear(w.col.out)
		w.col.out = w.col.out[:0]
	}
	if len(out) > 1 {
		slices.SortStableFunc(out, CompareCandidates)
	}
	e.stats.Candidates += int64(len(out))
	return out
}

// CompareCandidates is the engine's order of candidates: time, type,
// fingerprint keys, resource, first, last, count. It is total on what
// distinguishes candidates, so those from different shards interleave the
// same way every run.
func CompareCandidates(a, b alert.Candidate) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	if c := slices.Compare(a.FingerprintKeys, b.FingerprintKeys); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Resource, b.Resource); c != 0 {
		return c
	}
	if c := a.First.Compare(b.First); c != 0 {
		return c
	}
	if c := a.Last.Compare(b.Last); c != 0 {
		return c
	}
	if a.Early != b.Early { // in-order candidates first
		if a.Early {
			return 1
		}
		return -1
	}
	return cmp.Compare(a.Count, b.Count)
}

// String describes the engine for logs.
func (e *Engine) String() string {
	names := make([]string, len(e.detectors))
	for i, d := range e.detectors {
		names[i] = d.Name()
	}
	return fmt.Sprintf("engine(%d workers, lateness %s, early %t, detectors %s)", len(e.workers), e.lateness, e.early, strings.Join(names, ","))
}
