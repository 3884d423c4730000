package armbehaviour

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// Bounds of one principal's state.
const (
	maxSweepResources = 256 // distinct resources a sweep lists
	maxSweepProviders = 32
	maxOpenSweeps     = 16
	maxPeaks          = 16
	maxPlaces         = 16
	maxCount          = 1 << 30
)

// principal is the detector keyed by principal: toolkit sweeps, unused
// account and PowerShell persistence, impossible travel.
type principal struct {
	cfg    Config
	sweeps []sweepSpec
	// ops maps a lower-cased Activity Log operation to what it is: bit i
	// for sweeps[i], opPersist for a persistence write (exact names; the
	// "*" patterns are in the matchers), so a record costs one look-up.
	ops     map[string]uint32
	kvOps   map[string]bool // Key Vault operations some sweep counts
	persist matcher
	psApps  map[string]bool
	service map[string]bool
	except  ranges
}

type sweepSpec struct {
	Sweep
	match matcher
	kv    map[string]bool
}

func newPrincipal(cfg Config) *principal {
	d := &principal{
		cfg:     cfg,
		kvOps:   map[string]bool{},
		persist: newMatcher(cfg.PersistenceOperations),
		psApps:  map[string]bool{},
		service: map[string]bool{},
		except:  newRanges(cfg.ExceptRanges),
	}
	if cfg.Recon.Enabled {
		for _, s := range cfg.Recon.Sweeps {
			sp := sweepSpec{Sweep: s}
			if s.Kind == "keyvault" {
				sp.kv = map[string]bool{}
				for _, n := range s.Operations {
					sp.kv[n] = true
					d.kvOps[n] = true
				}
			} else {
				sp.match = newMatcher(s.Operations)
			}
			d.sweeps = append(d.sweeps, sp)
		}
	}
	for _, a := range cfg.UnusedPowerShell.ClientApps {
		d.psApps[strings.ToLower(a)] = true
	}
	for _, a := range cfg.ServiceApps {
		d.service[strings.ToLower(a)] = true
	}
	d.ops = map[string]uint32{}
	for i := range d.sweeps {
		if d.sweeps[i].kv == nil {
			for n := range d.sweeps[i].match.exact {
				d.ops[n] |= 1 << i
			}
		}
	}
	for n := range d.persist.exact {
		d.ops[n] |= opPersist
	}
	return d
}

// opPersist marks a persistence write in principal.ops.
const opPersist = 1 << 31

// classify returns the sweeps (bits) an Activity Log operation counts for
// and whether it is a persistence write.
func (d *principal) classify(op string) (sweeps uint32, persist bool) {
	if hasUpper(op) {
		op = strings.ToLower(op)
	}
	f := d.ops[op]
	sweeps, persist = f&^opPersist, f&opPersist != 0
	for i := range d.sweeps {
		if sp := &d.sweeps[i]; sp.kv == nil && sp.match.prefixed(op) {
			sweeps |= 1 << i
		}
	}
	if !persist {
		persist = d.persist.prefixed(op)
	}
	return sweeps, persist
}

func (d *principal) enabled() bool {
	c := &d.cfg
	return len(d.sweeps) > 0 || c.UnusedAccount.Enabled || c.UnusedPowerShell.Enabled || c.ImpossibleTravel.Enabled
}

func (d *principal) Name() string { return NamePrincipal }

func (d *principal) Consumes(k event.Kind) bool {
	return k == event.KindActivity || (k == event.KindKeyVault && len(d.kvOps) > 0)
}

func (d *principal) PartitionKey(op *event.Op) (string, bool) {
	key := op.Caller.Key()
	if key == "" || (!isUser(&op.Caller) && d.service[strings.ToLower(op.Caller.AppID)]) {
		return "", false
	}
	switch op.Kind {
	case event.KindActivity:
		return key, !pending(op.Result)
	case event.KindKeyVault:
		// Every identified vault operation: the sweeps' and, unbuffered, the
		// rest, which tell when a principal seen only in vault logs began.
		return key, true
	}
	return "", false
}

func (d *principal) NewShard() detect.Shard {
	return &principalShard{Shard: azops.NewShard[pState](d), d: d}
}

// principalShard takes the plain operations (no sweep, no persistence
// write, nothing to locate; a vault operation that is no sweep's) without
// buffering them: what they change (first and last time, counts, the return
// and PowerShell episodes) does not wait for the watermark, so the bulk of
// the logs costs a map look-up and a few comparisons.
type principalShard struct {
	*azops.Shard[pState]
	d *principal
}

