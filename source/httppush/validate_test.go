package httppush

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// realBodies are bodies built from the real samples in testdata, in every
// shape Azure delivers.
type realBodies struct {
	kv, activityREST, envelope    []byte // the files as they are
	kvLine, restLine, recordLine  []byte // one record compacted to a line
	lines, envelope3, array3, cat []byte
}

func azureBodies(t testing.TB) realBodies {
	t.Helper()
	var r realBodies
	r.kv = sample(t, "keyvault-logging.md.auditevent-sample.json")
	r.activityREST = sample(t, "activity-log-schema.md.administrative-sample.json")
	r.envelope = sample(t, "activity-log-schema.md.eventhub-storage-records-sample.json")
	r.kvLine, r.restLine = compact(t, r.kv), compact(t, r.activityREST)
	var env struct{ Records []json.RawMessage }
	if err := json.Unmarshal(r.envelope, &env); err != nil || len(env.Records) != 1 {
		t.Fatalf("envelope sample: %v", err)
	}
	r.recordLine = compact(t, env.Records[0])
	recs := [][]byte{r.kvLine, r.restLine, r.recordLine}
	r.lines = append(bytes.Join(recs, []byte("\n")), '\n')
	r.envelope3 = []byte(`{"records":[` + string(bytes.Join(recs, []byte(","))) + `]}`)
	r.array3 = []byte("[\n" + string(bytes.Join(recs, []byte(",\n"))) + "\n]")
	r.cat = bytes.Join([][]byte{r.kv, r.activityREST, r.envelope}, nil) // pretty-printed, one after another
	return r
}

