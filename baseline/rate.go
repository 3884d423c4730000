package baseline

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Method is how a Rate learns the usual count of an hour of the week.
type Method uint8

// Methods. See the package documentation for the measurement that made
// EWMA the default.
const (
	// MethodDefault is EWMA.
	MethodDefault Method = iota
	// EWMA keeps, per hour of the week, an exponentially weighted mean and
	// variance of the weekly counts, updated with the count clipped to
	// ClipZ spreads of the mean, so one spike barely moves the baseline.
	EWMA
	// MedianMAD keeps, per hour of the week, the counts of the last Weeks
	// weeks and compares with their median, the spread being 1.4826 times
	// their median absolute deviation.
	MedianMAD
)

// String names the method.
func (m Method) String() string {
	switch m {
	case EWMA, MethodDefault:
		return "ewma"
	case MedianMAD:
		return "median-mad"
	}
	return fmt.Sprintf("method(%d)", uint8(m))
}

// Defaults and limits of RateConfig.
const (
	// DefaultAlpha weighs the newest week's count by a fifth: a slot's
	// baseline has an effective memory of about nine weeks and follows a
	// lasting change in about three.
	DefaultAlpha = 0.2
	// DefaultClipZ clips what an EWMA learns to 3 spreads around its mean.
	DefaultClipZ = 3.0
	// DefaultWeeks is MedianMAD's window.
	DefaultWeeks = 6
	// DefaultMinWeeks is how many weeks a slot must have learnt before Score
	// reports Enough.
	DefaultMinWeeks = 3
	// maxWeeks bounds Weeks and MinWeeks.
	maxWeeks = 16
	// ResetGap is the silence after which a Rate forgets its profile and
	// learns again: the scope has changed, and folding that many empty
	// hours would only describe the silence.
	ResetGap = 8 * 7 * 24 * time.Hour

	hoursPerWeek = 168
	// mondayOffset is the hour of the week (Monday 00:00 UTC = 0) of Unix
	// hour 0, a Thursday.
	mondayOffset = 72
)

// RateConfig configures a Rate; its zero value means the defaults.
type RateConfig struct {
	Method Method
	// Alpha is EWMA's weight of a new week's count (0 < Alpha <= 1).
	Alpha float64
	// ClipZ is how many spreads from its mean an EWMA count is clipped to
	// before it is learnt (> 0).
	ClipZ float64
	// Weeks is how many weeks per slot MedianMAD keeps (1 to 16).
	Weeks int
	// MinWeeks is how many weeks a slot must have learnt before Score
	// reports Enough (1 to 16).
	MinWeeks int
}

func (c RateConfig) normalise() RateConfig {
	if c.Method != MedianMAD {
		c.Method = EWMA
	}
	if !(c.Alpha > 0 && c.Alpha <= 1) {
		c.Alpha = DefaultAlpha
	}
	if !(c.ClipZ > 0 && c.ClipZ < math.Inf(1)) {
		c.ClipZ = DefaultClipZ
	}
	if c.Weeks <= 0 {
		c.Weeks = DefaultWeeks
	}
	c.Weeks = min(c.Weeks, maxWeeks)
	if c.MinWeeks <= 0 {
		c.MinWeeks = DefaultMinWeeks
	}
	c.MinWeeks = min(c.MinWeeks, maxWeeks)
	return c
}

// slotWidth is how many float32 values a method keeps per slot.
func (c RateConfig) slotWidth() int {
	if c.Method == MedianMAD {
		return c.Weeks
	}
	return 2 // mean, variance
}

// Score compares a count with the baseline of its hour of the week.
type Score struct {
	// Expected is the usual count for the hour of the week.
	Expected float64
	// Spread is the usual deviation from it, never below the Poisson
	// deviation sqrt(max(Expected, 1)), so a quiet hour's handful of events
	// is not a many-sigma event.
	Spread float64
	// Z is (observed - Expected) / Spread.
	Z float64
	// Samples is how many weeks the hour has learnt.
	Samples int
	// Enough reports Samples >= MinWeeks: below it Z means little.
	Enough bool
}

