package web_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/simulate"
)

// simulated holds the alerts Vigil's detections raise over a small
// simulated estate (Key Vault and Activity Log records, and network flows),
// computed once per test binary.
var simulated struct {
	once   sync.Once
	alerts []*alert.Alert
	err    error
}

// realAlerts runs the simulator's Key Vault estate and network estate
// through the detection pipeline and returns every alert, as `vigil
// simulate | vigil detect` would. The alerts are shared: clone before
// changing one.
func realAlerts(t testing.TB) []*alert.Alert {
	t.Helper()
	simulated.once.Do(func() { simulated.alerts, simulated.err = runEstates() })
	if simulated.err != nil {
		t.Fatal(simulated.err)
	}
	if len(simulated.alerts) == 0 {
		t.Fatal("the simulated estates raised no alert")
	}
	return simulated.alerts
}

func runEstates() ([]*alert.Alert, error) {
	ctx := context.Background()
	byID := map[string]*alert.Alert{}
	sink := pipeline.SinkFunc(func(a *alert.Alert) error { byID[a.ID] = a; return nil })

	cfg := config.Default()
	cfg.Intel.Tor = []string{"../examples/intel/tor-exit-nodes.lst"}
	cfg.Intel.Blocklists = []config.Blocklist{{Path: "../examples/intel/ipsum.txt", Category: "malicious", Source: "ipsum"}}
	est, err := simulate.NewEstate(simulate.EstateOptions{Seed: 7, Days: 10})
	if err != nil {
		return nil, err
	}
	p, err := pipeline.Build(cfg, pipeline.BuildOptions{Sinks: []pipeline.Sink{sink}})
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := est.Write(pw, simulate.JSONLines)
		pw.CloseWithError(err)
	}()
	err = p.ReadAzure(ctx, pr, "simulated")
	pr.CloseWithError(io.ErrClosedPipe)
	if err == nil {
		err = p.Finish()
	}
	p.Close()
	if err != nil {
		return nil, err
	}

	fest, err := simulate.NewFlowEstate(simulate.FlowEstateOptions{Seed: 7, Days: 9})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vigil-web-flows-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	write := func(name string, fn func(w io.Writer) error) (string, error) {
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
	assets, err := write("assets.csv", func(w io.Writer) error { return fest.WriteAssets(w) })
	if err != nil {
		return nil, err
	}
	pools, err := write("pools.txt", func(w io.Writer) error { return fest.WriteMiningPools(w) })
	if err != nil {
		return nil, err
	}
	c2, err := write("c2.txt", func(w io.Writer) error { return fest.WriteC2Addresses(w) })
	if err != nil {
		return nil, err
	}
	fcfg := cfg
	fcfg.Intel.Assets = []string{assets}
	fcfg.Intel.Blocklists = append(slices.Clone(cfg.Intel.Blocklists),
		config.Blocklist{Path: pools, Category: "mining-pool", Source: "simulated-pools"},
		config.Blocklist{Path: c2, Category: "c2", Source: "simulated-c2"})
	fp, err := pipeline.Build(fcfg, pipeline.BuildOptions{Sinks: []pipeline.Sink{sink}})
	if err != nil {
		return nil, err
	}
	defer fp.Close()
	if _, err := fest.Flows(func(f *event.Flow) error { return fp.AddFlow(f) }); err != nil {
		return nil, err
	}
	if err := fp.Finish(); err != nil {
		return nil, err
	}
	out := make([]*alert.Alert, 0, len(byID))
	for _, a := range byID {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *alert.Alert) int { return a.Detected.Compare(b.Detected) })
	return out, nil
}
