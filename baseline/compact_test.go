package baseline

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// checkTable verifies the ordered table's invariants: fingerprints increase
// over the occupied slots, each key sits at or after its home with every
// slot between occupied, and count matches.
func checkTable(s *CompactSeenSet) error {
	n, prev := 0, uint32(0)
	for i, sl := range s.slots {
		if sl.fp == 0 {
			continue
		}
		n++
		if sl.fp <= prev {
			return fmt.Errorf("slot %d: fingerprint %#x after %#x", i, sl.fp, prev)
		}
		prev = sl.fp
		h := s.home(sl.fp)
		if h > i {
			return fmt.Errorf("slot %d: before its home %d", i, h)
		}
		for j := h; j < i; j++ {
			if s.slots[j].fp == 0 {
				return fmt.Errorf("slot %d: empty slot %d between it and its home %d", i, j, h)
			}
		}
		if sl.first > sl.last {
			return fmt.Errorf("slot %d: first %d after last %d", i, sl.first, sl.last)
		}
	}
	if n != s.count {
		return fmt.Errorf("%d keys in the table, count %d", n, s.count)
	}
	if len(s.slots) != 0 && len(s.slots) != s.n+slack(s.n) {
		return fmt.Errorf("%d slots for %d homes", len(s.slots), s.n)
	}
	return nil
}

// modelKey is what the reference model keeps per key (hours from base).
type modelKey struct{ first, last int64 }

// TestCompactSeenSetModel drives the table with random observations,
// expiries and evictions and compares it with a plain map doing the same.
func TestCompactSeenSetModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const maxKeys = 3000
	s := NewCompactSeenSet(SeenConfig{MaxKeys: maxKeys, LookBack: 20 * day, Learning: -1})
	keys := make([]uint64, 6000)
	seen := map[uint32]bool{}
	for i := range keys {
		for {
			keys[i] = rng.Uint64()
			if fp := fingerprint(keys[i]); !seen[fp] {
				seen[fp] = true
				break
			}
		}
	}
	model := map[uint64]modelKey{}
	now := t0
	var evicted uint64
	for step := range 200_000 {
		now = now.Add(time.Duration(rng.IntN(120)) * time.Second)
		switch r := rng.IntN(1000); {
		case r == 0:
			cut := floorHour(nanos(now.Add(-20*day))) - s.base
			for k, m := range model {
				if m.last < cut {
					delete(model, k)
				}
			}
			s.Expire(now)
		default:
			// Mostly a hot set, sometimes any key; sometimes a little late.
			k := keys[rng.IntN(500)]
			if r%4 == 0 {
				k = keys[rng.IntN(len(keys))]
			}
			at := now.Add(-time.Duration(rng.IntN(3)) * time.Hour)
			_, held := model[k]
			if !held && len(model) >= maxKeys {
				evicted += modelEvict(model, maxKeys/16)
			}
			isNew := s.Observe(k, at)
			if isNew == held {
				t.Fatalf("step %d: new = %v for a key held = %v", step, isNew, held)
			}
			off := max(floorHour(nanos(at))-s.base, 0)
			m, ok := model[k]
			if !ok {
				m = modelKey{off, off}
			}
			model[k] = modelKey{min(m.first, off), max(m.last, off)}
		}
		if step%5000 == 0 || step == 199_999 {
			if err := checkTable(s); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			if s.Len() != len(model) || s.Evicted() != evicted {
				t.Fatalf("step %d: len %d evicted %d, model %d %d", step, s.Len(), s.Evicted(), len(model), evicted)
			}
			for _, k := range keys {
				m, ok := model[k]
				f, l, got := s.Seen(k)
				if got != ok {
					t.Fatalf("step %d: key held %v, model %v", step, got, ok)
				}
				if ok && (!f.Equal(s.hourTime(uint16(m.first))) || !l.Equal(s.hourTime(uint16(m.last)))) {
					t.Fatalf("step %d: times %v %v, model %d %d", step, f, l, m.first, m.last)
				}
			}
		}
	}
	if evicted == 0 {
		t.Error("the run never evicted: the test does not cover eviction")
	}
}

