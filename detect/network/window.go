package network

import (
	"errors"
	"math"
	"net/netip"
	"slices"
	"time"
)

// nb is the number of buckets of every sliding window: a window slides by a
// sixth of its length and its sum covers between 5/6 and 6/6 of it.
const nb = 6

func bucket(slot int64) int {
	j := slot % nb
	if j < 0 {
		j += nb
	}
	return int(j)
}

// ring is a sliding-window sum of weights and record counts over nb buckets;
// Base is the newest bucket's slot (time / width).
type ring struct {
	Base int64      `json:"b"`
	W    [nb]uint32 `json:"w"`
	N    [nb]uint16 `json:"n"`
}

// advance moves the newest bucket to slot s, clearing the ones that leave.
func (r *ring) advance(s int64) {
	if s <= r.Base {
		return
	}
	if d := s - r.Base; d >= nb || d < 0 { // d < 0: overflow, far apart
		r.W, r.N = [nb]uint32{}, [nb]uint16{}
	} else {
		for k := r.Base + 1; k <= s; k++ {
			r.W[bucket(k)], r.N[bucket(k)] = 0, 0
		}
	}
	r.Base = s
}

// add counts one record of weight w at slot s (a record older than the
// window is dropped).
func (r *ring) add(s int64, w uint32) {
	r.advance(s)
	if s <= r.Base-nb {
		return
	}
	j := bucket(s)
	r.W[j] = satAdd32(r.W[j], w)
	if r.N[j] < 1<<16-1 {
		r.N[j]++
	}
}

// sum returns the weight and records of the window ending at slot s.
func (r *ring) sum(s int64) (w uint64, n uint32) {
	for k := range window(r.Base, s) {
		w += uint64(r.W[bucket(k)])
		n += uint32(r.N[bucket(k)])
	}
	return w, n
}

// window yields the slots of a ring whose newest is base that lie in the
// window ending at slot s (at most nb of them; no overflow near the ends of
// int64, which a restored state may hold).
func window(base, s int64) func(func(int64) bool) {
	return func(yield func(int64) bool) {
		lo := int64(math.MinInt64)
		if s = max(s, base); s > math.MinInt64+nb {
			lo = s - nb + 1
		}
		for j := int64(0); j < nb; j++ {
			k := base - j
			if k < lo || k > base || !yield(k) {
				return
			}
		}
	}
}

func (r *ring) reset() { *r = ring{} }

func satAdd32(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return 1<<32 - 1
}

// target is what a table counts: a remote address, with a port for port
// scanning (0 otherwise).
type target struct {
	Addr netip.Addr `json:"a"`
	Port uint16     `json:"p,omitempty"`
}

// item is one target's state in a table.
type item struct {
	Key target `json:"k"`
	// Short and Long count attempts for OneToOne (brute force only).
	Short ring `json:"s"`
	Long  ring `json:"l"`
	// DSlot is the distinct-window bucket of the latest record and DN the
	// sampled packets since the target entered that window (0: outside).
	DSlot int64  `json:"ds"`
	DN    uint32 `json:"dn,omitempty"`
	// Hour is the Unix hour in which the target was last counted in the
	// hourly distinct baseline.
	Hour int64 `json:"h"`
	// First and Last bound the current activity (attempts and sessions);
	// the target is stale once Last leaves every window.
	First int64 `json:"f"`
	Last  int64 `json:"t"`
	// Sessions counts sessions seen since First.
	Sessions uint32 `json:"ss,omitempty"`
	// Ep is the OneToOne episode after a candidate.
	Ep episode `json:"ep"`
	// Rec is the latest attempt, kept as evidence.
	Rec flowRec `json:"r"`
	// Conns are the target's sampled connections (sampled records only).
	Conns []sconn `json:"cn,omitempty"`
	// RepP and RepB are the packets and bytes of the target's latest
	// connection within Attempt.Repeated's bounds, RepT when it ended and
	// RepN whether it was counted (unsampled records only).
	RepP uint32 `json:"rp,omitempty"`
	RepB uint32 `json:"rb,omitempty"`
	RepT int64  `json:"rt,omitempty"`
	RepN bool   `json:"rn,omitempty"`
}

