package pipeline

import (
	"fmt"
	"os"

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

// FromConfig builds a pipeline (enricher, engine with every detector, alert
// manager) from a configuration. The returned function releases it.
func FromConfig(cfg config.Config, sink Sink, onRecordError func(*azurelog.RecordError), onFlowError func(error)) (*Pipeline, func(), error) {
	enricher, err := OpenEnricher(cfg.Intel)
	if err != nil {
		return nil, nil, err
	}
	idx, err := OpenAssets(cfg.Intel.Assets)
	if err != nil {
		enricher.Close()
		return nil, nil, err
	}
	engine := detect.New(Detectors(cfg), detect.Options{Workers: cfg.Engine.Workers, Lateness: cfg.Engine.Lateness})
	flowEngine := detect.New(NetworkDetectors(cfg, idx, enricher), detect.Options{Workers: cfg.Engine.Workers, Lateness: cfg.Engine.Lateness})
	manager := alert.NewManager(alert.ManagerOptions{
		AggregationWindow: cfg.Alerts.AggregationWindow,
		EvidenceCap:       cfg.Alerts.EvidenceCap,
	})
	p, err := New(Options{Enricher: enricher, Engine: engine, FlowEngine: flowEngine, Assets: idx, Manager: manager,
		Sink: sink, OnRecordError: onRecordError, OnFlowError: onFlowError})
	release := func() {
		engine.Close()
		flowEngine.Close()
		enricher.Close()
	}
	if err != nil {
		release()
		return nil, nil, err
	}
	return p, release, nil
}
