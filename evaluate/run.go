package evaluate

import (
	"context"
	"fmt"
	"io"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/simulate"
	"github.com/vigil-security/vigil/source/azurelog"
)

// Run writes the estate's telemetry straight into a pipeline built from cfg
// (every detection it enables, with its intel files), collects the alerts
// and scores them against the estate's labels. Nothing touches the disk.
func Run(ctx context.Context, est *simulate.Estate, cfg config.Config) (Report, error) {
	alerts, _, err := detectAll(ctx, est, cfg)
	if err != nil {
		return Report{}, err
	}
	return Score(alerts, est.Labels(), BenignVaultDays(est)), nil
}

// detectAll runs the estate's telemetry through the stage chain and returns
// every alert, closed, and how many alerts of each type were opened early.
func detectAll(ctx context.Context, est *simulate.Estate, cfg config.Config) (_ []*alert.Alert, early map[string]int, err error) {
	var alerts []*alert.Alert
	early = map[string]int{}
	sink := &collectSink{closed: &alerts, early: early}
	var skipped []string
	p, err := pipeline.Build(cfg, pipeline.BuildOptions{Sinks: []pipeline.Sink{sink},
		OnRecordError: func(e *azurelog.RecordError) {
			if len(skipped) < 5 {
				skipped = append(skipped, e.Error())
			}
		}})
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()

	pr, pw := io.Pipe()
	go func() {
		_, err := est.Write(pw, simulate.JSONLines)
		pw.CloseWithError(err)
	}()
	err = p.ReadAzure(ctx, pr, "simulated")
	pr.CloseWithError(io.ErrClosedPipe) // stop the writer if reading ended early
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	if err := p.Finish(); err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	if n := p.Counters.Skipped.Load(); n > 0 {
		return nil, nil, fmt.Errorf("evaluate: the simulator wrote %d records the reader skipped, e.g. %v", n, skipped)
	}
	return alerts, early, nil
}

// collectSink keeps closed alerts and counts, by type, the alerts opened
// provisionally by an early candidate.
type collectSink struct {
	closed *[]*alert.Alert
	early  map[string]int
}

func (c *collectSink) Closed(a *alert.Alert) error { *c.closed = append(*c.closed, a); return nil }

func (c *collectSink) Updated(a *alert.Alert, created bool) error {
	if created && a.Provisional() {
		c.early[a.Type]++
	}
	return nil
}

// BenignVaultDays is the vault-days of activity after each vault's learning
// period: the span over which a behavioural false-positive rate is fair.
func BenignVaultDays(est *simulate.Estate) float64 {
	var days float64
	end := est.End()
	for _, v := range est.Vaults() {
		if v.LearningEnd.Before(end) {
			days += end.Sub(v.LearningEnd).Hours() / 24
		}
	}
	return days
}
