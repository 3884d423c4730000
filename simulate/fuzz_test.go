package simulate

import (
	"bytes"
	"testing"
	"time"
)

// TestScenariosFitEveryEstateSize builds estates of several sizes and
// seeds: every one holds every scenario.
func TestScenariosFitEveryEstateSize(t *testing.T) {
	for _, opts := range []EstateOptions{
		{Seed: 1, Scale: 0.01, Days: 4, LearningDays: 2},
		{Seed: 2, Scale: 0.1, Days: 9},
		{Seed: 3, Scale: 0.5},
		{Seed: 4, Scale: 3, Days: 30, LearningDays: 14},
		{Seed: 5, Start: time.Date(2027, 3, 5, 17, 30, 0, 0, time.FixedZone("x", 3600))},
	} {
		e, err := NewEstate(opts)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		attacks := 0
		for _, l := range e.Labels() {
			if l.MustFire {
				attacks++
			}
			if l.Kind != LabelLearning && (l.From.Before(e.LearningEnd()) || l.To.After(e.End())) {
				t.Errorf("%+v: label %s %s [%s, %s] outside [%s, %s]", opts, l.ID, l.AlertType, l.From, l.To, e.LearningEnd(), e.End())
			}
		}
		// Every Key Vault and Resource Manager TI attack; the behaviour and
		// fraud scenarios where the estate has room (GPU fleet: 3 labels).
		if attacks < len(attackTypes) || attacks > len(attackTypes)+len(armTypes)+2 {
			t.Errorf("%+v: %d attacks", opts, attacks)
		}
	}
}

// FuzzEstateOptions: any options either fail with an error or give an
// estate whose first hours write records that read back whole.
func FuzzEstateOptions(f *testing.F) {
	f.Add(uint64(1), 3, 1, 0.05, "185.183.159.40", false)
	f.Add(uint64(9), 2, 0, 0.0, "", true)
	f.Add(uint64(2), -1, 5, -3.0, "::1", false)
	f.Add(uint64(3), 4000, 2, 0.02, "not an address", false)
	f.Fuzz(func(t *testing.T, seed uint64, days, learning int, scale float64, tor string, quiet bool) {
		opts := EstateOptions{Seed: seed, Days: days, LearningDays: learning, Scale: scale, NoScenarios: quiet}
		if tor != "" {
			opts.TorExits = []string{tor}
		}
		e, err := NewEstate(opts)
		if err != nil || e.End().Sub(e.Start()) > 5*24*time.Hour || len(e.Vaults()) > 12 {
			return // an error, or too large to write in a fuzz iteration
		}
		var buf bytes.Buffer
		st, err := e.Write(&buf, Records)
		if err != nil {
			t.Fatal(err)
		}
		if recs := readBack(t, buf.Bytes(), "fuzz"); int64(len(recs)) != st.Records {
			t.Fatalf("read %d of %d records", len(recs), st.Records)
		}
	})
}
