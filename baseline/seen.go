package baseline

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Defaults of SeenConfig.
const (
	// DefaultLearning is the learning period: Defender for Cloud Apps'
	// anomaly detections (impossible travel, which Defender for Resource
	// Manager reuses as ARM.MCAS_ImpossibleTravelActivity) document "an
	// initial learning period of seven days" during which they learn a new
	// user's activity pattern and raise nothing.
	DefaultLearning = 7 * 24 * time.Hour
	// DefaultLookBack is how long a key is remembered without being seen.
	// Microsoft Sentinel's UEBA documents its "first time" baselines as 30
	// days (device, browser), 90 days (country, ISP) and 180 days (action,
	// app, resource). 30 days is the shortest: it is what a seen set needs
	// to call a key new without flagging every monthly job, and the memory
	// it holds is a sixth of 180 days'. Detections whose seed names a longer
	// horizon (infrequent country: 90 days) set it.
	DefaultLookBack = 30 * 24 * time.Hour
	// DefaultMaxKeys bounds a SeenSet: 100,000 principals reading one vault
	// is the scale Vigil is sized for.
	DefaultMaxKeys = 100_000
	// MaxKeyLen is the longest key a SeenSet keeps; longer keys are cut to
	// their first MaxKeyLen bytes (two user agents equal in their first 256
	// bytes count as one).
	MaxKeyLen = 256
	// maxSeenKeys bounds MaxKeys and what a restored state may hold.
	maxSeenKeys = 1 << 24
)

// SeenConfig configures a SeenSet or a CompactSeenSet. Its zero value means
// the defaults.
type SeenConfig struct {
	// Learning is how much event time must pass after the scope's first
	// observation before a key not seen before is reported new: a new vault
	// or principal has no history, and everything it does is "new". 0 means
	// DefaultLearning; a negative value means no learning period.
	Learning time.Duration
	// LookBack is how long a key is kept without being seen: Expire drops
	// keys last seen longer ago, and they are new again when they return.
	// 0 or negative means DefaultLookBack.
	LookBack time.Duration
	// MaxKeys bounds the keys held. When a new key would exceed it, the
	// least recently seen sixteenth of the keys is evicted at once (ties
	// broken by key, so the result does not depend on map order) and
	// counted. 0 or negative means the type's default.
	MaxKeys int
}

// normalise applies the defaults and limits.
func (c SeenConfig) normalise(defMax, limit int) SeenConfig {
	switch {
	case c.Learning == 0:
		c.Learning = DefaultLearning
	case c.Learning < 0:
		c.Learning = 0
	}
	if c.LookBack <= 0 {
		c.LookBack = DefaultLookBack
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = defMax
	}
	c.MaxKeys = min(c.MaxKeys, limit)
	return c
}

// SeenSet remembers the keys seen in one scope (the principals that read a
// vault, the countries a principal connects from) with the first and last
// time each was seen, and says when a key is new. The zero value is an empty
// set with the default configuration. Time is the events' own, passed in; a
// SeenSet has no goroutines and no locks: it belongs to one detector shard.
//
// # Learning
//
// Nothing is new until the scope has history: Observe reports a key new only
// when Learning has passed between the scope's first observation and the
// observation of the key. A scope whose every key has expired has no history
// left and learns again (a vault used once a quarter does not alert on each
// use).
//
// # Memory
//
// Bounded by MaxKeys and MaxKeyLen: 50 to 80 bytes of table per key,
// depending on the map's load, plus the key's bytes rounded up to the
// allocator's size class (48 for a 36-byte GUID). Measured on Go 1.26/amd64
// by TestSeenSetMemory: 100 bytes per GUID key, 10 MB for 100,000. The
// default bound is 100,000 x (80 + 256) bytes = 34 MB for the longest keys.
// Keys are copied on insertion, so a key that is a substring of a large
// record does not keep the record alive. For tens of millions of keys use
// CompactSeenSet (about 10 bytes per key).
type SeenSet struct {
	cfg     SeenConfig
	keys    map[string]seenTimes
	started bool  // the scope has had an observation since it was empty
	start   int64 // first observation of the scope, Unix ns
	latest  int64 // latest observation, Unix ns
	evicted uint64
}

// seenTimes is a key's first and last observation, Unix nanoseconds.
type seenTimes struct{ first, last int64 }

// NewSeenSet returns an empty set configured by cfg.
func NewSeenSet(cfg SeenConfig) *SeenSet {
	return &SeenSet{cfg: cfg.normalise(DefaultMaxKeys, maxSeenKeys)}
}

// config returns the configuration, defaults applied (a zero set has none).
func (s *SeenSet) config() SeenConfig {
	if s.cfg.LookBack == 0 {
		s.cfg = s.cfg.normalise(DefaultMaxKeys, maxSeenKeys)
	}
	return s.cfg
}

// Config returns the configuration in effect, defaults applied.
func (s *SeenSet) Config() SeenConfig { return s.config() }