// dring counts the distinct targets of a table seen within a sliding window,
// with how many of them were seen in exactly one and two sampled packets
// (for chao1): each target sits in the bucket of its latest record.
type dring struct {
	Base int64
	Cnt  [nb]uint32
	F1   [nb]uint32
	F2   [nb]uint32
}

func (d *dring) advance(s int64) {
	if s <= d.Base {
		return
	}
	if x := s - d.Base; x >= nb || x < 0 {
		d.Cnt, d.F1, d.F2 = [nb]uint32{}, [nb]uint32{}, [nb]uint32{}
	} else {
		for k := d.Base + 1; k <= s; k++ {
			j := bucket(k)
			d.Cnt[j], d.F1[j], d.F2[j] = 0, 0, 0
		}
	}
	d.Base = s
}

// inWindow reports whether it is counted in the ring.
func (d *dring) inWindow(it *item) bool {
	return it.DN > 0 && it.DSlot > d.Base-nb && it.DSlot <= d.Base
}

func (d *dring) count(it *item, sign int) {
	j := bucket(it.DSlot)
	add := func(v *uint32) {
		if sign > 0 {
			*v++
		} else if *v > 0 {
			*v--
		}
	}
	add(&d.Cnt[j])
	switch it.DN {
	case 1:
		add(&d.F1[j])
	case 2:
		add(&d.F2[j])
	}
}

// touch records p sampled packets of it at slot s.
func (d *dring) touch(it *item, s int64, p uint32) {
	d.advance(s)
	if s <= d.Base-nb {
		return
	}
	p = max(p, 1)
	if d.inWindow(it) {
		d.count(it, -1)
		it.DN = satAdd32(it.DN, p)
		it.DSlot = max(it.DSlot, s)
	} else {
		it.DN, it.DSlot = p, s
	}
	d.count(it, +1)
}

// remove takes it out of the ring (it leaves the table).
func (d *dring) remove(it *item) {
	if d.inWindow(it) {
		d.count(it, -1)
	}
	it.DN = 0
}

// sum returns the distinct targets, and those seen in one and two sampled
// packets, in the window ending at slot s.
func (d *dring) sum(s int64) (n, f1, f2 uint32) {
	for k := range window(d.Base, s) {
		j := bucket(k)
		n += d.Cnt[j]
		f1 += d.F1[j]
		f2 += d.F2[j]
	}
	return n, f1, f2
}

// table holds the targets of one address of ours (and service), at most
// max of them, with the distinct count over one window (width: the
// window's bucket width in nanoseconds).
type table struct {
	index map[target]int32
	items []item
	free  []int32
	live  int
	d     dring
	// Overflow counts records of targets refused because the table was full.
	Overflow uint64
}

// get returns the item of k, or nil.
func (t *table) get(k target) *item {
	if i, ok := t.index[k]; ok {
		return &t.items[i]
	}
	return nil
}

// add returns a fresh item for k, or nil when the table holds max items.
// The pointer is valid until the next add.
func (t *table) add(k target, max int) *item {
	if t.live >= max {
		return nil
	}
	if t.index == nil {
		t.index = make(map[target]int32)
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.items = append(t.items, item{})
		i = int32(len(t.items) - 1)
	}
	t.items[i] = item{Key: k, DSlot: 0, Hour: 0}
	t.index[k] = i
	t.live++
	return &t.items[i]
}

// remove frees item i.
func (t *table) remove(i int32) {
	it := &t.items[i]
	t.d.remove(it)
	delete(t.index, it.Key)
	*it = item{}
	t.free = append(t.free, i)
	t.live--
}

// each calls fn for every live item, in slot order.
func (t *table) each(fn func(i int32, it *item)) {
	for i := range t.items {
		if it := &t.items[i]; it.Key.Addr.IsValid() {
			fn(int32(i), it)
		}
	}
}

// resetDistinct empties the distinct window (a new count starts).
func (t *table) resetDistinct() {
	t.d = dring{Base: t.d.Base}
	for i := range t.items {
		t.items[i].DN = 0
	}
}

// tableJSON is a table as snapshots hold it: live items in slot order.
type tableJSON struct {
	Items    []item `json:"items,omitempty"`
	DBase    int64  `json:"dBase,omitempty"`
	Overflow uint64 `json:"overflow,omitempty"`
}