// modelEvict drops the k keys least recently seen, ties by fingerprint.
func modelEvict(model map[uint64]modelKey, k int) uint64 {
	type kv struct {
		k uint64
		m modelKey
	}
	all := make([]kv, 0, len(model))
	for k, m := range model {
		all = append(all, kv{k, m})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if c := cmp.Compare(a.m.last, b.m.last); c != 0 {
			return c
		}
		return cmp.Compare(fingerprint(a.k), fingerprint(b.k))
	})
	for _, e := range all[:k] {
		delete(model, e.k)
	}
	return uint64(k)
}

// TestCompactSeenSetRebase: hours are 16 bits from a base; observations
// years later move the base, keeping what is recent and clamping first-seen.
func TestCompactSeenSetRebase(t *testing.T) {
	s := NewCompactSeenSet(SeenConfig{Learning: -1})
	old, steady := HashString("old"), HashString("steady")
	s.Observe(old, t0)
	for at := t0; at.Before(t0.Add(9 * 365 * day)); at = at.Add(20 * day) {
		s.Observe(steady, at)
	}
	end := t0.Add(9 * 365 * day)
	s.Observe(steady, end)
	if err := checkTable(s); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.Seen(old); ok {
		t.Error("a key last seen nine years ago survived the rebase")
	}
	first, last, ok := s.Seen(steady)
	if !ok || !last.Equal(end.Truncate(time.Hour)) {
		t.Fatalf("steady key: %v %v %v", first, last, ok)
	}
	if age := end.Sub(first); age < 6*365*day || age > 8*365*day {
		t.Errorf("first seen %v before the last: want clamped to about seven years", age)
	}
	if !s.Since().Equal(t0) {
		t.Errorf("scope since %v, want %v: the scope's start is kept exactly", s.Since(), t0)
	}
}

// TestCompactSeenSetHours: times are kept to the hour.
func TestCompactSeenSetHours(t *testing.T) {
	s := NewCompactSeenSet(SeenConfig{})
	k := HashString("k")
	s.Observe(k, t0.Add(95*time.Minute))
	f, _ := s.FirstSeen(k)
	if want := t0.Add(time.Hour); !f.Equal(want) {
		t.Errorf("first seen %v, want the hour %v", f, want)
	}
	s.Observe(k, t0.Add(-50*time.Hour)) // before the base margin: clamped
	if f, _ := s.FirstSeen(k); !f.Equal(t0.Add((1 - baseMargin) * time.Hour)) {
		t.Errorf("first seen %v, want clamped to the base %v", f, t0.Add((1-baseMargin)*time.Hour))
	}
	if !s.Since().Equal(t0.Add(-50 * time.Hour)) {
		t.Errorf("scope since %v: the scope's start is exact", s.Since())
	}
}

func TestCompactSeenSetObserveKnownDoesNotAllocate(t *testing.T) {
	s := NewCompactSeenSet(SeenConfig{})
	for i := range 1000 {
		s.Observe(HashString(guid(i)), t0)
	}
	k := HashString(guid(7))
	at := t0
	if n := testing.AllocsPerRun(1000, func() { at = at.Add(time.Second); s.Observe(k, at) }); n != 0 {
		t.Errorf("Observe of a known key allocates %.1f times", n)
	}
}

// pairBudget is the documented bound: 100 million pairs in 1 GiB.
const pairBudget = float64(1<<30) / 100e6

// TestCompactSeenSetBytesPerKey checks the documented 8.8 to 10.4 bytes per
// key (table and header) at every size from 10,000 to 200,000 keys, so 100
// million pairs in sets of that size fit in 1 GiB whatever the sizes.
func TestCompactSeenSetBytesPerKey(t *testing.T) {
	s := NewCompactSeenSet(SeenConfig{})
	lo, hi := 100.0, 0.0
	for i := range 200_000 {
		s.Observe(HashString(guid(i)), t0)
		if n := i + 1; n >= 10_000 {
			per := float64(s.Bytes()) / float64(n)
			lo, hi = min(lo, per), max(hi, per)
		}
	}
	t.Logf("CompactSeenSet: %.2f to %.2f bytes per key from 10,000 to 200,000 keys (budget %.2f)", lo, hi, pairBudget)
	if hi > 10.4 || hi > pairBudget {
		t.Errorf("up to %.2f bytes per key, documented at most 10.4", hi)
	}
	if lo < 8 {
		t.Errorf("%.2f bytes per key: fewer than the 8-byte slot, Bytes is wrong", lo)
	}
	if err := checkTable(s); err != nil {
		t.Fatal(err)
	}
}

