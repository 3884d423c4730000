package ipfix

import (
	"fmt"

	"github.com/vigil-security/vigil/event"
)

// pendingSet is a data set that arrived before its template: kept, with
// its message header, until the template comes or it is too old.
type pendingSet struct {
	id   uint16
	h    header
	data []byte
	at   int64 // collector clock, Unix nanoseconds
}

// hold keeps a data set whose template is unknown, within the limits.
func (d *Decoder) hold(s *session, id uint16, h *header, set []byte, nowNs int64, st *Stats) {
	if len(s.pending) >= d.opts.MaxPendingSets || d.pendingSize+len(set) > d.opts.MaxPendingBytes {
		st.DroppedSets++
		return
	}
	s.pending = append(s.pending, pendingSet{id: id, h: *h, data: append([]byte(nil), set...), at: nowNs})
	d.pendingSize += len(set)
	st.Held++
}

// release decodes the held sets of template t, oldest first.
func (d *Decoder) release(s *session, t *template, emit func(*event.Flow), st *Stats) error {
	var first error
	kept := s.pending[:0]
	for _, p := range s.pending {
		if p.id != t.id {
			kept = append(kept, p)
			continue
		}
		d.pendingSize -= len(p.data)
		st.Released++
		if err := d.dataSet(s, t, &p.h, p.data, emit, st); err != nil && first == nil {
			first = fmt.Errorf("held data set: %w", err)
		}
	}
	clear(s.pending[len(kept):])
	s.pending = kept
	return first
}

// expirePending drops the held sets of s older than PendingTimeout.
func (d *Decoder) expirePending(s *session, nowNs int64, st *Stats) {
	kept := s.pending[:0]
	for _, p := range s.pending {
		if nowNs-p.at > int64(d.opts.PendingTimeout) {
			d.pendingSize -= len(p.data)
			st.DroppedSets++
			continue
		}
		kept = append(kept, p)
	}
	clear(s.pending[len(kept):])
	s.pending = kept
}

// dropPending forgets every held set of s (the caller counts them).
func (d *Decoder) dropPending(s *session) {
	for _, p := range s.pending {
		d.pendingSize -= len(p.data)
	}
	s.pending = nil
}
