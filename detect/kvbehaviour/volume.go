package kvbehaviour

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/baseline"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
)

// KV_OperationVolumeAnomaly keeps, per vault, its operation counts per hour
// for HistoryDays days (a ring of uint32), the callers of the hour being
// counted, and the highest hour of its busiest callers. baseline.Rate learns
// per hour of the week and needs weeks of samples per slot; right after the
// 7-day learning period each slot has one, too few for a median, so this
// detection compares an hour with the same hour of every day of the
// history (7 to HistoryDays samples), and with the vault's and the
// caller's highest hour, which a weekly or monthly job sets.

// Bounds of a vault's volume state.
const (
	maxHourCallers = 512 // callers of one hour followed; further ones only counted
	maxPeaks       = 64  // callers whose highest hour is remembered
	volumeEvidence = 5   // records kept per caller and hour
	// madScale turns a median absolute deviation into a standard deviation
	// of normal data.
	madScale = 1.4826
)

// volumeState is one vault's hourly counts.
type volumeState struct {
	// First is the Unix hour the history starts; Hour the hour being
	// counted; Active the last hour with an operation.
	First  int64 `json:"first"`
	Hour   int64 `json:"hour"`
	Active int64 `json:"active"`
	// Counts is a ring of HistoryDays x 24 hourly counts indexed by Unix
	// hour modulo its length; hours without operations hold 0.
	Counts []uint32 `json:"counts"`
	// Callers are the callers of the hour being counted.
	Callers []hourCaller `json:"callers,omitempty"`
	// index finds a caller in Callers; lastCaller is the previous record's.
	index      map[string]int
	lastCaller int
	spare      []*hourExtra
	// Peaks are callers' highest hours on the vault within the history;
	// Floor is the highest hour of a caller not in Peaks (a caller not in
	// Peaks had at most Floor operations in any hour).
	Peaks []peak `json:"peaks,omitempty"`
	Floor peak   `json:"floor"`
}

// hourCaller is one caller's operations in the hour being counted: 80
// bytes, kept from hour to hour for the next hour's callers.
type hourCaller struct {
	Key    string `json:"key"`
	Count  int32  `json:"count"`
	Failed int32  `json:"failed,omitempty"`
	Denied int32  `json:"denied,omitempty"`
	// First and Last are Unix nanoseconds.
	First int64 `json:"first"`
	Last  int64 `json:"last"`
	// Ops are the distinct operations.
	Ops []string `json:"ops,omitempty"`
	// Extra is what only a few callers need, allocated when first needed.
	Extra *hourExtra `json:"extra,omitempty"`
}

// hourExtra holds a caller's countries new to the vault, and its records
// from its evidenceFrom()th operation of the hour on: only a caller that
// busy can become a candidate, and the hour's many other callers keep no
// records.
type hourExtra struct {
	Countries []string  `json:"countries,omitempty"`
	Evidence  azops.Acc `json:"evidence"`
}

// extra returns the caller's extra part, taking a spare one when it has none.
func (vs *volumeState) extra(c *hourCaller) *hourExtra {
	if c.Extra == nil {
		if n := len(vs.spare); n > 0 {
			c.Extra, vs.spare = vs.spare[n-1], vs.spare[:n-1]
		} else {
			c.Extra = &hourExtra{}
		}
	}
	return c.Extra
}

// keptCallers is how many callers' slots a vault keeps from one hour to
// the next: a busier hour's are let go (two allocations an hour), so a
// vault with many callers holds kilobytes, not the room of its busiest hour.
const keptCallers = 64

// maxSpare is how many extra parts a vault keeps for the next hours'
// busy callers.
const maxSpare = 8

// evidenceFrom is the count of a caller's operations in an hour from which
// its records are kept as evidence.
func (d *vaultDetector) evidenceFrom() int { return max(1, d.s.OperationVolume.MinCount/2) }

// peak is a caller's highest hourly count and its Unix day.
type peak struct {
	H   uint64 `json:"h,omitempty"`
	Max uint32 `json:"max,omitempty"`
	Day int64  `json:"day,omitempty"`
}

func (d *vaultDetector) historyHours() int64 { return int64(d.s.HistoryDays) * 24 }

func (d *vaultDetector) newVolume() *volumeState {
	return &volumeState{Counts: make([]uint32, d.historyHours()), First: -1}
}

