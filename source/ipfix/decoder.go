package ipfix

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-security/vigil/event"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxExporters      = 1024
	DefaultMaxTemplates      = 256
	DefaultMaxTemplateMemory = 64 << 20
	DefaultTemplateTimeout   = 30 * time.Minute
	DefaultSessionTimeout    = time.Hour
	DefaultMaxPendingSets    = 64
	DefaultMaxPendingBytes   = 4 << 20
	DefaultPendingTimeout    = time.Minute
)

// Options bound what a Decoder keeps. Zero fields take the defaults above.
type Options struct {
	// MaxExporters caps the sessions (exporter address + observation
	// domain / source ID + protocol version). Datagrams of a new session
	// beyond it are dropped and counted in Stats.DroppedExporters and per
	// source address (Decoder.Refusals), until sessions expire
	// (SessionTimeout): spoofed datagrams can fill the table.
	MaxExporters int
	// AllowedExporters are the exporters (addresses or networks) that
	// always get a session: theirs do not count against MaxExporters and
	// are never refused (up to MaxExporters more of them).
	AllowedExporters []netip.Prefix
	// MaxTemplates caps the templates of one session; further templates
	// are refused and counted in Stats.DroppedTemplates.
	MaxTemplates int
	// MaxTemplateMemory caps the approximate bytes of all templates.
	MaxTemplateMemory int
	// TemplateTimeout: a template not refreshed for this long is forgotten
	// (IPFIX over UDP, RFC 7011 section 8.4). Negative: never.
	TemplateTimeout time.Duration
	// SessionTimeout: Expire removes sessions idle for this long.
	SessionTimeout time.Duration
	// MaxPendingSets caps the data sets of one session held while their
	// template has not arrived; MaxPendingBytes caps their bytes in total;
	// PendingTimeout is how long one is held. Sets beyond these are counted
	// in Stats.DroppedSets.
	MaxPendingSets  int
	MaxPendingBytes int
	PendingTimeout  time.Duration
	// Sampling is the 1-in-N rate of exporters that do not report one
	// (configuration); DefaultSampling applies to the others (0 means 1).
	Sampling        map[netip.Addr]uint32
	DefaultSampling uint32
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxExporters, DefaultMaxExporters)
	def(&o.MaxTemplates, DefaultMaxTemplates)
	def(&o.MaxTemplateMemory, DefaultMaxTemplateMemory)
	def(&o.MaxPendingSets, DefaultMaxPendingSets)
	def(&o.MaxPendingBytes, DefaultMaxPendingBytes)
	if o.TemplateTimeout == 0 {
		o.TemplateTimeout = DefaultTemplateTimeout
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.PendingTimeout <= 0 {
		o.PendingTimeout = DefaultPendingTimeout
	}
	return o
}

// Stats counts what decoding did. Decode returns the counts of one
// datagram; Decoder.Totals sums them.
type Stats struct {
	Datagrams      uint64 `json:"datagrams"`      // datagrams given to Decode
	Messages       uint64 `json:"messages"`       // export messages (an IPFIX datagram may hold several)
	Flows          uint64 `json:"flows"`          // flow records emitted
	OptionsRecords uint64 `json:"optionsRecords"` // options data records read
	Templates      uint64 `json:"templates"`      // template records learnt or refreshed
	Withdrawn      uint64 `json:"withdrawn"`      // templates withdrawn by the exporter
	Expired        uint64 `json:"expired"`        // templates and sessions forgotten for age
	Held           uint64 `json:"held"`           // data sets held until their template comes
	Released       uint64 `json:"released"`       // held sets decoded when it came
	// DroppedSets counts data sets never decoded: no template, and not
	// held (over the pending limits) or held too long.
	DroppedSets      uint64 `json:"droppedSets"`
	DroppedTemplates uint64 `json:"droppedTemplates"` // templates refused: over MaxTemplates or MaxTemplateMemory
	DroppedExporters uint64 `json:"droppedExporters"` // datagrams refused: over MaxExporters
	Malformed        uint64 `json:"malformed"`        // datagrams with an error
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.Datagrams += o.Datagrams
	s.Messages += o.Messages
	s.Flows += o.Flows
	s.OptionsRecords += o.OptionsRecords
	s.Templates += o.Templates
	s.Withdrawn += o.Withdrawn
	s.Expired += o.Expired
	s.Held += o.Held
	s.Released += o.Released
	s.DroppedSets += o.DroppedSets
	s.DroppedTemplates += o.DroppedTemplates
	s.DroppedExporters += o.DroppedExporters
	s.Malformed += o.Malformed
}

