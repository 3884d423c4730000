package assets

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"
	"github.com/vigil-security/vigil/event"
)

// Resource is one of our resources that can hold an address.
type Resource struct {
	// ID is the Azure resource ID as the inventory or the Activity Log
	// gave it (a NIC, public IP, VM ...).
	ID string
	// Subscription is the lower-case subscription ID.
	Subscription string
}

// Open bounds of an interval, in the index's nanosecond time.
const (
	openFrom = math.MinInt64
	openTo   = math.MaxInt64
)

// origin says where an interval came from.
const (
	fromInventory uint8 = iota
	fromActivity
)

// interval is [from, to) in UNIX nanoseconds, during which resource res
// held the address. maxTo is the largest to of this and every interval
// before it in the address's list (sorted by from), so that a backward
// scan can stop as soon as nothing earlier reaches t.
type interval struct {
	from, to, maxTo int64
	res             resRef // inline, so that a look-up touches no other table
	origin          uint8
}

// entry is one address's intervals: the only one inline (cap 0, n 1), as
// most addresses have one, so that a look-up reads no other memory; else n
// of them in Index.ivs from off, with room for cap.
type entry struct {
	one         interval
	off, n, cap uint32
}

// key is an address as map key: 16 bytes, no pointers, so that the GC does
// not scan a map of a million addresses. IPv4 addresses are keyed by their
// IPv4-mapped form, so 10.0.0.1 and ::ffff:10.0.0.1 are one address.
type key [16]byte

func keyOf(a netip.Addr) key { return a.Unmap().As16() }

// Stats describes an Index.
type Stats struct {
	Addresses, Intervals, Resources int
	// Observed counts Activity Log operations that changed the index;
	// Stale those ignored for being older than the resource's last change;
	// Unusable those about addresses whose response body could not be
	// read.
	Observed, Stale, Unusable int64
}

// Index answers which of our resources held an IP address at a time. It
// is built from an inventory (Add, Load) and from the Activity Log
// (Observe), and may be read (At, HeldDuringHour, Ours) from many
// goroutines while it is being written. Look-ups do not allocate.
//
// Intervals are half-open, [from, to): a resource that holds an address
// until 10:00 and another that holds it from 10:00 do not overlap, and at
// 10:00 the second holds it. When intervals overlap, the one with the
// latest start (valid_from) wins for the time they share — an address
// reassigned without the old record being closed belongs to its newest
// holder — and of two with the same start, the one added later wins.
type Index struct {
	mu    sync.RWMutex
	addrs map[key]entry // address → its intervals
	ivs   []interval
	dead  int // slots of ivs no span refers to any more

	// The resources, pointer-free so that the GC need not scan a million
	// of them: a resRef locates a resource's ID and subscription in arena,
	// and resIdx finds a resource's resRef by its hash.
	arena  []byte // append-only: bytes once written are never changed
	resIdx map[uint64]resRef
	seed   maphash.Seed

	learned map[string]*learnt // lower-case resource ID → what the Activity Log says it holds
	parser  fastjson.Parser
	stats   Stats
}

// New returns an empty Index.
func New() *Index {
	return &Index{
		addrs:   make(map[key]entry),
		resIdx:  make(map[uint64]resRef),
		seed:    maphash.MakeSeed(),
		learned: make(map[string]*learnt),
	}
}

// ErrInterval is wrapped by Add's errors about its arguments.
var ErrInterval = errors.New("invalid interval")

