package keyvault

import (
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

type discard struct{ n int }

func (d *discard) Emit(alert.Candidate) { d.n++ }

// normalTraffic is ordinary use: 2000 apps and users, each reading one of
// 10 vaults every 2000 seconds (fewer than 25 SecretGet a day), from office
// addresses; nothing is suspicious.
func normalTraffic(n int) []event.Op {
	ops := make([]event.Op, n)
	names := []string{"SecretGet", "KeyUnwrap", "SecretGet", "KeySign", "VaultGet", "CertificateGet", "SecretList", "KeyGet"}
	for i := range ops {
		who := i % 2000
		v := dt.Vault{Subscription: vault.Subscription, ResourceGroup: "apps", Name: "kv-" + strconv.Itoa(who%10)}
		p := event.Principal{ObjectID: "00000000-0000-4000-8000-00000000" + strconv.Itoa(1000+who), AppID: app.AppID, Type: event.PrincipalApp}
		ops[i] = dt.KV(t0.Add(time.Duration(i)*time.Second), v, names[(i/2000)%len(names)], dt.Caller(p), dt.From(office, officeGeo))
	}
	return ops
}

// benchDetector runs d the way the engine does: PartitionKey, then Process
// for the events it takes, and the watermark moved every 4096 events (the
// pipeline's batch). Event times keep increasing across iterations.
func benchDetector(b *testing.B, d detect.Detector, ops []event.Op) {
	shard := d.NewShard()
	em := &discard{}
	base := ops[0].Time
	span := ops[len(ops)-1].Time.Sub(base) + time.Second
	i := 0
	step := func() {
		op := &ops[i%len(ops)]
		op.Time = base.Add(time.Duration(i/len(ops))*span + time.Duration(i%len(ops))*time.Second)
		if key, ok := d.PartitionKey(op); ok {
			shard.Process(op, key, em)
		}
		if i%4096 == 4095 {
			shard.Advance(op.Time.Add(-5*time.Minute), em)
		}
		i++
	}
	for range 2 * len(ops) { // warm up: every key has state
		step()
	}
	b.ReportAllocs()
	cpu := dt.ProcessCPU()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(dt.ProcessCPU()-cpu)/float64(b.N), "cpu-ns/op")
	b.StopTimer()
	if em.n != 0 {
		b.Fatalf("normal traffic raised %d candidates", em.n)
	}
}

func BenchmarkNormalTraffic(b *testing.B) {
	for _, d := range Detectors(DefaultConfig()) {
		b.Run(d.Name(), func(b *testing.B) { benchDetector(b, d, normalTraffic(10000)) })
	}
}

// BenchmarkProcess measures Process alone (the key computed beforehand) for
// an event a detection keeps but that does not fire.
func BenchmarkProcess(b *testing.B) {
	ops := normalTraffic(8000)
	for _, d := range Detectors(DefaultConfig()) {
		if d.Name() != TypeListGetAnomaly && d.Name() != TypePutGetAnomaly {
			continue // the TI detections take no normal event
		}
		b.Run(d.Name(), func(b *testing.B) {
			keys := make([]string, len(ops))
			for i := range ops {
				keys[i], _ = d.PartitionKey(&ops[i])
			}
			shard := d.NewShard()
			em := &discard{}
			b.ReportAllocs()
			defer func() {
				if em.n != 0 {
					b.Fatalf("normal traffic raised %d candidates", em.n)
				}
			}()
			i := 0
			step := func() {
				j := i % len(ops)
				if j == 0 && i > 0 {
					// next round: move time on past everything held
					for k := range ops {
						ops[k].Time = ops[k].Time.Add(3 * time.Hour)
					}
					shard.Advance(ops[0].Time, em)
				}
				if keys[j] != "" {
					shard.Process(&ops[j], keys[j], em)
				}
				i++
			}
			for range 2 * len(ops) {
				step()
			}
			cpu := dt.ProcessCPU()
			for b.Loop() {
				step()
			}
			b.ReportMetric(float64(dt.ProcessCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// maxFuzzKey and maxFuzzState cap what FuzzRestore restores. Every input
// that widens coverage is minimized (one execution per byte removed, up to
// quadratic in its length) before fuzzing goes on; on multi-kilobyte
// states that took the whole run.
const (
	maxFuzzKey   = 64
	maxFuzzState = 1 << 10
)

// FuzzRestore: state from any bytes either fails to restore with an error
// or restores into a shard that then processes, advances and snapshots
// without panicking.
func FuzzRestore(f *testing.F) {
	dets := Detectors(DefaultConfig())
	// Seeds: real states taken mid-stream.
	streams := [][]event.Op{
		dump(0, vault, alice, torIpsum5, 12, time.Second),
		{kv(0, vault, "VaultPatch", alice, office, dt.Added(bob.ObjectID)), kv(time.Minute, vault, "SecretGet", bob, ipsum10), kv(2*time.Minute, vault, "SecretGet", bob, ipsum10)},
	}
	for di, d := range dets {
		for _, ops := range streams {
			sh := d.NewShard()
			em := &discard{}
			for i := range ops {
				if key, ok := d.PartitionKey(&ops[i]); ok {
					sh.Process(&ops[i], key, em)
				}
			}
			sh.Advance(ops[len(ops)-1].Time.Add(-30*time.Second), em)
			_ = sh.Snapshot(func(key string, state []byte) error {
				f.Add(uint8(di), key, state)
				return nil
			})
		}
	}
	f.Add(uint8(0), "K", []byte(`{"v":1,"s":{"groups":[{"summary":{"count":3}}]}}`))
	f.Add(uint8(2), "K", []byte(`{"v":1,"s":{"recent":[{}],"next":5}}`))
	f.Add(uint8(3), "K", []byte(`{"v":1,"s":{"changes":[{"readers":[null]}]}}`))
	f.Add(uint8(1), "K", []byte(`{"v":2}`))
	probe := dump(time.Hour, vault, alice, torIpsum5, 3, time.Second)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, which uint8, key string, state []byte) {
		key, state = key[:min(len(key), maxFuzzKey)], state[:min(len(state), maxFuzzState)]
		d := dets[int(which)%len(dets)]
		sh := d.NewShard()
		if err := sh.Restore(key, state); err != nil {
			return
		}
		em := &discard{}
		sh.Advance(t0.Add(30*time.Minute), em)
		for i := range probe {
			if k, ok := d.PartitionKey(&probe[i]); ok {
				sh.Process(&probe[i], k, em)
				sh.Process(&probe[i], key, em)
			}
		}
		sh.Advance(t0.Add(48*time.Hour), em)
		if err := sh.Snapshot(func(string, []byte) error { return nil }); err != nil {
			t.Fatalf("snapshot after restore: %v", err)
		}
	})
}