// Rate is a rate baseline for one scope: counts per hour (event time), learnt
// per hour of the week (168 slots, Monday 00:00 UTC first), so Monday 10:00
// is compared with earlier Mondays at 10:00 and Sunday night with Sunday
// nights. The zero value is empty with the default configuration. An hour
// is learnt when a later hour is observed or Advance passes it; hours
// without events are learnt as zero.
//
// Hours are UTC: a weekly rhythm is periodic in UTC too, but a daylight
// saving change shifts office hours by one slot for a few weeks, a
// deviation the spread absorbs.
//
// # Memory
//
// Fixed per Rate, whatever the volume: EWMA keeps 1,344 bytes of slots (168
// x mean and variance as float32), 1,560 bytes in all on the heap;
// MedianMAD keeps 672 x Weeks bytes, 4,250 in all at 6 weeks (measured on
// Go 1.26/amd64 by TestRateMemory).
type Rate struct {
	cfg    RateConfig
	data   []float32 // slotWidth values per slot
	open   bool      // hour holds the hour being counted
	hour   int64     // Unix hour being counted
	count  float64   // its count so far
	first  int64     // Unix hour of the first hour learnt
	folded int64     // hours learnt since first, consecutively
	last   int64     // latest observation, Unix ns
	late   uint64    // observations of hours already learnt, dropped
	kappa  float64   // scope-wide relative variance of the hourly rate
	kn     int64     // hours kappa has learnt from
}

// NewRate returns an empty rate baseline configured by cfg.
func NewRate(cfg RateConfig) *Rate { return &Rate{cfg: cfg.normalise()} }

func (r *Rate) config() RateConfig {
	if r.cfg.Alpha == 0 {
		r.cfg = r.cfg.normalise()
	}
	return r.cfg
}

// Config returns the configuration in effect.
func (r *Rate) Config() RateConfig { return r.config() }

func slotOf(hour int64) int {
	s := (hour + mondayOffset) % hoursPerWeek
	if s < 0 {
		s += hoursPerWeek
	}
	return int(s)
}

// samples returns how many weeks slot s has learnt.
func (r *Rate) samples(s int) int {
	k := int64((s - slotOf(r.first) + hoursPerWeek) % hoursPerWeek)
	if k >= r.folded {
		return 0
	}
	return int((r.folded-k-1)/hoursPerWeek + 1)
}

// Observe adds n (an event count, bytes...) to the hour of t. Observing a
// later hour learns the hours before it; an hour already learnt is not
// changed (the observation is counted by Late). Negative or NaN n counts as
// 0. It does not allocate once the Rate has learnt its first hour.
func (r *Rate) Observe(t time.Time, n float64) {
	if !(n > 0) || math.IsInf(n, 1) {
		n = 0
	}
	ns := nanos(t)
	hr := floorHour(ns)
	switch {
	case !r.open:
		r.open, r.hour, r.count, r.last = true, hr, n, ns
		return
	case hr == r.hour:
		r.count += n
	case hr > r.hour:
		r.close(hr)
		r.count = n
	default:
		r.late++
	}
	r.last = max(r.last, ns)
}

// Advance learns every hour that ends at or before now. closed, when not
// nil, is called for the hour being counted, if it had observations, with
// its count and its Score against the baseline before it is learnt: the
// place for a detection to alert on an hour's volume.
func (r *Rate) Advance(now time.Time, closed func(hour time.Time, count float64, s Score)) {
	hr := floorHour(nanos(now))
	if !r.open || hr <= r.hour {
		return
	}
	if closed != nil && r.count > 0 {
		closed(time.Unix(r.hour*3600, 0).UTC(), r.count, r.score(r.hour, r.count))
	}
	r.close(hr)
	r.count = 0
}

// close learns the hour being counted and the empty hours up to hr, which
// becomes the hour being counted.
func (r *Rate) close(hr int64) {
	if hr-r.hour >= int64(ResetGap/time.Hour) {
		r.reset()
	} else {
		r.learn(r.hour, r.count)
		for h := r.hour + 1; h < hr; h++ {
			r.learn(h, 0)
		}
	}
	r.hour = hr
}

// reset forgets the profile.
func (r *Rate) reset() {
	clear(r.data)
	r.folded, r.kappa, r.kn = 0, 0, 0
}