func (sh *principalShard) Process(op *event.Op, key string, emit detect.Emitter) {
	d := sh.d
	if op.Kind == event.KindKeyVault && !d.kvOps[op.Operation] {
		d.seen(sh.State(key), op.Time)
		return
	}
	if op.Kind == event.KindActivity {
		if sweeps, persist := d.classify(op.Operation); sweeps == 0 && !persist && !d.locatable(&op.Caller, &op.Geo, op.CallerIP) {
			d.observe(sh.State(key), op.Time, op.Caller.AppID)
			return
		}
	}
	sh.Shard.Process(op, key, emit)
}
func (d *principal) Pending(s *pState) *azops.Buffer { return &s.Pending }

// pState is one principal's state.
type pState struct {
	Pending azops.Buffer `json:"pending"`
	First   time.Time    `json:"first"`
	Last    time.Time    `json:"last"`
	// Ops and PSOps count the principal's Activity Log operations, and those
	// made through PowerShell.
	Ops   int `json:"ops,omitempty"`
	PSOps int `json:"psOps,omitempty"`
	// Return is open while a long-unused principal's first day back lasts;
	// PS while its first PowerShell day lasts.
	Return *episode      `json:"return,omitempty"`
	PS     *episode      `json:"ps,omitempty"`
	Sweeps []*sweepState `json:"sweeps,omitempty"`
	Peaks  []peak        `json:"peaks,omitempty"`
	// Loc is where the user last was; Places its locations by day.
	Loc    *azops.Rec `json:"loc,omitempty"`
	Places []place    `json:"places,omitempty"`
}

// episode is a period in which persistence writes raise an alert.
type episode struct {
	Start time.Time     `json:"start"`
	Until time.Time     `json:"until"`
	Idle  time.Duration `json:"idle,omitempty"` // silence before Start
	Prev  time.Time     `json:"prev,omitzero"`  // last operation before Start
}

// sweepState is one open sweep of one pattern.
type sweepState struct {
	Type      string    `json:"type"`
	Start     time.Time `json:"start"`
	Resources []string  `json:"resources,omitempty"`
	Providers []string  `json:"providers,omitempty"`
	Acc       azops.Acc `json:"acc"`
	Emitted   bool      `json:"emitted,omitempty"`
}

// peak is the most resources one sweep of a pattern reached.
type peak struct {
	Type string    `json:"type"`
	N    int       `json:"n"`
	At   time.Time `json:"at"`
}

// place is one of a user's locations and the days it was seen there.
type place struct {
	Country string `json:"cc"`
	City    string `json:"city,omitempty"`
	Lat     int32  `json:"lat"` // tenths of a degree
	Lon     int32  `json:"lon"`
	Days    int    `json:"days"`
	LastDay int64  `json:"lastDay"`
}

func (d *principal) Check(s *pState) error {
	if len(s.Sweeps) > maxOpenSweeps || len(s.Peaks) > maxPeaks || len(s.Places) > maxPlaces ||
		s.Ops < 0 || s.PSOps < 0 || s.PSOps > s.Ops {
		return errors.New("state out of bounds")
	}
	for _, sw := range s.Sweeps {
		if sw == nil || len(sw.Resources) > maxSweepResources || len(sw.Providers) > maxSweepProviders {
			return errors.New("bad sweep")
		}
		if err := sw.Acc.Check(); err != nil {
			return err
		}
	}
	return nil
}

func (d *principal) Release(key string, s *pState, r *azops.Rec, emit detect.Emitter) {
	var sweeps uint32
	if r.Kind == event.KindActivity {
		var persist bool
		sweeps, persist = d.classify(r.Operation)
		ps := d.observe(s, r.Time, r.Caller.AppID)
		d.activity(key, s, r, d.learned(s, r.Time), persist, ps, emit)
	} else {
		d.seen(s, r.Time)
		for i := range d.sweeps {
			if d.sweeps[i].kv[r.Operation] {
				sweeps |= 1 << i
			}
		}
	}
	for i := range d.sweeps {
		if sweeps&(1<<i) != 0 {
			d.sweep(key, s, &d.sweeps[i], r, d.learned(s, r.Time), emit)
		}
	}
}

// seen moves the principal's first and last operation times to include t.
func (d *principal) seen(s *pState, t time.Time) {
	if s.First.IsZero() || t.Before(s.First) {
		s.First = t
	}
	if t.After(s.Last) {
		s.Last = t
	}
}

// learned reports whether the principal's learning period is over at t.
func (d *principal) learned(s *pState, t time.Time) bool {
	return !t.Before(s.First.Add(d.cfg.Learning))
}

