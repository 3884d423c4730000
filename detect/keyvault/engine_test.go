package keyvault

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// TestEngine runs all four detections in the real engine, in batches and on
// several workers, and expects what the harness gives one event at a time.
func TestEngine(t *testing.T) {
	var ops []event.Op
	ops = append(ops, dump(0, vault, alice, torIpsum5, 12, 2*time.Second)...)
	ops = append(ops, kv(time.Minute, vault2, "VaultPatch", bob, office, dt.Added(app.ObjectID)))
	for i := range 8 {
		ops = append(ops, kv(time.Minute+time.Duration(i+1)*20*time.Second, vault2, "KeyDecrypt", app, ipsum10))
		ops = append(ops, kv(time.Minute+time.Duration(i+1)*20*time.Second, vault, "SecretGet", bob, office))
	}
	sortByTime(ops)
	dt.Number("keyvault.json", ops)

	var want []alert.Candidate
	for _, d := range Detectors(DefaultConfig()) {
		want = append(want, dt.Run(d, 5*time.Minute, ops)...)
	}
	types := map[string]int{}
	for _, c := range want {
		types[c.Type]++
	}
	if len(types) != 4 {
		t.Fatalf("harness: candidates of %d types, want all 4: %v", len(types), types)
	}
	for _, workers := range []int{1, 3} {
		e := detect.New(Detectors(DefaultConfig()), detect.Options{Workers: workers, Lateness: 5 * time.Minute})
		var got []alert.Candidate
		for i := 0; i < len(ops); i += 7 {
			got = append(got, e.Process(ops[i:min(i+7, len(ops))])...)
		}
		got = append(got, e.Flush()...)
		e.Close()
		sortCandidates(got)
		sortCandidates(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d workers: %d candidates differ from the harness's %d", workers, len(got), len(want))
		}
	}
}

func sortCandidates(cs []alert.Candidate) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && dt.Compare(cs[j], cs[j-1]) < 0; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}
