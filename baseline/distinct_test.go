package baseline

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"testing"
)

func TestDistinctExact(t *testing.T) {
	var d Distinct
	for i := range ExactLimit {
		d.Add(fmt.Sprintf("vault-%d", i))
		d.Add(fmt.Sprintf("vault-%d", i/2)) // repeats count once
		if got := d.Count(); got != uint64(i+1) || !d.Exact() {
			t.Fatalf("after %d items: count %d, exact %v", i+1, got, d.Exact())
		}
	}
	d.Add("vault-0")
	if !d.Exact() {
		t.Error("a repeat switched to the sketch")
	}
	d.Add("one more")
	if d.Exact() || d.Count() != ExactLimit+1 {
		t.Errorf("%d items: exact %v, count %d", ExactLimit+1, d.Exact(), d.Count())
	}
	d.Reset()
	if !d.Exact() || d.Count() != 0 {
		t.Errorf("after reset: exact %v, count %d", d.Exact(), d.Count())
	}
}

// TestDistinctAccuracy: above ExactLimit the estimate is within three
// standard errors (1.04/sqrt(2^p)) of the true count, at both precisions.
func TestDistinctAccuracy(t *testing.T) {
	for _, p := range []uint8{DefaultPrecision, 14} {
		bound := 3 * 1.04 / math.Sqrt(float64(uint64(1)<<p))
		for _, n := range []int{65, 100, 500, 1_000, 5_000, 20_000, 100_000, 500_000} {
			t.Run(fmt.Sprintf("p%d/n%d", p, n), func(t *testing.T) {
				d, err := NewDistinct(p)
				if err != nil {
					t.Fatal(err)
				}
				for i := range n {
					d.Add(guid(i))
					if i%3 == 0 {
						d.Add(guid(i / 2)) // repeats
					}
				}
				got := float64(d.Count())
				if e := math.Abs(got-float64(n)) / float64(n); e > bound || d.Exact() {
					t.Errorf("estimate %.0f of %d: error %.2f%%, bound %.2f%%", got, n, 100*e, 100*bound)
				}
			})
		}
	}
	if _, err := NewDistinct(19); err == nil {
		t.Error("precision 19 accepted")
	}
}

func TestDistinctMerge(t *testing.T) {
	var a, b, c Distinct
	for i := range 40 {
		a.Add(guid(i))
		b.Add(guid(i + 20)) // 20 shared
	}
	if err := a.Merge(&b); err != nil || a.Count() != 60 || !a.Exact() {
		t.Errorf("exact merge: %v, count %d, exact %v; want 60 exactly", err, a.Count(), a.Exact())
	}
	for i := range 1000 {
		c.Add(guid(i + 1000))
	}
	if err := a.Merge(&c); err != nil || math.Abs(float64(a.Count())-1060) > 30 {
		t.Errorf("sketch merge: %v, count %d, want about 1060", err, a.Count())
	}
	d14, _ := NewDistinct(14)
	if err := a.Merge(d14); err == nil {
		t.Error("merging precisions 12 and 14 succeeded")
	}
}

func TestDistinctRoundTrip(t *testing.T) {
	for _, n := range []int{0, 10, ExactLimit, 1000, 50_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var fwd, rev Distinct
			for i := range n {
				fwd.Add(guid(i))
				rev.Add(guid(n - 1 - i))
			}
			bf, err := fwd.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			br, _ := rev.MarshalBinary()
			if !bytes.Equal(bf, br) {
				t.Error("the same items in another order encode differently")
			}
			var back Distinct
			if err := back.UnmarshalBinary(bf); err != nil {
				t.Fatal(err)
			}
			if back.Count() != fwd.Count() || back.Exact() != fwd.Exact() {
				t.Errorf("restored count %d exact %v, want %d %v", back.Count(), back.Exact(), fwd.Count(), fwd.Exact())
			}
			back.Add("extra")
			fwd.Add("extra")
			if back.Count() != fwd.Count() {
				t.Errorf("after one more: restored %d, original %d", back.Count(), fwd.Count())
			}
		})
	}
}

func TestDistinctUnmarshalRefuses(t *testing.T) {
	var ex, sk Distinct
	ex.Add("a")
	ex.Add("b")
	for i := range 200 {
		sk.Add(guid(i))
	}
	goodEx, _ := ex.MarshalBinary()
	goodSk, _ := sk.MarshalBinary()
	set := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	swapped := bytes.Clone(goodEx)
	copy(swapped[5:13], goodEx[13:21])
	copy(swapped[13:21], goodEx[5:13])
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"precision 3", set(goodEx, 2, 3)},
		{"precision 19", set(goodEx, 2, 19)},
		{"mode 2", set(goodEx, 3, 2)},
		{"exact hashes out of order", swapped},
		{"exact count above the limit", append([]byte{version, tagDistinct, 12, 0, ExactLimit + 1}, make([]byte, 8*(ExactLimit+1))...)},
		{"sketch of another precision", set(goodSk, 2, 14)},
		{"sketch truncated", goodSk[:len(goodSk)-1]},
		{"sketch corrupt", set(goodSk, 6, 0xEE)},
		{"trailing", append(bytes.Clone(goodEx), 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Distinct
			d.Add("keep")
			if err := d.UnmarshalBinary(tc.data); err == nil {
				t.Fatal("accepted")
			}
			if d.Count() != 1 {
				t.Error("a refused state changed the counter")
			}
		})
	}
}

func TestDistinctAddKnownDoesNotAllocate(t *testing.T) {
	var d Distinct
	for i := range ExactLimit {
		d.AddHash(mix64(uint64(i)))
	}
	h := mix64(7)
	if n := testing.AllocsPerRun(1000, func() { d.AddHash(h) }); n != 0 {
		t.Errorf("adding a counted item allocates %.1f times", n)
	}
}

// TestDistinctMemory measures the peak heap of one counter as it grows
// (the documented bound), at the default precision and at 14.
func TestDistinctMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const counters = 50
	for _, tc := range []struct {
		p   uint8
		max float64
	}{{DefaultPrecision, 5_000}, {14, 18_000}} {
		peak, peakAt := 0.0, 0
		for _, n := range []int{ExactLimit, 1_000, 4_000, 8_000, 20_000, 50_000} {
			before := heapBytes()
			ds := make([]*Distinct, counters)
			for c := range ds {
				ds[c], _ = NewDistinct(tc.p)
				for i := range n {
					ds[c].AddHash(mix64(uint64(i*counters + c)))
				}
				ds[c].Count()
			}
			per := float64(heapBytes()-before) / counters
			runtime.KeepAlive(ds)
			if per > peak {
				peak, peakAt = per, n
			}
		}
		t.Logf("Distinct precision %d: peak %.0f bytes per counter (at %d items)", tc.p, peak, peakAt)
		if peak > tc.max {
			t.Errorf("precision %d: %.0f bytes per counter, documented at most %.0f", tc.p, peak, tc.max)
		}
	}
}
