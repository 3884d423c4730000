package keyvault

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// listGet is KV_ListGetAnomaly. Its state is per vault and caller (principal
// key, or address when the record names no principal), partitioned by vault:
// the audit log's vault ID is upper-case already, so routing a read costs no
// allocation (a "vault|caller" key would cost one per event).
type listGet struct {
	cfg         ListGetAnomaly
	maxEvidence int
	counted     opSet // reads and lists
	lists       opSet
	daily       opSet
	suspicious  suspicion
}

func newListGet(cfg Config) *listGet {
	lg := cfg.ListGetAnomaly
	def := DefaultConfig().ListGetAnomaly
	lg.BurstMinReads = max(lg.BurstMinReads, 1)
	lg.DailyThreshold = max(lg.DailyThreshold, 1)
	if lg.BurstWindow <= 0 {
		lg.BurstWindow = def.BurstWindow
	}
	if lg.DailyWindow <= 0 {
		lg.DailyWindow = def.DailyWindow
	}
	return &listGet{
		cfg:         lg,
		maxEvidence: cfg.MaxEvidence,
		counted:     newOpSet(lg.ReadOperations, lg.ListOperations),
		lists:       newOpSet(lg.ListOperations),
		daily:       newOpSet(lg.DailyOperations),
		suspicious:  newSuspicion(cfg),
	}
}

func (d *listGet) Name() string                     { return TypeListGetAnomaly }
func (d *listGet) Consumes(k event.Kind) bool       { return k == event.KindKeyVault }
func (d *listGet) NewShard() detect.Shard           { return azops.NewShard[lgState](d) }
func (d *listGet) Pending(s *lgState) *azops.Buffer { return &s.Pending }

func (d *listGet) PartitionKey(op *event.Op) (string, bool) {
	if !d.counted.has(op.Operation) {
		return "", false
	}
	v := azops.VaultID(op.ResourceID)
	return v, v != ""
}

// lgState holds the recent reads of one vault's callers.
type lgState struct {
	Pending azops.Buffer         `json:"pending"`
	Callers map[string]*lgCaller `json:"callers,omitempty"`
}

// lgCaller is one caller's recent reads on one vault.
type lgCaller struct {
	// Recent is a ring of the last reads (evidence); Next is where the next goes.
	Recent []azops.Rec `json:"recent,omitempty"`
	Next   int         `json:"next,omitempty"`
	// Burst holds the times of the last BurstMinReads reads, oldest first.
	Burst []time.Time `json:"burst,omitempty"`
	// Seen is the last time of each operation name.
	Seen     []opTime  `json:"seen,omitempty"`
	LastList time.Time `json:"lastList,omitzero"`
	// Daily holds the distinct objects (secret, key or certificate names,
	// without version) read by a daily operation within DailyWindow, each
	// with its last read time; at most DailyThreshold+1 of them.
	Daily      []opTime  `json:"daily,omitempty"`
	BurstMuted time.Time `json:"burstMuted,omitzero"`
	DailyMuted time.Time `json:"dailyMuted,omitzero"`
	Last       time.Time `json:"last"`
}

type opTime struct {
	Op   string    `json:"op"`
	Time time.Time `json:"t"`
}

// maxState bounds what a restored state may hold.
const maxState = 100000

// maxCallers is the most callers followed per vault; reads by further
// callers are not followed until some go quiet (a bound on memory, each
// caller holding a ring of BurstMinReads records).
const maxCallers = 10000

func (d *listGet) Check(s *lgState) error {
	if len(s.Callers) > maxCallers {
		return errors.New("too many callers")
	}
	for _, c := range s.Callers {
		if c == nil {
			return errors.New("empty caller")
		}
		if len(c.Recent) > maxState || len(c.Burst) > maxState || len(c.Seen) > maxState || len(c.Daily) > maxState {
			return errors.New("state too large")
		}
		if c.Next < 0 || (c.Next > 0 && c.Next >= len(c.Recent)) {
			return errors.New("evidence ring index out of range")
		}
	}
	return nil
}

// ring is how many recent reads a caller keeps: the reads of one burst.
func (d *listGet) ring() int { return max(min(d.maxEvidence, d.cfg.BurstMinReads), 1) }

// pushObject records a read of object at t in objs (distinct objects with
// their last read time): entries older than window are dropped, a known
// object's time is updated, and a new one is added while fewer than n are held.
func pushObject(objs []opTime, object string, t time.Time, window time.Duration, n int) []opTime {
	kept := objs[:0]
	found := false
	for _, o := range objs {
		if o.Op == object {
			o.Time, found = t, true
		}
		if t.Sub(o.Time) < window {
			kept = append(kept, o)
		}
	}
	if !found && len(kept) < n {
		kept = append(kept, opTime{Op: object, Time: t})
	}
	return kept
}

