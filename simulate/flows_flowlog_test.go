package simulate

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// keyPaths collects the JSON paths of v with their value kinds:
// "records[].properties.Version=number".
func keyPaths(prefix string, v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, y := range x {
			keyPaths(prefix+"."+k, y, out)
		}
	case []any:
		for _, y := range x {
			keyPaths(prefix+"[]", y, out)
		}
	case string:
		out[prefix+"=string"] = true
	case float64:
		out[prefix+"=number"] = true
	default:
		out[fmt.Sprintf("%s=%T", prefix, v)] = true
	}
}

// flowLogRecords decodes a flow log file into its records.
func flowLogRecords(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var doc struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Records
}

// TestFlowLogsMatchTheDocumentedSamples: every record has exactly the key
// paths, value kinds and constant values of the documented sample of its
// kind, and every tuple the sample's field forms.
func TestFlowLogsMatchTheDocumentedSamples(t *testing.T) {
	o := smallFlows()
	o.check(t)
	for _, c := range []struct {
		kind   FlowLogKind
		sample string
		data   []byte
		st     FlowStats
		consts []string
	}{
		{NSGFlowLog, "testdata/flows-nsg-v2-sample.json", o.nsg, o.nsgSt, []string{"category", "operationName", "properties.Version"}},
		{VNetFlowLog, "testdata/flows-vnet-v4-sample.json", o.vnet, o.vnetSt, []string{"category", "operationName", "flowLogVersion"}},
	} {
		raw, err := os.ReadFile(c.sample)
		if err != nil {
			t.Fatal(err)
		}
		want, got := map[string]bool{}, map[string]bool{}
		sample := flowLogRecords(t, raw)
		for _, r := range sample {
			keyPaths("", r, want)
		}
		recs := flowLogRecords(t, c.data)
		if int64(len(recs)) != c.st.Messages || int64(len(c.data)) != c.st.Bytes {
			t.Fatalf("%s: %d records of %d bytes, stats %+v", c.kind, len(recs), len(c.data), c.st)
		}
		var tuples int64
		var last time.Time
		states := map[string]int{}
		for i, r := range recs {
			keyPaths("", r, got)
			for _, k := range c.consts {
				if g, w := lookup(r, k), lookup(sample[0], k); g != w {
					t.Fatalf("%s record %d: %s is %v, the sample's %v", c.kind, i, k, g, w)
				}
			}
			at, err := time.Parse(time.RFC3339Nano, r["time"].(string))
			if err != nil || at.Before(last) {
				t.Fatalf("%s record %d: time %v before %s (%v)", c.kind, i, r["time"], last, err)
			}
			last = at
			for _, tp := range recordTuples(r) {
				tuples++
				st, when, err := checkTuple(c.kind, tp)
				if err != nil {
					t.Fatalf("%s record %d: tuple %q: %v", c.kind, i, tp, err)
				}
				if !when.Before(at) || at.Sub(when) > 2*time.Minute {
					t.Fatalf("%s record %d at %s: tuple at %s", c.kind, i, at, when)
				}
				states[st]++
			}
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s key paths:\n got %v\nwant %v", c.kind, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
		if tuples != c.st.Records || c.st.Connections != o.pcapSt.Connections {
			t.Errorf("%s: %d tuples, stats %+v (IPFIX: %d connections)", c.kind, tuples, c.st, o.pcapSt.Connections)
		}
		b, e := states["B"], states["E"]
		if states["C"] == 0 || e > b || float64(b-e) > 0.01*float64(b) || states["D"]+states["B/D"] == 0 {
			t.Errorf("%s: states %v: every begun flow should end (but the few open at the estate's end)", c.kind, states)
		}
	}
}

func lookup(r map[string]any, path string) any {
	var v any = r
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// recordTuples returns every tuple of an NSG or VNet record.
func recordTuples(r map[string]any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ts, ok := x["flowTuples"].([]any); ok {
				for _, s := range ts {
					out = append(out, s.(string))
				}
				return
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k])
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(r)
	return out
}

// checkTuple checks a tuple's 13 fields against the documented forms and
// returns its state ("B/D" for a denied NSG flow) and time.
func checkTuple(kind FlowLogKind, s string) (string, time.Time, error) {
	f := strings.Split(s, ",")
	if len(f) != 13 {
		return "", time.Time{}, fmt.Errorf("%d fields", len(f))
	}
	ts, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return "", time.Time{}, err
	}
	when := time.Unix(ts, 0)
	if kind == VNetFlowLog {
		when = time.UnixMilli(ts)
	}
	for _, i := range []int{3, 4} {
		if _, err := strconv.ParseUint(f[i], 10, 16); err != nil {
			return "", when, err
		}
	}
	counts := strings.Join(f[9:], ",")
	numeric := func() error {
		for _, c := range f[9:] {
			if _, err := strconv.ParseUint(c, 10, 64); err != nil {
				return err
			}
		}
		return nil
	}
	if kind == NSGFlowLog {
		switch {
		case f[5] != "T" && f[5] != "U", f[6] != "I" && f[6] != "O", f[7] != "A" && f[7] != "D":
			return "", when, fmt.Errorf("protocol/direction/decision %s %s %s", f[5], f[6], f[7])
		case f[8] == "B" && counts != ",,,":
			return "", when, fmt.Errorf("B with counts %q", counts)
		case f[8] == "B" && f[7] == "D":
			return "B/D", when, nil
		case f[8] == "B":
			return "B", when, nil
		case (f[8] == "C" || f[8] == "E") && f[7] == "A":
			return f[8], when, numeric()
		}
		return "", when, fmt.Errorf("state %s decision %s", f[8], f[7])
	}
	switch {
	case f[5] != "6" && f[5] != "17", f[6] != "I" && f[6] != "O", f[8] != "NX":
		return "", when, fmt.Errorf("protocol/direction/encryption %s %s %s", f[5], f[6], f[8])
	case (f[7] == "B" || f[7] == "D") && counts != "0,0,0,0":
		return "", when, fmt.Errorf("%s with counts %q", f[7], counts)
	case f[7] == "B" || f[7] == "D":
		return f[7], when, nil
	case f[7] == "C" || f[7] == "E":
		return f[7], when, numeric()
	}
	return "", when, fmt.Errorf("state %s", f[7])
}

