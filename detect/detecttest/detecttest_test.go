package detecttest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// counter is a minimal detector: it counts the operations of each vault and
// emits one candidate per vault when the watermark passes its last one.
// keep=true makes it keep the event's AddedAccessPolicy slice (a bug the
// harness must expose).
type counter struct{ keep bool }

func (c counter) Name() string                             { return "test" }
func (c counter) Consumes(k event.Kind) bool               { return k == event.KindKeyVault }
func (c counter) PartitionKey(op *event.Op) (string, bool) { return op.ResourceID, op.ResourceID != "" }
func (c counter) NewShard() detect.Shard                   { return &counterShard{keep: c.keep, n: map[string]*count{}} }

type count struct {
	N     int       `json:"n"`
	Last  time.Time `json:"last"`
	Added []string  `json:"added"`
}

type counterShard struct {
	keep bool
	n    map[string]*count
}

func (s *counterShard) Process(op *event.Op, key string, _ detect.Emitter) {
	c := s.n[key]
	if c == nil {
		c = &count{}
		s.n[key] = c
	}
	c.N++
	c.Last = op.Time
	switch {
	case len(op.AddedAccessPolicy) == 0:
	case s.keep:
		c.Added = op.AddedAccessPolicy
	default:
		c.Added = slices.Clone(op.AddedAccessPolicy)
	}
}

func (s *counterShard) Advance(wm time.Time, emit detect.Emitter) {
	for k, c := range s.n {
		if c.Last.Before(wm) {
			emit.Emit(alert.Candidate{Type: "test", Time: c.Last, First: c.Last, Last: c.Last, Resource: k,
				Count: c.N, FingerprintKeys: []string{k}, Details: map[string]string{"added": strings.Join(c.Added, ",")}})
			delete(s.n, k)
		}
	}
}

func (s *counterShard) Snapshot(save func(string, []byte) error) error {
	for k, c := range s.n {
		b, _ := json.Marshal(c)
		if err := save(k, b); err != nil {
			return err
		}
	}
	return nil
}

func (s *counterShard) Restore(key string, state []byte) error {
	var c count
	if err := json.Unmarshal(state, &c); err != nil {
		return err
	}
	s.n[key] = &c
	return nil
}

var (
	t0 = time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC)
	v1 = Vault{Subscription: "a921d5d4-bdb7-43c3-aa01-88c6ae24992f", ResourceGroup: "finance", Name: "salary"}
	v2 = Vault{Subscription: "a921d5d4-bdb7-43c3-aa01-88c6ae24992f", ResourceGroup: "finance", Name: "audits"}
)

func TestHarness(t *testing.T) {
	ops := []event.Op{
		KV(t0, v1, "SecretGet", Added("a")),
		KV(t0.Add(time.Minute), v2, "SecretGet"),
		Activity(t0.Add(2*time.Minute), v1.ARMID(), "Microsoft.KeyVault/vaults/write"), // not consumed
		KV(t0.Add(10*time.Minute), v1, "SecretList"),
	}
	tests := []struct {
		name      string
		keep      bool
		lateness  time.Duration
		wantAdded string
		wantN     []int // counts in candidate order
	}{
		{"no lateness", false, 0, "a", []int{1, 1, 1}},
		{"lateness holds windows open", false, 15 * time.Minute, "a", []int{1, 2}},
		{"kept slice is clobbered", true, 15 * time.Minute, "clobbered-by-detecttest", []int{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(counter{keep: tc.keep}, tc.lateness)
			h.Feed(ops...)
			h.Flush()
			got := h.Candidates()
			if h.Routed != 3 {
				t.Errorf("routed %d, want 3", h.Routed)
			}
			var n []int
			for _, c := range got {
				n = append(n, c.Count)
			}
			if !slices.Equal(n, tc.wantN) {
				t.Fatalf("counts %v, want %v", n, tc.wantN)
			}
			if a := got[len(got)-1].Details["added"]; tc.lateness > 0 && a != tc.wantAdded {
				t.Errorf("added %q, want %q", a, tc.wantAdded)
			}
		})
	}
}

