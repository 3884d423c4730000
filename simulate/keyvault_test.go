package simulate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestKeyVaultLoadIsRealShapeAndDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	opts := KeyVaultOptions{Records: 2000, Seed: 9, TorAddresses: []string{"185.220.101.1"}}
	if _, err := KeyVaultLoad(&a, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := KeyVaultLoad(&b, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different output")
	}
	type record struct {
		Time          time.Time `json:"time"`
		ResourceID    string    `json:"resourceId"`
		OperationName string    `json:"operationName"`
		Category      string    `json:"category"`
		DurationMs    string    `json:"durationMs"`
		Identity      struct {
			Claim map[string]string `json:"claim"`
		} `json:"identity"`
		Properties struct {
			HTTPStatusCode int `json:"httpStatusCode"`
		} `json:"properties"`
	}
	sc := bufio.NewScanner(&a)
	sc.Buffer(nil, 1<<20)
	n := 0
	var last time.Time
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if r.Category != "AuditEvent" || r.OperationName == "" || r.ResourceID == "" || r.Properties.HTTPStatusCode == 0 {
			t.Fatalf("line %d lacks AuditEvent fields: %+v", n+1, r)
		}
		if r.Identity.Claim["http://schemas.microsoft.com/identity/claims/objectidentifier"] == "" {
			t.Fatalf("line %d has no object id claim", n+1)
		}
		if r.Time.Before(last) {
			t.Fatalf("line %d goes back in time", n+1)
		}
		last = r.Time
		n++
	}
	if n != 2000 {
		t.Fatalf("%d records, want 2000", n)
	}
}

func TestKeyVaultLoadEnvelopeIsOneJSONDocument(t *testing.T) {
	var buf bytes.Buffer
	if _, err := KeyVaultLoad(&buf, KeyVaultOptions{Records: 50, Envelope: true}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Records) != 50 {
		t.Fatalf("%d records, want 50", len(doc.Records))
	}
}

func BenchmarkKeyVaultLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		n, err := KeyVaultLoad(discard{}, KeyVaultOptions{Records: 10000})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(n)
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "records/s")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
