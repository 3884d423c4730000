package flowlog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vigil-security/vigil/event"
)

// A small VNet record with three tuples, in the documented shape; %s is
// replaced by the tuples.
const vnetTemplate = `{"time":"2022-09-14T09:00:52.5625085Z","flowLogVersion":4,"macAddress":"00224871C205","category":"FlowLogFlowEvent",` +
	`"targetResourceID":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/myVNet",` +
	`"operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"00000000-1234-abcd-ef00-c1c2c3c4c5c6","flowGroups":[{"rule":"Internet","flowTuples":[%s]}]}]}}`

const (
	goodA = `"1663145989563,20.106.221.10,10.0.0.6,50557,44357,6,I,D,NX,0,0,0,0"`
	goodB = `"1663145989679,20.55.117.81,10.0.0.6,62797,35945,6,I,D,NX,0,0,0,0"`
)

func vnetRecord(tuples ...string) []byte {
	return []byte(strings.Replace(vnetTemplate, "%s", strings.Join(tuples, ","), 1))
}

// TestMalformed checks that damage is reported with its position and that
// everything around it is still read.
func TestMalformed(t *testing.T) {
	good := vnetRecord(goodA, goodB)
	tests := []struct {
		name   string
		data   []byte
		opts   Options
		tuples int      // tuples delivered
		errs   []string // substrings of the skipped items' errors, in order
		is     []error
		end    error // the error that ends reading, nil for io.EOF
	}{
		{name: "bad tuple between good ones",
			data:   wrap(vnetRecord(goodA, `"1663145989679,20.55.117.81,10.0.0.6,62797,35945,6,I,X,NX,0,0,0,0"`, goodB)),
			tuples: 2, errs: []string{"x:1: record 0: tuple 1 (flowRecords.flows[0].flowGroups[0].flowTuples[1]): malformed flow tuple: flow state \"X\""},
			is: []error{ErrTuple}},
		{name: "tuple not a string", data: wrap(vnetRecord(goodA, `12`, `null`, goodB)),
			tuples: 2, errs: []string{"tuple 1", "tuple 2"}, is: []error{ErrTuple, ErrTuple}},
		{name: "record not an object", data: wrap([]byte(`1`), good, []byte(`"x"`), good),
			tuples: 4, errs: []string{"record 0: record is not a JSON object", "record 2: record is not a JSON object"},
			is: []error{ErrNotObject, ErrNotObject}},
		{name: "not a flow record (activity log)", data: wrap([]byte(`{"time":"2019-01-21T22:14:26Z","operationName":"x","properties":"s"}`), good),
			tuples: 2, errs: []string{"record 0: not a flow log record: properties is not an object"}, is: []error{ErrNotFlowRecord}},
		{name: "nested envelope", data: wrap(good, wrap(good)),
			tuples: 2, errs: []string{"record 1: not a flow log record"}, is: []error{ErrNotFlowRecord}},
		{name: "flowGroups not an array, record skipped whole",
			data:   wrap([]byte(`{"flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"rule":"r","flowTuples":[`+goodA+`]}]},{"aclID":"b","flowGroups":{}}]}}`), good),
			tuples: 2, errs: []string{"record 0: not a flow log record: flowRecords.flows[1].flowGroups is not an array"}, is: []error{ErrNotFlowRecord}},
		{name: "nsg inner flows missing",
			data:   wrap([]byte(`{"properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":"m"}]}]}}`), good),
			tuples: 2, errs: []string{"properties.flows[0].flows[0].flowTuples is not an array"}, is: []error{ErrNotFlowRecord}},
		{name: "bad JSON inside a record", data: join("\n", good, []byte(`{"flowRecords": tru}`), good),
			tuples: 4, errs: []string{"x:2: record 1: invalid JSON"}, is: []error{ErrSyntax}},
		{name: "record too large is passed over",
			data: join("\n", good, []byte(`{"flowRecords":{"flows":[],"pad":"`+strings.Repeat("a", 5000)+`\"}"}}`), good), opts: Options{MaxRecordBytes: 1024},
			tuples: 4, errs: []string{"x:2: record 1: record too large"}, is: []error{ErrTooLarge}},
		{name: "record too large at end", data: wrap(good, []byte(`{"p":"`+strings.Repeat("a\n", 5000)+`"}`), good), opts: Options{MaxRecordBytes: 1024},
			tuples: 4, errs: []string{"x:1: record 1: record too large"}, is: []error{ErrTooLarge}},
		{name: "truncated in a record", data: wrap(good, good)[:len(wrap(good, good))-40],
			tuples: 2, end: ErrTruncated},
		{name: "truncated after a record", data: bytes.TrimSuffix(wrap(good), []byte("]}")),
			tuples: 2, end: ErrTruncated},
		{name: "garbage first", data: []byte("hello"), end: ErrNotJSON},
		{name: "garbage after", data: join("\n", good, []byte("hello")), tuples: 2, end: ErrNotJSON},
		{name: "trailing comma", data: []byte(`{"records":[` + string(good) + `,]}`), tuples: 2, end: ErrSyntax},
		{name: "missing comma", data: []byte(`{"records":[` + string(good) + ` ` + string(good) + `]}`), tuples: 2, end: ErrSyntax},
		{name: "bad envelope member", data: []byte(`{"records":[` + string(good) + `],"x":tru}`), tuples: 2, end: ErrSyntax},
		{name: "envelope member without colon", data: []byte(`{"records":[],"x" 1}`), end: ErrSyntax},
		{name: "empty input", data: nil},
		{name: "only whitespace", data: []byte(" \n\r\n\t")},
		{name: "empty array", data: []byte("[]")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var errs []*RecordError
			opts := tc.opts
			opts.OnError = func(e *RecordError) { errs = append(errs, e) }
			r, err := NewReader(bytes.NewReader(tc.data), "x", opts)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			var f event.Flow
			var end error
			for {
				if end = r.Next(&f); end != nil {
					break
				}
				n++
			}
			if tc.end == nil && end != io.EOF || tc.end != nil && !errors.Is(end, tc.end) {
				t.Errorf("end %v, want %v", end, tc.end)
			}
			if again := r.Next(&f); again != end {
				t.Errorf("Next after the end returned %v, then %v", end, again)
			}
			if n != tc.tuples {
				t.Errorf("%d tuples, want %d", n, tc.tuples)
			}
			if len(errs) != len(tc.errs) {
				t.Fatalf("errors %v, want %d", errs, len(tc.errs))
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tc.errs[i]) || !errors.Is(e, tc.is[i]) {
					t.Errorf("error %d: %q (is %v?), want %q", i, e, tc.is[i], tc.errs[i])
				}
			}
			st := r.Stats()
			if st.Tuples != int64(n) || st.SkippedRecords+st.SkippedTuples != int64(len(errs)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestReadError checks that a failing reader ends reading with its error
// after the tuples before it.
func TestReadError(t *testing.T) {
	good := vnetRecord(goodA, goodB)
	boom := errors.New("disk on fire")
	in := io.MultiReader(bytes.NewReader(join("\n", good, good)), iotest.ErrReader(boom))
	r, err := NewReader(in, "x", Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var f event.Flow
	for {
		if err = r.Next(&f); err != nil {
			break
		}
		n++
	}
	if n != 4 || !errors.Is(err, boom) {
		t.Errorf("%d tuples, end %v", n, err)
	}
}

// TestBadGzip checks that a corrupt gzip header fails NewReader.
func TestBadGzip(t *testing.T) {
	_, err := NewReader(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0}), "x.gz", Options{})
	if err == nil || !strings.Contains(err.Error(), "x.gz: gzip") {
		t.Errorf("error %v", err)
	}
}
