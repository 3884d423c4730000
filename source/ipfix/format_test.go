package ipfix

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// TestAppendJSON: valid JSON with every field, and no allocation.
func TestAppendJSON(t *testing.T) {
	f := event.Flow{
		Source: event.FlowNetFlow9, Start: time.Date(2024, 1, 2, 3, 4, 5, 6000000, time.UTC), End: time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC),
		SrcAddr: netip.MustParseAddr("2001:db8::1"), DstAddr: netip.MustParseAddr("10.0.0.2"), SrcPort: 443, DstPort: 51000,
		Protocol: 6, TCPFlags: 0x1b, Packets: 10, Bytes: 1 << 40, SamplingRate: 100, Direction: event.DirectionEgress,
		Exporter: netip.MustParseAddr("192.0.2.1"), ObservationDomain: 7,
	}
	b := AppendJSON(nil, &f)
	want := `{"source":"netflow9","start":"2024-01-02T03:04:05.006Z","end":"2024-01-02T03:04:06Z","srcAddr":"2001:db8::1","srcPort":443,` +
		`"dstAddr":"10.0.0.2","dstPort":51000,"protocol":6,"tcpFlags":27,"packets":10,"bytes":1099511627776,"samplingRate":100,` +
		`"direction":"out","exporter":"192.0.2.1","observationDomain":7}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 15 {
		t.Errorf("%v, %d keys", err, len(m))
	}
	empty := AppendJSON(nil, &event.Flow{})
	if err := json.Unmarshal(empty, &m); err != nil || m["srcAddr"] != "" || m["exporter"] != "" {
		t.Errorf("zero flow: %s (%v)", empty, err)
	}
	buf := make([]byte, 0, 512)
	if a := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], &f) }); a != 0 {
		t.Errorf("%v allocations", a)
	}
}

// TestTable compares the table of `vigil flows` with golden files.
func TestTable(t *testing.T) {
	for _, slug := range []string{"ipfix-mikrotik", "nf5-juniper-mx80", "nf9-cisco-asa"} {
		t.Run(slug, func(t *testing.T) {
			var s testSession
			for _, x := range loadSessions(t) {
				if x.slug == slug {
					s = x
				}
			}
			var out bytes.Buffer
			w, err := NewFlowWriter(&out, "table")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ReadFiles(s.files, ReadOptions{}, func(f *event.Flow) {
				if err := w.Write(f); err != nil {
					t.Fatal(err)
				}
			}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", "table", slug+".txt")
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s differs:\n%s", path, firstDiff(string(want), out.String()))
			}
		})
	}
}

// TestFlowWriterJSON writes JSON lines, and refuses unknown formats.
func TestFlowWriterJSON(t *testing.T) {
	var out bytes.Buffer
	w, err := NewFlowWriter(&out, "json")
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadFiles([]string{"testdata/netflow/netflow5.dat"}, ReadOptions{}, func(f *event.Flow) { w.Write(f) })
	if err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if uint64(len(lines)) != st.Flows || st.Flows != 2 {
		t.Fatalf("%d lines, %d flows", len(lines), st.Flows)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("invalid JSON line %s", l)
		}
	}
	if _, err := NewFlowWriter(&out, "csv"); err == nil || !strings.Contains(err.Error(), `"csv"`) {
		t.Errorf("csv: %v", err)
	}
}