// Add records that r held addr from from until to (exclusive); a zero
// from or to leaves that end open. IPv4-mapped IPv6 addresses are taken
// as IPv4.
func (x *Index) Add(addr netip.Addr, r Resource, from, to time.Time) error {
	if !addr.IsValid() || addr.Zone() != "" {
		return fmt.Errorf("%w: address %q", ErrInterval, addr)
	}
	if r.ID == "" {
		return fmt.Errorf("%w: no resource ID", ErrInterval)
	}
	f, t := nanos(from, openFrom), nanos(to, openTo)
	if t <= f {
		return fmt.Errorf("%w: %s held from %s until %s, which is not after it", ErrInterval, addr,
			from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.insert(keyOf(addr), interval{from: f, to: t, res: x.resource(r), origin: fromInventory})
	return nil
}

// nanos converts t to UNIX nanoseconds, or open for the zero time. Times
// beyond the int64 range (before 1678, after 2262) are clamped into it.
func nanos(t time.Time, open int64) int64 {
	if t.IsZero() {
		return open
	}
	const limit = math.MaxInt64/int64(time.Second) - 1
	switch sec := t.Unix(); {
	case sec < -limit:
		return openFrom + 1
	case sec > limit:
		return openTo - 1
	}
	return t.UnixNano()
}

// resRef locates a resource's ID (arena[off:off+idLen]) and subscription
// (the subLen bytes after it).
type resRef struct {
	off           int
	idLen, subLen uint32
}

// resource returns r's place in the arena, adding it. Callers hold the
// write lock.
func (x *Index) resource(r Resource) resRef {
	h := maphash.Comparable(x.seed, r)
	for {
		ref, ok := x.resIdx[h]
		if !ok {
			break
		}
		if x.resAt(ref) == r {
			return ref
		}
		h++ // a hash collision: probe the next value
	}
	ref := resRef{off: len(x.arena), idLen: uint32(len(r.ID)), subLen: uint32(len(r.Subscription))}
	x.arena = append(append(x.arena, r.ID...), r.Subscription...)
	x.resIdx[h] = ref
	return ref
}

// resAt returns the resource at ref. Its strings alias the arena without
// reading it, which is safe because arena bytes are never modified:
// growing the arena copies them, and the strings keep the old copy alive.
func (x *Index) resAt(ref resRef) Resource {
	b := x.arena[ref.off : ref.off+int(ref.idLen)+int(ref.subLen)]
	var out Resource
	if ref.idLen > 0 {
		out.ID = unsafe.String(&b[0], ref.idLen)
	}
	if ref.subLen > 0 {
		out.Subscription = unsafe.String(&b[ref.idLen], ref.subLen)
	}
	return out
}

// insert adds iv to k's intervals, keeping them sorted by from (after any
// interval with the same from). Callers hold the write lock.
func (x *Index) insert(k key, iv interval) {
	x.stats.Intervals++
	e, ok := x.addrs[k]
	if !ok {
		iv.maxTo = iv.to
		x.addrs[k] = entry{one: iv, n: 1}
		return
	}
	if e.cap == 0 {
		// A second interval: move the first into ivs.
		e.off, e.cap = uint32(len(x.ivs)), 2
		x.ivs = append(x.ivs, e.one, interval{})
		e.one = interval{}
	}
	if e.n == e.cap {
		if int(e.off+e.cap) == len(x.ivs) {
			// The list is the last in ivs: grow it in place.
			x.ivs = append(x.ivs, interval{})
			e.cap++
		} else {
			// Move the list to the end of ivs with room to grow.
			nc := 2 * e.cap
			off := uint32(len(x.ivs))
			x.ivs = append(x.ivs, x.ivs[e.off:e.off+e.n]...)
			x.ivs = append(x.ivs, make([]interval, nc-e.n)...)
			x.dead += int(e.cap)
			e.off, e.cap = off, nc
		}
	}
	l := x.ivs[e.off : e.off+e.n+1]
	p := sort.Search(int(e.n), func(i int) bool { return l[i].from > iv.from })
	copy(l[p+1:], l[p:e.n])
	l[p] = iv
	e.n++
	fixMaxTo(l, p)
	x.addrs[k] = e
	if x.dead > 1<<16 && x.dead > x.stats.Intervals {
		x.compact()
	}
}

// fixMaxTo recomputes maxTo from position p on.
func fixMaxTo(l []interval, p int) {
	m := int64(openFrom)
	if p > 0 {
		m = l[p-1].maxTo
	}
	for i := p; i < len(l); i++ {
		m = max(m, l[i].to)
		l[i].maxTo = m
	}
}

// compact rewrites ivs without the slots of moved lists. insert calls it
// when they outnumber the intervals, which bounds the array to a few times
// the number of intervals.
func (x *Index) compact() {
	ivs := make([]interval, 0, x.stats.Intervals)
	for k, e := range x.addrs {
		if e.cap == 0 {
			continue
		}
		off := uint32(len(ivs))
		ivs = append(ivs, x.ivs[e.off:e.off+e.n]...)
		e.off, e.cap = off, e.n
		x.addrs[k] = e
	}
	x.ivs, x.dead = ivs, 0
}

// At returns the resource that held addr at t, and whether one did.
func (x *Index) At(addr netip.Addr, t time.Time) (Resource, bool) {
	if x == nil || !addr.IsValid() {
		return Resource{}, false
	}
	tn := nanos(t, openFrom)
	return x.find(keyOf(addr), tn, 0, 0, false)
}

// HeldDuringHour implements the rule of Defender's network-layer alerts
// (seed 004): an alert fires only for an address that one of our
// resources held during the hour of the traffic. It returns the resource
// that held addr at t if there was one; otherwise the one that held it at
// some time in the clock hour of t ([t truncated to the hour, one hour
// later)) with the latest start; and whether there was any.
func (x *Index) HeldDuringHour(addr netip.Addr, t time.Time) (Resource, bool) {
	if x == nil || !addr.IsValid() {
		return Resource{}, false
	}
	h0 := t.Truncate(time.Hour)
	return x.find(keyOf(addr), nanos(t, openFrom), nanos(h0, openFrom), nanos(h0.Add(time.Hour), openTo)-1, true)
}

// find looks k up at t and, when hour is set and nothing held it at t, in
// [a, b].
func (x *Index) find(k key, t, a, b int64, hour bool) (Resource, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.addrs[k]
	if !ok {
		return Resource{}, false
	}
	var one [1]interval
	l := one[:]
	if e.cap == 0 {
		one[0] = e.one
	} else {
		l = x.ivs[e.off : e.off+e.n]
	}
	i := holder(l, t, t)
	if i < 0 && hour {
		i = holder(l, a, b)
	}
	if i < 0 {
		return Resource{}, false
	}
	return x.resAt(l[i].res), true
}

// holder returns the position in l of the interval with the latest start
// that overlaps [a, b] (both inclusive, a <= b), or -1.
func holder(l []interval, a, b int64) int {
	// j: the first interval starting after b; scan back from it.
	lo, hi := 0, len(l)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l[m].from <= b {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for j := lo - 1; j >= 0; j-- {
		if l[j].maxTo <= a {
			break // nothing at or before j lasts past a
		}
		if l[j].to > a {
			return j
		}
	}
	return -1
}

// Ours returns the end of f that one of our resources held during the
// hour of the flow (HeldDuringHour at f.Start), with the resource. The
// end the flow's direction names as ours is tried first: the source of
// egress traffic, the destination of ingress traffic (the source first
// when the direction is unknown).
func (x *Index) Ours(f *event.Flow) (netip.Addr, Resource, bool) {
	first, second := f.SrcAddr, f.DstAddr
	if f.Direction == event.DirectionIngress {
		first, second = second, first
	}
	if r, ok := x.HeldDuringHour(first, f.Start); ok {
		return first, r, true
	}
	if r, ok := x.HeldDuringHour(second, f.Start); ok {
		return second, r, true
	}
	return netip.Addr{}, Resource{}, false
}

// Stats returns the index's counts.
func (x *Index) Stats() Stats {
	if x == nil {
		return Stats{}
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	s := x.stats
	s.Addresses = len(x.addrs)
	s.Resources = len(x.resIdx)
	return s
}

// subscriptionOf returns the lower-case subscription ID in a resource ID
// (/subscriptions/{id}/...), or "".
func subscriptionOf(id string) string {
	const p = "/subscriptions/"
	if len(id) < len(p) || !strings.EqualFold(id[:len(p)], p) {
		return ""
	}
	rest := id[len(p):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return strings.ToLower(rest)
}
