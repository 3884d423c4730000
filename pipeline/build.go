package pipeline

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/arm"
	"github.com/vigil-security/vigil/detect/armbehaviour"
	"github.com/vigil-security/vigil/detect/fraud"
	"github.com/vigil-security/vigil/detect/keyvault"
	"github.com/vigil-security/vigil/detect/kvbehaviour"
	"github.com/vigil-security/vigil/detect/network"
	"github.com/vigil-security/vigil/enrich"
	"github.com/vigil-security/vigil/enrich/assets"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/source/azurelog"
)

// Detectors returns every detector the configuration enables.
func Detectors(cfg config.Config) []detect.Detector {
	var ds []detect.Detector
	ds = append(ds, keyvault.Detectors(cfg.KeyVault)...)
	ds = append(ds, kvbehaviour.Detectors(cfg.KVBehaviour)...)
	ds = append(ds, arm.Detectors(cfg.ARM)...)
	ds = append(ds, armbehaviour.Detectors(cfg.ARMBehaviour)...)
	ds = append(ds, fraud.Detectors(cfg.Fraud)...)
	return ds
}

// OpenEnricher loads the geo databases and intel lists the configuration
// names. It returns nil and no error when it names none.
func OpenEnricher(cfg config.Intel) (*enrich.Enricher, error) {
	if len(cfg.GeoIP) == 0 && len(cfg.Tor) == 0 && len(cfg.Blocklists) == 0 {
		return nil, nil
	}
	opts := enrich.Options{GeoIP: cfg.GeoIP, Tor: cfg.Tor, MinScore: cfg.MinScore}
	for _, b := range cfg.Blocklists {
		opts.Blocklists = append(opts.Blocklists, enrich.Blocklist{Path: b.Path, Category: b.Category, Name: b.Source})
	}
	e, err := enrich.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("enrichment: %w", err)
	}
	return e, nil
}

// NetworkDetectors returns the network (flow) detections, attributing
// addresses with idx and looking remote addresses up in the enricher's intel.
func NetworkDetectors(cfg config.Config, idx *assets.Index, enricher *enrich.Enricher) []detect.Detector {
	var ti network.Intel
	if ix := enricher.Intel(); ix != nil {
		ti = ix
	}
	return network.Detectors(cfg.Network, AssetAttributor{Index: idx}, ti)
}

// OpenAssets loads the inventories the configuration names into one index
// (empty when it names none: the Activity Log may still teach it).
func OpenAssets(paths []string) (*assets.Index, error) {
	idx := assets.New()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("assets: %w", err)
		}
		err = idx.Load(f, p)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("assets: %w", err)
		}
	}
	return idx, nil
}

// BuildOptions are what the chain needs beyond the configuration: its sinks
// and rules, and the hooks of a live input.
type BuildOptions struct {
	// Sinks receive every alert after triage, in this order (at least one).
	Sinks []Sink
	// Silencer applies the suppression rules to new alerts (nil: none).
	Silencer *silence.Silencer
	// Now is the wall clock (nil: time.Now).
	Now func() time.Time
	// OnRecordError and OnFlowError are told about every malformed record
	// and flow datagram (nil: ignore).
	OnRecordError func(*azurelog.RecordError)
	OnFlowError   func(error)

	// Live marks a live input (vigil serve): candidates a detector bug makes
	// the manager reject are reported to OnCandidateError and the chain goes
	// on, and events older than the watermark are processed at once.
	Live             bool
	OnCandidateError func(c alert.Candidate, err error)
	// OnBatch and AfterBatch are as in Options.
	OnBatch    func(events int, took time.Duration)
	AfterBatch func() error
}

// Build assembles the one stage chain from a configuration: enrichment
// (geo, intel, asset attribution), the engines with every detection the
// configuration enables (emitting early unless engine.emitEarly is off, see
// detect.Options.Early), the
// alert manager, triage (tenant directory, suppression) and the sinks.
// `vigil detect`, `vigil serve` and the evaluation all run what it builds,
// so the same input and configuration give the same alerts. Close the
// pipeline to release it.
func Build(cfg config.Config, opts BuildOptions) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	engOpts := detect.Options{Workers: cfg.Engine.Workers, Lateness: cfg.Engine.Lateness, Early: cfg.Engine.EmitEarly}
	if err := engOpts.Validate(); err != nil {
		return nil, err
	}
	if opts.Live && opts.OnCandidateError == nil {
		return nil, errors.New("pipeline: a live chain needs OnCandidateError")
	}
	enricher, err := OpenEnricher(cfg.Intel)
	if err != nil {
		return nil, err
	}
	idx, err := OpenAssets(cfg.Intel.Assets)
	if err != nil {
		enricher.Close()
		return nil, err
	}
	engine := detect.New(Detectors(cfg), engOpts)
	flowEngine := detect.New(NetworkDetectors(cfg, idx, enricher), engOpts)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	manager := alert.NewManager(alert.ManagerOptions{
		AggregationWindow: cfg.Alerts.AggregationWindow,
		EvidenceCap:       cfg.Alerts.EvidenceCap,
		Now:               now,
	})
	p, err := New(Options{Enricher: enricher, Engine: engine, FlowEngine: flowEngine, Assets: idx, Manager: manager,
		Sinks: opts.Sinks, Directory: &cfg.Directory, Silencer: opts.Silencer, Now: now,
		OnRecordError: opts.OnRecordError, OnFlowError: opts.OnFlowError,
		OnCandidateError: opts.OnCandidateError, ReleaseLate: opts.Live,
		OnBatch: opts.OnBatch, AfterBatch: opts.AfterBatch})
	if err != nil {
		engine.Close()
		flowEngine.Close()
		enricher.Close()
		return nil, err
	}
	p.release = func() {
		engine.Close()
		flowEngine.Close()
		enricher.Close()
	}
	return p, nil
}

// Close releases the engines' workers and the enrichment databases of a
// pipeline made by Build. The pipeline must not be used afterwards.
func (p *Pipeline) Close() {
	if p.release != nil {
		p.release()
		p.release = nil
	}
}
