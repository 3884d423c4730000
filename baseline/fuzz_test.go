package baseline

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// The unmarshallers read snapshots that may be damaged or hostile: they must
// refuse with an error, never panic, allocate no more than the input
// justifies, and whatever they accept must re-encode stably and keep
// working.

// seeds adds valid encodings of v and some damaged ones.
func seeds(f *testing.F, encs ...[]byte) {
	for _, e := range encs {
		f.Add(e)
		f.Add(e[:len(e)/2])
		if len(e) > 3 {
			b := bytes.Clone(e)
			b[len(b)/2] ^= 0xFF
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{version})
}

func mustMarshal(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzSeenSetUnmarshal(f *testing.F) {
	s := NewSeenSet(SeenConfig{MaxKeys: 50})
	var encs [][]byte
	encs = append(encs, mustMarshal(s.MarshalBinary()))
	for i := range 20 {
		s.Observe(fmt.Sprintf("principal-%d", i), t0.Add(time.Duration(i)*time.Hour))
	}
	encs = append(encs, mustMarshal(s.MarshalBinary()))
	seeds(f, encs...)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s SeenSet
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		if s.Len() > len(data) {
			t.Fatalf("%d keys from %d bytes", s.Len(), len(data))
		}
		enc := mustMarshal(s.MarshalBinary())
		var again SeenSet
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-encoding refused: %v", err)
		}
		if !bytes.Equal(mustMarshal(again.MarshalBinary()), enc) {
			t.Fatal("encoding not stable")
		}
		s.Observe("x", t0)
		s.Expire(t0.Add(100 * day))
	})
}

func FuzzCompactSeenSetUnmarshal(f *testing.F) {
	s := NewCompactSeenSet(SeenConfig{MaxKeys: 64})
	var encs [][]byte
	encs = append(encs, mustMarshal(s.MarshalBinary()))
	for i := range 100 {
		s.Observe(HashString(guid(i)), t0.Add(time.Duration(i)*time.Hour))
	}
	encs = append(encs, mustMarshal(s.MarshalBinary()))
	seeds(f, encs...)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s CompactSeenSet
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		if s.Len() > len(data) || s.Bytes() > 64*len(data)+1024 {
			t.Fatalf("%d keys, %d bytes from %d bytes", s.Len(), s.Bytes(), len(data))
		}
		if err := checkTable(&s); err != nil {
			t.Fatal(err)
		}
		enc := mustMarshal(s.MarshalBinary())
		var again CompactSeenSet
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-encoding refused: %v", err)
		}
		if !bytes.Equal(mustMarshal(again.MarshalBinary()), enc) {
			t.Fatal("encoding not stable")
		}
		s.Observe(1, t0)
		s.Observe(2, t0.Add(20*365*day))
		s.Expire(t0.Add(20 * 365 * day))
		if err := checkTable(&s); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzRateUnmarshal(f *testing.F) {
	var encs [][]byte
	for _, cfg := range methods {
		r := NewRate(cfg)
		encs = append(encs, mustMarshal(r.MarshalBinary()))
		feed(r, genSeries(5, 2, 30, 1).counts)
		encs = append(encs, mustMarshal(r.MarshalBinary()))
	}
	seeds(f, encs...)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Rate
		if err := r.UnmarshalBinary(data); err != nil {
			return
		}
		enc := mustMarshal(r.MarshalBinary())
		var again Rate
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-encoding refused: %v", err)
		}
		if !bytes.Equal(mustMarshal(again.MarshalBinary()), enc) {
			t.Fatal("encoding not stable")
		}
		h, _, _ := r.Pending()
		for _, at := range []time.Time{h, h.Add(90 * time.Minute), h.Add(-time.Hour), t0} {
			_ = r.Score(at, 10)
			r.Observe(at, 3)
			r.Advance(at.Add(2*time.Hour), func(time.Time, float64, Score) {})
		}
	})
}

func FuzzDistinctUnmarshal(f *testing.F) {
	var encs [][]byte
	var d Distinct
	encs = append(encs, mustMarshal(d.MarshalBinary()))
	for i := range 40 {
		d.Add(guid(i))
	}
	encs = append(encs, mustMarshal(d.MarshalBinary()))
	for i := range 300 {
		d.Add(guid(i))
	}
	encs = append(encs, mustMarshal(d.MarshalBinary()))
	dense, _ := NewDistinct(4)
	for i := range 200 {
		dense.AddHash(mix64(uint64(i)))
	}
	encs = append(encs, mustMarshal(dense.MarshalBinary()))
	seeds(f, encs...)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Distinct
		if err := d.UnmarshalBinary(data); err != nil {
			return
		}
		n := d.Count()
		enc := mustMarshal(d.MarshalBinary())
		var again Distinct
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-encoding refused: %v", err)
		}
		if again.Count() != n {
			t.Fatalf("count %d after re-encoding, was %d", again.Count(), n)
		}
		d.Add("x")
		_ = d.Count()
	})
}
