package simulate

import (
	"bufio"
	"fmt"
	"io"
	"slices"
)

// Write writes the estate's records to w in event-time order: Key Vault
// AuditEvent and Activity Log records interleaved, as a diagnostic setting
// that sends both categories to one Event Hub would. It streams: an hour of
// events is generated, sorted and written at a time. It returns what it
// wrote; on a write error it stops and returns the error.
func (e *Estate) Write(w io.Writer, f Format) (Stats, error) { return e.WriteSplit(w, nil, f) }

// WriteSplit writes Key Vault records to kv and Activity Log records to
// activity, each in event-time order, as diagnostic settings write them to
// the insights-logs-auditevent and insights-activity-logs containers. A nil
// activity writes both to kv (as Write).
func (e *Estate) WriteSplit(kv, activity io.Writer, f Format) (Stats, error) {
	if f != JSONLines && f != Records {
		return Stats{}, fmt.Errorf("simulate: unknown format %d", f)
	}
	kvs := newSink(kv, f)
	acts := kvs
	if activity != nil {
		acts = newSink(activity, f)
	}
	var st Stats
	err := e.generate(func(x *ev, rec []byte) error {
		st.Records++
		if x.kind == evARM {
			st.Activity++
			return acts.record(rec)
		}
		st.KeyVault++
		return kvs.record(rec)
	})
	if err == nil {
		err = kvs.close()
	}
	if err == nil && acts != kvs {
		err = acts.close()
	}
	st.Bytes = kvs.cw.n
	if acts != kvs {
		st.Bytes += acts.cw.n
	}
	if err != nil {
		return st, fmt.Errorf("simulate: write: %w", err)
	}
	return st, nil
}

// Key layout of the hourly sort: the event's offset in the hour (ticks)
// above its index in the hour's events, so sorting plain integers orders
// events by time and, for equal times, by generation order.
const (
	keyIndexBits = 27
	keyMaxOffset = 1<<(64-keyIndexBits) - 1
)

// generate renders every event in time order and calls emit for each.
func (e *Estate) generate(emit func(x *ev, rec []byte) error) error {
	g := newHourGen(e)
	rd := newRenderer(e)
	end := int64(e.hours) * ticksPerHour
	var carry []ev
	var keys []uint64
	buf := make([]byte, 0, 4096)
	next := 0 // next scripted event
	for h := range e.hours {
		g.h, g.t0 = h, int64(h)*ticksPerHour
		g.t1, g.absHour = g.t0+ticksPerHour, e.start/ticksPerHour+int64(h)
		g.evs = append(g.evs[:0], carry...)
		for i := range e.actors {
			g.run(&e.actors[i])
		}
		for next < len(e.scripted) && e.scripted[next].t < g.t1 {
			g.evs = append(g.evs, e.scripted[next])
			next++
		}
		if len(g.evs) >= 1<<keyIndexBits {
			return fmt.Errorf("hour %d has %d events, more than %d", h, len(g.evs), 1<<keyIndexBits)
		}
		keys = keys[:0]
		for i := range g.evs {
			off := min(g.evs[i].t-g.t0, keyMaxOffset)
			keys = append(keys, uint64(off)<<keyIndexBits|uint64(i))
		}
		slices.Sort(keys)
		carry = carry[:0]
		for _, k := range keys {
			x := &g.evs[k&(1<<keyIndexBits-1)]
			switch {
			case x.t >= end:
				continue
			case x.t >= g.t1:
				carry = append(carry, *x)
				continue
			}
			if x.kind == evARM {
				buf = rd.activity(buf[:0], x)
			} else {
				buf = rd.keyVault(buf[:0], x)
			}
			if err := emit(x, buf); err != nil {
				return err
			}
		}
	}
	return nil
}

// sink writes records to one output, as JSON lines or in envelopes.
type sink struct {
	cw    *countWriter
	bw    *bufio.Writer
	f     Format
	inEnv int // records in the open envelope
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newSink(w io.Writer, f Format) *sink {
	cw := &countWriter{w: w}
	return &sink{cw: cw, bw: bufio.NewWriterSize(cw, 1<<20), f: f}
}

func (s *sink) record(rec []byte) error {
	if s.f == JSONLines {
		s.bw.Write(rec)
		return s.bw.WriteByte('\n')
	}
	if s.inEnv == 0 {
		s.bw.WriteString(`{"records":[`)
	} else {
		s.bw.WriteByte(',')
	}
	_, err := s.bw.Write(rec)
	if s.inEnv++; s.inEnv == RecordsPerEnvelope {
		s.inEnv = 0
		_, err = s.bw.WriteString("]}\n")
	}
	return err
}

func (s *sink) close() error {
	if s.inEnv > 0 {
		s.bw.WriteString("]}\n")
		s.inEnv = 0
	}
	return s.bw.Flush()
}
