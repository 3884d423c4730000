package baseline

import (
	"bytes"
	"encoding/json"
	"math"
	"runtime"
	"testing"
	"time"
)

// feed observes hourly counts from weekStart, one observation per hour.
func feed(r *Rate, counts []float64) {
	for h, x := range counts {
		r.Observe(weekStart.Add(time.Duration(h)*time.Hour), x)
	}
}

var methods = []RateConfig{{Method: EWMA}, {Method: MedianMAD}}

// TestRateSeasonality: four weeks of office rhythm (peak 100 an hour,
// realistic noise, no spikes), then the fifth week's hours are scored
// against the same hour of the week.
func TestRateSeasonality(t *testing.T) {
	s := genSeries(42, 4, 100, 99)
	monday10 := weekStart.Add(4*7*day + 10*time.Hour)
	sunday03 := weekStart.Add(4*7*day + 6*day + 3*time.Hour)
	usual10 := 100 * officeShape[10] * 1.04 // the series grows 1% a week
	usualWeekend := 100 * 0.08 * 1.04
	tests := []struct {
		name     string
		at       time.Time
		observed float64
		anomaly  bool
	}{
		{"Monday 10:00 at its usual level", monday10, usual10, false},
		{"Monday 10:00 a little busier", monday10, usual10 * 1.3, false},
		{"Monday 10:00 five times its usual", monday10, 5 * usual10, true},
		{"Monday 10:00 ten times its usual", monday10, 10 * usual10, true},
		{"Sunday 03:00 at its usual level", sunday03, usualWeekend, false},
		{"Sunday 03:00 at Monday 10:00's level", sunday03, usual10, true},
		{"Monday 10:00 at Sunday's level (a dip, not a spike)", monday10, usualWeekend, false},
	}
	for _, cfg := range methods {
		r := NewRate(RateConfig{Method: cfg.Method, MinWeeks: 4})
		feed(r, s.counts)
		r.Advance(weekStart.Add(4*7*day), nil)
		for _, tc := range tests {
			t.Run(cfg.Method.String()+"/"+tc.name, func(t *testing.T) {
				sc := r.Score(tc.at, tc.observed)
				if !sc.Enough || sc.Samples != 4 {
					t.Fatalf("after four weeks: enough %v, samples %d", sc.Enough, sc.Samples)
				}
				if got := sc.Z >= 4; got != tc.anomaly {
					t.Errorf("observed %.0f: Z = %.2f (expected %.1f, spread %.1f), anomaly %v, want %v",
						tc.observed, sc.Z, sc.Expected, sc.Spread, got, tc.anomaly)
				}
				if math.Abs(sc.Z-(tc.observed-sc.Expected)/sc.Spread) > 1e-9 {
					t.Errorf("Z %.3f is not (observed - expected) / spread", sc.Z)
				}
			})
		}
	}
}

func TestRateEnough(t *testing.T) {
	for _, cfg := range methods {
		r := NewRate(cfg) // MinWeeks 3
		at := weekStart.Add(10 * time.Hour)
		for week := range 4 {
			sc := r.Score(at.Add(time.Duration(week)*7*day), 50)
			if sc.Samples != week || sc.Enough != (week >= 3) {
				t.Errorf("%s, week %d: samples %d, enough %v", cfg.Method, week, sc.Samples, sc.Enough)
			}
			r.Observe(at.Add(time.Duration(week)*7*day), 50)
			r.Advance(at.Add(time.Duration(week)*7*day+time.Hour), nil)
		}
		// 11:00 of the last week is the hour being counted: three learnt.
		if sc := r.Score(at.Add(time.Hour), 0); sc.Samples != 3 || sc.Expected != 0 {
			t.Errorf("%s: an hour never observed learnt %d weeks of %.1f, want 3 of zero", cfg.Method, sc.Samples, sc.Expected)
		}
	}
}