// SetConfig replaces the configuration, for a set restored from a snapshot
// taken under another one. A lower MaxKeys evicts at once.
func (s *SeenSet) SetConfig(cfg SeenConfig) {
	s.cfg = cfg.normalise(DefaultMaxKeys, maxSeenKeys)
	if over := len(s.keys) - s.cfg.MaxKeys; over > 0 {
		s.evict(over)
	}
}

// Observe records key at event time t and reports whether it is new: not
// held (never seen, or expired or evicted since), with the scope past its
// learning period. Keys longer than MaxKeyLen are cut. Observing a key
// already held does not allocate.
func (s *SeenSet) Observe(key string, t time.Time) (isNew bool) {
	cfg := s.config()
	if len(key) > MaxKeyLen {
		key = key[:MaxKeyLen]
	}
	n := nanos(t)
	if !s.started {
		s.started, s.start, s.latest = true, n, n
	}
	s.start = min(s.start, n)
	s.latest = max(s.latest, n)
	if e, ok := s.keys[key]; ok {
		if n > e.last || n < e.first {
			s.keys[key] = seenTimes{first: min(e.first, n), last: max(e.last, n)}
		}
		return false
	}
	if s.keys == nil {
		s.keys = make(map[string]seenTimes)
	}
	if len(s.keys) >= cfg.MaxKeys {
		s.evict(max(1, cfg.MaxKeys/16))
	}
	s.keys[strings.Clone(key)] = seenTimes{first: n, last: n}
	return sinceNanos(s.start, n) >= cfg.Learning
}

// sinceNanos returns b-a as a duration, saturating instead of overflowing.
func sinceNanos(a, b int64) time.Duration {
	d := b - a
	if (b > a) != (d > 0) { // overflow
		if b > a {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return time.Duration(d)
}

// Seen returns when key was first and last seen, or ok=false when the set
// does not hold it.
func (s *SeenSet) Seen(key string) (first, last time.Time, ok bool) {
	if len(key) > MaxKeyLen {
		key = key[:MaxKeyLen]
	}
	e, ok := s.keys[key]
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	return fromNanos(e.first), fromNanos(e.last), true
}

// FirstSeen returns when key was first seen (since it was last forgotten).
func (s *SeenSet) FirstSeen(key string) (time.Time, bool) {
	f, _, ok := s.Seen(key)
	return f, ok
}

// LastSeen returns when key was last seen.
func (s *SeenSet) LastSeen(key string) (time.Time, bool) {
	_, l, ok := s.Seen(key)
	return l, ok
}

// Since returns the scope's first observation (the start of its learning
// period), or the zero time when the scope has no history.
func (s *SeenSet) Since() time.Time {
	if !s.started {
		return time.Time{}
	}
	return fromNanos(s.start)
}

// Learned reports whether the scope is past its learning period at now.
func (s *SeenSet) Learned(now time.Time) bool {
	return s.started && sinceNanos(s.start, nanos(now)) >= s.config().Learning
}

// Len returns the number of keys held.
func (s *SeenSet) Len() int { return len(s.keys) }

// Evicted returns how many keys have been evicted because the set was full
// (a returning evicted key is reported new again: a false positive the
// detection may want to count).
func (s *SeenSet) Evicted() uint64 { return s.evicted }

// Keys returns the keys held, sorted.
func (s *SeenSet) Keys() []string {
	return slices.Sorted(maps.Keys(s.keys))
}

// Expire drops the keys not seen since now minus LookBack and returns how
// many it dropped. When none is left the scope learns again.
func (s *SeenSet) Expire(now time.Time) int {
	cutoff := nanos(now.Add(-s.config().LookBack))
	n := 0
	for k, e := range s.keys {
		if e.last < cutoff {
			delete(s.keys, k)
			n++
		}
	}
	if len(s.keys) == 0 {
		s.started = false
		s.keys = nil // let the table go
	}
	return n
}

// evict drops the k least recently seen keys, ties broken by key.
func (s *SeenSet) evict(k int) {
	k = min(k, len(s.keys))
	if k <= 0 {
		return
	}
	lasts := make([]int64, 0, len(s.keys))
	for _, e := range s.keys {
		lasts = append(lasts, e.last)
	}
	cutoff := nthSmallest(lasts, k-1)
	var ties []string
	for key, e := range s.keys {
		switch {
		case e.last < cutoff:
			delete(s.keys, key)
			k--
		case e.last == cutoff:
			ties = append(ties, key)
		}
	}
	slices.Sort(ties)
	for _, key := range ties[:k] {
		delete(s.keys, key)
	}
	s.evicted += uint64(len(lasts) - len(s.keys))
}

// nthSmallest returns the value that would be at index n if a were sorted,
// reordering a (quickselect, median-of-three pivot; deterministic).
func nthSmallest(a []int64, n int) int64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Median of three to a[mid].
		if a[lo] > a[mid] {
			a[lo], a[mid] = a[mid], a[lo]
		}
		if a[mid] > a[hi] {
			a[mid], a[hi] = a[hi], a[mid]
			if a[lo] > a[mid] {
				a[lo], a[mid] = a[mid], a[lo]
			}
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case n <= j:
			hi = j
		case n >= i:
			lo = i
		default:
			return a[n]
		}
	}
	return a[n]
}

