package kvbehaviour

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// scenario is two weeks of the estate with one of every detection in it.
func scenario() []event.Op {
	dave := user("dave", appCLI)
	intruder := app("intruder")
	extra := []event.Op{
		kv(day(9, 10, 30), vaultA, "SecretList", dave, "145.53.212.20", officeGeo),
		kv(day(9, 10, 40), vaultA, "SecretGet", dave, "145.53.212.20", officeGeo),
		kv(day(10, 15, 0), vaultB, "SecretGet", intruder, "20.76.48.24", azureGeo, dt.Status(403)),
		kv(day(10, 15, 2), vaultB, "SecretGet", intruder, "20.76.48.24", azureGeo),
		// alice through the payroll service's application (on behalf of her).
		kv(day(10, 17, 0), vaultA, "SecretGet", user("alice", svcA.AppID), "145.53.212.10", officeGeo),
	}
	extra = append(extra, sequence(day(11, 16, 0), vaultA, svcA, "20.61.14.7", azureGeo, "SecretList", "SecretBackup", "SecretPurge")...)
	extra = append(extra, burst(day(12, 3, 0), vaultA, svcA, "20.61.14.7", 1500)...)
	extra = append(extra, sweep(day(12, 13, 0), carol, "145.53.212.12", officeGeo, "SecretList",
		append([]dt.Vault{vaultA, vaultC}, otherVaults(6)...)...)...)
	return withOps(estate(14), extra...)
}

// TestReload: a snapshot and restore into a fresh shard anywhere in the
// stream, as a restart does, gives the candidates of the run without it.
func TestReload(t *testing.T) {
	ops := scenario()
	dt.Number("keyvault.json", ops)
	at := []int{1, len(ops) / 3, len(ops) / 2, len(ops) - 1}
	// Inside the open windows: after dave's first operation, inside the
	// burst's hour, in the middle of the sweep.
	for i := range ops {
		switch {
		case ops[i].Time.Equal(day(9, 10, 30)), ops[i].Time.Equal(day(12, 3, 30)), ops[i].Time.Equal(day(12, 13, 3)):
			at = append(at, i+1)
		}
	}
	for _, d := range Detectors(DefaultConfig()) {
		want := dt.Run(d, 5*time.Minute, ops)
		if len(want) == 0 {
			t.Fatalf("%s: the reference run emits nothing; the round trip would prove little", d.Name())
		}
		for _, n := range at {
			got, err := dt.RunReload(d, 5*time.Minute, ops, n)
			if err != nil {
				t.Fatalf("%s: reload at %d: %v", d.Name(), n, err)
			}
			sameCandidates(t, d.Name()+" reloaded after "+strconv.Itoa(n)+" events", got, want)
		}
	}
}

// TestSnapshotStable: a restored shard snapshots to the same bytes.
func TestSnapshotStable(t *testing.T) {
	ops := scenario()
	dt.Number("keyvault.json", ops)
	for _, d := range Detectors(DefaultConfig()) {
		sh := d.NewShard()
		h := &collect{}
		for i := range ops[:len(ops)*2/3] {
			if k, ok := d.PartitionKey(&ops[i]); ok {
				sh.Process(&ops[i], k, h)
			}
		}
		sh.Advance(ops[len(ops)*2/3].Time.Add(-5*time.Minute), h)
		first := snapshot(t, sh)
		again := d.NewShard()
		for k, state := range first {
			if err := again.Restore(k, state); err != nil {
				t.Fatalf("%s: restore %s: %v", d.Name(), k, err)
			}
		}
		second := snapshot(t, again)
		if len(first) != len(second) {
			t.Fatalf("%s: %d keys, then %d", d.Name(), len(first), len(second))
		}
		for k := range first {
			if !bytes.Equal(first[k], second[k]) {
				t.Errorf("%s key %s: the restored state snapshots differently", d.Name(), k)
			}
		}
	}
}

type collect struct{ out []alert.Candidate }

func (c *collect) Emit(cand alert.Candidate) { c.out = append(c.out, cand) }

func snapshot(t *testing.T, sh detect.Shard) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := sh.Snapshot(func(k string, state []byte) error {
		out[k] = slices.Clone(state)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEngine runs both detectors in the real engine, in batches and on
// several workers, and expects what the harness gives; and the same input
// delivered out of order within the lateness gives the same.
func TestEngine(t *testing.T) {
	ops := scenario()
	dt.Number("keyvault.json", ops)
	var want []alert.Candidate
	for _, d := range Detectors(DefaultConfig()) {
		want = append(want, dt.Run(d, 5*time.Minute, ops)...)
	}
	slices.SortStableFunc(want, dt.Compare)
	types := map[string]bool{}
	for _, c := range want {
		types[c.Type] = true
	}
	if len(types) != 6 {
		t.Fatalf("the scenario raises %d types, want all 6: %v", len(types), types)
	}
	shuffled := shuffleWithin(ops, 4*time.Minute, 9)
	for _, tc := range []struct {
		name    string
		workers int
		ops     []event.Op
	}{{"1 worker", 1, ops}, {"3 workers", 3, ops}, {"3 workers, out of order", 3, shuffled}} {
		e := detect.New(Detectors(DefaultConfig()), detect.Options{Workers: tc.workers, Lateness: 5 * time.Minute})
		var got []alert.Candidate
		for i := 0; i < len(tc.ops); i += 1000 {
			got = append(got, e.Process(tc.ops[i:min(i+1000, len(tc.ops))])...)
		}
		got = append(got, e.Flush()...)
		e.Close()
		slices.SortStableFunc(got, dt.Compare)
		sameCandidates(t, tc.name, got, want)
	}
}

// shuffleWithin reorders ops so that none arrives more than d of event
// time after a later one, deterministically.
func shuffleWithin(ops []event.Op, d time.Duration, seed uint64) []event.Op {
	out := slices.Clone(ops)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range out {
		j := i + r.IntN(8)
		if j < len(out) && out[j].Time.Sub(out[i].Time) < d {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}
