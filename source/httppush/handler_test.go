package httppush

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func gzipped(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sample reads a real record from testdata (see testdata/PROVENANCE.md).
func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandler(t *testing.T) {
	envelope := sample(t, "activity-log-schema.md.eventhub-storage-records-sample.json")
	kv := sample(t, "keyvault-logging.md.auditevent-sample.json")
	r := azureBodies(t)
	lines := r.lines
	broken := bytes.Join([][]byte{r.kvLine, r.restLine, r.kvLine[:len(r.kvLine)/2], r.recordLine}, []byte("\n"))
	noBrace := bytes.Join([][]byte{r.kvLine, r.restLine[:len(r.restLine)-1], r.recordLine}, []byte("\n"))
	tests := []struct {
		name     string
		body     []byte
		encoding string
		chunked  bool // no Content-Length
		want     int
		stored   bool
		records  int // accepted: records, not Azure logs
		notAzure int
		errHas   string
		line     int // refused as not JSON: where
		offset   int
		// recordLine is where the broken record starts, when it is not
		// on line.
		recordLine int
	}{
		{name: "records envelope", body: envelope, want: 202, stored: true, records: 1},
		{name: "Key Vault envelope", body: kv, want: 202, stored: true, records: 1},
		{name: "JSON lines", body: lines, want: 202, stored: true, records: 3},
		{name: "JSON lines with records that are not Azure logs", body: append([]byte(`{"hello":"world"}`+"\n"), lines...), want: 202, stored: true, records: 3, notAzure: 1},
		{name: "gzip with header", body: gzipped(t, string(envelope)), encoding: "gzip", want: 202, stored: true, records: 1},
		{name: "gzip by magic only", body: gzipped(t, string(lines)), want: 202, stored: true, records: 3},
		{name: "byte order mark", body: append([]byte("\xef\xbb\xbf"), lines...), want: 202, stored: true, records: 3},
		{name: "chunked", body: lines, chunked: true, want: 202, stored: true, records: 3},
		{name: "empty", body: nil, want: 400, errHas: "empty body", line: 1},
		{name: "blank", body: []byte(" \n\t"), want: 400, errHas: "empty body", line: 2, offset: 3},
		{name: "not JSON", body: []byte("time=2026 op=SecretGet"), want: 400, errHas: "neither JSON", line: 1},
		{name: "truncated envelope", body: r.envelope3[:len(r.envelope3)/2], want: 400, errHas: "truncated", line: 1, offset: len(r.envelope3) / 2},
		{name: "truncated envelope, gzip", body: gzipped(t, string(r.envelope3[:len(r.envelope3)/2])), want: 400, errHas: "decompressed", line: 1, offset: len(r.envelope3) / 2},
		{name: "garbage after JSON lines", body: append(append([]byte{}, lines...), "}"...), want: 400, errHas: "after a complete JSON value", line: 4, offset: len(lines)},
		{name: "broken line in JSON lines", body: broken, want: 400, errHas: "line 3,", line: 3, offset: len(r.kvLine) + len(r.restLine) + 2 + len(r.kvLine)/2},
		{name: "JSON lines, a record without its closing brace", body: noBrace, want: 400, errHas: "from line 2", line: 3, offset: len(r.kvLine) + len(r.restLine) + 1, recordLine: 2},
		{name: "gzip cut short", body: gzipped(t, string(lines))[:100], want: 400, errHas: "gzip: unexpected EOF"},
		{name: "gzip declared, plain body", body: lines, encoding: "gzip", want: 400, errHas: "no gzip header"},
		{name: "unsupported encoding", body: lines, encoding: "br", want: 415, errHas: "Content-Encoding"},
		{name: "too large", body: bytes.Repeat([]byte(" "), 17000), want: 413, errHas: "body over 16384 bytes"},
		{name: "too large, chunked", body: bytes.Repeat([]byte(" "), 17000), chunked: true, want: 413, errHas: "body over"},
		{name: "too large decompressed", body: gzipped(t, "["+strings.Repeat(" ", 33000)+"]"), want: 413, errHas: "once decompressed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := openSpool(t, t.TempDir(), SpoolOptions{})
			var results []int
			h := NewHandler(sp, HandlerOptions{MaxBodyBytes: 16384, MaxDecodedBytes: 32768, OnResult: func(code, n int) { results = append(results, code) }})
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req := httptest.NewRequest("POST", "/ingest/azure", body)
			if tc.chunked {
				req.ContentLength = -1
			}
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if len(results) != 1 || results[0] != tc.want {
				t.Errorf("OnResult saw %v", results)
			}
			var resp map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatalf("response is not JSON: %v: %s", err, rec.Body)
			}
			if tc.errHas != "" && !strings.Contains(resp["error"].(string), tc.errHas) {
				t.Errorf("error %q lacks %q", resp["error"], tc.errHas)
			}
			if tc.line != 0 && (resp["line"] != float64(tc.line) || resp["offset"] != float64(tc.offset)) {
				t.Errorf("refusal at line %v, offset %v; want %d, %d", resp["line"], resp["offset"], tc.line, tc.offset)
			}
			if tc.recordLine != 0 && resp["recordLine"] != float64(tc.recordLine) {
				t.Errorf("recordLine %v, want %d", resp["recordLine"], tc.recordLine)
			}
			if tc.line == 0 && resp["line"] != nil {
				t.Errorf("a position for an error that has none: %v", resp)
			}
			sp.CloseWriter()
			recs := drain(t, sp)
			if !tc.stored {
				if len(recs) != 0 {
					t.Fatalf("a refused body was stored")
				}
				return
			}
			if len(recs) != 1 || !bytes.Equal(recs[0].Body, tc.body) {
				t.Fatalf("stored %d records; want the body exactly", len(recs))
			}
			if resp["status"] != "accepted" || int(resp["bytes"].(float64)) != len(tc.body) ||
				resp["records"] != float64(tc.records) || resp["notAzureLog"] != float64(tc.notAzure) {
				t.Errorf("response %v, want %d records, %d not Azure logs", resp, tc.records, tc.notAzure)
			}
		})
	}
}

