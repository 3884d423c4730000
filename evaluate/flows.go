package evaluate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/simulate"
)

// RunFlows is Run for a network estate: its flows go straight into the
// pipeline's flow engine, attributed with the estate's asset inventory, with
// its C2 servers and mining pools as intel lists (besides those of cfg). The
// false-positive rate is per 1,000 resource (VM) days after learning.
func RunFlows(ctx context.Context, est *simulate.FlowEstate, cfg config.Config) (Report, error) {
	dir, err := os.MkdirTemp("", "vigil-evaluate-")
	if err != nil {
		return Report{}, fmt.Errorf("evaluate: %w", err)
	}
	defer os.RemoveAll(dir)
	write := func(name string, fn func(f *os.File) error) (string, error) {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return "", err
		}
		if err := fn(f); err != nil {
			f.Close()
			return "", err
		}
		return path, f.Close()
	}
	assetsPath, err := write("assets.csv", func(f *os.File) error { return est.WriteAssets(f) })
	if err != nil {
		return Report{}, fmt.Errorf("evaluate: %w", err)
	}
	poolsPath, err := write("pools.txt", func(f *os.File) error { return est.WriteMiningPools(f) })
	if err != nil {
		return Report{}, fmt.Errorf("evaluate: %w", err)
	}
	c2Path, err := write("c2.txt", func(f *os.File) error { return est.WriteC2Addresses(f) })
	if err != nil {
		return Report{}, fmt.Errorf("evaluate: %w", err)
	}
	cfg.Intel.Assets = append(cfg.Intel.Assets, assetsPath)
	cfg.Intel.Blocklists = append(cfg.Intel.Blocklists,
		config.Blocklist{Path: poolsPath, Category: "mining-pool", Source: "simulated-pools"},
		config.Blocklist{Path: c2Path, Category: "c2", Source: "simulated-c2"})

	var alerts []*alert.Alert
	sink := pipeline.SinkFunc(func(a *alert.Alert) error { alerts = append(alerts, a); return nil })
	p, err := pipeline.Build(cfg, pipeline.BuildOptions{Sinks: []pipeline.Sink{sink}})
	if err != nil {
		return Report{}, err
	}
	defer p.Close()
	n := 0
	if _, err := est.Flows(func(f *event.Flow) error {
		if n++; n%pipeline.BatchSize == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return p.AddFlow(f)
	}); err != nil {
		return Report{}, fmt.Errorf("evaluate: %w", err)
	}
	if err := p.Finish(); err != nil {
		return Report{}, fmt.Errorf("evaluate: %w", err)
	}
	return Score(alerts, est.Labels(), est.BenignResourceDays()), nil
}
