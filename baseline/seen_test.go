package baseline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// t0 is a Monday 09:00 UTC.
var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// seenLike runs the behaviour tests on both seen sets: SeenSet with the key,
// CompactSeenSet with its hash.
type seenLike interface {
	observe(key string, t time.Time) bool
	seen(key string) (first, last time.Time, ok bool)
	expire(now time.Time) int
	learned(now time.Time) bool
	since() time.Time
	len() int
	evicted() uint64
	roundTrip() (seenLike, error)
	encode() []byte
}

type stringSet struct{ *SeenSet }

func (s stringSet) observe(k string, t time.Time) bool { return s.Observe(k, t) }
func (s stringSet) seen(k string) (time.Time, time.Time, bool) {
	return s.Seen(k)
}
func (s stringSet) expire(now time.Time) int   { return s.Expire(now) }
func (s stringSet) learned(now time.Time) bool { return s.Learned(now) }
func (s stringSet) since() time.Time           { return s.Since() }
func (s stringSet) len() int                   { return s.Len() }
func (s stringSet) evicted() uint64            { return s.Evicted() }
func (s stringSet) encode() []byte {
	b, err := s.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}
func (s stringSet) roundTrip() (seenLike, error) {
	var n SeenSet
	err := n.UnmarshalBinary(s.encode())
	return stringSet{&n}, err
}

type hashSet struct{ *CompactSeenSet }

func (s hashSet) observe(k string, t time.Time) bool { return s.Observe(HashString(k), t) }
func (s hashSet) seen(k string) (time.Time, time.Time, bool) {
	return s.Seen(HashString(k))
}
func (s hashSet) expire(now time.Time) int   { return s.Expire(now) }
func (s hashSet) learned(now time.Time) bool { return s.Learned(now) }
func (s hashSet) since() time.Time           { return s.Since() }
func (s hashSet) len() int                   { return s.Len() }
func (s hashSet) evicted() uint64            { return s.Evicted() }
func (s hashSet) encode() []byte {
	b, err := s.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}
func (s hashSet) roundTrip() (seenLike, error) {
	var n CompactSeenSet
	err := n.UnmarshalBinary(s.encode())
	return hashSet{&n}, err
}

// bothSets makes one of each for cfg.
func bothSets(cfg SeenConfig) map[string]func() seenLike {
	return map[string]func() seenLike{
		"SeenSet":        func() seenLike { return stringSet{NewSeenSet(cfg)} },
		"CompactSeenSet": func() seenLike { return hashSet{NewCompactSeenSet(cfg)} },
	}
}

// obs is one observation and whether it must be reported new.
type obs struct {
	key  string
	at   time.Duration // after t0
	want bool
}

func TestSeenLearningPeriod(t *testing.T) {
	tests := []struct {
		name string
		cfg  SeenConfig
		obs  []obs
	}{
		{"default 7 days: nothing new while learning", SeenConfig{}, []obs{
			{"alice", 0, false},
			{"bob", 3 * day, false},
			{"carol", 7*day - time.Hour, false},
			{"dave", 7 * day, true}, // learning has passed: exactly 7 days
			{"alice", 8 * day, false},
			{"erin", 8 * day, true},
			{"erin", 8*day + time.Minute, false}, // reported once
		}},
		{"configured 1 day", SeenConfig{Learning: day}, []obs{
			{"alice", 0, false},
			{"bob", 23 * time.Hour, false},
			{"carol", 25 * time.Hour, true},
		}},
		{"no learning period", SeenConfig{Learning: -1}, []obs{
			{"alice", 0, true},
			{"alice", time.Second, false},
			{"bob", time.Second, true},
		}},
		{"learning counts from the scope's first observation, not the key's", SeenConfig{Learning: 2 * day}, []obs{
			{"alice", 0, false},
			{"alice", 2 * day, false},
			{"bob", 2 * day, true},
		}},
		{"an earlier out-of-order event moves the scope's start back", SeenConfig{Learning: 2 * day}, []obs{
			{"alice", day, false},
			{"bob", -day, false},
			{"carol", day, true}, // two days after bob
		}},
	}
	for _, tc := range tests {
		for name, mk := range bothSets(tc.cfg) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				s := mk()
				for i, o := range tc.obs {
					if got := s.observe(o.key, t0.Add(o.at)); got != o.want {
						t.Errorf("observation %d (%s at +%v): new = %v, want %v", i, o.key, o.at, got, o.want)
					}
				}
			})
		}
	}
}

