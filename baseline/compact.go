package baseline

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
	"unsafe"
)

const (
	// DefaultCompactMaxKeys bounds a CompactSeenSet by default: about 10 MB,
	// and a new key taken for a seen one with probability at most 2.4e-4.
	DefaultCompactMaxKeys = 1 << 20
	// maxCompactKeys bounds MaxKeys and what a restored state may hold.
	maxCompactKeys = 1 << 24
	// maxCompactLookBack bounds LookBack: times are hours in 16 bits from a
	// base that moves forward, and the look-back must fit with room.
	maxCompactLookBack = 5 * 365 * 24 * time.Hour
	// baseMargin is how far before the scope's first observation the hour
	// base is put, so slightly earlier (out-of-order) events keep their hour.
	baseMargin = 24
	// rebaseHeadroom is how many hours (about 170 days) a rebase leaves
	// before the next is needed.
	rebaseHeadroom = 4096
	// Load limits: the table grows by growNum/growDen when a key would make
	// it fuller than maxLoad, and shrinks when Expire leaves it emptier
	// than minLoad. 92% full, grown to 79%, with 1/64 overflow slots: 8.8
	// to 10.4 bytes per key.
	maxLoadNum, maxLoadDen = 92, 100
	growNum, growDen       = 117, 100
	minLoadNum, minLoadDen = 1, 4
	restoreLoadNum         = 85 // load a restored table is built at, percent
)

// CompactSeenSet is a seen set for very many keys given as 64-bit hashes
// (HashString, HashPair): the (principal, vault) pairs of a large estate.
// It keeps, per key, a 32-bit fingerprint and the first and last hour seen
// in 16 bits each: 8 bytes a slot, in a table kept between 79% and 92%
// full, so 8.8 to 10.4 bytes per key whatever the size (TestCompactSeenSetBytesPerKey)
// and 100 million (principal, vault) pairs, 100,000 principals in each of
// 1,000 vault scopes, in under 1 GiB (BenchmarkCompactPairs).
// Learning, LookBack, eviction and expiry behave as in SeenSet.
//
// What the compaction costs, and is accepted:
//   - two keys with the same fingerprint are one key: a new key is taken for
//     a seen one (not reported new) with probability Len()/2^32, 2.3e-5 at
//     100,000 keys;
//   - first and last seen are kept to the hour (FirstSeen and LastSeen
//     return the start of the hour, UTC), in 16 bits from a base hour that
//     moves forward when needed: a first seen more than about seven years
//     before the latest observation reads as that limit.
//
// The table is an ordered hash table (Amble and Knuth's ordered linear
// probing): a key's home is its fingerprint scaled to the table size, and
// keys are kept in fingerprint order, so a search stops at the first larger
// fingerprint, a table can be grown or compacted in one pass without the
// original keys, and iteration order is deterministic. Observing a key held
// does not allocate; no goroutines, no locks.
type CompactSeenSet struct {
	cfg     SeenConfig
	slots   []cslot // n homes plus slack(n) overflow slots
	n       int
	count   int
	base    int64 // the Unix hour offset 0 stands for
	started bool
	start   int64 // first observation of the scope, Unix ns
	latest  int64 // latest observation, Unix ns
	evicted uint64
}

// cslot is one key: fingerprint (0: empty), first and last hour from base.
type cslot struct {
	fp          uint32
	first, last uint16
}

const hourNanos = int64(time.Hour)

// NewCompactSeenSet returns an empty set configured by cfg (MaxKeys
// defaults to DefaultCompactMaxKeys; LookBack is capped at five years).
func NewCompactSeenSet(cfg SeenConfig) *CompactSeenSet {
	return &CompactSeenSet{cfg: normaliseCompact(cfg)}
}

func normaliseCompact(cfg SeenConfig) SeenConfig {
	cfg = cfg.normalise(DefaultCompactMaxKeys, maxCompactKeys)
	cfg.LookBack = min(cfg.LookBack, maxCompactLookBack)
	return cfg
}

func (s *CompactSeenSet) config() SeenConfig {
	if s.cfg.LookBack == 0 {
		s.cfg = normaliseCompact(s.cfg)
	}
	return s.cfg
}