func TestRateAdvance(t *testing.T) {
	r := NewRate(RateConfig{})
	at := func(h, m int) time.Time {
		return weekStart.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	r.Observe(at(10, 5), 3)
	r.Observe(at(10, 40), 4)
	if h, c, ok := r.Pending(); !ok || !h.Equal(at(10, 0)) || c != 7 {
		t.Errorf("pending %v %v %v, want 10:00, 7", h, c, ok)
	}
	r.Observe(at(12, 10), 1) // learns 10:00 (7) and 11:00 (0)
	type call struct {
		hour  time.Time
		count float64
		s     Score
	}
	var calls []call
	cb := func(h time.Time, c float64, s Score) { calls = append(calls, call{h, c, s}) }
	r.Advance(at(12, 59), cb) // the hour is not over
	r.Advance(at(13, 30), cb)
	r.Advance(at(16, 0), cb) // 13:00 to 15:00 had nothing: no call
	if len(calls) != 1 || !calls[0].hour.Equal(at(12, 0)) || calls[0].count != 1 || calls[0].s.Samples != 0 {
		t.Fatalf("closed calls %+v, want one for 12:00 with 1, scored before it was learnt", calls)
	}
	for h, want := range map[int]float64{10: 7, 11: 0, 12: 1, 13: 0, 15: 0} {
		if sc := r.Score(at(h, 0), 0); sc.Samples != 1 || sc.Expected != want {
			t.Errorf("%02d:00 learnt %d weeks, expected %.1f; want 1 of %.1f", h, sc.Samples, sc.Expected, want)
		}
	}
	if sc := r.Score(at(16, 0), 0); sc.Samples != 0 {
		t.Errorf("the hour being counted has %d weeks learnt", sc.Samples)
	}
	r.Observe(at(11, 0), 5) // an hour already learnt
	if r.Late() != 1 {
		t.Errorf("late = %d, want 1", r.Late())
	}
	if sc := r.Score(at(11, 0), 0); sc.Expected != 0 {
		t.Errorf("a late observation changed 11:00 to %.1f", sc.Expected)
	}
	if !r.Last().Equal(at(12, 10)) {
		t.Errorf("last observation %v, want 12:10", r.Last())
	}
}

func TestRateResetGap(t *testing.T) {
	r := NewRate(RateConfig{})
	feed(r, genSeries(1, 3, 50, 99).counts)
	if sc := r.Score(weekStart.Add(10*time.Hour), 0); sc.Samples != 3 {
		t.Fatalf("samples %d after three weeks", sc.Samples)
	}
	back := weekStart.Add(3*7*day + ResetGap + 10*time.Hour)
	r.Observe(back, 20)
	r.Advance(back.Add(time.Hour), nil)
	sc := r.Score(weekStart.Add(10*time.Hour), 0)
	if sc.Samples != 1 || sc.Expected != 20 {
		t.Errorf("after %v of silence: %d weeks learnt, expected %.1f; want the profile forgotten (1, 20)", ResetGap, sc.Samples, sc.Expected)
	}
}

// TestRateSpikeDoesNotTeach: the clipped EWMA barely moves on a spike, so
// the same spike next week is still caught.
func TestRateSpikeDoesNotTeach(t *testing.T) {
	r := NewRate(RateConfig{})
	counts := genSeries(3, 8, 100, 99).counts
	spikeAt := 6*hoursPerWeek + 10 // week 6, Monday 10:00
	counts[spikeAt] *= 10
	feed(r, counts[:7*hoursPerWeek])
	sc := r.Score(weekStart.Add(time.Duration(7*hoursPerWeek+10)*time.Hour), counts[spikeAt])
	if sc.Z < 4 {
		t.Errorf("the same spike a week later: Z %.2f (expected %.1f): the first one was learnt", sc.Z, sc.Expected)
	}
	if sc.Expected > 1.5*100*officeShape[10] {
		t.Errorf("expected %.1f after one spike, want near %.0f", sc.Expected, 100*officeShape[10])
	}
}

func TestRateRoundTrip(t *testing.T) {
	counts := genSeries(9, 6, 200, 3).counts
	half := len(counts) / 2
	for _, cfg := range methods {
		t.Run(cfg.Method.String(), func(t *testing.T) {
			a := NewRate(cfg)
			b := NewRate(cfg)
			feed(a, counts[:half])
			feed(b, counts[:half])
			// b goes through a restart: JSON in a detector state.
			data, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			var restored Rate
			if err := json.Unmarshal(data, &restored); err != nil {
				t.Fatal(err)
			}
			for h := half; h < len(counts); h++ {
				at := weekStart.Add(time.Duration(h) * time.Hour)
				if sa, sb := a.Score(at, counts[h]), restored.Score(at, counts[h]); sa != sb {
					t.Fatalf("hour %d: restored scores %+v, original %+v", h, sb, sa)
				}
				a.Observe(at, counts[h])
				restored.Observe(at, counts[h])
			}
			ba, _ := a.MarshalBinary()
			bb, _ := restored.MarshalBinary()
			if !bytes.Equal(ba, bb) {
				t.Error("restored and original rates end in different states")
			}
			var zero Rate
			z, _ := zero.MarshalBinary()
			var back Rate
			if err := back.UnmarshalBinary(z); err != nil || back.Last() != (time.Time{}) {
				t.Errorf("zero value round trip: %v", err)
			}
		})
	}
}

func TestRateUnmarshalRefuses(t *testing.T) {
	r := NewRate(RateConfig{})
	feed(r, []float64{1, 2, 3})
	good, _ := r.MarshalBinary()
	bad := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	negative := bytes.Clone(good)
	negative[len(negative)-1] = 0xBF // the last slot's float32 sign bit: -1.5
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(bytes.Clone(good), 0)},
		{"unknown method", bad(2, 9)},
		{"weeks out of range", bad(3, 200)},
		{"negative slot value", negative},
		{"open flag", bad(2+3+16, 7)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var x Rate
			x.Observe(t0, 5)
			if err := x.UnmarshalBinary(tc.data); err == nil {
				t.Fatal("accepted")
			}
			if _, c, _ := x.Pending(); c != 5 {
				t.Error("a refused state changed the rate")
			}
		})
	}
	if err := new(Rate).UnmarshalBinary(good); err != nil {
		t.Fatalf("the unaltered encoding is refused: %v", err)
	}
}

