package keyvault

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// TestEngine runs all four detections in the real engine, in batches and on
// several workers, and expects what the harness gives one event at a time.
// fourFindings is traffic with a finding of each of the four detections:
// a dump from a Tor exit that is also blocklisted, and an access-policy
// change followed by reads from a blocklisted address.
func fourFindings() []event.Op {
	var ops []event.Op
	ops = append(ops, dump(0, vault, alice, torIpsum5, 12, 2*time.Second)...)
	ops = append(ops, kv(time.Minute, vault2, "VaultPatch", bob, office, dt.Added(app.ObjectID)))
	for i := range 8 {
		ops = append(ops, kv(time.Minute+time.Duration(i+1)*20*time.Second, vault2, "KeyDecrypt", app, ipsum10))
		ops = append(ops, kv(time.Minute+time.Duration(i+1)*20*time.Second, vault, "SecretGet", bob, office))
	}
	return ops
}

func TestEngine(t *testing.T) {
	ops := fourFindings()
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

// TestEngineEmitsEarly: with Early on, each of the four detections
// announces its finding in an earlier batch than the in-order pass, which
// waits for the watermark, emits it; the early candidate has the in-order
// one's fingerprint (so the alert manager confirms the same alert), and the
// in-order candidates are exactly those of an engine without Early.
func TestEngineEmitsEarly(t *testing.T) {
	ops := fourFindings()
	// Later traffic moves the watermark past everything above.
	ops = append(ops, kv(20*time.Minute, vault, "SecretGet", bob, office))
	sortByTime(ops)
	dt.Number("keyvault.json", ops)

	run := func(early bool) (inOrder []alert.Candidate, firstEarly, firstInOrder map[string]int) {
		e := detect.New(Detectors(DefaultConfig()), detect.Options{Workers: 2, Lateness: 5 * time.Minute, Early: early})
		defer e.Close()
		firstEarly, firstInOrder = map[string]int{}, map[string]int{}
		batch := 0
		note := func(cs []alert.Candidate) {
			for _, c := range cs {
				fp := alert.Fingerprint(&c)
				seen := firstInOrder
				if c.Early {
					seen = firstEarly
				} else {
					inOrder = append(inOrder, c)
				}
				if _, ok := seen[c.Type+"|"+fp]; !ok {
					seen[c.Type+"|"+fp] = batch
				}
			}
		}
		for i := 0; i < len(ops); i += 5 {
			note(e.Process(ops[i:min(i+5, len(ops))]))
			batch++
		}
		note(e.Flush())
		return inOrder, firstEarly, firstInOrder
	}
	want, none, _ := run(false)
	got, early, inOrder := run(true)
	sortCandidates(got)
	sortCandidates(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("in-order candidates with Early: %d, without: %d, or they differ", len(got), len(want))
	}
	if len(none) != 0 {
		t.Errorf("early candidates without Early: %v", none)
	}
	types := map[string]bool{}
	for key, b := range early {
		in, ok := inOrder[key]
		if !ok {
			t.Errorf("early %s has no in-order candidate with its fingerprint", key)
			continue
		}
		if b >= in {
			t.Errorf("%s: early in batch %d, in order in batch %d: not earlier", key, b, in)
		}
		types[key[:strings.IndexByte(key, '|')]] = true
	}
	for _, typ := range []string{TypeTORAccess, TypeSuspiciousIPAccess, TypeListGetAnomaly, TypePutGetAnomaly} {
		if !types[typ] {
			t.Errorf("%s was not announced early (early: %v)", typ, early)
		}
	}
}