// countVolume counts one record in its hour.
func (d *vaultDetector) countVolume(vs *volumeState, r *azops.Rec, newCountry string, emit detect.Emitter) {
	h := hourOf(r.Time)
	n := int64(len(vs.Counts))
	switch {
	case vs.First < 0:
		vs.First, vs.Hour, vs.Active = h, h, h
	case h > vs.Hour:
		d.closeHour(vs, h, emit)
	case h < vs.Hour: // older than the hour being counted (an overflowing buffer)
		if vs.Hour-h < n && h >= vs.First {
			vs.Counts[mod(h, n)] = sat(vs.Counts[mod(h, n)])
		}
		return
	}
	vs.Active = h
	vs.Counts[mod(h, n)] = sat(vs.Counts[mod(h, n)])
	if vs.index == nil {
		vs.index = make(map[string]int, len(vs.Callers))
		for i := range vs.Callers {
			vs.index[vs.Callers[i].Key] = i
		}
	}
	pk := r.PrincipalKey()
	i, ok := vs.lastCaller, vs.lastCaller < len(vs.Callers) && vs.Callers[vs.lastCaller].Key == pk
	if !ok { // a caller's records often come in runs
		i, ok = vs.index[pk]
	}
	if !ok {
		if len(vs.Callers) >= maxHourCallers {
			return
		}
		i = len(vs.Callers)
		if i < cap(vs.Callers) { // reuse the slot and its buffer
			vs.Callers = vs.Callers[:i+1]
			c := &vs.Callers[i]
			*c = hourCaller{Key: pk, Ops: c.Ops[:0]}
		} else {
			vs.Callers = append(vs.Callers, hourCaller{Key: pk})
		}
		vs.index[pk] = i
	}
	vs.lastCaller = i
	c := &vs.Callers[i]
	ns := r.Time.UnixNano()
	if c.Count == 0 || ns < c.First {
		c.First = ns
	}
	c.Last = max(c.Last, ns)
	c.Count = min(c.Count+1, math.MaxInt32-1)
	if r.Failed() {
		c.Failed++
	}
	if r.Denied() {
		c.Denied++
	}
	if len(c.Ops) < azops.MaxOps && !slices.Contains(c.Ops, r.Operation) {
		c.Ops = append(c.Ops, r.Operation)
	}
	if newCountry != "" {
		x := vs.extra(c)
		x.Countries = addCountry(x.Countries, newCountry)
	}
	if int(c.Count) >= d.evidenceFrom() {
		vs.extra(c).Evidence.Add(r, min(volumeEvidence, d.s.MaxEvidence))
	}
}

func sat(x uint32) uint32 {
	if x == math.MaxUint32 {
		return x
	}
	return x + 1
}

// tickVolume closes the hour once the watermark has passed it, and reports
// whether the vault's history holds nothing any more.
func (d *vaultDetector) tickVolume(vs *volumeState, wm time.Time, emit detect.Emitter) bool {
	if vs.First < 0 {
		return true
	}
	if h := hourOf(wm); h > vs.Hour {
		d.closeHour(vs, h, emit)
	}
	return vs.Hour-vs.Active >= int64(len(vs.Counts)) && len(vs.Callers) == 0
}

// closeHour judges the hour being counted, learns its callers' counts and
// moves on to hour next, clearing the hours in between.
func (d *vaultDetector) closeHour(vs *volumeState, next int64, emit detect.Emitter) {
	h, n := vs.Hour, int64(len(vs.Counts))
	if len(vs.Callers) > 0 {
		d.judgeHour(vs, h, emit)
		d.learnPeaks(vs, h)
		clear(vs.index)
		for i := range vs.Callers {
			c := &vs.Callers[i]
			if x := c.Extra; x != nil && len(vs.spare) < maxSpare {
				x.Evidence.Reset()
				x.Countries = x.Countries[:0]
				vs.spare = append(vs.spare, x)
			}
			c.Key, c.Extra = "", nil
		}
		vs.Callers = vs.Callers[:0]
		if cap(vs.Callers) > keptCallers { // an hour of many callers: let its room go
			vs.Callers, vs.index = make([]hourCaller, 0, keptCallers), nil
		}
	}
	if next-h >= n {
		clear(vs.Counts)
	} else {
		for x := h + 1; x <= next; x++ {
			vs.Counts[mod(x, n)] = 0
		}
	}
	vs.Hour = next
	if next-vs.Active >= n { // silent for the whole history: learn again
		vs.First = next
		vs.Peaks, vs.Floor = vs.Peaks[:0], peak{}
	}
}

