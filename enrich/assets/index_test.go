package assets

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

var t0 = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

// h returns t0 plus a duration in hours (fractions allowed).
func h(x float64) time.Time { return t0.Add(time.Duration(x * float64(time.Hour))) }

func TestIntervals(t *testing.T) {
	type add struct {
		id       string
		from, to float64 // hours after t0; -1: open
	}
	type probe struct {
		at       float64
		want     string // At
		wantHour string // HeldDuringHour
	}
	tests := []struct {
		name   string
		adds   []add
		probes []probe
	}{
		{"closed", []add{{"a", 1, 3}}, []probe{
			{0.5, "", ""}, {0.99, "", ""}, {1, "a", "a"}, {1.01, "a", "a"}, {2.99, "a", "a"}, {3, "", ""}, {3.5, "", ""}}},
		{"open start", []add{{"a", -1, 2}}, []probe{{-1000, "a", "a"}, {1.9, "a", "a"}, {2, "", ""}}},
		{"open end", []add{{"a", 2.5, -1}}, []probe{{1.99, "", ""}, {2, "", "a"}, {2.49, "", "a"}, {2.5, "a", "a"}, {1e5, "a", "a"}}},
		{"always", []add{{"a", -1, -1}}, []probe{{-1e5, "a", "a"}, {1e5, "a", "a"}}},
		{"adjacent: the later from its start", []add{{"a", 1, 2}, {"b", 2, 3}}, []probe{
			{1.99, "a", "a"}, {2, "b", "b"}, {2.5, "b", "b"}, {3, "", ""}}},
		{"adjacent mid-hour: the hour names the holder at t, else the latest start",
			[]add{{"a", 1, 1.5}, {"b", 1.5, 1.75}}, []probe{
				{1.25, "a", "a"}, {1.6, "b", "b"}, {1.8, "", "b"}, {0.5, "", ""}}},
		{"overlap: latest start wins", []add{{"a", 1, 5}, {"b", 2, 3}}, []probe{
			{1.5, "a", "a"}, {2, "b", "b"}, {2.9, "b", "b"}, {3, "a", "a"}, {4.99, "a", "a"}, {5, "", ""}}},
		{"overlap added in the other order", []add{{"b", 2, 3}, {"a", 1, 5}}, []probe{
			{1.5, "a", "a"}, {2.5, "b", "b"}, {3.5, "a", "a"}}},
		{"open holder replaced by a newer open one", []add{{"a", 1, -1}, {"b", 4, -1}}, []probe{
			{3.9, "a", "a"}, {4, "b", "b"}, {100, "b", "b"}}},
		{"same start: added later wins", []add{{"a", 1, 3}, {"b", 1, 2}}, []probe{
			{1.5, "b", "b"}, {2.5, "a", "a"}}},
		{"reassigned many times, gaps", []add{{"a", 1, 2}, {"b", 3, 4}, {"c", 5, 6}, {"d", 7, 8}}, []probe{
			{2.5, "", ""}, {3.5, "b", "b"}, {4.5, "", ""}, {6.99, "", ""}, {7.5, "d", "d"}, {9, "", ""}}},
		{"long old interval still covers", []add{{"a", 0, 100}, {"b", 1, 2}, {"c", 3, 4}}, []probe{
			{2.5, "a", "a"}, {3.5, "c", "c"}, {50, "a", "a"}, {100, "", ""}}},
		{"hour before the first start", []add{{"a", 10.75, 11}}, []probe{
			{10.1, "", "a"}, {9.99, "", ""}}},
	}
	addr := netip.MustParseAddr("10.0.0.7")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := New()
			for _, a := range tc.adds {
				var from, to time.Time
				if a.from >= 0 {
					from = h(a.from)
				}
				if a.to >= 0 {
					to = h(a.to)
				}
				if err := x.Add(addr, Resource{ID: a.id, Subscription: "s"}, from, to); err != nil {
					t.Fatal(err)
				}
			}
			for _, p := range tc.probes {
				r, ok := x.At(addr, h(p.at))
				if ok != (p.want != "") || r.ID != p.want {
					t.Errorf("At(%vh) = %q %v, want %q", p.at, r.ID, ok, p.want)
				}
				r, ok = x.HeldDuringHour(addr, h(p.at))
				if ok != (p.wantHour != "") || r.ID != p.wantHour {
					t.Errorf("HeldDuringHour(%vh) = %q %v, want %q", p.at, r.ID, ok, p.wantHour)
				}
			}
			if _, ok := x.At(netip.MustParseAddr("10.0.0.8"), h(2)); ok {
				t.Error("another address is held")
			}
		})
	}
}