// ObjectName returns the vault object a Key Vault object URI names, without
// its version: "https://v.vault.azure.net/secrets/db-password/0123" gives
// "secrets/db-password". A target that is not such a URI is returned as is.
func ObjectName(target string) string {
	rest := target
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			rest = rest[j+1:]
		} else {
			return target
		}
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q]
	}
	// collection/name[/version]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		if j := strings.IndexByte(rest[i+1:], '/'); j >= 0 {
			return strings.ToLower(rest[:i+1+j])
		}
	}
	return strings.ToLower(rest)
}

// pushTime appends t to times keeping at most n, oldest first.
func pushTime(times []time.Time, t time.Time, n int) []time.Time {
	if len(times) >= n {
		k := copy(times, times[len(times)-n+1:])
		times = times[:k]
	}
	return append(times, t)
}

func (d *listGet) Release(key string, vs *lgState, r *azops.Rec, emit detect.Emitter) {
	ck := callerKey(r)
	s := vs.Callers[ck]
	if s == nil {
		if len(vs.Callers) >= maxCallers {
			return
		}
		if vs.Callers == nil {
			vs.Callers = make(map[string]*lgCaller)
		}
		s = &lgCaller{Recent: make([]azops.Rec, 0, d.ring())}
		vs.Callers[ck] = s
	}
	d.step(key, ck, s, r, emit)
}

// callerKey is who a read is counted for: the principal, or the address of
// a caller the record names no principal for.
func callerKey(r *azops.Rec) string {
	if ck := r.PrincipalKey(); ck != "" {
		return ck
	}
	return r.IP()
}

// Speculate implements azops.Speculator: it runs the pending reads over
// copies of their callers' state, emitting what crossing a threshold would.
// Callers whose pending reads cannot cross one (most of them: no list
// within the burst window, too few distinct objects for the daily rule)
// are not copied.
func (d *listGet) Speculate(key string, vs *lgState, pending []azops.Rec, emit detect.Emitter) {
	var callers map[string]*lgSpec
	for i := range pending {
		r := &pending[i]
		ck := callerKey(r)
		sp := callers[ck]
		if sp == nil {
			if callers == nil {
				callers = make(map[string]*lgSpec)
			}
			sp = &lgSpec{first: r.Time}
			callers[ck] = sp
		}
		sp.reads++
		if d.lists.has(r.Operation) {
			sp.lists++
		}
		if d.daily.has(r.Operation) {
			sp.daily++
		}
	}
	for ck, sp := range callers {
		sp.possible = d.couldFire(vs.Callers[ck], sp)
	}
	for i := range pending {
		r := &pending[i]
		ck := callerKey(r)
		sp := callers[ck]
		if !sp.possible {
			continue
		}
		if sp.state == nil {
			sp.state = vs.Callers[ck].clone(d.ring())
		}
		d.step(key, ck, sp.state, r, emit)
	}
}

// lgSpec is what Speculate knows of one caller's pending reads.
type lgSpec struct {
	first               time.Time
	reads, lists, daily int
	possible            bool
	state               *lgCaller // the copy the pending reads run over
}

// couldFire reports whether the caller (state s, nil for a new one) could
// cross a threshold with its pending reads sp.
func (d *listGet) couldFire(s *lgCaller, sp *lgSpec) bool {
	burst, daily := sp.reads, sp.daily
	listed := sp.lists > 0
	if s != nil {
		burst += len(s.Burst)
		daily += len(s.Daily)
		listed = listed || (!s.LastList.IsZero() && sp.first.Sub(s.LastList) < d.cfg.BurstWindow)
	}
	if burst >= d.cfg.BurstMinReads && (listed || !d.cfg.RequireList) {
		return true
	}
	return sp.daily > 0 && daily > d.cfg.DailyThreshold
}

// clone returns a copy of c that step may change without touching c (a new
// caller's state when c is nil).
func (c *lgCaller) clone(ring int) *lgCaller {
	if c == nil {
		return &lgCaller{Recent: make([]azops.Rec, 0, ring)}
	}
	out := *c
	out.Recent = append(make([]azops.Rec, 0, max(ring, len(c.Recent))), c.Recent...)
	out.Burst = slices.Clone(c.Burst)
	out.Seen = slices.Clone(c.Seen)
	out.Daily = slices.Clone(c.Daily)
	return &out
}