// hourBaseline is what the history says about one hour of the day.
type hourBaseline struct {
	median, mad float64
	samples     int    // days of history the median is over
	peak        uint32 // the vault's highest hour in the history
}

// baselineOf computes the baseline of hour h from the hours before it.
func (vs *volumeState) baselineOf(h int64) hourBaseline {
	n := int64(len(vs.Counts))
	var buf [maxHistoryDays]float64
	xs := buf[:0]
	for x := h - 24; x >= vs.First && h-x < n; x -= 24 {
		xs = append(xs, float64(vs.Counts[mod(x, n)]))
	}
	var b hourBaseline
	b.samples = len(xs)
	for x := max(vs.First, h-n+1); x < h; x++ {
		b.peak = max(b.peak, vs.Counts[mod(x, n)])
	}
	if len(xs) == 0 {
		return b
	}
	b.median = median(xs)
	for i := range xs {
		xs[i] = math.Abs(xs[i] - b.median)
	}
	b.mad = median(xs)
	return b
}

// median sorts xs and returns its median.
func median(xs []float64) float64 {
	slices.Sort(xs)
	k := len(xs)
	if k%2 == 1 {
		return xs[k/2]
	}
	return (xs[k/2-1] + xs[k/2]) / 2
}

// upper is the usual upper bound of an hour: median + 3 standard
// deviations estimated from the MAD, at least the Poisson spread, at least 1.
func (b hourBaseline) upper() float64 {
	return max(b.median+3*madScale*b.mad, b.median+3*math.Sqrt(b.median), 1)
}

// judgeHour raises a candidate for every caller of hour h that made the
// vault's hour far busier than usual (see OperationVolume).
func (d *vaultDetector) judgeHour(vs *volumeState, h int64, emit detect.Emitter) {
	cfg := &d.s.OperationVolume
	learn := int64(d.s.Learning / time.Hour)
	if h-vs.First < learn {
		return
	}
	busiest := 0
	for i := range vs.Callers {
		busiest = max(busiest, int(vs.Callers[i].Count))
	}
	if busiest < cfg.MinCount { // the usual hour: no caller busy enough
		return
	}
	total := float64(vs.Counts[mod(h, int64(len(vs.Counts)))])
	b := vs.baselineOf(h)
	if b.samples == 0 || total < cfg.Ratio*b.upper() || total < cfg.PeakRatio*float64(b.peak) {
		return
	}
	for i := range vs.Callers {
		c := &vs.Callers[i]
		count := float64(c.Count)
		if int(c.Count) < cfg.MinCount || 2*count < total-b.median || c.Extra == nil || c.Extra.Evidence.Count == 0 {
			continue
		}
		own := vs.peakOf(baseline.HashString(c.Key), floorDiv(h, 24)-int64(d.s.HistoryDays))
		if count < cfg.PeakRatio*float64(own) {
			continue
		}
		emit.Emit(d.volumeCandidate(vs, c, h, total, b, own))
	}
}

// peakOf returns a caller's highest hour in the history (days after
// oldest), or Floor when the caller is not among Peaks.
func (vs *volumeState) peakOf(hk uint64, oldest int64) uint32 {
	for _, p := range vs.Peaks {
		if p.H == hk && p.Day > oldest {
			return p.Max
		}
	}
	if vs.Floor.Day > oldest {
		return vs.Floor.Max
	}
	return 0
}

// learnPeaks folds the callers of hour h into Peaks and Floor, and drops
// the peaks older than the history.
func (d *vaultDetector) learnPeaks(vs *volumeState, h int64) {
	day := floorDiv(h, 24)
	oldest := day - int64(d.s.HistoryDays)
	vs.Peaks = slices.DeleteFunc(vs.Peaks, func(p peak) bool { return p.Day <= oldest })
	if vs.Floor.Day <= oldest {
		vs.Floor = peak{}
	}
	for i := range vs.Callers {
		c := &vs.Callers[i]
		p := peak{H: baseline.HashString(c.Key), Max: uint32(c.Count), Day: day}
		j := slices.IndexFunc(vs.Peaks, func(q peak) bool { return q.H == p.H })
		switch {
		case j >= 0:
			if p.Max >= vs.Peaks[j].Max {
				vs.Peaks[j] = p
			}
		case len(vs.Peaks) < maxPeaks:
			vs.Peaks = append(vs.Peaks, p)
		default:
			low := 0
			for k := range vs.Peaks {
				if vs.Peaks[k].Max < vs.Peaks[low].Max {
					low = k
				}
			}
			if p.Max > vs.Peaks[low].Max {
				p, vs.Peaks[low] = vs.Peaks[low], p
			}
			if p.Max >= vs.Floor.Max {
				vs.Floor = peak{Max: p.Max, Day: p.Day}
			}
		}
	}
}