func TestAddErrors(t *testing.T) {
	x := New()
	r := Resource{ID: "a", Subscription: "s"}
	for name, err := range map[string]error{
		"invalid address": x.Add(netip.Addr{}, r, time.Time{}, time.Time{}),
		"zone":            x.Add(netip.MustParseAddr("fe80::1%eth0"), r, time.Time{}, time.Time{}),
		"no resource":     x.Add(netip.MustParseAddr("10.0.0.1"), Resource{}, time.Time{}, time.Time{}),
		"empty":           x.Add(netip.MustParseAddr("10.0.0.1"), r, h(1), h(1)),
		"backwards":       x.Add(netip.MustParseAddr("10.0.0.1"), r, h(2), h(1)),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if st := x.Stats(); st.Intervals != 0 || st.Addresses != 0 {
		t.Errorf("stats after errors %+v", st)
	}
}

// TestMappedAndFamilies checks that an IPv4 address and its IPv4-mapped
// IPv6 form are one address, and IPv6 works.
func TestMappedAndFamilies(t *testing.T) {
	x := New()
	must(t, x.Add(netip.MustParseAddr("::ffff:192.0.2.1"), Resource{ID: "a"}, time.Time{}, time.Time{}))
	must(t, x.Add(netip.MustParseAddr("2001:db8::1"), Resource{ID: "b"}, time.Time{}, time.Time{}))
	for a, want := range map[string]string{"192.0.2.1": "a", "::ffff:192.0.2.1": "a", "2001:db8::1": "b", "2001:db8::2": ""} {
		r, _ := x.At(netip.MustParseAddr(a), h(1))
		if r.ID != want {
			t.Errorf("At(%s) = %q, want %q", a, r.ID, want)
		}
	}
	var nilIndex *Index
	if _, ok := nilIndex.HeldDuringHour(netip.MustParseAddr("192.0.2.1"), h(1)); ok {
		t.Error("nil index holds an address")
	}
	if _, ok := x.At(netip.Addr{}, h(1)); ok {
		t.Error("zero address held")
	}
}

func TestOurs(t *testing.T) {
	x := New()
	must(t, x.Add(netip.MustParseAddr("10.0.0.4"), Resource{ID: "vm"}, h(1), h(2)))
	must(t, x.Add(netip.MustParseAddr("10.0.0.5"), Resource{ID: "vm5"}, h(1), h(2)))
	tests := []struct {
		src, dst string
		dir      event.Direction
		at       float64
		want     string // address of ours, "" for none
	}{
		{"10.0.0.4", "203.0.113.9", event.DirectionEgress, 1.5, "10.0.0.4"},
		{"203.0.113.9", "10.0.0.4", event.DirectionIngress, 1.5, "10.0.0.4"},
		{"203.0.113.9", "10.0.0.4", event.DirectionUnknown, 1.5, "10.0.0.4"},
		{"10.0.0.4", "10.0.0.5", event.DirectionIngress, 1.5, "10.0.0.5"},
		{"10.0.0.4", "10.0.0.5", event.DirectionEgress, 1.5, "10.0.0.4"},
		{"10.0.0.4", "203.0.113.9", event.DirectionEgress, 2.5, ""},
		{"198.51.100.1", "203.0.113.9", event.DirectionEgress, 1.5, ""},
	}
	for _, tc := range tests {
		f := event.Flow{SrcAddr: netip.MustParseAddr(tc.src), DstAddr: netip.MustParseAddr(tc.dst), Direction: tc.dir, Start: h(tc.at), End: h(tc.at)}
		a, r, ok := x.Ours(&f)
		if ok != (tc.want != "") || ok && a.String() != tc.want || ok && r.ID == "" {
			t.Errorf("Ours(%s->%s %v at %vh) = %v %q %v, want %q", tc.src, tc.dst, tc.dir, tc.at, a, r.ID, ok, tc.want)
		}
	}
}

// oracle is a list of intervals answered by brute force with the
// documented rule: latest start wins, then the one added last.
type oracle []struct {
	addr     netip.Addr
	from, to int64
	id       string
}

func (o oracle) holder(a netip.Addr, lo, hi int64) string {
	best, bestFrom := "", int64(0)
	for _, iv := range o {
		if iv.addr == a && iv.from <= hi && iv.to > lo && (best == "" || iv.from >= bestFrom) {
			best, bestFrom = iv.id, iv.from
		}
	}
	return best
}

// TestRandomAgainstOracle adds random intervals to a few addresses (so
// lists move and grow in the shared array) and compares look-ups with
// brute force.
func TestRandomAgainstOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := New()
	var o oracle
	addrs := make([]netip.Addr, 40)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)})
	}
	for i := range 3000 {
		a := addrs[rng.IntN(len(addrs))]
		from := int64(rng.IntN(200))
		to := from + 1 + int64(rng.IntN(30))
		fromT, toT := h(float64(from)), h(float64(to))
		if rng.IntN(10) == 0 {
			fromT, from = time.Time{}, openFrom
		}
		if rng.IntN(10) == 0 {
			toT, to = time.Time{}, openTo
		}
		id := fmt.Sprintf("r%d", i)
		must(t, x.Add(a, Resource{ID: id}, fromT, toT))
		hours := func(v int64) int64 {
			if v == openFrom || v == openTo {
				return v
			}
			return h(float64(v)).UnixNano()
		}
		o = append(o, struct {
			addr     netip.Addr
			from, to int64
			id       string
		}{a, hours(from), hours(to), id})
		if i%100 != 0 {
			continue
		}
		for range 200 {
			a := addrs[rng.IntN(len(addrs))]
			at := h(float64(rng.IntN(240*4)) / 4)
			r, _ := x.At(a, at)
			if want := o.holder(a, at.UnixNano(), at.UnixNano()); r.ID != want {
				t.Fatalf("after %d adds: At(%v, %v) = %q, want %q", i+1, a, at, r.ID, want)
			}
			r, _ = x.HeldDuringHour(a, at)
			want := o.holder(a, at.UnixNano(), at.UnixNano())
			if want == "" {
				h0 := at.Truncate(time.Hour)
				want = o.holder(a, h0.UnixNano(), h0.Add(time.Hour).UnixNano()-1)
			}
			if r.ID != want {
				t.Fatalf("after %d adds: HeldDuringHour(%v, %v) = %q, want %q", i+1, a, at, r.ID, want)
			}
		}
	}
	if st := x.Stats(); st.Intervals != 3000 || st.Addresses != len(addrs) {
		t.Errorf("stats %+v", st)
	}
}