func compact(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestHandlerSpoolFull(t *testing.T) {
	sp := openSpool(t, t.TempDir(), SpoolOptions{MaxBytes: 100})
	h := NewHandler(sp, HandlerOptions{})
	body := `{"a":"` + strings.Repeat("x", 60) + `"}`
	do := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/ingest/azure", strings.NewReader(body)))
		return rec
	}
	if rec := do(); rec.Code != 202 {
		t.Fatalf("first push: %d", rec.Code)
	}
	rec := do()
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("push over the spool limit: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	r, err := sp.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sp.MarkConsumed(r.Next)
	if rec := do(); rec.Code != 202 {
		t.Fatalf("push after the spool drained: %d", rec.Code)
	}
	if r, err = sp.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	sp.MarkConsumed(r.Next)
	sp.CloseWriter()
	if rec := do(); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "shutting down") {
		t.Fatalf("push after CloseWriter: %d %s", rec.Code, rec.Body)
	}
}

// BenchmarkHandler pushes bodies of 1,000 Key Vault records (JSON lines,
// about 1 MB; and the same gzip-compressed) through the handler into a
// spool: the validation, the append and the fsync.
func BenchmarkHandler(b *testing.B) {
	kv := compact(b, sample(b, "keyvault-logging.md.auditevent-sample.json"))
	plain := bytes.Repeat(append(kv, '\n'), 1000)
	for _, bc := range []struct {
		name string
		body []byte
	}{{"jsonl", plain}, {"gzip", gzipped(b, string(plain))}} {
		b.Run(bc.name, func(b *testing.B) {
			sp := openSpool(b, b.TempDir(), SpoolOptions{MaxBytes: 1 << 40, SegmentBytes: 256 << 20})
			h := NewHandler(sp, HandlerOptions{})
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest("POST", "/ingest/azure", bytes.NewReader(bc.body)))
					if rec.Code != 202 {
						b.Errorf("status %d", rec.Code)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
		})
	}
}