func (t *table) toJSON() tableJSON {
	out := tableJSON{DBase: t.d.Base, Overflow: t.Overflow}
	t.each(func(_ int32, it *item) { out.Items = append(out.Items, *it) })
	return out
}

var (
	errTooMany   = errors.New("more targets than maxPeers")
	errDuplicate = errors.New("duplicate target")
	errBadTarget = errors.New("target without address")
)

// fromJSON rebuilds a table (index and distinct ring) from its snapshot.
func fromJSON(j tableJSON, max int) (table, error) {
	t := table{d: dring{Base: j.DBase}, Overflow: j.Overflow}
	if len(j.Items) > max {
		return t, errTooMany
	}
	for _, it := range j.Items {
		if !it.Key.Addr.IsValid() {
			return t, errBadTarget
		}
		if len(it.Conns) > maxConns {
			return t, errTooMany
		}
		if t.get(it.Key) != nil {
			return t, errDuplicate
		}
		p := t.add(it.Key, max)
		*p = it
		if t.d.inWindow(p) {
			t.d.count(p, +1)
		}
	}
	return t, nil
}

// episode is the hour (Mute) after a candidate: further activity is summed
// and becomes one summary candidate when it ends.
type episode struct {
	// Start is when the episode opened, Until when it ends (0: none).
	Start int64 `json:"st,omitempty"`
	Until int64 `json:"u,omitempty"`
	// Count (weighted) and Flows of the activity since the candidate;
	// First and Last bound it.
	Count uint64 `json:"c,omitempty"`
	Flows uint32 `json:"n,omitempty"`
	First int64  `json:"f,omitempty"`
	Last  int64  `json:"l,omitempty"`
	// What fired (brute force and port scanning), so the summary tells the
	// whole episode: the first record of the window that fired, its count,
	// and the threshold, window and expected count crossed.
	From int64   `json:"fr,omitempty"`
	N0   uint64  `json:"n0,omitempty"`
	Thr  float64 `json:"th,omitempty"`
	Win  int64   `json:"w,omitempty"`
	Exp  float64 `json:"x,omitempty"`
}

func (e *episode) open(now int64, mute int64) { *e = episode{Start: now, Until: now + mute} }

// fired records what opened the episode (after open).
func (e *episode) fired(from int64, count uint64, thr float64, win time.Duration, expected float64) {
	e.From, e.N0, e.Thr, e.Win, e.Exp = from, count, thr, int64(win), expected
}

// since is the start of the episode's story: the first record of the
// window that fired, or its first activity.
func (e *episode) since() int64 {
	if e.From != 0 {
		return min(e.From, e.First)
	}
	return e.First
}

func (e *episode) active(now int64) bool { return e.Until != 0 && now < e.Until }

// due reports whether an open episode has ended by now.
func (e *episode) due(now int64) bool { return e.Until != 0 && now >= e.Until }

func (e *episode) add(now int64, w uint32) {
	if e.Flows == 0 || now < e.First {
		e.First = now
	}
	e.Last = max(e.Last, now)
	e.Count += uint64(w)
	e.Flows++
}

// recRing keeps the latest records (evidence), at most cap of them.
type recRing struct {
	Recs []flowRec `json:"recs,omitempty"`
	Next int       `json:"next,omitempty"`
}

func (r *recRing) push(f *flowRec, capacity int) {
	if len(r.Recs) < capacity {
		r.Recs = append(r.Recs, *f)
		return
	}
	if r.Next >= len(r.Recs) {
		r.Next = 0
	}
	r.Recs[r.Next] = *f
	r.Next = (r.Next + 1) % len(r.Recs)
}

// pick returns up to n records matching keep, oldest first, ordered by time.
func (r *recRing) pick(n int, keep func(*flowRec) bool) []flowRec {
	var out []flowRec
	for i := range r.Recs {
		if rec := &r.Recs[i]; keep(rec) {
			out = append(out, *rec)
		}
	}
	slices.SortStableFunc(out, func(a, b flowRec) int { return cmpInt64(a.End, b.End) })
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func (r *recRing) check(capacity int) error {
	if len(r.Recs) > capacity || r.Next < 0 || (r.Next > 0 && r.Next >= len(r.Recs)) {
		return errors.New("evidence ring out of range")
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
