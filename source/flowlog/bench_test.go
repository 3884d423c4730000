package flowlog

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/event"
)

// genVNet returns a VNet flow log envelope of records, each of the
// documented shape with tuplesPer tuples over a few rules, in the
// documented tuple format: B/C/E conversations from a few hundred
// addresses of ours, denied scans from the internet.
func genVNet(records, tuplesPer int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	ts := int64(1663146003599)
	for r := range records {
		if r > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"time":"2022-09-14T09:00:52.5625085Z","flowLogVersion":4,"flowLogGUID":"abcdef01-2345-6789-0abc-def012345678",`+
			`"macAddress":"00224871C2%02X","category":"FlowLogFlowEvent",`+
			`"flowLogResourceID":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_EASTUS/FLOWLOGS/VNETFLOWLOG",`+
			`"targetResourceID":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet%d",`+
			`"operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"00000000-1234-abcd-ef00-c1c2c3c4c5c6","flowGroups":[`, r%256, r%4)
		rules := []string{"DefaultRule_AllowInternetOutBound", "BlockHighRiskTCPPortsFromInternet", "Internet", "UserRule_allow-https"}
		per := tuplesPer / len(rules)
		for g, rule := range rules {
			if g > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"rule":%q,"flowTuples":[`, rule)
			for i := range per {
				if i > 0 {
					b.WriteByte(',')
				}
				ts += int64(rng.IntN(50))
				ours := fmt.Sprintf("10.0.%d.%d", rng.IntN(4), 4+rng.IntN(200))
				remote := fmt.Sprintf("%d.%d.%d.%d", 1+rng.IntN(220), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
				switch g {
				case 0, 3:
					st := "BCE"[rng.IntN(3)]
					if st == 'B' {
						fmt.Fprintf(&b, `"%d,%s,%s,%d,443,6,O,B,NX,0,0,0,0"`, ts, ours, remote, 1024+rng.IntN(60000))
					} else {
						fmt.Fprintf(&b, `"%d,%s,%s,%d,443,6,O,%c,NX,%d,%d,%d,%d"`, ts, ours, remote, 1024+rng.IntN(60000), st,
							1+rng.IntN(100), 60+rng.IntN(100000), 1+rng.IntN(100), 60+rng.IntN(1000000))
					}
				default:
					fmt.Fprintf(&b, `"%d,%s,%s,%d,%d,6,I,D,NX,0,0,0,0"`, ts, remote, ours, 1024+rng.IntN(60000), []int{22, 3389, 445, 23}[rng.IntN(4)])
				}
			}
			b.WriteString("]}")
		}
		b.WriteString("]}]}}")
	}
	b.WriteString("]}")
	return b.Bytes()
}

// genNSG returns an NSG version 2 envelope in the same way.
func genNSG(records, tuplesPer int) []byte {
	v := string(genVNet(records, tuplesPer))
	// Rewrite the VNet tuples into NSG v2 ones and the nesting into NSG's.
	var b strings.Builder
	for _, part := range strings.Split(v, `"`) {
		f := strings.Split(part, ",")
		if len(f) == 13 {
			proto := "T"
			dec, st := "A", f[7]
			if st == "D" {
				dec, st = "D", "B"
			}
			fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s", f[0][:10], f[1], f[2], f[3], f[4], proto, f[6], dec, st, f[9], f[10], f[11], f[12])
		} else {
			b.WriteString(part)
		}
		b.WriteByte('"')
	}
	s := strings.TrimSuffix(b.String(), `"`)
	s = strings.ReplaceAll(s, `"flowRecords":{"flows":[{"aclID":"00000000-1234-abcd-ef00-c1c2c3c4c5c6","flowGroups":[`, `"properties":{"Version":2,"flows":[`)
	s = strings.ReplaceAll(s, `,"flowTuples":[`, `,"flows":[{"mac":"000D3AF87856","flowTuples":[`)
	// A VNet group closes with ]} and the NSG one with ]}]}; the record's
	// closing brackets happen to be the same seven characters in both.
	s = strings.ReplaceAll(s, `]},{"rule"`, `]}]},{"rule"`)
	return []byte(s)
}

// TestGenerated checks the benchmark inputs decode completely.
func TestGenerated(t *testing.T) {
	for name, data := range map[string][]byte{"vnet": genVNet(3, 400), "nsg": genNSG(3, 400)} {
		got := readAll(t, data, name, Options{})
		if len(got.Errors) != 0 || got.End != "" || len(got.Flows) != 1200 {
			t.Errorf("%s: %d flows, errors %v, end %q", name, len(got.Flows), got.Errors[:min(3, len(got.Errors))], got.End)
		}
	}
}

func benchReader(b *testing.B, data []byte, tuples int) {
	r, err := NewReader(bytes.NewReader(data), "bench", Options{})
	if err != nil {
		b.Fatal(err)
	}
	var f event.Flow
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := r.Reset(bytes.NewReader(data), "bench"); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			err := r.Next(&f)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != tuples {
			b.Fatalf("%d tuples, want %d", n, tuples)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tuples), "ns/tuple")
}

// BenchmarkVNetBigRecord reads one envelope holding one record of 100,000
// tuples.
func BenchmarkVNetBigRecord(b *testing.B) { benchReader(b, genVNet(1, 100_000), 100_000) }

// BenchmarkVNetManyRecords reads 1,000 records of 100 tuples.
func BenchmarkVNetManyRecords(b *testing.B) { benchReader(b, genVNet(1000, 100), 100_000) }

// BenchmarkNSGv2 reads 1,000 NSG version 2 records of 100 tuples.
func BenchmarkNSGv2(b *testing.B) { benchReader(b, genNSG(1000, 100), 100_000) }

// TestSteadyStateAllocs checks that reading tuples allocates nothing once
// the Reader's buffers have grown: a second pass over the same input
// allocates (almost) nothing per tuple.
func TestSteadyStateAllocs(t *testing.T) {
	data := genVNet(50, 200)
	r, err := NewReader(bytes.NewReader(data), "x", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var f event.Flow
	drain := func() {
		if err := r.Reset(bytes.NewReader(data), "x"); err != nil {
			t.Fatal(err)
		}
		for r.Next(&f) == nil {
		}
	}
	drain()
	if n := testing.AllocsPerRun(5, drain); n > 2 {
		t.Errorf("%v allocations per pass of 10,000 tuples", n)
	}
}