// learn folds hour h's count x into its slot; hours come consecutively.
func (r *Rate) learn(h int64, x float64) {
	cfg := r.config()
	w := cfg.slotWidth()
	if r.data == nil {
		r.data = make([]float32, hoursPerWeek*w)
	}
	if r.folded == 0 {
		r.first = h
	}
	s := slotOf(h)
	j := r.samples(s)
	v := r.data[s*w : (s+1)*w]
	if j > 0 {
		// The scope-wide dispersion learns from every hour whose slot has a
		// baseline, the count clipped as the EWMA clips it.
		m, dev := r.slotStats(v, j)
		xc := x
		if j >= cfg.MinWeeks {
			lim := cfg.ClipZ * r.spread(m, dev)
			xc = min(max(x, m-lim), m+lim)
		}
		if m >= minDispersionMean {
			g := max(1/float64(r.kn+1), dispersionRate)
			est := min(((xc-m)*(xc-m)-m)/(m*m), maxKappa) // one wild hour cannot swamp it
			r.kappa += g * (est - r.kappa)
			r.kn = min(r.kn+1, 1<<30)
		}
		if cfg.Method == EWMA {
			x = xc
		}
	}
	if cfg.Method == MedianMAD {
		v[j%w] = float32(x)
	} else {
		m, va := float64(v[0]), float64(v[1])
		a := max(cfg.Alpha, 1/float64(j+1)) // a plain mean while young
		d := x - m
		m += a * d
		va = (1 - a) * (va + a*d*d)
		v[0], v[1] = float32(m), float32(va)
	}
	r.folded++
}

// slotStats returns a slot's expected count and deviation from its values
// after j weeks (j > 0).
func (r *Rate) slotStats(v []float32, j int) (exp, dev float64) {
	if r.cfg.Method == MedianMAD {
		return medianMAD(v[:min(j, len(v))])
	}
	return float64(v[0]), math.Sqrt(float64(v[1]))
}

// Dispersion: besides its own deviation, a slot's spread is at least
// sqrt(m + kappa*m^2), the deviation of a count of mean m whose rate varies
// from hour to hour by a relative variance kappa learnt over the whole scope
// (168 hours a week, so it is sound long before a slot's own few weeks are).
const (
	// dispersionRate is the weight of one hour in kappa: about four weeks.
	dispersionRate = 1.0 / (4 * hoursPerWeek)
	// minDispersionMean: hours expected below it say little about kappa.
	minDispersionMean = 5
)

// spread floors an estimated deviation at the scope's dispersion and the
// Poisson deviation.
func (r *Rate) spread(expected, dev float64) float64 {
	m := max(expected, 1)
	return max(dev, math.Sqrt(m+max(r.kappa, 0)*m*m))
}

// Score compares observed, a count for the hour of t, with the baseline of
// that hour of the week (what has been learnt: not the hour being counted).
func (r *Rate) Score(t time.Time, observed float64) Score {
	return r.score(floorHour(nanos(t)), observed)
}

func (r *Rate) score(hr int64, observed float64) Score {
	cfg := r.config()
	s := slotOf(hr)
	j := r.samples(s)
	var exp, dev float64
	if j > 0 {
		w := cfg.slotWidth()
		exp, dev = r.slotStats(r.data[s*w:(s+1)*w], j)
	}
	sp := r.spread(exp, dev)
	return Score{
		Expected: exp,
		Spread:   sp,
		Z:        (observed - exp) / sp,
		Samples:  j,
		Enough:   j >= cfg.MinWeeks,
	}
}

// medianMAD returns the median of v and 1.4826 times its median absolute
// deviation (the standard deviation for normal data). len(v) <= maxWeeks.
func medianMAD(v []float32) (med, dev float64) {
	var buf [maxWeeks]float64
	a := buf[:len(v)]
	for i, x := range v {
		a[i] = float64(x)
	}
	med = median(a)
	for i := range a {
		a[i] = math.Abs(a[i] - med)
	}
	return med, 1.4826 * median(a)
}

// median sorts a small slice in place (insertion sort) and returns its median.
func median(a []float64) float64 {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
	n := len(a)
	if n%2 == 1 {
		return a[n/2]
	}
	return (a[n/2-1] + a[n/2]) / 2
}

// Pending returns the hour being counted and its count so far (ok=false
// before the first observation).
func (r *Rate) Pending() (hour time.Time, count float64, ok bool) {
	if !r.open {
		return time.Time{}, 0, false
	}
	return time.Unix(r.hour*3600, 0).UTC(), r.count, true
}

// Last returns the latest observation (zero before the first): a detection
// drops a Rate silent for longer than its look-back.
func (r *Rate) Last() time.Time {
	if !r.open {
		return time.Time{}
	}
	return fromNanos(r.last)
}

// Late returns how many observations came for hours already learnt.
func (r *Rate) Late() uint64 { return r.late }

