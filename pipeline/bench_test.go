package pipeline

import (
	"bytes"
	"context"
	"testing"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/enrich"
	"github.com/vigil-security/vigil/simulate"
)

// BenchmarkEndToEnd measures read, parse, enrich (Tor and ipsum lists) and
// every detection on simulated Key Vault records, on one detection worker.
func BenchmarkEndToEnd(b *testing.B) {
	for _, format := range []string{"jsonl", "records"} {
		b.Run(format, func(b *testing.B) {
			const records = 200000
			var buf bytes.Buffer
			if _, err := simulate.KeyVaultLoad(&buf, simulate.KeyVaultOptions{
				Records: records, Seed: 1, Envelope: format == "records", TorAddresses: []string{"185.220.101.1"},
			}); err != nil {
				b.Fatal(err)
			}
			cfg := config.Default()
			cfg.Engine.Workers = 1
			cfg.Intel.Tor = []string{"../examples/intel/tor-exit-nodes.lst"}
			cfg.Intel.Blocklists = []config.Blocklist{{Path: "../examples/intel/ipsum.txt", Category: "malicious"}}
			enricher, err := OpenEnricher(cfg.Intel)
			if err != nil {
				b.Fatal(err)
			}
			defer enricher.Close()
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p := benchPipeline(b, cfg, enricher)
				if err := p.ReadAzure(context.Background(), bytes.NewReader(buf.Bytes()), "bench"); err != nil {
					b.Fatal(err)
				}
				if err := p.Finish(); err != nil {
					b.Fatal(err)
				}
				if p.Counters.Records.Load() != records {
					b.Fatalf("read %d records", p.Counters.Records.Load())
				}
			}
			b.ReportMetric(float64(b.N*records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// benchPipeline builds a fresh engine and manager around a shared enricher,
// so loading the intel lists stays out of the measurement.
func benchPipeline(b *testing.B, cfg config.Config, enricher *enrich.Enricher) *Pipeline {
	b.Helper()
	engine := detect.New(Detectors(cfg), detect.Options{Workers: cfg.Engine.Workers, Lateness: cfg.Engine.Lateness, Early: true})
	b.Cleanup(engine.Close)
	p, err := New(Options{
		Enricher: enricher, Engine: engine,
		Manager: alert.NewManager(alert.ManagerOptions{AggregationWindow: cfg.Alerts.AggregationWindow, EvidenceCap: cfg.Alerts.EvidenceCap}),
		Sinks:   []Sink{SinkFunc(func(*alert.Alert) error { return nil })},
	})
	if err != nil {
		b.Fatal(err)
	}
	return p
}
