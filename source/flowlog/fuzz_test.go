package flowlog

import (
	"bytes"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/vigil-security/vigil/event"
)

// FuzzReader feeds arbitrary input to a Reader: it must never panic,
// every flow must satisfy checkFlow, the counts must add up, and reading
// one byte at a time (which moves every record across buffer boundaries)
// must give the same flows, errors and end as reading at once.
func FuzzReader(f *testing.F) {
	for _, s := range []string{sampleNSG1, sampleNSG2, sampleVNet} {
		f.Add(sample(f, s))
	}
	good := vnetRecord(goodA, goodB)
	f.Add(join("\n", good, []byte(`{"flowRecords": tru}`), good))
	f.Add(wrap(good, []byte(`1`), wrap(good)))
	f.Add([]byte(`[{"records":[` + string(good) + `],"x":[1,"]"]},` + string(good) + `]`))
	f.Add([]byte(`{"records":[{"properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":"m","flowTuples":["1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66","x"]}]}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{MaxRecordBytes: 4096}
		all := readAll(t, data, "fuzz", opts)
		var one goldenResult
		o := opts
		o.OnError = func(e *RecordError) { one.Errors = append(one.Errors, e.Error()) }
		r, err := NewReader(iotest.OneByteReader(bytes.NewReader(data)), "fuzz", o)
		if err != nil {
			one.End = err.Error()
		} else {
			var fl event.Flow
			for {
				err := r.Next(&fl)
				if err == io.EOF {
					break
				}
				if err != nil {
					one.End = err.Error()
					break
				}
				one.Flows = append(one.Flows, toGolden(&fl, r.Detail()))
			}
			one.Stats = r.Stats()
		}
		if !reflect.DeepEqual(all, one) {
			t.Fatalf("one-byte reads differ:\nall %+v\none %+v", all, one)
		}
	})
}