func TestRunReload(t *testing.T) {
	ops := []event.Op{KV(t0, v1, "SecretGet"), KV(t0.Add(time.Minute), v1, "SecretGet"), KV(t0.Add(2*time.Minute), v2, "SecretGet")}
	want := Run(counter{}, time.Hour, ops)
	for at := range len(ops) + 1 {
		got, err := RunReload(counter{}, time.Hour, ops, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || got[0].Count != 2 || got[1].Count != 1 {
			t.Errorf("reload at %d: %d candidates (first count %d), want %d", at, len(got), got[0].Count, len(want))
		}
	}
}

func TestCompareOrder(t *testing.T) {
	a := alert.Candidate{Type: "B", Time: t0}
	b := alert.Candidate{Type: "A", Time: t0.Add(time.Second)}
	c := alert.Candidate{Type: "A", Time: t0}
	got := []alert.Candidate{a, b, c}
	slices.SortFunc(got, Compare)
	if got[0].Type != "A" || got[1].Type != "B" || !got[2].Time.Equal(t0.Add(time.Second)) {
		t.Errorf("order %+v", got)
	}
}

func TestBuilder(t *testing.T) {
	op := KV(t0, v1, "SecretGet", Status(403), From("185.220.101.13", event.Geo{Country: "DE"}, TorHit()))
	if op.ResourceID != "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/FINANCE/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SALARY" {
		t.Errorf("resource ID %s", op.ResourceID)
	}
	if !op.Failed() || op.ResultSignature != "Forbidden" || !op.CallerIP.IsValid() || !op.Intel.Has("tor") {
		t.Errorf("op %+v", op)
	}
	red := KV(t0, v1, "SecretGet", From("<Redacted>", event.Geo{}))
	if red.CallerIP.IsValid() || red.CallerIPText != "<Redacted>" {
		t.Errorf("redacted address parsed: %+v", red.CallerIP)
	}
	a := Activity(t0, v1.ARMID(), "Microsoft.KeyVault/vaults/write")
	if a.SubscriptionID != v1.Subscription || a.ResourceName != "salary" || a.Kind != event.KindActivity {
		t.Errorf("activity %+v", a)
	}
}

func TestIntel(t *testing.T) {
	in := Intel{}
	list := "# header\n\n185.220.101.13\t5\n2001:0470:0001:0908:0000:0000:0000:9001\n"
	if err := in.Add(strings.NewReader(list), "x", IpsumHit(0)); err != nil {
		t.Fatal(err)
	}
	if h := in.Lookup("185.220.101.13"); len(h) != 1 || h[0].Score != 5 {
		t.Errorf("hits %+v", h)
	}
	if h := in.Lookup("2001:470:1:908::9001"); len(h) != 1 || h[0].Score != 0 {
		t.Errorf("IPv6 hits %+v", h)
	}
	for _, bad := range []string{"300.1.1.1\n", "1.2.3.4 many\n"} {
		if err := (Intel{}).Add(strings.NewReader(bad), "bad", TorHit()); err == nil || !strings.HasPrefix(err.Error(), "bad:1") {
			t.Errorf("%q: error %v, want one naming bad:1", bad, err)
		}
	}
}

func FuzzIntelAdd(f *testing.F) {
	f.Add("# c\n1.2.3.4\t3\n")
	f.Add("::1\n\n 10.0.0.1 2 extra\n")
	f.Add("1.2.3.4 -1\n")
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, s string) {
		in := Intel{}
		if err := in.Add(strings.NewReader(s), "fuzz", TorHit()); err != nil {
			return
		}
		for a, hits := range in {
			if !a.IsValid() || len(hits) == 0 {
				t.Fatalf("bad entry %v %v", a, hits)
			}
		}
	})
}