func TestSeenExpiry(t *testing.T) {
	cfg := SeenConfig{Learning: day, LookBack: 30 * day}
	for name, mk := range bothSets(cfg) {
		t.Run(name, func(t *testing.T) {
			s := mk()
			s.observe("app", t0)
			s.observe("alice", t0)
			s.observe("bob", t0.Add(2*day))
			if n := s.expire(t0.Add(29 * day)); n != 0 {
				t.Errorf("expired %d keys 29 days on, want 0", n)
			}
			s.observe("app", t0.Add(29*day)) // still in use
			// 31 days after alice was last seen she is forgotten; bob (29
			// days) and the app are kept.
			if n := s.expire(t0.Add(31 * day)); n != 1 {
				t.Errorf("expired %d keys 31 days on, want 1 (alice)", n)
			}
			if _, _, ok := s.seen("alice"); ok {
				t.Error("alice is still held after the look-back")
			}
			if _, _, ok := s.seen("bob"); !ok {
				t.Error("bob expired before the look-back")
			}
			if !s.observe("alice", t0.Add(31*day)) {
				t.Error("alice returning after the look-back is not new")
			}
			if s.observe("app", t0.Add(31*day)) {
				t.Error("the app seen within the look-back is new")
			}
			// Everything silent for longer than the look-back: the scope has
			// no history left and learns again.
			if n := s.expire(t0.Add(70 * day)); n != 3 {
				t.Errorf("expired %d keys 70 days on, want 3", n)
			}
			if s.len() != 0 || !s.since().IsZero() || s.learned(t0.Add(70*day)) {
				t.Errorf("emptied set: len %d, since %v, learned %v", s.len(), s.since(), s.learned(t0.Add(70*day)))
			}
			if s.observe("mallory", t0.Add(70*day)) {
				t.Error("first key after the scope emptied is new: the scope should learn again")
			}
			if got := s.since(); !got.Equal(t0.Add(70 * day)) {
				t.Errorf("since = %v, want %v", got, t0.Add(70*day))
			}
			if !s.observe("trudy", t0.Add(71*day)) {
				t.Error("a new key after the new learning period is not new")
			}
		})
	}
}

func TestSeenFirstLast(t *testing.T) {
	for name, mk := range bothSets(SeenConfig{}) {
		t.Run(name, func(t *testing.T) {
			s := mk()
			s.observe("k", t0.Add(5*time.Hour))
			s.observe("k", t0.Add(2*time.Hour)) // out of order: earlier first
			s.observe("k", t0.Add(9*time.Hour))
			s.observe("k", t0.Add(7*time.Hour)) // out of order: last stays
			f, l, ok := s.seen("k")
			if !ok || !f.Equal(t0.Add(2*time.Hour)) || !l.Equal(t0.Add(9*time.Hour)) {
				t.Errorf("seen = %v, %v, %v; want %v, %v", f, l, ok, t0.Add(2*time.Hour), t0.Add(9*time.Hour))
			}
			if f.Location() != time.UTC {
				t.Errorf("first seen in %v, want UTC", f.Location())
			}
			if _, _, ok := s.seen("other"); ok {
				t.Error("a key never observed is seen")
			}
		})
	}
}

func TestSeenEviction(t *testing.T) {
	for name, mk := range bothSets(SeenConfig{MaxKeys: 32, Learning: -1}) {
		t.Run(name, func(t *testing.T) {
			s := mk()
			for i := range 32 {
				s.observe(fmt.Sprintf("k%02d", i), t0.Add(time.Duration(i)*time.Hour))
			}
			s.observe("k00", t0.Add(40*time.Hour)) // recently used again
			if s.evicted() != 0 || s.len() != 32 {
				t.Fatalf("full set: len %d, evicted %d", s.len(), s.evicted())
			}
			s.observe("new", t0.Add(41*time.Hour))
			// The two least recently seen (32/16) go: k01, k02; k00 stays.
			if s.len() != 31 || s.evicted() != 2 {
				t.Errorf("after eviction: len %d, evicted %d; want 31, 2", s.len(), s.evicted())
			}
			for key, want := range map[string]bool{"k00": true, "k01": false, "k02": false, "k03": true, "new": true} {
				if _, _, ok := s.seen(key); ok != want {
					t.Errorf("%s held = %v, want %v", key, ok, want)
				}
			}
			if !s.observe("k01", t0.Add(42*time.Hour)) {
				t.Error("an evicted key returning is not new")
			}
		})
	}
}