// volumeCandidate builds the candidate for caller c of hour h.
func (d *vaultDetector) volumeCandidate(vs *volumeState, c *hourCaller, h int64, total float64, b hourBaseline, own uint32) alert.Candidate {
	x := c.Extra
	cand := x.Evidence.Candidate(TypeOperationVolumeAnomaly, "related")
	// The evidence is a sample; the counts and times are the hour's.
	first, last := time.Unix(0, c.First).UTC(), time.Unix(0, c.Last).UTC()
	cand.Count, cand.First, cand.Last, cand.Time = int(c.Count), first, last, last
	ops := slices.Clone(c.Ops)
	slices.Sort(ops)
	cand.Details["operations"] = strings.Join(ops, ", ")
	cand.Details["count"] = strconv.Itoa(int(c.Count))
	cand.Details["failed"] = strconv.Itoa(int(c.Failed))
	cand.Details["denied"] = strconv.Itoa(int(c.Denied))
	cand.Details["firstTime"] = azops.FormatTime(first)
	cand.Details["lastTime"] = azops.FormatTime(last)
	r := &x.Evidence.Recs[0]
	vaultCandidate(&cand, r, c.Key)
	start := hourTime(h)
	cand.Details["window"] = "1h"
	cand.Details["hourStart"] = azops.FormatTime(start)
	cand.Details["hourCount"] = formatFloat(total)
	cand.Details["expected"] = formatFloat(b.median)
	cand.Details["mad"] = formatFloat(b.mad)
	cand.Details["peak"] = formatCount(int64(b.peak))
	cand.Details["callerPeak"] = formatCount(int64(own))
	cand.Details["historyDays"] = formatCount(int64(b.samples))
	cand.Details["baseline"] = "median " + formatFloat(b.median) + "/h at " + start.Format("15:00") + " UTC, MAD " +
		formatFloat(b.mad) + " over " + formatCount(int64(b.samples)) + " days; busiest hour " + formatCount(int64(b.peak)) +
		"; this caller's busiest hour " + formatCount(int64(own))
	acc := x.Evidence
	acc.Denied = int(c.Denied) // the raise counts every refused operation of the hour
	d.raise.finish(&cand, &acc, x.Countries, hourTime(vs.First))
	return cand
}

// checkVolume validates a restored volume state; a history of another
// length (HistoryDays changed) is started over.
func (d *vaultDetector) checkVolume(vs *volumeState) error {
	if int64(len(vs.Counts)) != d.historyHours() {
		*vs = *d.newVolume()
		return nil
	}
	for _, h := range []int64{vs.Hour, vs.Active} {
		if h < minHour || h > maxHour {
			return errors.New("hour out of range")
		}
	}
	if vs.First != -1 && (vs.First < minHour || vs.First > vs.Hour || vs.Active < vs.First || vs.Active > vs.Hour) {
		return errors.New("hours out of order")
	}
	if len(vs.Callers) > maxHourCallers || len(vs.Peaks) > maxPeaks {
		return errors.New("too many callers")
	}
	seen := make(map[string]bool, len(vs.Callers))
	for i := range vs.Callers {
		c := &vs.Callers[i]
		if seen[c.Key] {
			return errors.New("caller listed twice")
		}
		seen[c.Key] = true
		if c.Count <= 0 || c.Failed < 0 || c.Denied < 0 || c.Failed > c.Count || c.Denied > c.Count || c.Last < c.First ||
			len(c.Ops) > azops.MaxOps {
			return errors.New("caller counts out of range")
		}
		if x := c.Extra; x != nil {
			if err := checkAcc(&x.Evidence); err != nil {
				return err
			}
			if x.Evidence.Count > int(c.Count) || len(x.Countries) > maxListed {
				return errors.New("caller evidence out of range")
			}
		}
	}
	vs.index = nil
	return nil
}
