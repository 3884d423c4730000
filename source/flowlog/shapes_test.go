package flowlog

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vigil-security/vigil/event"
)

// TestShapes reads the same records in every supported shape and expects
// the same flows.
func TestShapes(t *testing.T) {
	for _, file := range []string{sampleNSG2, sampleVNet} {
		orig := sample(t, file)
		want := readAll(t, orig, file, Options{})
		if len(want.Errors) != 0 || want.End != "" || len(want.Flows) == 0 {
			t.Fatalf("%s: %+v", file, want)
		}
		recs := records(t, orig)
		var lines, envs [][]byte
		for _, r := range recs {
			lines = append(lines, compact(t, r))
			envs = append(envs, wrap(compact(t, r)))
		}
		shapes := map[string][]byte{
			"compact envelope":        compact(t, orig),
			"json lines":              join("\n", lines...),
			"json lines crlf":         append(join("\r\n", lines...), "\r\n"...),
			"array of records":        append(append([]byte("[\n"), join(",\n", lines...)...), "\n]"...),
			"envelope per line":       join("\n", envs...),
			"concatenated envelopes":  join("", envs...),
			"array of envelopes":      append(append([]byte("["), join(" , ", envs...)...), ']'),
			"envelope then members":   append(bytes.TrimSuffix(wrap(lines...), []byte("}")), `,"extra":{"x":[1,"]}"]},"n":null}`...),
			"byte order mark":         append([]byte("\xef\xbb\xbf"), orig...),
			"gzip":                    gz(t, orig),
			"gzip json lines":         gz(t, join("\n", lines...)),
			"empty envelope before":   join("\n", []byte(`{"records":[]}`), orig),
			"empty array before":      join("\n", []byte(`[]`), orig),
			"whitespace around":       append(append([]byte(" \n\t"), orig...), " \n\n"...),
			"records key with spaces": append([]byte("{ \"records\" :\n [ "), bytes.TrimPrefix(compact(t, orig), []byte(`{"records":[`))...),
			"mixed case member names": bytes.ReplaceAll(bytes.ReplaceAll(orig, []byte(`"flowTuples"`), []byte(`"FLOWTUPLES"`)), []byte(`"rule"`), []byte(`"Rule"`)),
			"envelope after record":   join("\n", lines[0], wrap(lines[1:]...)),
			"escaped slash in tuple":  bytes.ReplaceAll(compact(t, orig), []byte(`,10.`), []byte(`,10\u002e`)),
		}
		if len(recs) == 1 {
			shapes["single record"] = recs[0]
		}
		for name, data := range shapes {
			t.Run(file+"/"+name, func(t *testing.T) {
				got := readAll(t, data, name, Options{})
				if len(got.Errors) != 0 || got.End != "" {
					t.Fatalf("errors %v end %q", got.Errors, got.End)
				}
				if !reflect.DeepEqual(flowsOnly(got), flowsOnly(want)) {
					t.Errorf("flows differ:\n got %d %+v\nwant %d %+v", len(got.Flows), got.Flows, len(want.Flows), want.Flows)
				}
				// The same input one byte at a time gives the same result.
				one := readReader(t, iotest.OneByteReader(bytes.NewReader(data)), name)
				if !reflect.DeepEqual(one, got.Flows) {
					t.Errorf("one-byte reads differ")
				}
			})
		}
	}
}

// readReader reads everything from in.
func readReader(t testing.TB, in io.Reader, name string) []goldenFlow {
	t.Helper()
	r, err := NewReader(in, name, Options{MaxRecordBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenFlow
	var f event.Flow
	for {
		err := r.Next(&f)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, toGolden(&f, r.Detail()))
	}
}

// TestLinesAndIndexes checks positions in JSON lines and envelopes.
func TestLinesAndIndexes(t *testing.T) {
	recs := records(t, sample(t, sampleNSG2))
	a, b := compact(t, recs[0]), compact(t, recs[1])
	data := join("\n", a, []byte(""), b, wrap(a, b))
	got := readAll(t, data, "x", Options{})
	type pos struct{ line, record int }
	seen := map[pos]int{}
	for _, f := range got.Flows {
		seen[pos{f.Line, f.Record}]++
	}
	// record a (7 tuples) on line 1 index 0, b (4) on line 3 index 1, then
	// the envelope on line 4 with a and b as its records 0 and 1.
	want := map[pos]int{{1, 0}: 7, {3, 1}: 4, {4, 0}: 7, {4, 1}: 4}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("positions %v, want %v", seen, want)
	}
}

// TestReset reuses one Reader for several inputs.
func TestReset(t *testing.T) {
	r, err := NewReader(strings.NewReader(""), "empty", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var f event.Flow
	if err := r.Next(&f); err != io.EOF {
		t.Fatalf("empty input: %v", err)
	}
	for _, file := range []string{sampleVNet, sampleNSG2, sampleVNet} {
		data := sample(t, file)
		if err := r.Reset(bytes.NewReader(gz(t, data)), file); err != nil {
			t.Fatal(err)
		}
		n := 0
		for r.Next(&f) == nil {
			n++
		}
		want := readAll(t, data, file, Options{})
		if n != len(want.Flows) || r.Stats().Tuples != int64(n) {
			t.Errorf("%s after Reset: %d tuples, want %d (stats %+v)", file, n, len(want.Flows), r.Stats())
		}
	}
}

// TestStatsBytes checks that Stats.Bytes counts the decompressed input.
func TestStatsBytes(t *testing.T) {
	data := sample(t, sampleVNet)
	for _, in := range [][]byte{data, gz(t, data)} {
		got := readAll(t, in, "x", Options{})
		if got.Stats.Bytes != int64(len(data)) {
			t.Errorf("Bytes = %d, want %d", got.Stats.Bytes, len(data))
		}
	}
}