// observe counts one Activity Log operation of the principal at t through
// client application app: a return after MinIdle opens the unused-account
// episode, a first PowerShell operation after enough history the
// PowerShell one. It reports whether the operation came through PowerShell.
func (d *principal) observe(s *pState, t time.Time, app string) (ps bool) {
	c := &d.cfg
	if c.UnusedAccount.Enabled && !s.Last.IsZero() {
		if idle := t.Sub(s.Last); idle >= c.UnusedAccount.MinIdle {
			s.Return = &episode{Start: t, Until: t.Add(c.Window), Idle: idle, Prev: s.Last}
		}
	}
	d.seen(s, t)
	ps = d.psApps[app] || (hasUpper(app) && d.psApps[strings.ToLower(app)])
	if ps && c.UnusedPowerShell.Enabled && s.PSOps == 0 && s.Ops >= c.UnusedPowerShell.MinHistory && d.learned(s, t) {
		s.PS = &episode{Start: t, Until: t.Add(c.Window), Prev: s.First}
	}
	s.Ops = min(s.Ops+1, maxCount)
	if ps {
		s.PSOps = min(s.PSOps+1, s.Ops)
	}
	return ps
}

// locatable reports whether the travel detection reads an operation: a
// user's, from an address the databases place, outside ExceptRanges.
func (d *principal) locatable(p *event.Principal, g *event.Geo, ip netip.Addr) bool {
	return d.cfg.ImpossibleTravel.Enabled && isUser(p) && g.HasLocation && ip.IsValid() && !d.except.contains(ip)
}

// activity raises the unused-account and PowerShell candidates of a
// persistence write and runs the travel detection.
func (d *principal) activity(key string, s *pState, r *azops.Rec, learned, persist, ps bool, emit detect.Emitter) {
	c := &d.cfg
	if persist && !r.Failed() {
		if e := s.Return; e != nil && r.Time.Before(e.Until) {
			emit.Emit(d.persistence(TypeUnusedAccount, key, s, e, r))
		}
		if e := s.PS; e != nil && ps && r.Time.Before(e.Until) {
			emit.Emit(d.persistence(TypeUnusedPowerShell, key, s, e, r))
		}
	}
	if c.ImpossibleTravel.Enabled {
		d.travel(key, s, r, learned, emit)
	}
}

// persistence is the candidate of one persistence write in an episode.
func (d *principal) persistence(typ, key string, s *pState, e *episode, r *azops.Rec) alert.Candidate {
	var acc azops.Acc
	acc.Add(r, 1)
	c := acc.Candidate(typ, "related")
	base(&c, r)
	related(&c, acc.Recs)
	c.FingerprintKeys = []string{key, e.Start.UTC().Format(time.RFC3339)}
	c.Details["episodeStart"] = azops.FormatTime(e.Start)
	c.Details["window"] = azops.FormatDuration(d.cfg.Window)
	switch typ {
	case TypeUnusedAccount:
		c.Details["idleDays"] = days(e.Idle)
		c.Details["lastActivity"] = azops.FormatTime(e.Prev)
		c.Details["threshold"] = days(d.cfg.UnusedAccount.MinIdle)
	case TypeUnusedPowerShell:
		c.Details["clientApp"] = r.Caller.AppID
		c.Details["historyCount"] = itoa(s.Ops - s.PSOps)
		c.Details["learnedSince"] = azops.FormatTime(e.Prev)
	}
	return c
}

// sweep adds r to the open sweep of sp, raising a candidate when it
// crosses the pattern's thresholds and the principal's own peak.
func (d *principal) sweep(key string, s *pState, sp *sweepSpec, r *azops.Rec, learned bool, emit detect.Emitter) {
	// One sweepState per pattern, kept when it closes (Start zero) so the
	// next window reuses its memory.
	i := slices.IndexFunc(s.Sweeps, func(x *sweepState) bool { return x.Type == sp.Type })
	if i >= 0 && !s.Sweeps[i].Start.IsZero() && !r.Time.Before(s.Sweeps[i].Start.Add(sp.Window)) {
		d.closeSweep(key, s, i, emit)
	}
	if i < 0 {
		if len(s.Sweeps) >= maxOpenSweeps {
			d.closeSweep(key, s, 0, emit)
			s.Sweeps = slices.Delete(s.Sweeps, 0, 1)
		}
		s.Sweeps = append(s.Sweeps, &sweepState{Type: sp.Type})
		i = len(s.Sweeps) - 1
	}
	sw := s.Sweeps[i]
	if sw.Start.IsZero() {
		sw.Start = r.Time
	}
	res := r.ResourceID // as recorded, compared without regard to case (no copy)
	if r.Kind == event.KindKeyVault {
		res = azops.VaultID(r.ResourceID)
	}
	if res != "" && len(sw.Resources) < maxSweepResources && !containsFold(sw.Resources, res) {
		sw.Resources = append(sw.Resources, res)
	}
	if p := provider(r.Operation); len(sw.Providers) < maxSweepProviders && !slices.Contains(sw.Providers, p) {
		sw.Providers = append(sw.Providers, p)
	}
	sw.Acc.Add(r, d.cfg.MaxEvidence)
	n := len(sw.Resources)
	if !sw.Emitted && learned && n >= sp.MinResources && len(sw.Providers) >= max(sp.MinProviders, 1) &&
		float64(n) > d.cfg.Recon.PeakRatio*float64(d.peakOf(s, sp.Type, r.Time)) {
		emit.Emit(d.sweepCandidate(key, s, sp, sw))
		sw.Emitted = true
		sw.Acc.Reset()
	}
}