// Errors wrapped by Decode, for errors.Is.
var (
	// ErrTruncated: a header, set or record runs past the data.
	ErrTruncated = errors.New("truncated")
	// ErrVersion: the datagram is not NetFlow v5, v9 or IPFIX.
	ErrVersion = errors.New("not NetFlow v5/v9 or IPFIX")
	// ErrMalformed: a length, count or ID the protocol does not allow.
	ErrMalformed = errors.New("malformed")
)

// sessionKey identifies a template space: RFC 7011 scopes templates to the
// exporter and observation domain, RFC 3954 to the exporter and source ID.
type sessionKey struct {
	addr    netip.Addr
	domain  uint32
	version uint16
}

// session is what the decoder knows about one exporter's domain.
type session struct {
	key       sessionKey
	templates map[uint16]*template
	last      *template // the most recently used template
	seen      int64     // collector clock of the last datagram
	sysInitMs int64     // IPFIX systemInitTimeMilliseconds, 0 unknown
	rate      uint32    // sampling rate from options records, 0 unknown
	fallback  uint32    // configured rate, 0 unknown
	allowed   bool      // on the allow-list: not counted against MaxExporters
	samplers  map[uint64]uint32
	pending   []pendingSet
}

// maxSamplers bounds the sampler IDs remembered per session.
const maxSamplers = 64

func (s *session) samplerRate(id uint64) uint32 {
	if r, ok := s.samplers[id]; ok {
		return r
	}
	return s.rate
}

// Decoder decodes NetFlow v5, NetFlow v9 and IPFIX datagrams into
// event.Flow records, keeping templates per exporter session. It is not
// safe for concurrent use: give each decoding goroutine its own.
type Decoder struct {
	opts        Options
	sessions    map[sessionKey]*session
	templates   int // templates held, all sessions
	tplMemory   int
	pendingSize int
	totals      Stats
	// others counts the sessions not on the allow-list (those MaxExporters
	// caps); refused and refusedOther the refusals per source.
	others       int
	refused      map[netip.Addr]uint64
	refusedOther uint64
	flow         event.Flow
	specs        []spec // scratch for template parsing
}

// NewDecoder returns a decoder with the given limits.
func NewDecoder(opts Options) *Decoder {
	return &Decoder{opts: opts.withDefaults(), sessions: make(map[sessionKey]*session)}
}

// Totals returns the sums of every Decode and Expire so far.
func (d *Decoder) Totals() Stats { return d.totals }

// Exporters returns the number of sessions held.
func (d *Decoder) Exporters() int { return len(d.sessions) }

// Templates returns the number of templates held, all sessions.
func (d *Decoder) Templates() int { return d.templates }

// Decode decodes one UDP payload from exporter, received at now (the
// collector's clock, used for template and pending expiry; flow times come
// from the datagram). emit is called once per flow record with a Flow that
// is reused: copy what must outlive the call. The protocol is told from the
// payload's version field. On error, the records before the damage have
// been emitted; templates and records after it in the datagram are lost.
func (d *Decoder) Decode(exporter netip.AddrPort, payload []byte, now time.Time, emit func(*event.Flow)) (Stats, error) {
	st := Stats{Datagrams: 1}
	addr := exporter.Addr().Unmap()
	var err error
	nowNs := now.UnixNano()
	switch {
	case len(payload) < 2:
		err = fmt.Errorf("datagram of %d bytes: %w", len(payload), ErrTruncated)
	default:
		switch v := binary.BigEndian.Uint16(payload); v {
		case 5:
			err = d.decodeV5(addr, payload, nowNs, emit, &st)
		case 9:
			err = d.decodeV9(addr, payload, nowNs, emit, &st)
		case 10:
			err = d.decodeIPFIX(addr, payload, nowNs, emit, &st)
		default:
			err = fmt.Errorf("version %d: %w", v, ErrVersion)
		}
	}
	if err != nil {
		st.Malformed++
		if exporter.IsValid() {
			err = fmt.Errorf("datagram from %s: %w", exporter, err)
		}
	}
	d.totals.Add(st)
	return st, err
}

