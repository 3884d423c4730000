package baseline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// This file measures the two rate methods on realistic hourly series: an
// office-hours rhythm (weekday ramp, lunch dip, evening tail), a nightly
// batch job on weekdays, quiet weekends, day-to-day and hour-to-hour
// overdispersion (log-normal, sigma 0.25 and 0.2) on top of Poisson noise, a
// slow growth (+1% a week), a public holiday now and then, and spikes of 5x
// and 10x injected into 2% of the hours after the first four weeks. Three
// scales: a vault read ~20 times an hour at peak, a subscription's Resource
// Manager activity ~300, a busy network flow counter ~5000.

// weekStart is a Monday 00:00 UTC.
var weekStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// officeShape is the weekday level by hour of day, as a share of the peak.
var officeShape = [24]float64{
	0.04, 0.04, 0.04, 0.04, 0.04, 0.05, 0.08, 0.2, 0.55, 0.9, 1, 1,
	0.7, 0.95, 1, 0.95, 0.8, 0.55, 0.3, 0.15, 0.1, 0.07, 0.05, 0.04,
}

// hourSeries is one generated series: counts per hour from weekStart, and
// for each hour its spike factor (1: none).
type hourSeries struct {
	counts []float64
	spike  []float64
}

// poisson draws from Poisson(lambda): Knuth's method when small, the normal
// approximation when large.
func poisson(rng *rand.Rand, lambda float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if lambda > 60 {
		return max(0, math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64()))
	}
	l, k, p := math.Exp(-lambda), 0.0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// genSeries generates weeks of hourly counts at the given peak rate.
func genSeries(seed uint64, weeks int, peak float64, spikeFrom int) hourSeries {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	n := weeks * hoursPerWeek
	s := hourSeries{counts: make([]float64, n), spike: make([]float64, n)}
	var dayMul float64
	holiday := false
	for h := range n {
		day, hod := h/24, h%24
		wd := day % 7 // 0 = Monday
		if hod == 0 {
			dayMul = math.Exp(0.25*rng.NormFloat64() - 0.25*0.25/2)
			holiday = wd < 5 && rng.Float64() < 0.02
		}
		var lambda float64
		switch {
		case wd >= 5 || holiday:
			lambda = peak * 0.08
		default:
			lambda = peak * officeShape[hod]
			if hod == 2 { // the nightly batch job
				lambda += peak * 0.5
			}
		}
		lambda *= dayMul * (1 + 0.01*float64(h/hoursPerWeek))
		lambda *= math.Exp(0.2*rng.NormFloat64() - 0.2*0.2/2)
		s.spike[h] = 1
		if h >= spikeFrom*hoursPerWeek && rng.Float64() < 0.02 {
			s.spike[h] = []float64{5, 10}[rng.IntN(2)]
		}
		s.counts[h] = poisson(rng, lambda*s.spike[h])
	}
	return s
}

// methodResult is what one configuration scored on the series.
type methodResult struct {
	normal, flagged int // normal hours scored (Enough) and flagged
	spikes, caught  [2]int
	normalZ         []float64
	spikeZ          [2][]float64
	bytes           int
}

// runMethod feeds the series hour by hour, scoring each hour before it is
// learnt, flagging Z >= threshold.
func runMethod(cfg RateConfig, series []hourSeries, threshold float64) methodResult {
	var res methodResult
	for _, s := range series {
		r := NewRate(cfg)
		for h, x := range s.counts {
			t := weekStart.Add(time.Duration(h) * time.Hour)
			sc := r.Score(t, x)
			r.Observe(t, x)
			if !sc.Enough {
				continue
			}
			flag := sc.Z >= threshold
			switch s.spike[h] {
			case 1:
				res.normal++
				res.normalZ = append(res.normalZ, sc.Z)
				if flag {
					res.flagged++
				}
			default:
				i := 0
				if s.spike[h] == 10 {
					i = 1
				}
				res.spikes[i]++
				res.spikeZ[i] = append(res.spikeZ[i], sc.Z)
				if flag {
					res.caught[i]++
				}
			}
		}
		res.bytes = len(r.data) * 4
	}
	return res
}

// detectionAtFPR returns the share of spike Z at or above the threshold that
// flags fpr of the normal hours.
func detectionAtFPR(normal, spikes []float64, fpr float64) (float64, float64) {
	n := slices.Clone(normal)
	slices.Sort(n)
	thr := n[min(len(n)-1, int(math.Ceil(float64(len(n))*(1-fpr))))]
	c := 0
	for _, z := range spikes {
		if z > thr {
			c++
		}
	}
	return float64(c) / float64(len(spikes)), thr
}

