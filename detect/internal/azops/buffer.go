package azops

import (
	"cmp"
	"sort"
	"time"

	"github.com/vigil-security/vigil/event"
)

// Buffer holds the records of one key until the watermark passes them and
// then releases them in event-time order, ties broken by input position
// (file, index, line), so the order of delivery within the engine's lateness
// does not change what a detection sees. Its memory is reused: adding a
// record to a buffer that has had room before does not allocate.
type Buffer struct {
	Recs []Rec `json:"recs,omitempty"`
}

// Len returns the number of records held.
func (b *Buffer) Len() int { return len(b.Recs) }

// Add copies op into the buffer.
func (b *Buffer) Add(op *event.Op) {
	if len(b.Recs) < cap(b.Recs) {
		b.Recs = b.Recs[:len(b.Recs)+1]
	} else {
		b.Recs = append(b.Recs, Rec{})
	}
	b.Recs[len(b.Recs)-1].Fill(op)
}

// compareRecs orders records by time, then by where they were read.
func compareRecs(a, b *Rec) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Pos.File, b.Pos.File); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Pos.Index, b.Pos.Index); c != 0 {
		return c
	}
	return cmp.Compare(a.Pos.Line, b.Pos.Line)
}

// sort orders the records; input is nearly always in order already, so the
// check comes first and the (non-allocating) stable sort is the rare case.
func (b *Buffer) sort() {
	for i := 1; i < len(b.Recs); i++ {
		if compareRecs(&b.Recs[i-1], &b.Recs[i]) > 0 {
			sort.Stable(recOrder(b.Recs))
			return
		}
	}
}

// recOrder sorts records by pointer, without copying them to compare.
type recOrder []Rec

func (o recOrder) Len() int           { return len(o) }
func (o recOrder) Less(i, j int) bool { return compareRecs(&o[i], &o[j]) < 0 }
func (o recOrder) Swap(i, j int)      { o[i], o[j] = o[j], o[i] }

// Release calls fn, in order, for every record older than watermark (no
// record older than it is expected any more) and drops them.
func (b *Buffer) Release(watermark time.Time, fn func(r *Rec)) {
	if len(b.Recs) == 0 {
		return
	}
	b.sort()
	n := 0
	for n < len(b.Recs) && b.Recs[n].Time.Before(watermark) {
		fn(&b.Recs[n])
		n++
	}
	b.drop(n)
}

// ReleaseOldest releases the n oldest records whatever the watermark: the
// way out when a key holds more than it may (an input far out of order).
func (b *Buffer) ReleaseOldest(n int, fn func(r *Rec)) {
	n = min(n, len(b.Recs))
	if n <= 0 {
		return
	}
	b.sort()
	for i := range n {
		fn(&b.Recs[i])
	}
	b.drop(n)
}

// drop removes the first n records, keeping the capacity.
func (b *Buffer) drop(n int) {
	if n == 0 {
		return
	}
	rest := copy(b.Recs, b.Recs[n:])
	clear(b.Recs[rest:]) // let the strings go
	b.Recs = b.Recs[:rest]
}
