package detect

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

// flowCounter counts flows per destination address in one-minute windows,
// keyed by the address's numeric value; it fires on at least min flows.
type flowCounter struct{ min int }

func (flowCounter) Name() string               { return "flow-counter" }
func (flowCounter) Consumes(k event.Kind) bool { return k == event.KindFlow }
func (flowCounter) PartitionKey(*event.Op) (string, bool) {
	return "", false
}
func (flowCounter) FlowKey(f *event.Flow) (uint64, bool) {
	b := f.DstAddr.As4()
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3]), f.DstAddr.Is4()
}
func (d flowCounter) NewShard() Shard {
	return &flowCounterShard{counterShard: counterShard{min: d.min, state: map[string]*counterState{}}}
}

type flowCounterShard struct{ counterShard }

func (s *flowCounterShard) ProcessFlow(f *event.Flow, key uint64, emit Emitter) {
	s.Process(&event.Op{Time: f.End}, strconv.FormatUint(key, 10), emit)
}

func flowStream(n int, seed uint64) []event.Flow {
	r := rand.New(rand.NewPCG(seed, 2))
	t0 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	flows := make([]event.Flow, n)
	for i := range flows {
		end := t0.Add(time.Duration(i)*300*time.Millisecond - time.Duration(r.IntN(60))*time.Second)
		flows[i] = event.Flow{Source: event.FlowIPFIX, Start: end.Add(-time.Second), End: end,
			SrcAddr: netip.AddrFrom4([4]byte{203, 0, 113, byte(r.IntN(50))}),
			DstAddr: netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(30))}), DstPort: 22, Protocol: 6, Packets: 3}
	}
	return flows
}

func runFlows(e *Engine, flows []event.Flow, batch int) []alert.Candidate {
	var out []alert.Candidate
	for i := 0; i < len(flows); i += batch {
		out = append(out, e.ProcessFlows(flows[i:min(i+batch, len(flows))])...)
	}
	return append(out, e.Flush()...)
}

func TestEngineFlowsSameOutputWhateverTheWorkers(t *testing.T) {
	flows := flowStream(20000, 5)
	var want []alert.Candidate
	for _, workers := range []int{1, 2, 5} {
		e := New([]Detector{flowCounter{min: 3}, windowCounter{min: 1}}, Options{Workers: workers})
		got := runFlows(e, flows, 700)
		e.Close()
		if len(got) == 0 {
			t.Fatal("the flow detector never fired")
		}
		if want == nil {
			want = got
		} else if !reflect.DeepEqual(got, want) {
			t.Fatalf("workers=%d: %d candidates differ from workers=1 (%d)", workers, len(got), len(want))
		}
	}
}

func TestEngineFlowSnapshotRestoresIntoOtherWorkerCounts(t *testing.T) {
	flows := flowStream(8000, 9)
	whole := New([]Detector{flowCounter{min: 3}}, Options{Workers: 3})
	want := runFlows(whole, flows, 500)
	whole.Close()
	for _, after := range []int{1, 2, 7} {
		first := New([]Detector{flowCounter{min: 3}}, Options{Workers: 3})
		var got []alert.Candidate
		for i := 0; i < 4000; i += 500 {
			got = append(got, first.ProcessFlows(flows[i:i+500])...)
		}
		var buf bytes.Buffer
		if err := first.Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		first.Close()
		second := New([]Detector{flowCounter{min: 3}}, Options{Workers: after})
		if _, err := second.Restore(&buf); err != nil {
			t.Fatal(err)
		}
		got = append(got, runFlows(second, flows[4000:], 500)...)
		second.Close()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("restored into %d workers: %d candidates, want %d", after, len(got), len(want))
		}
	}
	bad := New([]Detector{flowCounter{min: 3}}, Options{Workers: 2})
	defer bad.Close()
	in := `{"version":1}` + "\n" + fmt.Sprintf(`{"detector":"flow-counter","key":"not-a-number","state":%q}`, "e30=") + "\n"
	if _, err := bad.Restore(bytes.NewReader([]byte(in))); err == nil {
		t.Fatal("a flow key that is not a number was restored")
	}
}

func BenchmarkEngineFlows(b *testing.B) {
	flows := flowStream(4096, 1)
	e := New([]Detector{flowCounter{min: 1 << 30}}, Options{Workers: 1})
	defer e.Close()
	b.ReportAllocs()
	for b.Loop() {
		e.ProcessFlows(flows)
	}
	b.ReportMetric(float64(b.N*len(flows))/b.Elapsed().Seconds(), "flows/s")
}
