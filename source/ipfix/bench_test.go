package ipfix

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"

	"github.com/vigil-security/vigil/event"
)

// benchDevices are the real datagrams of the comparison: templates first,
// then the data datagrams decoded in the loop.
var benchDevices = []struct {
	name      string
	templates []string
	data      []string
}{
	{"mikrotik", []string{"ipfix_test_mikrotik_tpl.dat"}, []string{"ipfix_test_mikrotik_data258.dat", "ipfix_test_mikrotik_data259.dat"}},
	{"barracuda", []string{"ipfix_test_barracuda_tpl.dat"}, []string{"ipfix_test_barracuda_data256.dat"}},
	{"openbsd", []string{"ipfix_test_openbsd_pflow_tpl.dat"}, []string{"ipfix_test_openbsd_pflow_data.dat"}},
}

func readDatagrams(tb testing.TB, names []string) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", "netflow", n))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

var benchExporter = netip.MustParseAddrPort("192.0.2.1:2055")

// BenchmarkDecode decodes the same Mikrotik, Barracuda and OpenBSD pflow
// datagrams with this package and with goflow2's decoder (the one
// goflow2's collector runs), side by side. One op is one pass over the
// device's data datagrams; records/s and allocs/record are per flow
// record. Run on one core: go test -run x -bench Decode -cpu 1.
func BenchmarkDecode(b *testing.B) {
	for _, dev := range benchDevices {
		tpls, data := readDatagrams(b, dev.templates), readDatagrams(b, dev.data)
		b.Run(dev.name+"/vigil", func(b *testing.B) {
			d := NewDecoder(Options{TemplateTimeout: -1})
			now := time.Unix(1500000000, 0)
			var sink uint64
			emit := func(f *event.Flow) { sink += f.Bytes }
			for _, t := range tpls {
				if _, err := d.Decode(benchExporter, t, now, emit); err != nil {
					b.Fatal(err)
				}
			}
			records := 0
			for _, p := range data {
				st, err := d.Decode(benchExporter, p, now, emit)
				if err != nil {
					b.Fatal(err)
				}
				records += int(st.Flows)
			}
			runBench(b, records, func() {
				for _, p := range data {
					d.Decode(benchExporter, p, now, emit)
				}
			})
		})
		b.Run(dev.name+"/goflow2", func(b *testing.B) {
			ts := netflow.CreateTemplateSystem()
			var v9 netflow.NFv9Packet
			var ipfix netflow.IPFIXPacket
			for _, t := range tpls {
				if err := netflow.DecodeMessageVersion(bytes.NewBuffer(t), ts, &v9, &ipfix); err != nil {
					b.Fatal(err)
				}
			}
			records := 0
			for _, p := range data {
				if err := netflow.DecodeMessageVersion(bytes.NewBuffer(p), ts, &v9, &ipfix); err != nil {
					b.Fatal(err)
				}
				for _, fs := range ipfix.FlowSets {
					if ds, ok := fs.(netflow.DataFlowSet); ok {
						records += len(ds.Records)
					}
				}
			}
			runBench(b, records, func() {
				for _, p := range data {
					netflow.DecodeMessageVersion(bytes.NewBuffer(p), ts, &v9, &ipfix)
				}
			})
		})
	}
}

// runBench runs pass b.N times and reports per-record rates.
func runBench(b *testing.B, records int, pass func()) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pass()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(records) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/record")
	b.ReportMetric(float64(records), "records/op")
}
