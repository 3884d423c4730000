// Package pipeline is Vigil's one stage chain, the same under `vigil
// detect`, `vigil serve` and the evaluation: read records, enrich each once
// (operations and flows), run the detection engines in batches on event
// time, turn candidates into deduplicated alerts (alert manager), name their
// tenant from the directory and apply the suppression rules (triage), and
// hand every alert to the sinks (standard output, the store). [Build]
// assembles it from a configuration; a server adds only durability and
// transport around it.
//
// Memory does not grow with the input: records are read into one reused
// batch, detectors keep bounded state, and an alert leaves the pipeline (to
// the sink) once its aggregation window has passed on event time.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/enrich"
	"github.com/vigil-security/vigil/enrich/assets"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/source/azurelog"
	"github.com/vigil-security/vigil/tenancy"
)

// BatchSize is how many events go to the engine at once.
const BatchSize = 4096

// Sink receives alerts. Closed is called once per alert when its aggregation
// window has passed (or the input ended), with its final count and evidence.
type Sink interface {
	Closed(a *alert.Alert) error
}

// Updater is an optional interface of a Sink that wants every change, not
// only closed alerts: Updated is called after each candidate with the alert as
// it now stands (a copy), created true for a new alert. `vigil serve` uses it
// to store and notify at once; `vigil detect` only needs Closed.
type Updater interface {
	Updated(a *alert.Alert, created bool) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(a *alert.Alert) error

// Closed implements Sink.
func (f SinkFunc) Closed(a *alert.Alert) error { return f(a) }

// Counters are the pipeline's running totals, safe to read from another
// goroutine (for progress lines and metrics).
type Counters struct {
	Records atomic.Int64 // records decoded
	Flows   atomic.Int64 // network flows decoded
	Skipped atomic.Int64 // malformed records counted and skipped
	Alerts  atomic.Int64 // alerts created
	Updates atomic.Int64 // candidates merged into an existing alert
	Early   atomic.Int64 // alerts opened by an early candidate (provisional)
}

// Pipeline runs records through enrichment, detection and the alert manager.
// It is used from one goroutine.
type Pipeline struct {
	enricher *enrich.Enricher
	engine   *detect.Engine
	manager  *alert.Manager
	triage   *triage
	sinks    []Sink
	onError  func(*azurelog.RecordError)
	opts     Options
	// reader is reused for every input: making one allocates its buffers.
	reader *azurelog.Reader
	// flowEngine runs the network detections, with its own event time; nil
	// without them. flows is its pending batch.
	flowEngine *detect.Engine
	flows      []event.Flow
	// assets learns which resource holds which address from Activity Log
	// NIC and public-IP writes; nil without attribution.
	assets *assets.Index

	batch []event.Op
	n     int
	// arena holds copies of the batch's raw records, so Op.Raw stays valid
	// while the engine processes the batch (the reader reuses its buffer).
	arena []byte
	// release frees what Build opened (nil for New).
	release func()
	// Counters are updated as the pipeline runs.
	Counters Counters
}

// Options configure a Pipeline.
type Options struct {
	Enricher *enrich.Enricher // nil: no enrichment
	Engine   *detect.Engine
	Manager  *alert.Manager
	// Sinks receive every alert, in order, after triage.
	Sinks []Sink
	// Directory names the tenant of alerts whose records named none (nil:
	// no directory).
	Directory *tenancy.Directory
	// Silencer applies the suppression rules to new alerts (nil: none).
	Silencer *silence.Silencer
	// Now is the wall clock of triage (suppression times); nil: time.Now.
	Now func() time.Time
	// OnRecordError is told about every malformed record (nil: ignore).
	OnRecordError func(*azurelog.RecordError)
	// FlowEngine runs the network detections (nil: flows are not read).
	FlowEngine *detect.Engine
	// Assets, when set, learns address ownership from the Activity Log
	// records read (NIC and public-IP writes) for the network detections.
	Assets *assets.Index
	// OnFlowError is told about every malformed flow record or datagram.
	OnFlowError func(error)

	// The rest serve a live input (vigil serve); a finite run leaves them unset.

	// OnCandidateError, when set, is told of a candidate the alert manager
	// rejects (a detector bug), and the pipeline goes on; unset, the
	// rejection stops the pipeline.
	OnCandidateError func(c alert.Candidate, err error)
	// ReleaseLate processes events older than the watermark at once: on a
	// live input whose event time was moved on by the wall clock, a backfill
	// would otherwise wait in the detectors for an advance that newer
	// events may never bring.
	ReleaseLate bool
	// OnBatch is told, after each batch went through the engine, how many
	// events it held and how long detection took.
	OnBatch func(events int, took time.Duration)
	// AfterBatch runs after each batch's alerts went to the sink (and after
	// AdvanceTo): where a live sink stores them and acknowledges its input.
	// Its error stops the pipeline.
	AfterBatch func() error
}

// InputError is an input that could not be read to its end (not JSON, cut
// short, a broken gzip stream): the records before the damage were read.
// Errors of the sink or of AfterBatch are not InputErrors.
type InputError struct {
	Name string
	Err  error
}

// Error implements error.
func (e *InputError) Error() string { return e.Name + ": " + e.Err.Error() }

// Unwrap returns the reader's error.
func (e *InputError) Unwrap() error { return e.Err }

// New returns a pipeline. Engine, Manager and at least one sink are
// required; [Build] makes them from a configuration.
func New(opts Options) (*Pipeline, error) {
	if opts.Engine == nil || opts.Manager == nil || len(opts.Sinks) == 0 {
		return nil, errors.New("pipeline: engine, manager and a sink are required")
	}
	for i, s := range opts.Sinks {
		if s == nil {
			return nil, fmt.Errorf("pipeline: sink %d is nil", i)
		}
	}
	return &Pipeline{
		enricher:   opts.Enricher,
		engine:     opts.Engine,
		manager:    opts.Manager,
		triage:     newTriage(opts.Directory, opts.Silencer, opts.Now),
		sinks:      opts.Sinks,
		onError:    opts.OnRecordError,
		opts:       opts,
		batch:      make([]event.Op, BatchSize),
		flowEngine: opts.FlowEngine,
		flows:      make([]event.Flow, 0, BatchSize),
		assets:     opts.Assets,
	}, nil
}

// ReadAzure reads every record of one Azure log input (any shape the
// azurelog reader knows, gzip or not) through the pipeline. name is used in
// positions and errors. Malformed records are counted and reported, not
// fatal; an input that cannot be read to its end is an *InputError.
func (p *Pipeline) ReadAzure(ctx context.Context, r io.Reader, name string) error {
	return p.ReadAzureFunc(ctx, r, name, nil)
}

// ReadAzureFunc is ReadAzure that also calls onRecord for every record read
// (before enrichment), e.g. to count records by input; a record for which it
// returns false is left out (not detected on).
func (p *Pipeline) ReadAzureFunc(ctx context.Context, r io.Reader, name string, onRecord func(*event.Op) bool) error {
	var err error
	if p.reader == nil {
		p.reader, err = azurelog.NewReader(r, name, azurelog.Options{OnError: p.recordError})
	} else {
		err = p.reader.Reset(r, name)
	}
	if err != nil {
		return &InputError{Name: name, Err: err}
	}
	for {
		if p.n == len(p.batch) {
			if err := p.flushBatch(); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		op := &p.batch[p.n]
		err := p.reader.Next(op)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &InputError{Name: name, Err: err}
		}
		if len(op.Raw) > 0 {
			start := len(p.arena)
			p.arena = append(p.arena, op.Raw...)
			op.Raw = p.arena[start:len(p.arena):len(p.arena)]
		}
		if onRecord != nil && !onRecord(op) {
			*op = event.Op{}
			continue
		}
		if p.enricher != nil {
			p.enricher.Enrich(op)
		}
		if p.assets != nil && op.Kind == event.KindActivity {
			p.assets.Observe(op)
		}
		p.n++
		p.Counters.Records.Add(1)
	}
}

func (p *Pipeline) recordError(e *azurelog.RecordError) {
	p.Counters.Skipped.Add(1)
	if p.onError != nil {
		p.onError(e)
	}
}

// flushBatch runs the pending events through the engine and the manager.
func (p *Pipeline) flushBatch() error {
	if p.n > 0 {
		start := time.Now()
		late := p.engine.Stats().Late
		cands := p.engine.Process(p.batch[:p.n])
		if p.opts.ReleaseLate && p.engine.Stats().Late > late {
			cands = append(cands, p.engine.AdvanceTo(p.engine.Watermark().Add(time.Nanosecond))...)
		}
		if p.opts.OnBatch != nil {
			p.opts.OnBatch(p.n, time.Since(start))
		}
		clear(p.batch[:p.n]) // drop references into the arena and strings
		p.n = 0
		p.arena = p.arena[:0]
		if err := p.take(cands); err != nil {
			return err
		}
	}
	return p.afterBatch()
}

// afterBatch hands the alerts whose window closed to the sink, then runs the
// AfterBatch hook.
func (p *Pipeline) afterBatch() error {
	if err := p.expire(p.engine.Watermark()); err != nil {
		return err
	}
	if p.opts.AfterBatch != nil {
		return p.opts.AfterBatch()
	}
	return nil
}

// take hands candidates to the manager, and what it makes of them through
// triage to the sinks that want every change.
func (p *Pipeline) take(cands []alert.Candidate) error {
	for _, c := range cands {
		a, created, err := p.manager.Add(c)
		if err != nil {
			if p.opts.OnCandidateError != nil {
				p.opts.OnCandidateError(c, err)
				continue
			}
			return fmt.Errorf("alert %s: %w", c.Type, err)
		}
		if a == nil {
			continue // an early candidate for an alert announced already
		}
		p.triage.updated(a, created)
		for i, s := range p.sinks {
			up, ok := s.(Updater)
			if !ok {
				continue
			}
			if i > 0 {
				a = a.Clone() // each sink owns what it is given
			}
			if err := up.Updated(a, created); err != nil {
				return fmt.Errorf("alert sink: %w", err)
			}
		}
		if created {
			if c.Early {
				p.Counters.Early.Add(1)
			}
			p.Counters.Alerts.Add(1)
		} else {
			p.Counters.Updates.Add(1)
		}
	}
	return nil
}

// expire passes alerts whose aggregation window ended before now to the sink.
func (p *Pipeline) expire(now time.Time) error {
	for _, a := range p.manager.Expire(now) {
		p.triage.closed(a)
		for _, s := range p.sinks {
			if err := s.Closed(a); err != nil {
				return fmt.Errorf("alert sink: %w", err)
			}
		}
	}
	return nil
}

// AdvanceTo runs what is pending, then moves event time to t (a live input
// gone quiet: the wall clock minus the lateness) and hands on what that
// closes.
func (p *Pipeline) AdvanceTo(t time.Time) error {
	if p.n > 0 {
		if err := p.flushBatch(); err != nil {
			return err
		}
	}
	if err := p.flushFlows(); err != nil {
		return err
	}
	if err := p.take(p.engine.AdvanceTo(t)); err != nil {
		return err
	}
	if p.flowEngine != nil {
		if err := p.take(p.flowEngine.AdvanceTo(t)); err != nil {
			return err
		}
	}
	return p.afterBatch()
}

// Flush runs the pending, partly filled batch through the engine and the
// manager without closing any window early: what is open stays open. Call it
// before a snapshot, or when a live input goes quiet.
func (p *Pipeline) Flush() error {
	if err := p.flushFlows(); err != nil {
		return err
	}
	return p.flushBatch()
}

// Engine returns the detection engine, for snapshots and restores.
func (p *Pipeline) Engine() *detect.Engine { return p.engine }

// Manager returns the alert manager, to reload open alerts into it.
func (p *Pipeline) Manager() *alert.Manager { return p.manager }

// Finish runs what is pending, closes every window and hands every remaining
// alert to the sink. Call it once at the end of a finite input.
func (p *Pipeline) Finish() error {
	if err := p.Flush(); err != nil {
		return err
	}
	if err := p.take(p.engine.Flush()); err != nil {
		return err
	}
	if p.flowEngine != nil {
		if err := p.take(p.flowEngine.Flush()); err != nil {
			return err
		}
	}
	return p.expire(time.Unix(1<<62, 0))
}
