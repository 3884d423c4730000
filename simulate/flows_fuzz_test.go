package simulate

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// maxFuzzMessages is how many IPFIX messages of an estate a fuzz iteration
// decodes.
const maxFuzzMessages = 200

// FuzzFlowEstateOptions: any options either fail with an error or give an
// estate whose first IPFIX messages read back with the strict decoder and
// whose flow log starts as valid JSON.
func FuzzFlowEstateOptions(f *testing.F) {
	f.Add(uint64(1), 3, 1, 0.05, uint32(0), "", false)
	f.Add(uint64(9), 3, 1, 0.1, uint32(7), "77.90.185.20", true)
	f.Add(uint64(2), -1, 5, -3.0, uint32(1), "::1", false)
	f.Add(uint64(3), 4000, 2, 0.02, uint32(1<<21), "not an address", false)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, seed uint64, days, learning int, scale float64, sampling uint32, c2 string, quiet bool) {
		opts := FlowEstateOptions{Seed: seed, Days: days, LearningDays: learning, Scale: scale, SamplingRate: sampling, C2: c2, NoScenarios: quiet}
		e, err := NewFlowEstate(opts)
		if err != nil || e.End().Sub(e.Start()) > 3*24*time.Hour || len(e.VMs()) > 16 {
			return // an error, or too large to write in a fuzz iteration
		}
		// The first messages and the first megabyte of the flow log: the
		// smallest estate writes some 20 MB of each.
		templates := map[uint16][][2]uint16{}
		msgs, recs := 0, 0
		st, err := e.IPFIXDatagrams(func(msg []byte, _ time.Time) error {
			m, err := parseIPFIX(msg, templates)
			if err != nil {
				t.Fatalf("message %d: %v", msgs, err)
			}
			msgs++
			recs += len(m.recs)
			if msgs == maxFuzzMessages {
				return errCapped
			}
			return nil
		})
		switch {
		case errors.Is(err, errCapped):
		case err != nil:
			t.Fatal(err)
		case int64(recs) != st.Records || int64(msgs) != st.Messages:
			t.Fatalf("decoded %d records in %d messages; wrote %+v", recs, msgs, st)
		}
		w := &capWriter{max: maxFuzzOutput}
		if _, err := e.WriteFlowLog(w, VNetFlowLog); errors.Is(err, errCapped) {
			if !validJSONPrefix(w.buf.Bytes()) {
				t.Fatalf("flow log is not the start of JSON text")
			}
		} else if err != nil || !json.Valid(w.buf.Bytes()) {
			t.Fatalf("flow log: %v (valid JSON: %v)", err, json.Valid(w.buf.Bytes()))
		}
	})
}
