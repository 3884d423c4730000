package flowlog

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// maxFuzzBytes caps the input FuzzReader reads. Every input that widens
// coverage is minimized (one execution per byte removed, up to quadratic in
// its length) before fuzzing goes on; on the multi-kilobyte samples that
// took the whole run. A kilobyte holds a record with a few flows.
const maxFuzzBytes = 512

// FuzzReader feeds arbitrary input to a Reader: it must never panic,
// every flow must satisfy checkFlow, the counts must add up, and reading
// one byte at a time (which moves every record across buffer boundaries)
// must give the same flows, errors and end as reading at once.
func FuzzReader(f *testing.F) {
	for _, s := range []string{sampleNSG1, sampleNSG2, sampleVNet} {
		// Each sample's first record, compacted, in its envelope.
		f.Add(wrap(compact(f, records(f, sample(f, s))[0])))
	}
	good := vnetRecord(goodA, goodB)
	f.Add(join("\n", good, []byte(`{"flowRecords": tru}`), good))
	f.Add(wrap(good, []byte(`1`), wrap(good)))
	f.Add([]byte(`[{"records":[` + string(good) + `],"x":[1,"]"]},` + string(good) + `]`))
	f.Add([]byte(`{"records":[{"properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":"m","flowTuples":["1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66","x"]}]}]}}]}`))
	// Readers are reused, as a consumer of many blobs uses one: a Reader
	// holds 64 KiB of buffers, whose allocation per execution dominated.
	opts := Options{MaxRecordBytes: 4096}
	all, one := newFuzzReader(f, opts), newFuzzReader(f, opts)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:min(len(data), maxFuzzBytes)]
		a := all.read(t, bytes.NewReader(data), true)
		o := one.read(t, iotest.OneByteReader(bytes.NewReader(data)), false)
		if !reflect.DeepEqual(a, o) {
			t.Fatalf("one-byte reads differ:\nall %+v\none %+v", a, o)
		}
	})
}

// fuzzReader reads inputs with one Reader, collecting what readAll does.
type fuzzReader struct {
	r   *Reader
	res *goldenResult
}

func newFuzzReader(f *testing.F, opts Options) *fuzzReader {
	fr := &fuzzReader{}
	opts.OnError = func(e *RecordError) { fr.res.Errors = append(fr.res.Errors, e.Error()) }
	r, err := NewReader(bytes.NewReader(nil), "fuzz", opts)
	if err != nil {
		f.Fatal(err)
	}
	fr.r = r
	return fr
}

// read resets the Reader to src and reads it to its end; check applies
// checkFlow and the counts' invariants as readAll does.
func (fr *fuzzReader) read(t *testing.T, src io.Reader, check bool) goldenResult {
	var res goldenResult
	fr.res = &res
	if err := fr.r.Reset(src, "fuzz"); err != nil {
		res.End = err.Error()
		return res
	}
	var fl event.Flow
	for {
		err := fr.r.Next(&fl)
		if err == io.EOF {
			break
		}
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("end error %v is not a *RecordError", err)
			}
			res.End = err.Error()
			break
		}
		if check {
			checkFlow(t, &fl, fr.r.Detail())
		}
		res.Flows = append(res.Flows, toGolden(&fl, fr.r.Detail()))
	}
	res.Stats = fr.r.Stats()
	if check && int64(len(res.Flows)) != res.Stats.Tuples {
		t.Errorf("Stats.Tuples = %d, delivered %d", res.Stats.Tuples, len(res.Flows))
	}
	if check && int64(len(res.Errors)) != res.Stats.SkippedRecords+res.Stats.SkippedTuples {
		t.Errorf("%d errors reported, Stats counts %d+%d", len(res.Errors), res.Stats.SkippedRecords, res.Stats.SkippedTuples)
	}
	return res
}