// TestSeenEvictionDeterministic: keys all last seen at the same time are
// evicted in an order that does not depend on map iteration.
func TestSeenEvictionDeterministic(t *testing.T) {
	var want []byte
	for run := range 5 {
		s := NewSeenSet(SeenConfig{MaxKeys: 64})
		for i := range 200 {
			s.Observe(fmt.Sprintf("key-%03d", i), t0)
		}
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			want = b
			if s.Len() > 64 {
				t.Errorf("len %d above MaxKeys", s.Len())
			}
			continue
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("run %d evicted different keys", run)
		}
	}
}

func TestSeenSetLongKey(t *testing.T) {
	s := NewSeenSet(SeenConfig{Learning: -1})
	long := strings.Repeat("a", MaxKeyLen) + "-first"
	other := strings.Repeat("a", MaxKeyLen) + "-second"
	if !s.Observe(long, t0) {
		t.Error("long key not new")
	}
	if s.Observe(other, t0) {
		t.Error("keys equal in their first MaxKeyLen bytes are different keys")
	}
	if _, ok := s.FirstSeen(other); !ok {
		t.Error("a cut key is not found by its long form")
	}
	if k := s.Keys(); len(k) != 1 || len(k[0]) != MaxKeyLen {
		t.Errorf("keys %q: want one of %d bytes", k, MaxKeyLen)
	}
}

func TestSeenSetConfig(t *testing.T) {
	var zero SeenSet
	if got, want := zero.Config(), (SeenConfig{Learning: DefaultLearning, LookBack: DefaultLookBack, MaxKeys: DefaultMaxKeys}); got != want {
		t.Errorf("zero value config %+v, want %+v", got, want)
	}
	if got := NewSeenSet(SeenConfig{Learning: -time.Hour, MaxKeys: 1 << 30}).Config(); got.Learning != 0 || got.MaxKeys != maxSeenKeys {
		t.Errorf("config %+v: want no learning and MaxKeys capped at %d", got, maxSeenKeys)
	}
	if got := NewCompactSeenSet(SeenConfig{LookBack: 100 * 365 * day}).Config(); got.LookBack != maxCompactLookBack || got.MaxKeys != DefaultCompactMaxKeys {
		t.Errorf("compact config %+v: want look-back capped at %v", got, maxCompactLookBack)
	}
	s := NewSeenSet(SeenConfig{})
	for i := range 100 {
		s.Observe(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second))
	}
	s.SetConfig(SeenConfig{MaxKeys: 10})
	if s.Len() != 10 || s.Evicted() != 90 {
		t.Errorf("after lowering MaxKeys: len %d, evicted %d", s.Len(), s.Evicted())
	}
	if _, ok := s.LastSeen("99"); !ok {
		t.Error("the most recent key was evicted")
	}
}

func TestSeenRoundTrip(t *testing.T) {
	for name, mk := range bothSets(SeenConfig{Learning: 2 * day, LookBack: 10 * day, MaxKeys: 1000}) {
		t.Run(name, func(t *testing.T) {
			s := mk()
			empty, err := s.roundTrip()
			if err != nil || empty.len() != 0 || !empty.since().IsZero() {
				t.Fatalf("empty round trip: %v, len %d", err, empty.len())
			}
			for i := range 300 {
				s.observe(fmt.Sprintf("principal-%d", i%200), t0.Add(time.Duration(i)*time.Hour))
			}
			r, err := s.roundTrip()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.encode(), s.encode()) {
				t.Error("re-encoding a restored set gives other bytes")
			}
			if r.len() != s.len() || !r.since().Equal(s.since()) {
				t.Errorf("restored len %d since %v, want %d %v", r.len(), r.since(), s.len(), s.since())
			}
			for i := range 200 {
				k := fmt.Sprintf("principal-%d", i)
				f1, l1, ok1 := s.seen(k)
				f2, l2, ok2 := r.seen(k)
				if ok1 != ok2 || !f1.Equal(f2) || !l1.Equal(l2) {
					t.Fatalf("%s: restored %v %v %v, want %v %v %v", k, f2, l2, ok2, f1, l1, ok1)
				}
			}
			// The restored set goes on as the original would.
			at := t0.Add(400 * time.Hour)
			for _, k := range []string{"principal-5", "newcomer"} {
				if a, b := s.observe(k, at), r.observe(k, at); a != b {
					t.Errorf("%s after restore: new = %v, original %v", k, b, a)
				}
			}
			if a, b := s.expire(at.Add(5*day)), r.expire(at.Add(5*day)); a != b {
				t.Errorf("expire after restore dropped %d, original %d", b, a)
			}
		})
	}
}