// readerCounts reads b with the azurelog reader, as the pipeline will.
func readerCounts(b []byte) (records, skipped int64, err error) {
	rd, err := azurelog.NewReader(bytes.NewReader(b), "body", azurelog.Options{})
	if err != nil {
		return 0, 0, err
	}
	var op event.Op
	for {
		if err := rd.Next(&op); err != nil {
			st := rd.Stats()
			if err == io.EOF {
				err = nil
			}
			return st.Records, st.Skipped, err
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	r := azureBodies(t)
	tests := []struct {
		name              string
		body              []byte
		records, notAzure int
	}{
		{"Key Vault record file", r.kv, 1, 0},
		{"Activity Log REST record file", r.activityREST, 1, 0},
		{"records envelope file", r.envelope, 1, 0},
		{"JSON lines", r.lines, 3, 0},
		{"JSON lines, CRLF, no final newline", bytes.ReplaceAll(bytes.TrimSpace(r.lines), []byte("\n"), []byte("\r\n")), 3, 0},
		{"envelope of three", r.envelope3, 3, 0},
		{"array of three", r.array3, 3, 0},
		{"envelopes one a line", append(append(append([]byte{}, r.envelope3...), '\n'), r.envelope3...), 6, 0},
		{"value list (REST)", []byte(`{"value":[` + string(r.restLine) + `],"nextLink":null}`), 1, 0},
		{"envelope with a second records array", []byte(`{"records":[` + string(r.kvLine) + `],"x":{"records":[1]},"records":[` + string(r.kvLine) + `]}`), 2, 0},
		{"concatenated pretty-printed objects", r.cat, 3, 0},
		{"byte order mark", append([]byte("\xef\xbb\xbf"), r.lines...), 3, 0},
		{"empty envelope", []byte(`{"records":[]}`), 0, 0},
		{"records that are not Azure logs", []byte(`[` + string(r.kvLine) + `,{"a":1},42,"x",null,[1],{"time":"yesterday"},{"time":12},{"eventTimestamp":"2016-02-04T17:46:52Z"}]`), 2, 7},
		{"time key in any case, escaped", []byte(`{"TIME":"2016-02-04T17:46:52Z"}` + "\n" + `{"t\u0069me":"2016-02-04T17:46:52.5+01:00"}`), 2, 0},
		{"time wins over eventTimestamp", []byte(`{"eventTimestamp":"2016-02-04T17:46:52Z","time":"bad"}`), 0, 1},
		{"last time wins", []byte(`{"time":"bad","time":"2016-02-04T17:46:52Z"}`), 1, 0},
		// Flow logs are Azure logs too (the nested envelope of the version
		// 1 sample holds three more records).
		{"NSG flow log, version 1", sample(t, "nsg-flow-logs-overview.md.version-1-sample.json"), 5, 0},
		{"NSG flow log, version 2", sample(t, "nsg-flow-logs-overview.md.version-2-sample.json"), 2, 0},
		{"VNet flow log", sample(t, "vnet-flow-logs-overview.md.sample.json"), 1, 0},
		{"records key not first: a record", []byte(`{"time":"2016-02-04T17:46:52Z","records":[1,2]}`), 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, err := Validate(tc.body)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if sum.Records != tc.records || sum.NotAzureLog != tc.notAzure {
				t.Errorf("counted %+v, want %d records, %d not Azure logs", sum, tc.records, tc.notAzure)
			}
			// The pipeline's reader must see the same.
			recs, skipped, err := readerCounts(tc.body)
			if err != nil || recs != int64(sum.Records) || skipped != int64(sum.NotAzureLog) {
				t.Errorf("azurelog read %d records, skipped %d, err %v; the door counted %+v", recs, skipped, err, sum)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	r := azureBodies(t)
	brokenLines := bytes.Join([][]byte{r.kvLine, r.restLine, r.kvLine[:len(r.kvLine)/2], r.recordLine, r.kvLine}, []byte("\n"))
	missingComma := []byte(`{"records":[` + string(r.kvLine) + ` ` + string(r.kvLine) + `]}`)
	tests := []struct {
		name      string
		body      []byte
		line      int
		offset    int
		record    int
		truncated bool
		msgHas    string
	}{
		{name: "envelope cut after its first record", body: r.envelope3[:len(r.kvLine)+12], line: 1, offset: len(r.kvLine) + 12, record: 1, truncated: true},
		{name: "envelope without its closing brace", body: r.envelope3[:len(r.envelope3)-1], line: 1, offset: len(r.envelope3) - 1, record: 3, truncated: true},
		{name: "JSON lines, a broken line in the middle", body: brokenLines, line: 3, offset: len(r.kvLine) + len(r.restLine) + 2 + len(r.kvLine)/2, record: 2, msgHas: "control character"},
		{name: "garbage after the envelope", body: append(append([]byte{}, r.envelope...), "garbage"...), line: 1 + bytes.Count(r.envelope, []byte("\n")), offset: len(r.envelope), record: 1, msgHas: "after a complete JSON value"},
		{name: "a stray comma after JSON lines", body: append(append([]byte{}, r.lines...), ","...), line: 4, offset: len(r.lines), record: 3, msgHas: "','"},
		{name: "missing comma between records", body: missingComma, line: 1, offset: 12 + len(r.kvLine) + 1, record: 1, msgHas: "expected ',' or ']'"},
		{name: "not JSON", body: []byte("time=2026 op=SecretGet"), line: 1, msgHas: "neither JSON"},
		{name: "bad value after the records", body: []byte(`{"records":[],"x":tru}` + "\n" + `{"time":"2016-02-04T17:46:52Z"}`), line: 1, offset: 18, record: 0, msgHas: "invalid literal"},
		{name: "bad second records array", body: []byte(`{"records":[],"records":[{"a":1]}`), line: 1, offset: 31, record: 0, msgHas: "expected ',' or '}'"},
		{name: "a bare number", body: []byte("42"), line: 1, msgHas: "neither JSON"},
		{name: "empty", body: []byte(" \n"), line: 2, offset: 2, msgHas: "empty body"},
		{name: "control character in a string", body: []byte("{\"time\":\"a\tb\"}"), line: 1, offset: 10, msgHas: "control character"},
		{name: "single quotes", body: []byte(`{'time':1}`), line: 1, offset: 1, msgHas: "object key"},
		{name: "trailing comma in an object", body: []byte(`{"a":1,}`), line: 1, offset: 7, msgHas: "object key"},
		{name: "bad escape", body: []byte(`{"a":"\x"}`), line: 1, offset: 6, msgHas: "escape"},
		{name: "leading zero", body: []byte(`{"a":01}`), line: 1, offset: 6, msgHas: "expected ',' or '}'"},
		{name: "too deep", body: []byte(`{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`), line: 1, offset: 5 + 511, msgHas: "nesting too deep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Validate(tc.body)
			be, ok := errors.AsType[*BodyError](err)
			if !ok {
				t.Fatalf("accepted, or not a BodyError: %v", err)
			}
			if be.Line != tc.line || be.Offset != tc.offset || be.Record != tc.record || be.Truncated != tc.truncated {
				t.Errorf("got line %d offset %d record %d truncated %v, want %d %d %d %v (%v)",
					be.Line, be.Offset, be.Record, be.Truncated, tc.line, tc.offset, tc.record, tc.truncated, be)
			}
			if !strings.Contains(be.Msg, tc.msgHas) {
				t.Errorf("message %q lacks %q", be.Msg, tc.msgHas)
			}
		})
	}
}

// TestValidateEveryTruncation cuts each real body at every byte: every cut
// that loses more than trailing white space is refused as truncated, at
// the end of what was sent.
func TestValidateEveryTruncation(t *testing.T) {
	r := azureBodies(t)
	for name, body := range map[string][]byte{"kv": r.kv, "rest": r.activityREST, "envelope": r.envelope, "envelope3": r.envelope3, "array3": r.array3} {
		whole := bytes.TrimRight(body, " \r\n\t")
		first := len(body) - len(bytes.TrimLeft(body, " \r\n\t"))
		for n := first + 1; n < len(whole); n++ {
			_, err := Validate(body[:n])
			be, ok := errors.AsType[*BodyError](err)
			if !ok || !be.Truncated || be.Offset != n {
				t.Fatalf("%s cut at %d of %d: %v", name, n, len(body), err)
			}
		}
	}
}

// jsonValues reports whether b (less a byte order mark) is one or more
// JSON objects or arrays, as encoding/json reads them.
func jsonValues(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(b))
	n := 0
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			return n > 0
		}
		if err != nil || (v[0] != '{' && v[0] != '[') {
			return false
		}
		n++
	}
}

func FuzzValidate(f *testing.F) {
	r := azureBodies(f)
	for _, b := range [][]byte{r.kv, r.activityREST, r.envelope, r.lines, r.envelope3, r.array3, r.cat,
		sample(f, "nsg-flow-logs-overview.md.version-1-sample.json"), sample(f, "vnet-flow-logs-overview.md.sample.json"),
		r.envelope3[:len(r.envelope3)/2], []byte(`[{"time":"2016-02-04T17:46:52Z"},1,{"records":[{}]}]`),
		[]byte(`{"value":[{"eventTimestamp":"2016-02-04 17:46:52z"}]}{"TIME":"x"}`), []byte("\xef\xbb\xbf[]"),
		[]byte(`{"records":[{"records":[{"records":[{"records":[{"time":"2016-02-04T17:46:52Z"}]}]}]}]}`)} {
		f.Add(b)
	}
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		sum, err := Validate(b)
		if err != nil {
			if _, ok := errors.AsType[*BodyError](err); !ok {
				t.Fatalf("error %v is not a *BodyError", err)
			}
		}
		deep := bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > maxDepth-10
		if !deep && (err == nil) != jsonValues(b) {
			t.Fatalf("Validate says %v, encoding/json disagrees on %q", err, b)
		}
		if err != nil {
			return
		}
		recs, skipped, rerr := readerCounts(b)
		if rerr != nil || recs != int64(sum.Records) || skipped != int64(sum.NotAzureLog) {
			t.Fatalf("door counted %+v; azurelog read %d, skipped %d, err %v: %q", sum, recs, skipped, rerr, b)
		}
	})
}

// BenchmarkValidate checks 1,000 Key Vault records as JSON lines and as
// one envelope.
func BenchmarkValidate(b *testing.B) {
	kv := compact(b, sample(b, "keyvault-logging.md.auditevent-sample.json"))
	var env struct{ Records []json.RawMessage }
	if err := json.Unmarshal(kv, &env); err != nil {
		b.Fatal(err)
	}
	rec := compact(b, env.Records[0])
	lines := bytes.Repeat(append(kv, '\n'), 1000)
	envelope := []byte(`{"records":[` + strings.TrimSuffix(strings.Repeat(string(rec)+",", 1000), ",") + `]}`)
	for _, bc := range []struct {
		name string
		body []byte
	}{{"jsonl", lines}, {"envelope", envelope}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if sum, err := Validate(bc.body); err != nil || sum.Records != 1000 {
					b.Fatal(sum, err)
				}
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
		})
	}
}