// Config returns the configuration in effect, defaults applied.
func (s *CompactSeenSet) Config() SeenConfig { return s.config() }

// SetConfig replaces the configuration (for a restored set); a lower
// MaxKeys evicts at once.
func (s *CompactSeenSet) SetConfig(cfg SeenConfig) {
	s.cfg = normaliseCompact(cfg)
	if over := s.count - s.cfg.MaxKeys; over > 0 {
		s.evict(over)
	}
}

// slack is the overflow room after the last home slot.
func slack(n int) int { return n/64 + 8 }

func (s *CompactSeenSet) home(fp uint32) int { return int(uint64(fp) * uint64(s.n) >> 32) }

// fingerprint is the top 32 bits of the hash, never 0 (the empty mark).
func fingerprint(h uint64) uint32 { return max(uint32(h>>32), 1) }

// floorHour returns the Unix hour holding Unix nanoseconds ns.
func floorHour(ns int64) int64 {
	h := ns / hourNanos
	if ns%hourNanos < 0 {
		h--
	}
	return h
}

// find returns where fp is, or where it would be inserted.
func (s *CompactSeenSet) find(fp uint32) (int, bool) {
	if s.n == 0 {
		return 0, false
	}
	for i := s.home(fp); i < len(s.slots); i++ {
		switch f := s.slots[i].fp; {
		case f == fp:
			return i, true
		case f == 0 || f > fp:
			return i, false
		}
	}
	return len(s.slots), false
}

// Observe records the key with hash h at event time t and reports whether it
// is new (see SeenSet.Observe). It does not allocate for a key held.
func (s *CompactSeenSet) Observe(h uint64, t time.Time) (isNew bool) {
	cfg := s.config()
	ns := nanos(t)
	hr := floorHour(ns)
	if hr-s.base > 0xFFFF && s.count > 0 {
		s.rebase(hr) // may empty the set, which then learns again
	}
	if !s.started {
		s.started, s.start, s.latest = true, ns, ns
	}
	if s.count == 0 && (hr-s.base > 0xFFFF || hr < s.base || s.start == ns) {
		s.base = hr - baseMargin
	}
	s.start = min(s.start, ns)
	s.latest = max(s.latest, ns)
	off := uint16(min(max(hr-s.base, 0), 0xFFFF))
	fp := fingerprint(h)
	if i, ok := s.find(fp); ok {
		sl := &s.slots[i]
		sl.first = min(sl.first, off)
		sl.last = max(sl.last, off)
		return false
	}
	if s.count >= cfg.MaxKeys {
		s.evict(max(1, cfg.MaxKeys/16))
	}
	if (s.count+1)*maxLoadDen > s.n*maxLoadNum {
		s.resize(s.count + 1)
	}
	for {
		i, _ := s.find(fp)
		j := i
		for j < len(s.slots) && s.slots[j].fp != 0 {
			j++
		}
		if j < len(s.slots) {
			copy(s.slots[i+1:j+1], s.slots[i:j])
			s.slots[i] = cslot{fp: fp, first: off, last: off}
			s.count++
			break
		}
		s.resize(s.n*growNum/growDen + 1) // the overflow room ran out: rare
	}
	return sinceNanos(s.start, ns) >= cfg.Learning
}

// resize rebuilds the table for at least want keys at the growth load,
// in one pass over the keys in order.
func (s *CompactSeenSet) resize(want int) {
	n := max(8, s.n*growNum/growDen, want*maxLoadDen/maxLoadNum+1)
	s.rebuild(n)
}

// rebuild moves the keys into a table of n homes.
func (s *CompactSeenSet) rebuild(n int) {
	old := s.slots
	for {
		s.n = n
		s.slots = make([]cslot, n+slack(n))
		if s.place(old) {
			return
		}
		n = n*growNum/growDen + 1
	}
}

// place puts the keys of old, in order, into the empty table; false when
// they do not fit its overflow room.
func (s *CompactSeenSet) place(old []cslot) bool {
	w := 0
	for _, sl := range old {
		if sl.fp == 0 {
			continue
		}
		p := max(s.home(sl.fp), w)
		if p >= len(s.slots) {
			return false
		}
		s.slots[p] = sl
		w = p + 1
	}
	return true
}

