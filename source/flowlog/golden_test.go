package flowlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenFlow is the reviewable JSON form of one delivered tuple.
type goldenFlow struct {
	Source     string   `json:"source"`
	Time       string   `json:"time"`
	Src        string   `json:"src"`
	Dst        string   `json:"dst"`
	SrcPort    uint16   `json:"srcPort"`
	DstPort    uint16   `json:"dstPort"`
	Protocol   uint8    `json:"protocol"`
	Direction  string   `json:"direction"`
	Decision   string   `json:"decision"`
	Packets    uint64   `json:"packets"`
	Bytes      uint64   `json:"bytes"`
	Rule       string   `json:"rule"`
	Resource   string   `json:"resource"`
	Version    int      `json:"version"`
	State      string   `json:"state,omitempty"`
	Encryption string   `json:"encryption,omitempty"`
	MAC        string   `json:"mac,omitempty"`
	ACL        string   `json:"acl,omitempty"`
	Counts     []uint64 `json:"counts,omitempty"`
	Line       int      `json:"line"`
	Record     int      `json:"record"`
	Tuple      int      `json:"tuple"`
}

func toGolden(f *event.Flow, d Detail) goldenFlow {
	g := goldenFlow{
		Source: f.Source.String(), Time: f.Start.Format(time.RFC3339Nano),
		Src: f.SrcAddr.String(), Dst: f.DstAddr.String(), SrcPort: f.SrcPort, DstPort: f.DstPort,
		Protocol: f.Protocol, Direction: f.Direction.String(), Decision: string(f.Decision),
		Packets: f.Packets, Bytes: f.Bytes, Rule: f.Rule, Resource: f.Resource,
		Version: d.Version, Encryption: d.Encryption, MAC: d.MAC, ACL: d.ACL,
		Line: d.Line, Record: d.Record, Tuple: d.Tuple,
	}
	if d.State != 0 {
		g.State = string(d.State)
	}
	if d.Version != 1 {
		g.Counts = []uint64{d.PacketsSent, d.BytesSent, d.PacketsReceived, d.BytesReceived}
	}
	return g
}

// goldenResult is what one input decodes to.
type goldenResult struct {
	Flows  []goldenFlow `json:"flows"`
	Errors []string     `json:"errors,omitempty"`
	End    string       `json:"end,omitempty"`
	Stats  Stats        `json:"stats"`
}

// jsonLines renders r for a golden file: the stats, the end error and each
// skipped item's error, then one line per flow.
func (r *goldenResult) jsonLines(t testing.TB) []byte {
	var out bytes.Buffer
	line := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	line(map[string]any{"stats": r.Stats, "end": r.End})
	for _, e := range r.Errors {
		line(map[string]string{"error": e})
	}
	for _, f := range r.Flows {
		line(f)
	}
	return out.Bytes()
}

// readAll decodes data completely, checking the invariants every Flow
// must satisfy.
func readAll(t testing.TB, data []byte, name string, opts Options) goldenResult {
	t.Helper()
	var res goldenResult
	user := opts.OnError
	opts.OnError = func(e *RecordError) {
		res.Errors = append(res.Errors, e.Error())
		if user != nil {
			user(e)
		}
	}
	r, err := NewReader(bytes.NewReader(data), name, opts)
	if err != nil {
		res.End = err.Error()
		return res
	}
	var f event.Flow
	for {
		err := r.Next(&f)
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
		checkFlow(t, &f, r.Detail())
		res.Flows = append(res.Flows, toGolden(&f, r.Detail()))
	}
	res.Stats = r.Stats()
	if got := int64(len(res.Flows)); got != res.Stats.Tuples {
		t.Errorf("Stats.Tuples = %d, delivered %d", res.Stats.Tuples, got)
	}
	if got := int64(len(res.Errors)); got != res.Stats.SkippedRecords+res.Stats.SkippedTuples {
		t.Errorf("%d errors reported, Stats counts %d+%d", got, res.Stats.SkippedRecords, res.Stats.SkippedTuples)
	}
	return res
}

// checkFlow asserts the invariants of a delivered flow.
func checkFlow(t testing.TB, f *event.Flow, d Detail) {
	t.Helper()
	if f.Source != event.FlowNSG && f.Source != event.FlowVNet {
		t.Errorf("source %v", f.Source)
	}
	if f.Start.IsZero() || f.End.Before(f.Start) || f.Start.Location() != time.UTC {
		t.Errorf("times %v..%v", f.Start, f.End)
	}
	if !f.SrcAddr.IsValid() || !f.DstAddr.IsValid() || f.SrcAddr.Is4In6() || f.DstAddr.Is4In6() {
		t.Errorf("addresses %v %v", f.SrcAddr, f.DstAddr)
	}
	if f.Decision != 'A' && f.Decision != 'D' {
		t.Errorf("decision %q", f.Decision)
	}
	if f.Direction != event.DirectionIngress && f.Direction != event.DirectionEgress {
		t.Errorf("direction %v", f.Direction)
	}
	if f.SamplingRate != 1 {
		t.Errorf("sampling rate %d", f.SamplingRate)
	}
	if f.Packets != d.PacketsSent+d.PacketsReceived || f.Bytes != d.BytesSent+d.BytesReceived {
		t.Errorf("counts %d/%d vs detail %+v", f.Packets, f.Bytes, d)
	}
	switch {
	case f.Source == event.FlowNSG && d.Version == 1:
		if d.State != 0 || f.Packets != 0 {
			t.Errorf("v1 tuple with state %q / packets %d", d.State, f.Packets)
		}
	case f.Source == event.FlowNSG && d.Version == 2:
		if !strings.ContainsRune("BCE", rune(d.State)) {
			t.Errorf("v2 state %q", d.State)
		}
	case f.Source == event.FlowVNet && d.Version == 4:
		if !strings.ContainsRune("BCED", rune(d.State)) || (d.State == 'D') != (f.Decision == 'D') {
			t.Errorf("vnet state %q decision %q", d.State, f.Decision)
		}
	default:
		t.Errorf("source %v version %d", f.Source, d.Version)
	}
}

// TestGolden decodes every sample in testdata/samples and compares the
// result with testdata/golden/NAME.golden.jsonl (go test -update rewrites).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/samples/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			res := readAll(t, data, filepath.Base(file), Options{})
			got := res.jsonLines(t)
			golden := filepath.Join("testdata", "golden", name+".golden.jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", name, golden, got)
			}
		})
	}
}