// candidates are the configurations compared.
var candidates = []struct {
	name string
	cfg  RateConfig
}{
	{"ewma a=0.1 clip3", RateConfig{Method: EWMA, Alpha: 0.1}},
	{"ewma a=0.2 clip3", RateConfig{Method: EWMA, Alpha: 0.2}},
	{"ewma a=0.3 clip3", RateConfig{Method: EWMA, Alpha: 0.3}},
	{"ewma a=0.2 noclip", RateConfig{Method: EWMA, Alpha: 0.2, ClipZ: 1e9}},
	{"median-mad w=4", RateConfig{Method: MedianMAD, Weeks: 4}},
	{"median-mad w=6", RateConfig{Method: MedianMAD, Weeks: 6}},
	{"median-mad w=8", RateConfig{Method: MedianMAD, Weeks: 8}},
}

// measureScales are the peak rates of the three kinds of series.
var measureScales = []struct {
	name string
	peak float64
}{{"vault ~20/h", 20}, {"ARM ~300/h", 300}, {"flows ~5000/h", 5000}}

const (
	measureWeeks     = 20
	measureSeries    = 8 // per scale
	measureThreshold = 4.0
)

func measureSeriesFor(peak float64) []hourSeries {
	var out []hourSeries
	for i := range measureSeries {
		out = append(out, genSeries(uint64(i+1)*7919+uint64(peak), measureWeeks, peak, 4))
	}
	return out
}

// TestRateMethodsMeasured compares the methods and checks that the default
// does what the package documentation says it does. Run with -v to see the
// table the documentation quotes.
func TestRateMethodsMeasured(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "%-14s %-18s %8s %8s %8s %12s %12s %7s\n", "series", "method", "FPR@4", "5x@4", "10x@4", "5x@FPR.1%", "10x@FPR.1%", "bytes")
	results := map[string]map[string]methodResult{}
	for _, sc := range measureScales {
		series := measureSeriesFor(sc.peak)
		results[sc.name] = map[string]methodResult{}
		for _, c := range candidates {
			res := runMethod(c.cfg, series, measureThreshold)
			results[sc.name][c.name] = res
			d5, _ := detectionAtFPR(res.normalZ, res.spikeZ[0], 0.001)
			d10, _ := detectionAtFPR(res.normalZ, res.spikeZ[1], 0.001)
			fmt.Fprintf(&tbl, "%-14s %-18s %7.3f%% %7.1f%% %7.1f%% %11.1f%% %11.1f%% %7d\n", sc.name, c.name,
				100*float64(res.flagged)/float64(res.normal),
				100*float64(res.caught[0])/float64(res.spikes[0]),
				100*float64(res.caught[1])/float64(res.spikes[1]),
				100*d5, 100*d10, res.bytes)
		}
	}
	t.Logf("rate methods, %d series x %d weeks per scale, spikes in 2%% of hours after week 4, flag Z >= %v:\n%s",
		measureSeries, measureWeeks, measureThreshold, tbl.String())

	// What the documentation claims: the default is EWMA with alpha 0.2,
	// it keeps the false positive rate at Z >= 4 under 0.3% and catches
	// most 10x spikes, and at an equal false positive rate (0.1%) it catches
	// at least as many 5x spikes as the median of six weeks, with less
	// memory.
	if got := NewRate(RateConfig{}).Config(); got != candidates[1].cfg.normalise() {
		t.Errorf("default configuration %+v is not the measured winner %+v", got, candidates[1].cfg.normalise())
	}
	def, med := candidates[1].name, candidates[5].name
	for _, sc := range measureScales {
		e, m := results[sc.name][def], results[sc.name][med]
		fpr := float64(e.flagged) / float64(e.normal)
		d10 := float64(e.caught[1]) / float64(e.spikes[1])
		if fpr > 0.003 {
			t.Errorf("%s, %s: false positive rate %.3f%%, want <= 0.3%%", sc.name, def, 100*fpr)
		}
		if d10 < 0.88 {
			t.Errorf("%s, %s: 10x spikes caught %.1f%%, want >= 88%%", sc.name, def, 100*d10)
		}
		if mf := float64(m.flagged) / float64(m.normal); fpr > mf {
			t.Errorf("%s: %s false positive rate %.3f%% above %s's %.3f%%", sc.name, def, 100*fpr, med, 100*mf)
		}
		de, _ := detectionAtFPR(e.normalZ, e.spikeZ[0], 0.001)
		dm, _ := detectionAtFPR(m.normalZ, m.spikeZ[0], 0.001)
		if de < dm {
			t.Errorf("%s: at 0.1%% false positives %s catches %.1f%% of 5x spikes, %s %.1f%%", sc.name, def, 100*de, med, 100*dm)
		}
		if e.bytes >= m.bytes {
			t.Errorf("%s holds %d bytes, %s %d", def, e.bytes, med, m.bytes)
		}
	}
}
