package fraud

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"short history", func(c *Config) { c.HistoryDays = 1 }, "historyDays must be between 2 and 90"},
		{"weight below one", func(c *Config) { c.GPUWeight = 0.5 }, "gpuWeight must be between 1 and 100"},
		{"ratio NaN", func(c *Config) { c.VM.Ratio = 0 * c.VM.Ratio / 0 }, "vm.ratio must be between"},
		{"ML minimum", func(c *Config) { c.MachineLearning.MinCores = 0 }, "machineLearning.minCores"},
		{"burst window", func(c *Config) { c.SuspiciousCompute.Window = 0 }, "suspiciousCompute.window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	off := DefaultConfig()
	off.VM.Enabled, off.MachineLearning.Enabled, off.Batch.Enabled, off.ContainerInstances.Enabled, off.SuspiciousCompute.Enabled = false, false, false, false, false
	if len(Detectors(off)) != 0 || len(Detectors(DefaultConfig())) != 1 {
		t.Error("Detectors does not follow Enabled")
	}
}

type discard struct{ n int }

func (d *discard) Emit(alert.Candidate) { d.n++ }

// BenchmarkNormalTraffic: ordinary Activity Log traffic, one record in
// twenty a VM write of the usual size in a known region.
func BenchmarkNormalTraffic(b *testing.B) {
	ops := make([]event.Op, 20000)
	for i := range ops {
		at := t0.Add(time.Duration(i) * 3 * time.Second)
		if i%20 == 0 {
			ops[i] = vm(at, "app-"+string(rune('a'+i%26)), "Standard_D4s_v3", "westeurope")
			ops[i].StatusCode = 200
		} else {
			ops[i] = write(at, rg+"Microsoft.Web/sites/shop", "microsoft.web/sites/write", "", 200)
		}
	}
	d := Detectors(DefaultConfig())[0]
	shard := d.NewShard()
	em := &discard{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		op := &ops[i%len(ops)]
		if key, ok := d.PartitionKey(op); ok {
			shard.Process(op, key, em)
		}
		if i%4096 == 4095 {
			shard.Advance(op.Time.Add(-5*time.Minute), em)
		}
	}
}

// FuzzRestore: any bytes either fail to restore or give a shard that
// processes, advances and snapshots without panicking.
func FuzzRestore(f *testing.F) {
	d := Detectors(DefaultConfig())[0]
	ops := cat(usual()[:12], gpuFleet(at(22, 0), 8, "brazilsouth", "japaneast", "westus"))
	sh := d.NewShard()
	em := &discard{}
	for i := range ops {
		if key, ok := d.PartitionKey(&ops[i]); ok {
			sh.Process(&ops[i], key, em)
		}
	}
	sh.Advance(at(22, 10*time.Minute), em)
	_ = sh.Snapshot(func(key string, state []byte) error { f.Add(key, state); return nil })
	f.Add("k", []byte(`{"v":1,"s":{"days":[null]}}`))
	f.Add("k", []byte(`{"v":1,"s":{"days":[{"day":5,"svc":[{"units":1,"acc":[{"count":1}]}]}]}}`))
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, key string, state []byte) {
		key, state = key[:min(len(key), 256)], state[:min(len(state), 4<<10)] // larger adds nothing but slowness
		sh := d.NewShard()
		if err := sh.Restore(key, state); err != nil {
			return
		}
		em := &discard{}
		for i := range ops {
			sh.Process(&ops[i], key, em)
		}
		sh.Advance(at(400, 0), em)
		if err := sh.Snapshot(func(string, []byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
}