// TestSeenSetJSON: a SeenSet inside a detector state encoded with
// encoding/json, as detect/internal/azops.Shard does.
func TestSeenSetJSON(t *testing.T) {
	type state struct {
		Principals SeenSet         `json:"principals"`
		Pairs      *CompactSeenSet `json:"pairs"`
		Volume     Rate            `json:"volume"`
		Vaults     Distinct        `json:"vaults"`
	}
	var s state
	s.Pairs = NewCompactSeenSet(SeenConfig{})
	s.Principals.Observe("alice", t0)
	s.Pairs.Observe(HashPair("alice", "vault"), t0)
	s.Volume.Observe(t0, 3)
	s.Vaults.Add("vault")
	data, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	// Encoded by value (fields not addressable) the state is the same.
	if byValue, err := json.Marshal(s); err != nil || string(byValue) != string(data) {
		t.Errorf("encoded by value: %v, %s; by pointer %s", err, byValue, data)
	}
	var back state
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back.Principals.FirstSeen("alice"); !ok || back.Pairs.Len() != 1 || back.Vaults.Count() != 1 {
		t.Errorf("restored state %+v", back)
	}
	if _, c, _ := back.Volume.Pending(); c != 3 {
		t.Errorf("restored rate counts %v, want 3", c)
	}
	if err := json.Unmarshal([]byte(`{"principals":null,"pairs":null}`), &back); err != nil {
		t.Errorf("null states: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"principals":"AAAA"}`), &back); err == nil {
		t.Error("a corrupt state is accepted")
	}
}

func TestSeenSetUnmarshalRefuses(t *testing.T) {
	s := NewSeenSet(SeenConfig{MaxKeys: 4})
	s.Observe("a", t0)
	s.Observe("b", t0.Add(time.Hour))
	good, _ := s.MarshalBinary()
	compact, _ := NewCompactSeenSet(SeenConfig{}).MarshalBinary()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"other version", append([]byte{9}, good[1:]...)},
		{"other type", compact},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(bytes.Clone(good), 0)},
		{"keys out of order", bytes.Replace(bytes.Clone(good), []byte{1, 'a'}, []byte{1, 'c'}, 1)},
		{"huge key count", append(bytes.Clone(good[:len(good)-8]), 0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewSeenSet(SeenConfig{})
			r.Observe("keep", t0)
			if err := r.UnmarshalBinary(tc.data); err == nil {
				t.Fatal("accepted")
			}
			if _, ok := r.FirstSeen("keep"); !ok || r.Len() != 1 {
				t.Error("a refused state changed the set")
			}
		})
	}
}

func TestSeenSetObserveKnownDoesNotAllocate(t *testing.T) {
	s := NewSeenSet(SeenConfig{})
	key := "00000000-0000-4000-8000-000000001234"
	s.Observe(key, t0)
	at := t0
	if n := testing.AllocsPerRun(1000, func() { at = at.Add(time.Second); s.Observe(key, at) }); n != 0 {
		t.Errorf("Observe of a known key allocates %.1f times", n)
	}
}

// heapBytes returns the live heap after garbage collection.
func heapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// guid returns a GUID-shaped key (the shape of an Entra object ID).
func guid(i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", i*2654435761&0xffffffff, i)
}

// TestSeenSetMemory checks the bytes per key the documentation states:
// 100,000 GUID keys (36 bytes) in one set.
func TestSeenSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 100_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = guid(i)
	}
	before := heapBytes()
	s := NewSeenSet(SeenConfig{MaxKeys: n})
	for i, k := range keys {
		s.Observe(k, t0.Add(time.Duration(i)*time.Second))
	}
	after := heapBytes()
	runtime.KeepAlive(keys)
	per := float64(after-before) / n
	t.Logf("SeenSet: %.1f bytes per 36-byte key (%d keys, %.1f MB)", per, n, float64(after-before)/1e6)
	// 50 to 80 bytes of table, depending on its load, and 48 of key (36
	// rounded up to the allocator's size class).
	if per > 128 {
		t.Errorf("%.1f bytes per key, documented at most 80 plus the key", per)
	}
	runtime.KeepAlive(s)
}
