package flowlog

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"testing"
)

// sample reads a file of testdata/samples.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/samples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	sampleNSG1 = "nsg-flow-logs-overview.md.version-1-sample.json"
	sampleNSG2 = "nsg-flow-logs-overview.md.version-2-sample.json"
	sampleVNet = "vnet-flow-logs-overview.md.sample.json"
)

// records returns the raw records of an envelope sample.
func records(t testing.TB, env []byte) []json.RawMessage {
	t.Helper()
	var e struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	return e.Records
}

// compact returns b without insignificant whitespace.
func compact(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// gz compresses b.
func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// join concatenates parts with sep.
func join(sep string, parts ...[]byte) []byte { return bytes.Join(parts, []byte(sep)) }

// wrap puts records into one envelope.
func wrap(recs ...[]byte) []byte {
	return append(append([]byte(`{"records":[`), join(",", recs...)...), "]}"...)
}

// flowsOnly strips positions from a result, for comparing shapes whose
// records sit at other lines and indexes.
func flowsOnly(r goldenResult) []goldenFlow {
	out := make([]goldenFlow, len(r.Flows))
	for i, f := range r.Flows {
		f.Line, f.Record = 0, 0
		out[i] = f
	}
	return out
}