// session finds or creates the session; nil when over MaxExporters.
func (d *Decoder) session(addr netip.Addr, domain uint32, version uint16, nowNs int64, st *Stats) *session {
	k := sessionKey{addr: addr, domain: domain, version: version}
	s := d.sessions[k]
	if s == nil {
		allowed := len(d.opts.AllowedExporters) > 0 && d.allowed(addr)
		switch {
		case allowed && len(d.sessions)-d.others >= d.opts.MaxExporters:
			d.refuse(addr, st) // the allow-list's own pool is full: a network too wide
			return nil
		case !allowed && d.others >= d.opts.MaxExporters:
			d.refuse(addr, st)
			return nil
		case !allowed:
			d.others++
		}
		s = &session{key: k, templates: make(map[uint16]*template), allowed: allowed}
		s.fallback = d.opts.Sampling[addr]
		if s.fallback == 0 {
			s.fallback = d.opts.DefaultSampling
		}
		d.sessions[k] = s
	}
	s.seen = nowNs
	if len(s.pending) > 0 {
		d.expirePending(s, nowNs, st)
	}
	return s
}

// lookup returns the live template id of s, forgetting it when too old.
func (d *Decoder) lookup(s *session, id uint16, nowNs int64, st *Stats) *template {
	t := s.last
	if t == nil || t.id != id {
		t = s.templates[id]
		if t == nil {
			return nil
		}
	}
	if d.opts.TemplateTimeout > 0 && nowNs-t.seen > int64(d.opts.TemplateTimeout) {
		d.removeTemplate(s, t)
		st.Expired++
		return nil
	}
	s.last = t
	return t
}

func (d *Decoder) removeTemplate(s *session, t *template) {
	delete(s.templates, t.id)
	if s.last == t {
		s.last = nil
	}
	d.templates--
	d.tplMemory -= t.cost()
}

// learn adds or refreshes a template of s from its definition bytes, then
// decodes the data sets that were waiting for it.
func (d *Decoder) learn(s *session, id uint16, def []byte, specs []spec, options bool, v9scope int, nowNs int64,
	emit func(*event.Flow), st *Stats) error {
	if old := s.templates[id]; old != nil && old.options == options && string(old.def) == string(def) {
		old.seen = nowNs
		st.Templates++
		return nil
	}
	t, err := compile(id, specs, options, v9scope)
	if err != nil {
		return fmt.Errorf("template %d: %w", id, err)
	}
	t.def = append([]byte(nil), def...)
	t.seen = nowNs
	old := s.templates[id]
	grow := t.cost()
	if old != nil {
		grow -= old.cost()
	}
	if (old == nil && len(s.templates) >= d.opts.MaxTemplates) || d.tplMemory+grow > d.opts.MaxTemplateMemory {
		st.DroppedTemplates++
		return nil
	}
	if old != nil {
		d.removeTemplate(s, old)
	}
	s.templates[id] = t
	d.templates++
	d.tplMemory += t.cost()
	st.Templates++
	if len(s.pending) > 0 {
		return d.release(s, t, emit, st)
	}
	return nil
}

// withdraw removes template id of s, or all its templates (of one kind)
// when all is set (RFC 7011 section 8.1).
func (d *Decoder) withdraw(s *session, id uint16, all, options bool, st *Stats) {
	if !all {
		if t := s.templates[id]; t != nil {
			d.removeTemplate(s, t)
			st.Withdrawn++
		}
		return
	}
	for _, t := range s.templates {
		if t.options == options {
			d.removeTemplate(s, t)
			st.Withdrawn++
		}
	}
}