// peakOf is the most resources a sweep of typ reached within the look-back.
func (d *principal) peakOf(s *pState, typ string, now time.Time) int {
	for _, p := range s.Peaks {
		if p.Type == typ && now.Sub(p.At) <= d.cfg.LookBack {
			return p.N
		}
	}
	return 0
}

// closeSweep emits the summary of what came after sweep i's candidate,
// records its size as a peak and empties it (keeping its memory).
func (d *principal) closeSweep(key string, s *pState, i int, emit detect.Emitter) {
	sw := s.Sweeps[i]
	if sw.Start.IsZero() {
		return // closed already
	}
	if sw.Emitted && sw.Acc.Count > 0 {
		if k := slices.IndexFunc(d.sweeps, func(sp sweepSpec) bool { return sp.Type == sw.Type }); k >= 0 {
			emit.Emit(d.sweepCandidate(key, s, &d.sweeps[k], sw))
		}
	}
	n := len(sw.Resources)
	j := slices.IndexFunc(s.Peaks, func(p peak) bool { return p.Type == sw.Type })
	switch {
	case j < 0 && len(s.Peaks) < maxPeaks:
		s.Peaks = append(s.Peaks, peak{Type: sw.Type, N: n, At: sw.Start})
	case j >= 0 && (n >= s.Peaks[j].N || sw.Start.Sub(s.Peaks[j].At) > d.cfg.LookBack):
		s.Peaks[j] = peak{Type: sw.Type, N: n, At: sw.Start}
	}
	clear(sw.Resources)
	sw.Resources, sw.Providers = sw.Resources[:0], sw.Providers[:0]
	sw.Acc.Reset()
	sw.Start, sw.Emitted = time.Time{}, false
}

func (d *principal) sweepCandidate(key string, s *pState, sp *sweepSpec, sw *sweepState) alert.Candidate {
	c := sw.Acc.Candidate(sp.Type, "attacker")
	r := &sw.Acc.Recs[0]
	base(&c, r)
	related(&c, sw.Acc.Recs)
	c.FingerprintKeys = []string{key, azops.FormatTime(sw.Start)}
	c.Details["resourceCount"] = itoa(len(sw.Resources))
	c.Details["providers"] = strings.Join(sw.Providers, ", ")
	c.Details["window"] = azops.FormatDuration(sp.Window)
	c.Details["threshold"] = itoa(sp.MinResources)
	c.Details["usualPeak"] = itoa(d.peakOf(s, sp.Type, sw.Start))
	c.Details["sweepStart"] = azops.FormatTime(sw.Start)
	var names []string
	for _, id := range sw.Resources {
		if len(names) == 10 {
			names = append(names, "(+"+itoa(len(sw.Resources)-10)+")")
			break
		}
		names = append(names, id[strings.LastIndexByte(id, '/')+1:])
	}
	c.Details["resources"] = strings.Join(names, ", ")
	return c
}

func (d *principal) Tick(key string, s *pState, watermark time.Time, emit detect.Emitter) bool {
	open := false
	for i, sw := range s.Sweeps {
		if sw.Start.IsZero() {
			continue
		}
		k := slices.IndexFunc(d.sweeps, func(sp sweepSpec) bool { return sp.Type == sw.Type })
		if k < 0 || !watermark.Before(sw.Start.Add(d.sweeps[k].Window)) {
			d.closeSweep(key, s, i, emit)
			continue
		}
		open = true
	}
	if s.Return != nil && !watermark.Before(s.Return.Until) {
		s.Return = nil
	}
	if s.PS != nil && !watermark.Before(s.PS.Until) {
		s.PS = nil
	}
	return !open && watermark.Sub(s.Last) > d.cfg.LookBack
}