// step counts one read of caller ck (state s) and emits when it crosses a
// threshold.
func (d *listGet) step(key, ck string, s *lgCaller, r *azops.Rec, emit detect.Emitter) {
	t := r.Time
	if t.After(s.Last) {
		s.Last = t
	}
	if len(s.Recent) < d.ring() {
		s.Recent = append(s.Recent, *r)
	} else {
		s.Recent[s.Next] = *r
		s.Next = (s.Next + 1) % len(s.Recent)
	}
	s.Burst = pushTime(s.Burst, t, d.cfg.BurstMinReads)
	seen := false
	for i := range s.Seen {
		if s.Seen[i].Op == r.Operation {
			s.Seen[i].Time, seen = t, true
			break
		}
	}
	if !seen {
		s.Seen = append(s.Seen, opTime{Op: r.Operation, Time: t})
	}
	isList := d.lists.has(r.Operation)
	if isList {
		s.LastList = t
	}
	var daily []opTime
	if d.daily.has(r.Operation) {
		s.Daily = pushObject(s.Daily, ObjectName(r.Target), t, d.cfg.DailyWindow, d.cfg.DailyThreshold+1)
		daily = s.Daily
	}

	w := d.cfg.BurstWindow
	burstHit := !t.Before(s.BurstMuted) &&
		len(s.Burst) >= d.cfg.BurstMinReads && t.Sub(s.Burst[0]) < w &&
		d.types(s, t) >= d.cfg.BurstMinOperationTypes &&
		(!d.cfg.RequireList || (!isList && !s.LastList.IsZero() && t.Sub(s.LastList) < w))
	dailyHit := daily != nil && !t.Before(s.DailyMuted) && len(daily) > d.cfg.DailyThreshold
	if !burstHit && !dailyHit {
		return
	}
	var triggers []string
	window, threshold, count := d.cfg.DailyWindow, d.cfg.DailyThreshold, len(daily)
	if dailyHit {
		s.DailyMuted = t.Add(d.cfg.DailyWindow)
		triggers = append(triggers, "daily")
	}
	if burstHit {
		s.BurstMuted = t.Add(w)
		triggers = append([]string{"burst"}, triggers...)
		window, threshold, count = w, d.cfg.BurstMinReads, len(s.Burst)
	}
	emit.Emit(d.candidate(key, ck, s, t, window, threshold, count, strings.Join(triggers, ", ")))
}

// types counts the operation names read within the burst window before t.
func (d *listGet) types(s *lgCaller, t time.Time) int {
	n := 0
	for i := range s.Seen {
		if t.Sub(s.Seen[i].Time) < d.cfg.BurstWindow {
			n++
		}
	}
	return n
}

func (d *listGet) candidate(vault, caller string, s *lgCaller, t time.Time, window time.Duration, threshold, count int, trigger string) alert.Candidate {
	var acc azops.Acc
	n := len(s.Recent)
	for i := range n {
		r := &s.Recent[(s.Next+i)%n]
		if t.Sub(r.Time) < window {
			acc.Add(r, d.maxEvidence)
		}
	}
	c := acc.Candidate(TypeListGetAnomaly, "related")
	c.Count = max(c.Count, count)
	r := &acc.Recs[0]
	c.Resource = azops.RecordedVaultID(r.ResourceID)
	c.Entities = append([]alert.Entity{azops.VaultEntity(r)}, c.Entities...)
	c.FingerprintKeys = []string{vault, caller}
	c.Details["vault"] = azops.VaultName(r)
	c.Details["resource"] = c.Resource
	c.Details["count"] = strconv.Itoa(c.Count)
	c.Details["window"] = azops.FormatDuration(window)
	c.Details["threshold"] = strconv.Itoa(threshold)
	c.Details["trigger"] = trigger
	if acc.Denied > 0 || d.suspicious.any(acc.Recs) {
		c.Severity = CatalogueSeverity.Raise()
	}
	return c
}

func (d *listGet) Tick(key string, s *lgState, watermark time.Time, emit detect.Emitter) bool {
	for ck, c := range s.Callers {
		quiet := c.Last.Add(max(d.cfg.BurstWindow, d.cfg.DailyWindow))
		if !watermark.Before(quiet) && !watermark.Before(c.BurstMuted) && !watermark.Before(c.DailyMuted) {
			delete(s.Callers, ck)
		}
	}
	return len(s.Callers) == 0
}