// MarshalBinary encodes the baseline.
func (r *Rate) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (r *Rate) AppendBinary(b []byte) ([]byte, error) {
	cfg := r.config()
	b = header(b, tagRate)
	b = append(b, byte(cfg.Method), byte(cfg.Weeks), byte(cfg.MinWeeks))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(cfg.Alpha))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(cfg.ClipZ))
	if !r.open {
		b = append(b, 0)
		return binary.AppendUvarint(b, r.late), nil
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, r.hour)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.count))
	b = binary.AppendVarint(b, r.last)
	b = binary.AppendUvarint(b, r.late)
	b = binary.AppendUvarint(b, uint64(r.folded))
	if r.folded == 0 {
		return b, nil
	}
	b = binary.AppendVarint(b, r.first)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.kappa))
	b = binary.AppendUvarint(b, uint64(r.kn))
	for _, f := range r.data {
		b = appendFloat32(b, f)
	}
	return b, nil
}

// UnmarshalBinary replaces the baseline with one encoded by MarshalBinary,
// refusing (and leaving r as it was) anything inconsistent: an unknown
// method, out-of-range parameters, negative or non-finite values, a slot
// table of the wrong size.
func (r *Rate) UnmarshalBinary(data []byte) error {
	d := newDecoder(data, tagRate, "rate")
	var cfg RateConfig
	cfg.Method = Method(d.byte1("method"))
	cfg.Weeks = int(d.byte1("weeks"))
	cfg.MinWeeks = int(d.byte1("min weeks"))
	cfg.Alpha = math.Float64frombits(d.uint64le("alpha"))
	cfg.ClipZ = math.Float64frombits(d.uint64le("clip"))
	if d.err == nil && cfg.normalise() != cfg {
		d.fail(fmt.Errorf("configuration %+v out of range", cfg))
	}
	var nr Rate
	nr.cfg = cfg
	switch open := d.byte1("open flag"); open {
	case 0:
		nr.late = d.uvarint("late count")
	case 1:
		nr.open = true
		nr.hour = d.varint("hour")
		nr.count = math.Float64frombits(d.uint64le("count"))
		nr.last = d.varint("last")
		nr.late = d.uvarint("late count")
		folded := d.uvarint("hours learnt")
		if d.err == nil && (!(nr.count >= 0) || math.IsInf(nr.count, 1) || folded > maxFolded || !hourInRange(nr.hour)) {
			d.fail(fmt.Errorf("hour %d, count %v or hours learnt %d out of range", nr.hour, nr.count, folded))
		}
		nr.folded = int64(folded)
		if folded > 0 {
			nr.first = d.varint("first hour")
			if d.err == nil && (!hourInRange(nr.first) || nr.first > nr.hour-nr.folded) {
				d.fail(fmt.Errorf("hours learnt run past the hour being counted"))
			}
			nr.kappa = math.Float64frombits(d.uint64le("dispersion"))
			kn := d.uvarint("dispersion hours")
			if d.err == nil && (!(nr.kappa >= -1 && nr.kappa <= maxKappa) || kn > 1<<30) {
				d.fail(fmt.Errorf("dispersion %v (%d hours) out of range", nr.kappa, kn))
			}
			nr.kn = int64(kn)
			raw := d.bytes(4*hoursPerWeek*cfg.slotWidth(), "slots")
			if raw != nil {
				nr.data = make([]float32, len(raw)/4)
			}
			for i := range nr.data {
				f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				if !(f >= 0) || math.IsInf(float64(f), 1) {
					d.fail(fmt.Errorf("slot value %v out of range", f))
					break
				}
				nr.data[i] = f
			}
		}
	default:
		d.fail(fmt.Errorf("open flag %d", open))
	}
	if err := d.finish(); err != nil {
		return fmt.Errorf("rate: %w", err)
	}
	*r = nr
	return nil
}

// maxKappa bounds what one hour contributes to the dispersion and what a
// restored one may be (a relative deviation of 10).
const maxKappa = 100

// maxFolded bounds the hours learnt a restored Rate may claim (a million
// years: only a sanity check).
const maxFolded = 1 << 33

// hourInRange reports whether a Unix hour is one nanos can produce.
func hourInRange(h int64) bool {
	return h >= floorHour(math.MinInt64+1) && h <= floorHour(math.MaxInt64)
}

// MarshalJSON encodes the baseline as a JSON string (base64 of MarshalBinary).
func (r Rate) MarshalJSON() ([]byte, error) { return marshalJSON(r.MarshalBinary()) }

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *Rate) UnmarshalJSON(data []byte) error {
	return unmarshalJSON(data, "rate", r.UnmarshalBinary)
}