// dataSet decodes the records of one data set with template t.
func (d *Decoder) dataSet(s *session, t *template, h *header, set []byte, emit func(*event.Flow), st *Stats) error {
	if t.options {
		return d.optionsSet(s, t, h, set, st)
	}
	f := &d.flow
	rate := s.rate
	if rate == 0 {
		rate = h.rate
	}
	if rate == 0 {
		rate = s.fallback
	}
	if rate == 0 {
		rate = 1
	}
	source := event.FlowIPFIX
	switch h.version {
	case 5:
		source = event.FlowNetFlow5
	case 9:
		source = event.FlowNetFlow9
	}
	base := event.Flow{Source: source, SamplingRate: rate, Exporter: s.key.addr, ObservationDomain: h.domain}
	var c recState
	if t.fixed {
		n := t.recLen
		for len(set) >= n {
			*f, c = base, recState{}
			t.applyFixed(f, &c, set[:n])
			set = set[n:]
			t.finish(f, &c, h, s)
			st.Flows++
			emit(f)
		}
		return nil
	}
	for len(set) >= t.recLen {
		*f, c = base, recState{}
		n, err := t.applyVariable(f, &c, set)
		if err != nil {
			if zero(set) {
				return nil // padding
			}
			return fmt.Errorf("template %d: %w", t.id, err)
		}
		set = set[n:]
		t.finish(f, &c, h, s)
		st.Flows++
		emit(f)
	}
	return nil
}

// finish resolves times and per-record sampling.
func (t *template) finish(f *event.Flow, c *recState, h *header, s *session) {
	t.setTimes(f, c, h, s)
	if t.sampling {
		r := c.rate()
		if r == 0 && c.has&hasSampler != 0 {
			r = uint64(s.samplerRate(c.sampler))
		}
		if r != 0 {
			f.SamplingRate = clampRate(r)
		}
	}
}

// optionsSet reads options records: the exporter's boot time and sampling.
func (d *Decoder) optionsSet(s *session, t *template, h *header, set []byte, st *Stats) error {
	var scratch event.Flow
	for len(set) >= t.recLen {
		var c recState
		if t.fixed {
			t.applyFixed(&scratch, &c, set[:t.recLen])
			set = set[t.recLen:]
		} else {
			n, err := t.applyVariable(&scratch, &c, set)
			if err != nil {
				if zero(set) {
					return nil // padding
				}
				return fmt.Errorf("options template %d: %w", t.id, err)
			}
			set = set[n:]
		}
		st.OptionsRecords++
		if c.has&hasSysInit != 0 && c.sysInit != 0 {
			s.sysInitMs = int64(c.sysInit)
		}
		if r := clampRate(c.rate()); r != 0 {
			s.rate = r
			if c.has&hasSampler != 0 {
				if s.samplers == nil {
					s.samplers = make(map[uint64]uint32)
				}
				if _, ok := s.samplers[c.sampler]; ok || len(s.samplers) < maxSamplers {
					s.samplers[c.sampler] = r
				}
			}
		}
	}
	return nil
}

// Expire forgets templates, sessions and held data sets that are too old
// at now, and returns what it counted (also added to Totals).
func (d *Decoder) Expire(now time.Time) Stats {
	var st Stats
	nowNs := now.UnixNano()
	for k, s := range d.sessions {
		d.expirePending(s, nowNs, &st)
		if nowNs-s.seen > int64(d.opts.SessionTimeout) {
			for _, t := range s.templates {
				d.removeTemplate(s, t)
			}
			st.DroppedSets += uint64(len(s.pending))
			d.dropPending(s)
			delete(d.sessions, k)
			if !s.allowed {
				d.others--
			}
			st.Expired++
			continue
		}
		if d.opts.TemplateTimeout > 0 {
			for _, t := range s.templates {
				if nowNs-t.seen > int64(d.opts.TemplateTimeout) {
					d.removeTemplate(s, t)
					st.Expired++
				}
			}
		}
	}
	d.totals.Add(st)
	return st
}

// Flush drops every held data set, as at the end of a capture, and
// returns the count (also added to Totals).
func (d *Decoder) Flush() Stats {
	var st Stats
	for _, s := range d.sessions {
		st.DroppedSets += uint64(len(s.pending))
		d.dropPending(s)
	}
	d.totals.Add(st)
	return st
}
