package simulate

import (
	"io"
	"testing"
)

// BenchmarkEstateWrite writes the default 21-day estate (about 2 million
// records) to io.Discard.
func BenchmarkEstateWrite(b *testing.B) {
	for _, f := range []Format{JSONLines, Records} {
		b.Run(f.String(), func(b *testing.B) {
			e, err := NewEstate(EstateOptions{Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var records int64
			for b.Loop() {
				st, err := e.Write(io.Discard, f)
				if err != nil {
					b.Fatal(err)
				}
				records += st.Records
				b.SetBytes(st.Bytes)
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkNewEstate builds the default estate: its entities, rhythms and
// scenarios.
func BenchmarkNewEstate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewEstate(EstateOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
