package pipeline

import (
	"context"
	"io"
	"net/netip"
	"time"

	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/enrich/assets"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/flowlog"
	"github.com/vigil-security/vigil/source/ipfix"
)

// Flows have an engine of their own (Options.FlowEngine): network flows and
// log records come from different inputs, read one after the other by
// `vigil detect`, and each stream's event time must close its own windows.
// A log file of a week read before a flow file of the same week would
// otherwise make every flow late.

// AddFlow copies one decoded flow into the pending flow batch, running the
// batch through the flow engine when it is full. It is the emit function
// for decoders that hand out a reused *event.Flow.
func (p *Pipeline) AddFlow(f *event.Flow) error {
	if p.flowEngine == nil {
		return nil
	}
	if len(p.flows) == cap(p.flows) {
		if err := p.flushFlows(); err != nil {
			return err
		}
	}
	p.flows = append(p.flows, *f)
	p.enricher.EnrichFlow(&p.flows[len(p.flows)-1], p.assets) // country, ASN and intel of the remote end
	p.Counters.Flows.Add(1)
	return nil
}

// ReadFlowLog reads an NSG or VNet flow log (records envelope, gzip or not).
// Malformed tuples are counted and reported, not fatal; an input that
// cannot be read to its end is an *InputError.
func (p *Pipeline) ReadFlowLog(ctx context.Context, r io.Reader, name string) error {
	rd, err := flowlog.NewReader(r, name, flowlog.Options{OnError: func(e *flowlog.RecordError) {
		p.Counters.Skipped.Add(1)
		if p.opts.OnFlowError != nil {
			p.opts.OnFlowError(e)
		}
	}})
	if err != nil {
		return &InputError{Name: name, Err: err}
	}
	var f event.Flow
	for n := 0; ; n++ {
		err := rd.Next(&f)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &InputError{Name: name, Err: err}
		}
		if err := p.AddFlow(&f); err != nil {
			return err
		}
		if n%BatchSize == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// ReadDatagrams reads NetFlow / IPFIX exports: pcap or pcapng files, or raw
// datagram files (one datagram a file, the files in order one exporter
// session).
func (p *Pipeline) ReadDatagrams(paths []string) (ipfix.Stats, error) {
	var sinkErr error
	st, err := ipfix.ReadFiles(paths, ipfix.ReadOptions{OnError: func(e error) {
		p.Counters.Skipped.Add(1)
		if p.opts.OnFlowError != nil {
			p.opts.OnFlowError(e)
		}
	}}, func(f *event.Flow) {
		if sinkErr == nil {
			sinkErr = p.AddFlow(f)
		}
	})
	if sinkErr != nil {
		return st, sinkErr
	}
	if err != nil {
		return st, &InputError{Name: paths[0], Err: err}
	}
	return st, nil
}

// flushFlows runs the pending flows through the flow engine.
func (p *Pipeline) flushFlows() error {
	if p.flowEngine == nil || len(p.flows) == 0 {
		return nil
	}
	start := time.Now()
	cands := p.flowEngine.ProcessFlows(p.flows)
	if p.opts.OnBatch != nil {
		p.opts.OnBatch(len(p.flows), time.Since(start))
	}
	clear(p.flows)
	p.flows = p.flows[:0]
	if err := p.take(cands); err != nil {
		return err
	}
	return p.afterBatch()
}

// FlowEngine returns the engine of the network detections, nil without one.
func (p *Pipeline) FlowEngine() *detect.Engine { return p.flowEngine }

// AssetAttributor adapts an asset index to the network detections: an
// address is ours when one of our resources held it during the hour of the
// traffic (seed 004).
type AssetAttributor struct{ Index *assets.Index }

// Attribute implements network.Attributor.
func (a AssetAttributor) Attribute(addr netip.Addr, t time.Time) (resourceID, subscriptionID string, ok bool) {
	if a.Index == nil {
		return "", "", false
	}
	r, ok := a.Index.HeldDuringHour(addr, t)
	return r.ID, r.Subscription, ok
}