// TestCompactSeenSetMemory checks Bytes against the heap: 20 vault scopes of
// 50,000 principals each.
func TestCompactSeenSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const vaults, principals = 20, 50_000
	before := heapBytes()
	sets := make([]*CompactSeenSet, vaults)
	accounted := 0
	for v := range sets {
		sets[v] = NewCompactSeenSet(SeenConfig{})
		for p := range principals {
			sets[v].Observe(HashString(guid(p*vaults+v)), t0)
		}
		accounted += sets[v].Bytes()
	}
	after := heapBytes()
	per := float64(after-before) / (vaults * principals)
	t.Logf("CompactSeenSet: %.2f bytes per pair on the heap, %.2f accounted by Bytes", per, float64(accounted)/(vaults*principals))
	if per > 10.4 {
		t.Errorf("%.2f bytes per pair on the heap, documented at most 10.4", per)
	}
	runtime.KeepAlive(sets)
}

// TestCompactSeenSetShrinks: a table emptied by Expire gives its memory back.
func TestCompactSeenSetShrinks(t *testing.T) {
	s := NewCompactSeenSet(SeenConfig{LookBack: day})
	for i := range 10_000 {
		s.Observe(HashString(guid(i)), t0)
	}
	big := s.Bytes()
	for i := range 100 {
		s.Observe(HashString(guid(i)), t0.Add(2*day))
	}
	if n := s.Expire(t0.Add(2 * day)); n != 9_900 {
		t.Errorf("expired %d, want 9900", n)
	}
	if err := checkTable(s); err != nil {
		t.Fatal(err)
	}
	if s.Bytes() > big/10 {
		t.Errorf("%d bytes after expiring 99%% of %d", s.Bytes(), big)
	}
	for i := range 100 {
		if _, ok := s.LastSeen(HashString(guid(i))); !ok {
			t.Fatalf("key %d lost in the shrink", i)
		}
	}
}

func TestCompactSeenSetUnmarshalRefuses(t *testing.T) {
	s := NewCompactSeenSet(SeenConfig{})
	s.Observe(HashString("a"), t0)
	s.Observe(HashString("b"), t0.Add(time.Hour))
	good, _ := s.MarshalBinary()
	seen, _ := NewSeenSet(SeenConfig{}).MarshalBinary()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"other type", seen},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(slices.Clone(good), 0)},
		{"repeated fingerprint", compactEncoding(2, [][3]uint64{{5, 0, 0}, {0, 0, 0}})},
		{"zero fingerprint", compactEncoding(1, [][3]uint64{{0, 0, 0}})},
		{"fingerprint past 32 bits", compactEncoding(1, [][3]uint64{{1 << 32, 0, 0}})},
		{"last hour past 16 bits", compactEncoding(1, [][3]uint64{{5, 0xFFFF, 1}})},
		{"more keys than encoded", compactEncoding(3, [][3]uint64{{5, 0, 0}})},
		{"fewer keys than encoded", compactEncoding(1, [][3]uint64{{5, 0, 0}, {1, 0, 0}})},
		{"valid", nil},
	}
	if err := new(CompactSeenSet).UnmarshalBinary(compactEncoding(2, [][3]uint64{{5, 0, 0}, {1, 2, 3}})); err != nil {
		t.Fatalf("the hand-made encoding is refused: %v", err)
	}
	tests = tests[:len(tests)-1]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewCompactSeenSet(SeenConfig{})
			r.Observe(HashString("keep"), t0)
			if err := r.UnmarshalBinary(tc.data); err == nil {
				t.Fatal("accepted")
			}
			if _, ok := r.FirstSeen(HashString("keep")); !ok || r.Len() != 1 {
				t.Error("a refused state changed the set")
			}
		})
	}
}

// compactEncoding writes a CompactSeenSet encoding by hand: a started scope
// claiming n keys, then the entries (fingerprint delta, first, last-first).
func compactEncoding(n uint64, entries [][3]uint64) []byte {
	b := header(nil, tagCompact)
	b = appendConfig(b, NewCompactSeenSet(SeenConfig{}).Config())
	b = appendScope(b, true, nanos(t0), nanos(t0), 0)
	b = binary.AppendVarint(b, floorHour(nanos(t0)))
	b = binary.AppendUvarint(b, n)
	for _, e := range entries {
		for _, v := range e {
			b = binary.AppendUvarint(b, v)
		}
	}
	return b
}
