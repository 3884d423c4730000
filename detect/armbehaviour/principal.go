package armbehaviour

import (
	"errors"
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
	cfg     Config
	sweeps  []sweepSpec
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
	return d
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
		return key, d.kvOps[op.Operation]
	}
	return "", false
}

func (d *principal) NewShard() detect.Shard          { return azops.NewShard[pState](d) }
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

// place is one of a user's locations: the days it was seen there.
type place struct {
	Key     string `json:"key"`
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
	if s.First.IsZero() || r.Time.Before(s.First) {
		s.First = r.Time
	}
	learned := !r.Time.Before(s.First.Add(d.cfg.Learning))
	if r.Kind == event.KindActivity {
		d.activity(key, s, r, learned, emit)
	}
	for i := range d.sweeps {
		sp := &d.sweeps[i]
		if sp.kv != nil && r.Kind == event.KindKeyVault && sp.kv[r.Operation] ||
			sp.kv == nil && r.Kind == event.KindActivity && sp.match.match(r.Operation) {
			d.sweep(key, s, sp, r, learned, emit)
		}
	}
	if r.Time.After(s.Last) {
		s.Last = r.Time
	}
}

// activity runs the unused-account, PowerShell and travel detections.
func (d *principal) activity(key string, s *pState, r *azops.Rec, learned bool, emit detect.Emitter) {
	c := &d.cfg
	if c.UnusedAccount.Enabled && !s.Last.IsZero() {
		if idle := r.Time.Sub(s.Last); idle >= c.UnusedAccount.MinIdle {
			s.Return = &episode{Start: r.Time, Until: r.Time.Add(c.Window), Idle: idle, Prev: s.Last}
		}
	}
	ps := d.psApps[strings.ToLower(r.Caller.AppID)]
	if ps && c.UnusedPowerShell.Enabled && s.PSOps == 0 && s.Ops >= c.UnusedPowerShell.MinHistory && learned {
		s.PS = &episode{Start: r.Time, Until: r.Time.Add(c.Window), Prev: s.First}
	}
	if d.persist.match(r.Operation) && !r.Failed() {
		if e := s.Return; e != nil && r.Time.Before(e.Until) {
			emit.Emit(d.persistence(TypeUnusedAccount, key, s, e, r))
		}
		if e := s.PS; e != nil && ps && r.Time.Before(e.Until) {
			emit.Emit(d.persistence(TypeUnusedPowerShell, key, s, e, r))
		}
	}
	s.Ops = min(s.Ops+1, maxCount)
	if ps {
		s.PSOps = min(s.PSOps+1, s.Ops)
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
	i := slices.IndexFunc(s.Sweeps, func(x *sweepState) bool { return x.Type == sp.Type })
	if i >= 0 && !r.Time.Before(s.Sweeps[i].Start.Add(sp.Window)) {
		d.closeSweep(key, s, i, emit)
		i = -1
	}
	if i < 0 {
		if len(s.Sweeps) >= maxOpenSweeps {
			d.closeSweep(key, s, 0, emit)
		}
		s.Sweeps = append(s.Sweeps, &sweepState{Type: sp.Type, Start: r.Time})
		i = len(s.Sweeps) - 1
	}
	sw := s.Sweeps[i]
	res := strings.ToLower(r.ResourceID)
	if r.Kind == event.KindKeyVault {
		res = azops.VaultID(r.ResourceID)
	}
	if res != "" && len(sw.Resources) < maxSweepResources && !slices.Contains(sw.Resources, res) {
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
// records its size as a peak and removes it.
func (d *principal) closeSweep(key string, s *pState, i int, emit detect.Emitter) {
	sw := s.Sweeps[i]
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
	s.Sweeps = slices.Delete(s.Sweeps, i, i+1)
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
	for i := 0; i < len(s.Sweeps); {
		sw := s.Sweeps[i]
		k := slices.IndexFunc(d.sweeps, func(sp sweepSpec) bool { return sp.Type == sw.Type })
		if k < 0 || !watermark.Before(sw.Start.Add(d.sweeps[k].Window)) {
			d.closeSweep(key, s, i, emit)
			continue
		}
		i++
	}
	if s.Return != nil && !watermark.Before(s.Return.Until) {
		s.Return = nil
	}
	if s.PS != nil && !watermark.Before(s.PS.Until) {
		s.PS = nil
	}
	return len(s.Sweeps) == 0 && watermark.Sub(s.Last) > d.cfg.LookBack
}
