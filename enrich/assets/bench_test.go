package assets

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchIndex is an index of a million addresses, built once: 900,000
// addresses held by one resource each (a tenth of them since a time,
// a tenth until a time), 100,000 reassigned three times.
var benchIndex = sync.OnceValues(func() (*Index, []netip.Addr) {
	x := New()
	addrs := make([]netip.Addr, 1_000_000)
	for i := range addrs {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		addrs[i] = a
		r := Resource{ID: fmt.Sprintf("/subscriptions/s%d/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic-%d", i%50, i), Subscription: fmt.Sprintf("s%d", i%50)}
		var err error
		switch {
		case i%10 == 0:
			for k := range 3 {
				r.ID = fmt.Sprintf("%s-%d", r.ID, k)
				err = x.Add(a, r, h(float64(24*k)), h(float64(24*k+20)))
			}
		case i%10 == 1:
			err = x.Add(a, r, h(12), time.Time{})
		case i%10 == 2:
			err = x.Add(a, r, time.Time{}, h(12))
		default:
			err = x.Add(a, r, time.Time{}, time.Time{})
		}
		if err != nil {
			panic(err)
		}
	}
	return x, addrs
})

// BenchmarkHeldDuringHour looks up random addresses of the index (a
// quarter of them not ours) at random times of three days.
func BenchmarkHeldDuringHour(b *testing.B) {
	x, addrs := benchIndex()
	rng := rand.New(rand.NewPCG(5, 6))
	type q struct {
		a netip.Addr
		t time.Time
	}
	qs := make([]q, 1<<16)
	for i := range qs {
		a := addrs[rng.IntN(len(addrs))]
		if i%4 == 0 {
			a = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		}
		qs[i] = q{a, h(rng.Float64() * 72)}
	}
	b.ReportAllocs()
	i, hits := 0, 0
	for b.Loop() {
		p := &qs[i&(len(qs)-1)]
		if _, ok := x.HeldDuringHour(p.a, p.t); ok {
			hits++
		}
		i++
	}
	if hits == 0 {
		b.Fatal("no hits")
	}
}

// BenchmarkHeldDuringHourParallel is the same from every core at once.
func BenchmarkHeldDuringHourParallel(b *testing.B) {
	x, addrs := benchIndex()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 7))
		for pb.Next() {
			x.HeldDuringHour(addrs[rng.IntN(len(addrs))], h(rng.Float64()*72))
		}
	})
}

// TestLookupNoAlloc checks that look-ups do not allocate.
func TestLookupNoAlloc(t *testing.T) {
	x := New()
	a := netip.MustParseAddr("10.0.0.1")
	must(t, x.Add(a, Resource{ID: "r"}, h(1), h(2)))
	f := func() {
		x.At(a, h(1.5))
		x.HeldDuringHour(a, h(2.5))
		x.HeldDuringHour(netip.MustParseAddr("2001:db8::1"), h(2.5))
	}
	if n := testing.AllocsPerRun(100, f); n != 0 {
		t.Errorf("%v allocations per look-up", n)
	}
}

// BenchmarkLoad loads an inventory of 100,000 rows and reports the heap
// the index holds per row.
func BenchmarkLoad(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(Header + "\n")
	const rows = 100_000
	for i := range rows {
		fmt.Fprintf(&buf, "10.%d.%d.%d,/subscriptions/%08d-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic-%d,,2024-05-01T10:00:00Z,\n",
			byte(i>>16), byte(i>>8), byte(i), i%50, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var x *Index
	for b.Loop() {
		x = New()
		if err := x.Load(bytes.NewReader(data), "bench.csv"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	runtime.KeepAlive(x)
	x = nil
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(int64(before)-int64(ms.HeapAlloc))/rows, "heapB/row")
}

// BenchmarkHeldDuringHourSmall looks up the addresses of a small index
// that fits in the cache: the cost without memory misses.
func BenchmarkHeldDuringHourSmall(b *testing.B) {
	x := New()
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		must(b, x.Add(addrs[i], Resource{ID: fmt.Sprint("r", i), Subscription: "s"}, h(1), h(20)))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x.HeldDuringHour(addrs[i&1023], h(float64(i&15)))
		i++
	}
}