// MarshalBinary encodes the set: configuration, scope times and the keys in
// sorted order, so equal sets give equal bytes.
func (s *SeenSet) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (s *SeenSet) AppendBinary(b []byte) ([]byte, error) {
	cfg := s.config()
	b = header(b, tagSeen)
	b = appendConfig(b, cfg)
	b = appendScope(b, s.started, s.start, s.latest, s.evicted)
	b = binary.AppendUvarint(b, uint64(len(s.keys)))
	for _, k := range s.Keys() {
		e := s.keys[k]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(e.first)-uint64(s.start))
		b = binary.AppendUvarint(b, uint64(e.last)-uint64(e.first))
	}
	return b, nil
}

// UnmarshalBinary replaces the set with one encoded by MarshalBinary. It
// refuses (and leaves the set as it was) an encoding of another version or
// type, truncated, with trailing bytes, unsorted or duplicate keys, keys
// longer than MaxKeyLen, times out of order, or more keys than the encoded
// MaxKeys; it allocates no more than the input's size justifies.
func (s *SeenSet) UnmarshalBinary(data []byte) error {
	d := newDecoder(data, tagSeen, "seen set")
	cfg := readConfig(d, maxSeenKeys)
	sc := readScope(d)
	n := d.count("seen set key count", cfg.MaxKeys, 3)
	var keys map[string]seenTimes
	if n > 0 {
		keys = make(map[string]seenTimes, n)
	}
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		kl := d.count("seen set key length", MaxKeyLen, 1)
		k := string(d.bytes(kl, "seen set key"))
		first, ok1 := addDelta(sc.start, d.uvarint("seen set first time"))
		last, ok2 := addDelta(first, d.uvarint("seen set last time"))
		switch {
		case d.err != nil:
		case i > 0 && k <= prev:
			d.fail(fmt.Errorf("seen set key %d %q is not after %q", i, k, prev))
		case !ok1 || !ok2 || last > sc.latest:
			d.fail(fmt.Errorf("seen set key %q has times outside the scope's", k))
		}
		keys[k] = seenTimes{first: first, last: last}
		prev = k
	}
	if err := d.finish(); err != nil {
		return fmt.Errorf("seen set: %w", err)
	}
	if n > 0 && !sc.started {
		return fmt.Errorf("seen set: %d keys in a scope with no observation", n)
	}
	*s = SeenSet{cfg: cfg, keys: keys, started: sc.started, start: sc.start, latest: sc.latest, evicted: sc.evicted}
	return nil
}

// MarshalJSON encodes the set as a JSON string holding MarshalBinary's bytes
// in base64, so a detector state holding a SeenSet can use encoding/json.
func (s SeenSet) MarshalJSON() ([]byte, error) { return marshalJSON(s.MarshalBinary()) }

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *SeenSet) UnmarshalJSON(data []byte) error {
	return unmarshalJSON(data, "seen set", s.UnmarshalBinary)
}

// addDelta returns base+d, ok=false when it does not fit an int64.
func addDelta(base int64, d uint64) (int64, bool) {
	if d > uint64(math.MaxInt64)-uint64(base) {
		return 0, false
	}
	return int64(uint64(base) + d), true
}

// scope is the decoded scope fields shared by the seen sets.
type scope struct {
	started       bool
	start, latest int64
	evicted       uint64
}

func appendScope(b []byte, started bool, start, latest int64, evicted uint64) []byte {
	if !started {
		b = append(b, 0)
		return binary.AppendUvarint(b, evicted)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, start)
	b = binary.AppendUvarint(b, uint64(latest)-uint64(start))
	return binary.AppendUvarint(b, evicted)
}

func readScope(d *decoder) scope {
	var sc scope
	switch f := d.byte1("scope flag"); f {
	case 0:
	case 1:
		sc.started = true
		sc.start = d.varint("scope start")
		var ok bool
		sc.latest, ok = addDelta(sc.start, d.uvarint("scope latest"))
		if !ok || sc.start == noTime {
			d.fail(fmt.Errorf("scope times out of range"))
		}
	default:
		d.fail(fmt.Errorf("scope flag %d", f))
	}
	sc.evicted = d.uvarint("evicted count")
	return sc
}

func appendConfig(b []byte, c SeenConfig) []byte {
	b = binary.AppendVarint(b, int64(c.Learning))
	b = binary.AppendVarint(b, int64(c.LookBack))
	return binary.AppendUvarint(b, uint64(c.MaxKeys))
}

func readConfig(d *decoder, limit int) SeenConfig {
	var c SeenConfig
	c.Learning = d.duration("learning period")
	c.LookBack = d.duration("look-back")
	c.MaxKeys = d.count("max keys", limit, 0)
	if d.err == nil && (c.LookBack <= 0 || c.MaxKeys <= 0) {
		d.fail(fmt.Errorf("look-back %v and max keys %d must be positive", c.LookBack, c.MaxKeys))
	}
	return c
}
