package arm

import (
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

type discard struct{ n int }

func (d *discard) Emit(alert.Candidate) { d.n++ }

// BenchmarkNormalTraffic runs each detection the way the engine does
// (PartitionKey, then Process for what it takes, the watermark moved every
// 4096 events) over ordinary Activity Log traffic from office addresses.
func BenchmarkNormalTraffic(b *testing.B) {
	ops := make([]event.Op, 10000)
	for i := range ops {
		p := event.Principal{ObjectID: "00000000-0000-4000-8000-00000000" + strconv.Itoa(1000+i%500), Type: event.PrincipalUser}
		ops[i] = dt.Activity(t0.Add(time.Duration(i)*time.Second), vm, "Microsoft.Compute/virtualMachines/read",
			dt.Caller(p), dt.From(office, officeGeo))
	}
	for _, d := range Detectors(DefaultConfig()) {
		b.Run(d.Name(), func(b *testing.B) {
			shard := d.NewShard()
			em := &discard{}
			b.ReportAllocs()
			cpu := dt.ProcessCPU()
			for i := 0; b.Loop(); i++ {
				op := &ops[i%len(ops)]
				if key, ok := d.PartitionKey(op); ok {
					shard.Process(op, key, em)
				}
				if i%4096 == 4095 {
					shard.Advance(op.Time.Add(-5*time.Minute), em)
				}
			}
			b.ReportMetric(float64(dt.ProcessCPU()-cpu)/float64(b.N), "cpu-ns/op")
			if em.n != 0 {
				b.Fatalf("normal traffic raised %d candidates", em.n)
			}
		})
	}
}

// BenchmarkSuspicious is the rare path: every event from a Tor exit that is
// also blocklisted, by 20 callers, so both detections keep and summarise it.
func BenchmarkSuspicious(b *testing.B) {
	ops := make([]event.Op, 10000)
	for i := range ops {
		p := event.Principal{ObjectID: "00000000-0000-4000-8000-0000000000" + strconv.Itoa(10+i%20), Type: event.PrincipalUser}
		ops[i] = dt.Activity(t0.Add(time.Duration(i)*time.Second), vm, "Microsoft.Compute/virtualMachines/read",
			dt.Caller(p), dt.From(torIpsum5, torGeo, intel.Lookup(torIpsum5)...), dt.Correlation("c"+strconv.Itoa(i)))
	}
	for _, d := range Detectors(DefaultConfig()) {
		b.Run(d.Name(), func(b *testing.B) {
			shard := d.NewShard()
			em := &discard{}
			base := ops[0].Time
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				op := &ops[i%len(ops)]
				op.Time = base.Add(time.Duration(i) * time.Second)
				if key, ok := d.PartitionKey(op); ok {
					shard.Process(op, key, em)
				}
				if i%4096 == 4095 {
					shard.Advance(op.Time.Add(-5*time.Minute), em)
				}
			}
		})
	}
}

// FuzzRestore: any bytes either fail to restore with an error or give a
// shard that processes, advances and snapshots without panicking.
func FuzzRestore(f *testing.F) {
	dets := Detectors(DefaultConfig())
	ops := []event.Op{
		act(0, vm, "Microsoft.Compute/virtualMachines/read", rob, torIpsum5),
		act(time.Second, vm, "Microsoft.Compute/virtualMachines/write", rob, torIpsum5),
		act(2*time.Second, vm, "Microsoft.Compute/virtualMachines/write", rob, torIpsum5, dt.Result("Failed")),
	}
	for di, d := range dets {
		sh := d.NewShard()
		em := &discard{}
		for i := range ops {
			if key, ok := d.PartitionKey(&ops[i]); ok {
				sh.Process(&ops[i], key, em)
			}
		}
		sh.Advance(t0.Add(time.Second), em)
		_ = sh.Snapshot(func(key string, state []byte) error {
			f.Add(uint8(di), key, state)
			return nil
		})
	}
	f.Add(uint8(0), "k", []byte(`{"v":1,"s":{"pending":{"recs":[{"t":"2026-08-22T10:00:00Z","op":"x","ip":"not an ip"}]}}}`))
	f.Add(uint8(1), "k", []byte(`{"v":1,"s":{"groups":[{"start":"2026-08-22T10:00:00Z","summary":{"count":1,"recs":[{}]}}]}}`))
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, which uint8, key string, state []byte) {
		key, state = key[:min(len(key), 256)], state[:min(len(state), 4<<10)] // larger adds nothing but slowness
		d := dets[int(which)%len(dets)]
		sh := d.NewShard()
		if err := sh.Restore(key, state); err != nil {
			return
		}
		em := &discard{}
		sh.Advance(t0, em)
		for i := range ops {
			sh.Process(&ops[i], key, em)
		}
		sh.Advance(t0.Add(48*time.Hour), em)
		if err := sh.Snapshot(func(string, []byte) error { return nil }); err != nil {
			t.Fatalf("snapshot after restore: %v", err)
		}
	})
}