// compact drops the keys drop selects, moving the rest left towards their
// homes in one pass, and shrinks a table left too empty.
func (s *CompactSeenSet) compact(drop func(sl *cslot) bool) int {
	w, dropped := 0, 0
	for i := range s.slots {
		sl := s.slots[i]
		if sl.fp == 0 {
			continue
		}
		s.slots[i] = cslot{}
		if drop(&sl) {
			dropped++
			continue
		}
		p := max(s.home(sl.fp), w) // <= i: the keys stay in order
		s.slots[p] = sl
		w = p + 1
	}
	s.count -= dropped
	switch {
	case s.count == 0:
		s.slots, s.n = nil, 0
	case s.count*minLoadDen < s.n*minLoadNum:
		s.rebuild(max(8, s.count*100/restoreLoadNum+1))
	}
	return dropped
}

// rebase moves the hour base forward so hour hr fits with rebaseHeadroom
// to spare, dropping keys last seen before the new base (seven years ago,
// far beyond any look-back) and clamping first-seen hours to it.
func (s *CompactSeenSet) rebase(hr int64) {
	nb := hr - (0xFFFF - rebaseHeadroom)
	shift := nb - s.base
	s.base = nb
	s.compact(func(sl *cslot) bool {
		if int64(sl.last) < shift {
			return true
		}
		sl.last -= uint16(shift)
		sl.first = uint16(max(int64(sl.first)-shift, 0))
		return false
	})
	if s.count == 0 {
		s.started = false
	}
}

// evict drops the k least recently seen keys, ties broken by fingerprint,
// finding the cut with two 256-bucket histograms (no allocation).
func (s *CompactSeenSet) evict(k int) {
	k = min(k, s.count)
	if k <= 0 {
		return
	}
	var hi, lo [256]int
	for _, sl := range s.slots {
		if sl.fp != 0 {
			hi[sl.last>>8]++
		}
	}
	below, b := 0, 0
	for ; below+hi[b] < k; b++ {
		below += hi[b]
	}
	for _, sl := range s.slots {
		if sl.fp != 0 && int(sl.last>>8) == b {
			lo[sl.last&0xFF]++
		}
	}
	c := 0
	for ; below+lo[c] < k; c++ {
		below += lo[c]
	}
	cut := uint16(b<<8 | c)
	ties := k - below // keys at the cut hour to drop, in fingerprint order
	s.evicted += uint64(s.compact(func(sl *cslot) bool {
		switch {
		case sl.last < cut:
			return true
		case sl.last == cut && ties > 0:
			ties--
			return true
		}
		return false
	}))
}

// Expire drops the keys not seen since now minus LookBack (to the hour) and
// returns how many it dropped. When none is left the scope learns again.
func (s *CompactSeenSet) Expire(now time.Time) int {
	if s.count == 0 {
		s.started = false
		return 0
	}
	cut := floorHour(nanos(now.Add(-s.config().LookBack))) - s.base
	n := s.compact(func(sl *cslot) bool { return int64(sl.last) < cut })
	if s.count == 0 {
		s.started = false
	}
	return n
}

// Seen returns the hours key h was first and last seen, or ok=false.
func (s *CompactSeenSet) Seen(h uint64) (first, last time.Time, ok bool) {
	i, ok := s.find(fingerprint(h))
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	sl := s.slots[i]
	return s.hourTime(sl.first), s.hourTime(sl.last), true
}

func (s *CompactSeenSet) hourTime(off uint16) time.Time {
	return time.Unix((s.base+int64(off))*3600, 0).UTC()
}

// FirstSeen returns the hour key h was first seen.
func (s *CompactSeenSet) FirstSeen(h uint64) (time.Time, bool) {
	f, _, ok := s.Seen(h)
	return f, ok
}

// LastSeen returns the hour key h was last seen.
func (s *CompactSeenSet) LastSeen(h uint64) (time.Time, bool) {
	_, l, ok := s.Seen(h)
	return l, ok
}

