package simulate

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzFlowEstateOptions: any options either fail with an error or give an
// estate whose IPFIX reads back whole with the strict decoder and whose
// flow log is valid JSON.
func FuzzFlowEstateOptions(f *testing.F) {
	f.Add(uint64(1), 3, 1, 0.05, uint32(0), "", false)
	f.Add(uint64(9), 3, 1, 0.1, uint32(7), "77.90.185.20", true)
	f.Add(uint64(2), -1, 5, -3.0, uint32(1), "::1", false)
	f.Add(uint64(3), 4000, 2, 0.02, uint32(1<<21), "not an address", false)
	f.Fuzz(func(t *testing.T, seed uint64, days, learning int, scale float64, sampling uint32, c2 string, quiet bool) {
		opts := FlowEstateOptions{Seed: seed, Days: days, LearningDays: learning, Scale: scale, SamplingRate: sampling, C2: c2, NoScenarios: quiet}
		e, err := NewFlowEstate(opts)
		if err != nil || e.End().Sub(e.Start()) > 3*24*time.Hour || len(e.VMs()) > 16 {
			return // an error, or too large to write in a fuzz iteration
		}
		var b bytes.Buffer
		st, err := e.WriteIPFIXPcap(&b)
		if err != nil {
			t.Fatal(err)
		}
		msgs, _ := decodePcap(t, b.Bytes())
		n := 0
		for _, m := range msgs {
			n += len(m.recs)
		}
		if int64(n) != st.Records || int64(len(msgs)) != st.Messages {
			t.Fatalf("decoded %d records in %d messages; wrote %+v", n, len(msgs), st)
		}
		b.Reset()
		if _, err := e.WriteFlowLog(&b, VNetFlowLog); err != nil || !json.Valid(b.Bytes()) {
			t.Fatalf("flow log: %v (valid JSON: %v)", err, json.Valid(b.Bytes()))
		}
	})
}