// TestCompact moves lists around the shared array until it is compacted
// and checks nothing is lost.
func TestCompact(t *testing.T) {
	x := New()
	const n, rounds = 40000, 6
	for round := range rounds {
		for i := range n {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			must(t, x.Add(a, Resource{ID: fmt.Sprint(round)}, h(float64(round)), h(float64(round+1))))
		}
		if x.dead > 1<<16 && x.dead > x.stats.Intervals {
			t.Fatalf("round %d: %d dead slots for %d intervals", round, x.dead, x.stats.Intervals)
		}

	}
	check := func() {
		t.Helper()
		for i := 0; i < n; i += 997 {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			for round := range rounds {
				if r, ok := x.At(a, h(float64(round)+0.5)); !ok || r.ID != fmt.Sprint(round) {
					t.Fatalf("At(%v, round %d) = %+v %v", a, round, r, ok)
				}
			}
		}
	}
	check()
	// Without compaction each address would have used lists of 1, 2, 4
	// and 8 slots.
	if len(x.ivs) >= 15*n {
		t.Errorf("%d slots: never compacted", len(x.ivs))
	}
	x.mu.Lock()
	x.compact()
	x.mu.Unlock()
	if len(x.ivs) != n*rounds || x.dead != 0 {
		t.Errorf("after compact: %d slots, %d dead, want %d, 0", len(x.ivs), x.dead, n*rounds)
	}
	check()
}

// TestConcurrent reads while learning; run with -race.
func TestConcurrent(t *testing.T) {
	x := New()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
				if g == 0 {
					must(t, x.Add(a, Resource{ID: "r"}, h(1), time.Time{}))
				} else {
					x.HeldDuringHour(a, h(2))
				}
			}
		})
	}
	wg.Wait()
	if r, ok := x.At(netip.AddrFrom4([4]byte{10, 0, 1, 2}), h(3)); !ok || r.ID != "r" {
		t.Errorf("At = %+v %v", r, ok)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
