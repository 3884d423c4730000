package simulate

import (
	"io"
	"testing"

	"github.com/vigil-security/vigil/event"
)

// benchFlows runs write over a flow estate (the default 21 days) and
// reports the records (IPFIX records or flow-log tuples) written a second.
func benchFlows(b *testing.B, opts FlowEstateOptions, write func(e *FlowEstate) (FlowStats, error)) {
	e, err := NewFlowEstate(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var recs int64
	for b.Loop() {
		st, err := write(e)
		if err != nil {
			b.Fatal(err)
		}
		recs += st.Records
		b.SetBytes(st.Bytes)
	}
	b.ReportMetric(float64(recs)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFlowIPFIXPcap writes the default estate as an IPFIX pcap,
// unsampled and sampled 1 in 100.
func BenchmarkFlowIPFIXPcap(b *testing.B) {
	b.Run("unsampled", func(b *testing.B) {
		benchFlows(b, FlowEstateOptions{Seed: 1}, func(e *FlowEstate) (FlowStats, error) { return e.WriteIPFIXPcap(io.Discard) })
	})
	b.Run("sampled", func(b *testing.B) {
		benchFlows(b, FlowEstateOptions{Seed: 1, SamplingRate: 100}, func(e *FlowEstate) (FlowStats, error) { return e.WriteIPFIXPcap(io.Discard) })
	})
}

// BenchmarkFlowLog writes the default estate as NSG and VNet flow logs.
func BenchmarkFlowLog(b *testing.B) {
	for _, k := range []FlowLogKind{NSGFlowLog, VNetFlowLog} {
		b.Run(k.String(), func(b *testing.B) {
			benchFlows(b, FlowEstateOptions{Seed: 1}, func(e *FlowEstate) (FlowStats, error) { return e.WriteFlowLog(io.Discard, k) })
		})
	}
}

// BenchmarkFlows passes the default estate's flows as event.Flow.
func BenchmarkFlows(b *testing.B) {
	benchFlows(b, FlowEstateOptions{Seed: 1}, func(e *FlowEstate) (FlowStats, error) {
		return e.Flows(func(*event.Flow) error { return nil })
	})
}

// BenchmarkNewFlowEstate builds the default flow estate.
func BenchmarkNewFlowEstate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewFlowEstate(FlowEstateOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
