package detecttest

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// flowCount emits a candidate for every min-th flow to one destination,
// keeping (wrongly, if keep) the flow's Rule string as evidence.
type flowCount struct {
	min  int
	keep bool
}

func (d flowCount) Name() string                          { return "flow-count" }
func (d flowCount) Consumes(k event.Kind) bool            { return k == event.KindFlow }
func (d flowCount) PartitionKey(*event.Op) (string, bool) { return "", false }
func (d flowCount) FlowKey(f *event.Flow) (uint64, bool) {
	b := f.DstAddr.As16()
	return uint64(b[15]) | uint64(b[14])<<8, f.DstAddr.IsValid()
}
func (d flowCount) NewShard() detect.Shard { return &flowCountShard{d: d, n: map[uint64]int{}} }

type flowCountShard struct {
	d    flowCount
	n    map[uint64]int
	rule map[uint64]*event.Flow
}

func (s *flowCountShard) Process(*event.Op, string, detect.Emitter) {}
func (s *flowCountShard) ProcessFlow(f *event.Flow, key uint64, emit detect.Emitter) {
	s.n[key]++
	op := "flow"
	if s.d.keep {
		if s.rule == nil {
			s.rule = map[uint64]*event.Flow{}
		}
		if s.rule[key] == nil {
			s.rule[key] = f // retained: the harness must show it
		}
		op = s.rule[key].Rule
	}
	if s.n[key]%s.d.min == 0 {
		emit.Emit(alert.Candidate{Type: "T", Time: f.End, First: f.End, Last: f.End, Count: 1, Resource: "r",
			FingerprintKeys: []string{strconv.FormatUint(key, 10)},
			Evidence:        []alert.Evidence{{Time: f.End, Operation: op}}})
	}
}
func (s *flowCountShard) Advance(wm time.Time, emit detect.Emitter) {
	for k, f := range s.rule { // the retained flow, read between calls
		emit.Emit(alert.Candidate{Type: "K", Time: wm, First: wm, Last: wm, Count: 1, Resource: "r",
			FingerprintKeys: []string{strconv.FormatUint(k, 10)}, Evidence: []alert.Evidence{{Time: wm, Operation: f.Rule}}})
		delete(s.rule, k)
	}
}
func (s *flowCountShard) Snapshot(save func(string, []byte) error) error {
	for k, n := range s.n {
		b, _ := json.Marshal(n)
		if err := save(strconv.FormatUint(k, 10), b); err != nil {
			return err
		}
	}
	return nil
}
func (s *flowCountShard) Restore(key string, state []byte) error {
	k, err := strconv.ParseUint(key, 10, 64)
	if err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	var n int
	if err := json.Unmarshal(state, &n); err != nil {
		return err
	}
	s.n[k] = n
	return nil
}

func TestFlowHarness(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	var flows []event.Flow
	for i := range 10 {
		f := TCP(t0.Add(time.Duration(i)*time.Second), "203.0.113.7:40000", "198.51.100.4:22", SYN, Size(1, 60), Sampled(100))
		f.Rule = "rule-a"
		flows = append(flows, f)
	}
	got := RunFlows(flowCount{min: 3}, time.Minute, flows)
	if len(got) != 3 || !got[2].Time.Equal(t0.Add(8*time.Second)) {
		t.Fatalf("%d candidates, want 3 (every third flow)", len(got))
	}
	h := NewFlow(flowCount{min: 3}, time.Minute)
	h.Feed(flows[:5]...)
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	h.Feed(flows[5:]...)
	if c := h.Candidates(); len(c) != 3 || h.Routed != 10 {
		t.Errorf("after a reload: %d candidates, %d routed", len(c), h.Routed)
	}
	if h.Watermark().IsZero() || !h.Watermark().Equal(t0.Add(9*time.Second-time.Minute)) {
		t.Errorf("watermark %s", h.Watermark())
	}
	// A detector that keeps the flow it was handed sees it clobbered.
	var clobbered bool
	for _, c := range RunFlows(flowCount{min: 3, keep: true}, time.Minute, flows) {
		clobbered = clobbered || (c.Type == "K" && c.Evidence[0].Operation == "clobbered")
	}
	if !clobbered {
		t.Error("a flow retained between calls was not clobbered")
	}
	f := flows[0]
	if f.Protocol != 6 || f.TCPFlags != SYN || f.SamplingRate != 100 || f.Packets != 1 || f.SrcPort != 40000 || !f.Start.Equal(t0.Add(-time.Second)) {
		t.Errorf("built flow %+v", f)
	}
	if l := Flow(t0, 17, "192.0.2.1:53", "192.0.2.2:5353", Lasting(time.Minute), RemoteGeo(event.Geo{Country: "NL"})); !l.Start.Equal(t0.Add(-time.Minute)) || l.Geo.Country != "NL" {
		t.Errorf("built flow %+v", l)
	}
}

func TestAssets(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	a := &Assets{}
	a.Hold("198.51.100.4", "/subscriptions/AAAA/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/a", time.Time{}, t0)
	a.Hold("198.51.100.4", "/subscriptions/bbbb/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/b", t0, time.Time{})
	tests := []struct {
		addr     string
		at       time.Time
		res, sub string
		ok       bool
	}{
		{"198.51.100.4", t0.Add(-time.Hour), "/subscriptions/AAAA/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/a", "aaaa", true},
		{"::ffff:198.51.100.4", t0, "/subscriptions/bbbb/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/b", "bbbb", true},
		{"198.51.100.5", t0, "", "", false},
	}
	for _, tc := range tests {
		res, sub, ok := a.Attribute(netip.MustParseAddr(tc.addr), tc.at)
		if res != tc.res || sub != tc.sub || ok != tc.ok {
			t.Errorf("Attribute(%s, %s) = %q %q %v", tc.addr, tc.at, res, sub, ok)
		}
	}
	in := Intel{}
	in[netip.MustParseAddr("192.0.2.1")] = []event.IntelHit{IpsumHit(3)}
	if hits := AddrIntel(in).Lookup(netip.MustParseAddr("::ffff:192.0.2.1")); len(hits) != 1 || hits[0].Score != 3 {
		t.Errorf("AddrIntel lookup %v", hits)
	}
}