// Since returns the scope's first observation, zero when it has none.
func (s *CompactSeenSet) Since() time.Time {
	if !s.started {
		return time.Time{}
	}
	return fromNanos(s.start)
}

// Learned reports whether the scope is past its learning period at now.
func (s *CompactSeenSet) Learned(now time.Time) bool {
	return s.started && sinceNanos(s.start, nanos(now)) >= s.config().Learning
}

// Len returns the number of keys held.
func (s *CompactSeenSet) Len() int { return s.count }

// Evicted returns how many keys were evicted because the set was full.
func (s *CompactSeenSet) Evicted() uint64 { return s.evicted }

// Bytes returns the memory the set holds: its table and its header.
func (s *CompactSeenSet) Bytes() int {
	return cap(s.slots)*int(unsafe.Sizeof(cslot{})) + int(unsafe.Sizeof(*s))
}

// MarshalBinary encodes the set; keys go in fingerprint order, so equal sets
// give equal bytes (about 5 bytes per key).
func (s *CompactSeenSet) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary appends the encoding of MarshalBinary to b.
func (s *CompactSeenSet) AppendBinary(b []byte) ([]byte, error) {
	b = header(b, tagCompact)
	b = appendConfig(b, s.config())
	b = appendScope(b, s.started, s.start, s.latest, s.evicted)
	b = binary.AppendVarint(b, s.base)
	b = binary.AppendUvarint(b, uint64(s.count))
	b = slices.Grow(b, 5*s.count)
	prev := uint32(0)
	for _, sl := range s.slots {
		if sl.fp == 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(sl.fp-prev))
		b = binary.AppendUvarint(b, uint64(sl.first))
		b = binary.AppendUvarint(b, uint64(sl.last-sl.first))
		prev = sl.fp
	}
	return b, nil
}

// UnmarshalBinary replaces the set with one encoded by MarshalBinary,
// refusing (and leaving the set as it was) anything else; the table it
// builds is at most about three times the input's size.
func (s *CompactSeenSet) UnmarshalBinary(data []byte) error {
	d := newDecoder(data, tagCompact, "compact seen set")
	cfg := readConfig(d, maxCompactKeys)
	if cfg.LookBack > maxCompactLookBack {
		d.fail(fmt.Errorf("look-back %v is more than %v", cfg.LookBack, maxCompactLookBack))
	}
	sc := readScope(d)
	base := d.varint("hour base")
	n := d.count("compact seen set key count", cfg.MaxKeys, 3)
	keys := make([]cslot, 0, n)
	prev := uint64(0)
	for i := 0; i < n && d.err == nil; i++ {
		fp := prev + d.uvarint("fingerprint")
		first := d.uvarint("first hour")
		last := first + d.uvarint("last hour")
		if d.err == nil && (fp <= prev || fp > 0xFFFFFFFF || last > 0xFFFF || last < first) {
			d.fail(fmt.Errorf("compact seen set key %d out of order or range", i))
		}
		keys = append(keys, cslot{fp: uint32(fp), first: uint16(first), last: uint16(last)})
		prev = fp
	}
	if err := d.finish(); err != nil {
		return fmt.Errorf("compact seen set: %w", err)
	}
	if n > 0 && !sc.started {
		return fmt.Errorf("compact seen set: %d keys in a scope with no observation", n)
	}
	if base < floorHour(minNanos.UnixNano())-baseMargin || base > floorHour(maxNanos.UnixNano()) {
		return fmt.Errorf("compact seen set: hour base %d out of range", base)
	}
	*s = CompactSeenSet{cfg: cfg, slots: keys, base: base, count: n, started: sc.started, start: sc.start, latest: sc.latest, evicted: sc.evicted}
	if n > 0 {
		s.rebuild(max(8, n*100/restoreLoadNum+1))
	}
	return nil
}

// MarshalJSON encodes the set as a JSON string (base64 of MarshalBinary).
func (s CompactSeenSet) MarshalJSON() ([]byte, error) { return marshalJSON(s.MarshalBinary()) }

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *CompactSeenSet) UnmarshalJSON(data []byte) error {
	return unmarshalJSON(data, "compact seen set", s.UnmarshalBinary)
}