func TestRateObserveDoesNotAllocate(t *testing.T) {
	r := NewRate(RateConfig{})
	feed(r, []float64{1, 2})
	at := weekStart.Add(2 * time.Hour)
	if n := testing.AllocsPerRun(1000, func() {
		at = at.Add(7 * time.Minute)
		r.Observe(at, 1)
		_ = r.Score(at, 3)
	}); n != 0 {
		t.Errorf("Observe and Score allocate %.1f times", n)
	}
}

// TestRateMemory checks the bytes per Rate the documentation states.
func TestRateMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 10_000
	for _, tc := range []struct {
		cfg  RateConfig
		max  float64
		data int
	}{{RateConfig{Method: EWMA}, 1600, 1344}, {RateConfig{Method: MedianMAD}, 4300, 4032}} {
		before := heapBytes()
		rates := make([]*Rate, n)
		for i := range rates {
			rates[i] = NewRate(tc.cfg)
			feed(rates[i], []float64{1, 2})
		}
		after := heapBytes()
		per := float64(after-before) / n
		t.Logf("Rate %s: %.0f bytes each (%d of slots)", tc.cfg.Method, per, tc.data)
		if per > tc.max || len(rates[0].data)*4 != tc.data {
			t.Errorf("Rate %s: %.0f bytes each, %d of slots; documented at most %.0f", tc.cfg.Method, per, len(rates[0].data)*4, tc.max)
		}
		runtime.KeepAlive(rates)
	}
}