// TestFlowShapesGolden keeps, for each flow-log kind, the first record
// naming each rule, and the first IPFIX message in hex, in
// testdata/flows-shapes.golden.txt. Regenerate with
// go test -run TestFlowShapesGolden -update.
func TestFlowShapesGolden(t *testing.T) {
	o := smallFlows()
	o.check(t)
	var got bytes.Buffer
	for _, c := range []struct {
		name string
		data []byte
	}{{"nsg", o.nsg}, {"vnet", o.vnet}} {
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(c.data, &doc); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, line := range doc.Records {
			for _, rule := range flowRules {
				if !seen[rule] && bytes.Contains(line, []byte(`"rule":"`+rule+`"`)) {
					seen[rule] = true
					fmt.Fprintf(&got, "%s %s\n", c.name, line)
					break
				}
			}
		}
	}
	payloads, _, err := pcapPackets(o.pcap)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&got, "ipfix %s\n", hex.EncodeToString(payloads[0]))
	const path = "testdata/flows-shapes.golden.txt"
	if *update {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("shapes differ from %s (run with -update if the change is meant):\n%.3000s", path, got.String())
	}
}

// TestParseFlowLogKind round-trips the kinds' names.
func TestParseFlowLogKind(t *testing.T) {
	for _, k := range []FlowLogKind{NSGFlowLog, VNetFlowLog} {
		if got, err := ParseFlowLogKind(k.String()); err != nil || got != k {
			t.Errorf("%s: %v, %v", k, got, err)
		}
	}
	if _, err := ParseFlowLogKind("ipfix"); err == nil {
		t.Error("ipfix is not a flow log kind")
	}
	if _, err := smallFlows().e.WriteFlowLog(&bytes.Buffer{}, 9); err == nil {
		t.Error("kind 9 written")
	}
}
