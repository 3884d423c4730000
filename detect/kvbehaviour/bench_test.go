package kvbehaviour

import (
	"testing"
	"time"

	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// benchDetector runs d over the estate's ordinary traffic the way the
// engine does: PartitionKey, Process, and the watermark moved every 4096
// events (the pipeline's batch), so each event's cost includes its release
// in event-time order. The estate repeats every two weeks of event time
// (its weekly rhythm intact), so the state is learnt and every caller
// known; nothing may fire.
func benchDetector(b *testing.B, d detect.Detector, ops []event.Op) {
	shard := d.NewShard()
	em := &discard{}
	base := ops[0].Time
	const span = 14 * 24 * time.Hour
	offs := make([]time.Duration, len(ops))
	for k := range ops {
		offs[k] = ops[k].Time.Sub(base)
	}
	i := 0
	step := func() {
		j := i % len(ops)
		op := &ops[j]
		op.Time = base.Add(offs[j] + span*time.Duration(i/len(ops)))
		if key, ok := d.PartitionKey(op); ok {
			shard.Process(op, key, em)
		}
		if i%4096 == 4095 {
			shard.Advance(op.Time.Add(-5*time.Minute), em)
		}
		i++
	}
	for range 2 * len(ops) { // learn two rounds first
		step()
	}
	em.n = 0
	b.ReportAllocs()
	cpu := dt.ProcessCPU()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(dt.ProcessCPU()-cpu)/float64(b.N), "cpu-ns/op")
	b.StopTimer()
	if em.n != 0 {
		b.Fatalf("ordinary traffic raised %d candidates", em.n)
	}
}

func BenchmarkNormalTraffic(b *testing.B) {
	ops := estate(14)
	dt.Number("keyvault.json", ops)
	for _, d := range Detectors(DefaultConfig()) {
		b.Run(d.Name(), func(b *testing.B) { benchDetector(b, d, ops) })
	}
}

// BenchmarkPartitionKey measures routing alone (the engine calls it for
// every Key Vault record).
func BenchmarkPartitionKey(b *testing.B) {
	ops := estate(2)
	for _, d := range Detectors(DefaultConfig()) {
		b.Run(d.Name(), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d.PartitionKey(&ops[i%len(ops)])
				i++
			}
		})
	}
}
