package baseline

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// guids returns n GUID-shaped keys.
func guids(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = guid(i)
	}
	return keys
}

// BenchmarkSeenSetObserveKnown: the common case, a principal already known.
func BenchmarkSeenSetObserveKnown(b *testing.B) {
	keys := guids(10_000)
	s := NewSeenSet(SeenConfig{})
	for _, k := range keys {
		s.Observe(k, t0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Observe(keys[i%len(keys)], t0.Add(time.Duration(i)*time.Millisecond))
		i++
	}
}

// BenchmarkSeenSetObserveNewFull: a flood of new keys into a full set, each
// one copied and every MaxKeys/16 an eviction.
func BenchmarkSeenSetObserveNewFull(b *testing.B) {
	keys := guids(200_000)
	s := NewSeenSet(SeenConfig{MaxKeys: 10_000})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Observe(keys[i%len(keys)], t0.Add(time.Duration(i)*time.Millisecond))
		i++
	}
}

func BenchmarkCompactSeenSetObserveKnown(b *testing.B) {
	s := NewCompactSeenSet(SeenConfig{})
	hs := make([]uint64, 100_000)
	for i := range hs {
		hs[i] = HashString(guid(i))
		s.Observe(hs[i], t0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Observe(hs[i%len(hs)], t0.Add(time.Duration(i)*time.Millisecond))
		i++
	}
}

// BenchmarkCompactPairs builds the state of KV_UserAnomaly-style "new
// principal for this vault" detection: one CompactSeenSet per vault, each
// holding 100,000 principals (hashed object IDs), and reports the bytes per
// (principal, vault) pair on the heap and the time per Observe. By default
// 100 vaults (10 million pairs); VIGIL_BENCH_VAULTS=1000 runs the full 100
// million pairs (about 1 GB).
func BenchmarkCompactPairs(b *testing.B) {
	vaults, principals := 100, 100_000
	if v, err := strconv.Atoi(os.Getenv("VIGIL_BENCH_VAULTS")); err == nil && v > 0 {
		vaults = v
	}
	hs := make([]uint64, principals)
	for i := range hs {
		hs[i] = HashString(guid(i))
	}
	b.ReportAllocs()
	var perPair, accounted float64
	var elapsed time.Duration
	for b.Loop() {
		before := heapBytes()
		start := time.Now()
		sets := make([]*CompactSeenSet, vaults)
		bytes := 0
		for v := range sets {
			s := NewCompactSeenSet(SeenConfig{})
			for p, h := range hs {
				// Principals arrive in a different order at each vault.
				s.Observe(mix64(h^uint64(v)), t0.Add(time.Duration(p)*time.Second))
			}
			sets[v] = s
			bytes += s.Bytes()
		}
		elapsed = time.Since(start)
		pairs := float64(vaults * principals)
		perPair = (float64(heapBytes()) - float64(before)) / pairs
		accounted = float64(bytes) / pairs
		runtime.KeepAlive(sets)
	}
	b.ReportMetric(perPair, "heap-bytes/pair")
	b.ReportMetric(accounted, "table-bytes/pair")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(vaults*principals), "ns/pair")
	b.ReportMetric(perPair*100e6/(1<<30), "GiB/100M-pairs")
}

func BenchmarkRateObserve(b *testing.B) {
	r := NewRate(RateConfig{})
	feed(r, genSeries(1, 4, 100, 99).counts)
	at := weekStart.Add(4 * 7 * day)
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(10 * time.Second) // an hour closes every 360 events
		r.Observe(at, 1)
	}
}

func BenchmarkRateScore(b *testing.B) {
	for _, cfg := range methods {
		b.Run(cfg.Method.String(), func(b *testing.B) {
			r := NewRate(cfg)
			feed(r, genSeries(1, 8, 100, 99).counts)
			at := weekStart.Add(8*7*day + 10*time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				_ = r.Score(at, 120)
			}
		})
	}
}

func BenchmarkDistinctAdd(b *testing.B) {
	hs := make([]uint64, 1<<16)
	for i := range hs {
		hs[i] = mix64(uint64(i))
	}
	b.Run("exact-known", func(b *testing.B) {
		var d Distinct
		for _, h := range hs[:ExactLimit] {
			d.AddHash(h)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.AddHash(hs[i%ExactLimit])
			i++
		}
	})
	b.Run("sketch-dense", func(b *testing.B) {
		var d Distinct
		for _, h := range hs {
			d.AddHash(h)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.AddHash(hs[i%len(hs)])
			i++
		}
	})
}

// BenchmarkCompactSeenSetSnapshot encodes and decodes a vault of 100,000
// principals, reporting the encoded bytes per key.
func BenchmarkCompactSeenSetSnapshot(b *testing.B) {
	s := NewCompactSeenSet(SeenConfig{})
	for i := range 100_000 {
		s.Observe(HashString(guid(i)), t0.Add(time.Duration(i)*time.Second))
	}
	var enc []byte
	b.ReportAllocs()
	for b.Loop() {
		enc, _ = s.AppendBinary(enc[:0])
		var back CompactSeenSet
		if err := back.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc))/100_000, "encoded-bytes/key")
}
