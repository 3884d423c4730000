package armbehaviour

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

// normalTraffic is ordinary Activity Log traffic, every record a final
// (Succeeded) one: 500 users deploying from the office (located, so the
// travel detection reads every record), or 500 applications (whose
// records take the unbuffered path).
func normalTraffic(users bool) []event.Op {
	ops := make([]event.Op, 20000)
	for i := range ops {
		p := event.Principal{ObjectID: "00000000-0000-4000-8000-00000000" + strconv.Itoa(1000+i%500), UPN: "u" + strconv.Itoa(i%500) + "@contoso.com",
			AppID: AppAzureCLI, TenantID: tenantID, Type: event.PrincipalUser}
		if !users {
			p.UPN, p.Type = "", event.PrincipalApp
		}
		ops[i] = act(t0.Add(time.Duration(i)*3*time.Second), rg+"/providers/Microsoft.Resources/deployments/d"+strconv.Itoa(i%50),
			"Microsoft.Resources/deployments/write", p, office, officeGeo)
	}
	return ops
}

// BenchmarkNormalTraffic runs each detector the way the engine does
// (PartitionKey, then Process, the watermark moved every 4096 events).
func BenchmarkNormalTraffic(b *testing.B) {
	for _, users := range []bool{true, false} {
		who := map[bool]string{true: "users", false: "apps"}[users]
		b.Run(who, func(b *testing.B) { benchTraffic(b, normalTraffic(users)) })
	}
}

func benchTraffic(b *testing.B, ops []event.Op) {
	for _, d := range Detectors(DefaultConfig()) {
		b.Run(d.Name(), func(b *testing.B) {
			shard := d.NewShard()
			em := &discard{}
			base := ops[0].Time
			b.ReportAllocs()
			cpu := dt.ProcessCPU()
			for i := 0; b.Loop(); i++ {
				op := &ops[i%len(ops)]
				op.Time = base.Add(time.Duration(i) * 3 * time.Second)
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

// FuzzRestore: any bytes either fail to restore with an error or give a
// shard that processes, advances and snapshots without panicking.
func FuzzRestore(f *testing.F) {
	dets := Detectors(DefaultConfig())
	ops := cat(routine(rob, office, officeGeo, 0, 9, 2), listKeys(rob, office, at(9, 0), 0, 6, time.Second),
		[]event.Op{roleDef(at(9, time.Hour), "11111111-1b4d-4e6f-8a0b-2c3d4e5f6a7b", `"*"`, rob),
			act(at(9, 2*time.Hour), storage(1), "Microsoft.Storage/storageAccounts/listKeys/action", rob, brazil, brazilGeo)})
	for di, d := range dets {
		sh := d.NewShard()
		em := &discard{}
		for i := range ops {
			if key, ok := d.PartitionKey(&ops[i]); ok {
				sh.Process(&ops[i], key, em)
			}
		}
		sh.Advance(at(9, 90*time.Minute), em)
		_ = sh.Snapshot(func(key string, state []byte) error {
			f.Add(uint8(di), key, state)
			return nil
		})
	}
	f.Add(uint8(0), "k", []byte(`{"v":1,"s":{"sweeps":[null]}}`))
	f.Add(uint8(1), "k", []byte(`{"v":1,"s":{"users":{"a":null}}}`))
	f.Add(uint8(2), "k", []byte(`{"v":1,"s":{"tracked":[null]}}`))
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
			if k, ok := d.PartitionKey(&ops[i]); ok && k == key {
				sh.Process(&ops[i], key, em)
			}
		}
		sh.Advance(at(300, 0), em)
		if err := sh.Snapshot(func(string, []byte) error { return nil }); err != nil {
			t.Fatalf("snapshot after restore: %v", err)
		}
	})
}
