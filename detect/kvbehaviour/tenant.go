package kvbehaviour

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vigil-security/vigil/baseline"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// tenantDetector is the detector partitioned by the caller's tenant (the
// token's tid claim, else the record's tenant): each principal's history
// (KV_OperationPatternAnomaly in pattern.go, KV_AccountVolumeAnomaly in
// account.go) next to its peers', the principals of the same tenant.
type tenantDetector struct {
	s       settings
	raise   raiser
	pattern bool
	account bool
}

func newTenantDetector(s settings) *tenantDetector {
	return &tenantDetector{s: s, raise: newRaiser(s), pattern: s.OperationPattern.Enabled, account: s.AccountVolume.Enabled}
}

// noTenant is the partition of records that name no tenant.
const noTenant = "-"

// Name implements detect.Detector.
func (d *tenantDetector) Name() string { return NameTenant }

// Consumes implements detect.Detector: Key Vault audit records only.
func (d *tenantDetector) Consumes(k event.Kind) bool { return k == event.KindKeyVault }

// NewShard implements detect.Detector.
func (d *tenantDetector) NewShard() detect.Shard { return azops.NewShard[tenantState](d) }

// PartitionKey implements detect.Detector: the caller's tenant of an
// identified, not excepted operation on a vault.
func (d *tenantDetector) PartitionKey(op *event.Op) (string, bool) {
	if !identified(op) || d.s.exceptions.match(op) || !onVault(op.ResourceID) {
		return "", false
	}
	switch {
	case op.Caller.TenantID != "":
		return op.Caller.TenantID, true
	case op.TenantID != "":
		return op.TenantID, true
	}
	return noTenant, true
}

// onVault reports whether a resource ID names a vault or lies under one.
func onVault(id string) bool {
	j := strings.LastIndexByte(id, '/')
	return j > 0 && j < len(id)-1 && strings.HasSuffix(id[:j], vaultsSuffix) || azops.VaultID(id) != ""
}

// Bounds of a principal's state.
const (
	maxPrincipalOps       = 128 // operation names remembered per principal
	maxPrincipalCountries = 8   // countries remembered per principal
	maxPrincipalGroups    = 4   // open pattern windows per principal
	peerBins              = 65  // daily vault counts 0..63, and 64 or more
)

// tenantState is one tenant's principals and their peers' daily counts.
type tenantState struct {
	Pending azops.Buffer `json:"pending"`
	// First is the tenant's first observation; Day the current UTC day.
	First      time.Time             `json:"first"`
	Day        int64                 `json:"day"`
	Principals map[string]*principal `json:"principals,omitempty"`
	// Peers holds, for users ([0]) and applications ([1]), a ring of
	// HistoryDays+1 days: how many principals touched k vaults that day.
	Peers [2]peerDays `json:"peers"`
	// Open lists the principals with an open pattern window or an account
	// volume alert today, for the minute ticks.
	Open      []string  `json:"open,omitempty"`
	NextSweep time.Time `json:"nextSweep"`
	// last is the principal of the previous record, lastKey its key.
	last    *principal
	lastKey string
}

// peerDays is a ring of daily histograms indexed by Unix day.
type peerDays struct {
	Rows [][]uint32 `json:"rows"`
}

// principal is one caller's history.
type principal struct {
	User bool `json:"user,omitempty"`
	// First and Last are the principal's first and latest record, Unix
	// seconds.
	First int64 `json:"first"`
	Last  int64 `json:"last"`
	// Ops are the operations performed within the look-back.
	Ops       []opUse   `json:"ops,omitempty"`
	Countries []country `json:"countries,omitempty"`
	// Day is the UTC day Vaults, Touches and Fired are about.
	Day    int64             `json:"day"`
	Vaults baseline.Distinct `json:"vaults"`
	// Touches are the first accesses of the day's vaults (evidence); when
	// full, the last is replaced by the latest. Caller is the principal as
	// the latest of them named it.
	Touches []touch         `json:"touches,omitempty"`
	Caller  event.Principal `json:"caller"`
	// Hist is a ring of the distinct vaults of the HistoryDays days before
	// Day, indexed by Unix day.
	Hist []uint16 `json:"hist"`
	// Fired is the day's vault count when KV_AccountVolumeAnomaly fired
	// (0: it did not), FiredAt the number of touches then.
	Fired   int32 `json:"fired,omitempty"`
	FiredAt int32 `json:"firedAt,omitempty"`
	// NewCountries are the day's countries the principal, past its
	// learning period, had not called from before.
	NewCountries []string        `json:"newCountries,omitempty"`
	Groups       []*patternGroup `json:"groups,omitempty"`
	// lastVault is the vault of the previous record: most records touch
	// the same vault as the one before, and need no hashing.
	lastVault string
}

// opUse is an operation a principal performed: how often, and its last
// Unix hour.
type opUse struct {
	Op   string `json:"op"`
	N    uint32 `json:"n"`
	Last int64  `json:"last"`
}

// country is a country a principal called from, and the last Unix day.
type country struct {
	CC   string `json:"cc"`
	Last int64  `json:"last"`
}

// Pending implements azops.Logic.
func (d *tenantDetector) Pending(s *tenantState) *azops.Buffer { return &s.Pending }

func (d *tenantDetector) ring() int { return d.s.HistoryDays }

// Release implements azops.Logic: one record of the tenant, in time order.
func (d *tenantDetector) Release(key string, ts *tenantState, r *azops.Rec, emit detect.Emitter) {
	t := r.Time
	day := dayOf(t)
	if ts.First.IsZero() {
		ts.First, ts.Day = t, day
	}
	d.rollTenant(ts, day)
	pk := r.PrincipalKey()
	p := ts.last
	if p == nil || pk != ts.lastKey { // a principal's records often come in runs
		if p = ts.Principals[pk]; p == nil {
			p = d.addPrincipal(ts, pk, r, emit)
		}
		ts.last, ts.lastKey = p, pk
	}
	sec := t.Unix()
	p.Last = max(p.Last, sec)
	d.rollPrincipal(ts, pk, p, day, emit)
	learned := sec-p.First >= int64(d.s.Learning/time.Second)
	if cc := p.observeCountry(r.Geo.Country, day, learned); cc != "" {
		p.NewCountries = addCountry(p.NewCountries, cc)
	}
	newCC := ""
	if cc := r.Geo.Country; cc != "" && len(p.NewCountries) > 0 && slices.Contains(p.NewCountries, cc) {
		newCC = cc
	}
	if d.pattern {
		d.observeOps(ts, pk, p, r, newCC, learned, emit)
	}
	if d.account {
		d.observeVault(ts, pk, p, r, learned, emit)
	}
}

// addPrincipal starts the history of a principal, forgetting the least
// recently seen sixteenth of the tenant's principals when it is full.
func (d *tenantDetector) addPrincipal(ts *tenantState, pk string, r *azops.Rec, emit detect.Emitter) *principal {
	if ts.Principals == nil {
		ts.Principals = make(map[string]*principal)
	}
	if len(ts.Principals) >= d.s.MaxPrincipals {
		d.evict(ts, max(1, d.s.MaxPrincipals/16), emit)
	}
	sec := r.Time.Unix()
	p := &principal{User: isUser(&r.Caller), First: sec, Last: sec, Day: dayOf(r.Time), Hist: make([]uint16, d.ring())}
	ts.Principals[pk] = p
	return p
}

// evict forgets the k least recently seen principals (ties by key, so the
// result does not depend on map order), closing what they hold open.
func (d *tenantDetector) evict(ts *tenantState, k int, emit detect.Emitter) {
	keys := make([]string, 0, len(ts.Principals))
	for pk := range ts.Principals {
		keys = append(keys, pk)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(ts.Principals[a].Last, ts.Principals[b].Last); c != 0 {
			return c
		}
		if a < b {
			return -1
		}
		return 1
	})
	for _, pk := range keys[:min(k, len(keys))] {
		d.closeAll(ts, pk, ts.Principals[pk], emit)
		delete(ts.Principals, pk)
		ts.last = nil
	}
}

// rollTenant moves the peer rings to day, clearing the days in between.
func (d *tenantDetector) rollTenant(ts *tenantState, day int64) {
	n := int64(d.ring()) + 1
	for i := range ts.Peers {
		if int64(len(ts.Peers[i].Rows)) != n {
			ts.Peers[i].Rows = make([][]uint32, n)
			for j := range ts.Peers[i].Rows {
				ts.Peers[i].Rows[j] = make([]uint32, peerBins)
			}
		}
	}
	if day <= ts.Day {
		return
	}
	for x := ts.Day + 1; x <= day && x <= ts.Day+n; x++ {
		for i := range ts.Peers {
			clear(ts.Peers[i].Rows[mod(x, n)])
		}
	}
	ts.Day = day
}

// rollPrincipal closes the principal's day when day is later: the day's
// account-volume summary, the day's count into Hist.
func (d *tenantDetector) rollPrincipal(ts *tenantState, pk string, p *principal, day int64, emit detect.Emitter) {
	if day <= p.Day {
		return
	}
	d.closeDay(ts, pk, p, emit)
	n := int64(len(p.Hist))
	if n > 0 {
		p.Hist[mod(p.Day, n)] = uint16(min(p.Vaults.Count(), 0xFFFF))
		for x := p.Day + 1; x < day && x < p.Day+1+n; x++ {
			p.Hist[mod(x, n)] = 0
		}
	}
	p.Vaults.Reset()
	clear(p.Touches)
	p.Touches = p.Touches[:0]
	p.Fired, p.FiredAt, p.lastVault = 0, 0, ""
	p.NewCountries = p.NewCountries[:0]
	p.Day = day
}

// first is the principal's first record's time.
func (p *principal) first() time.Time { return time.Unix(p.First, 0).UTC() }

// observeCountry learns the principal's country and reports it when the
// principal, past its learning period, had not called from it before.
func (p *principal) observeCountry(cc string, day int64, learned bool) string {
	if cc == "" {
		return ""
	}
	for i := range p.Countries {
		if p.Countries[i].CC == cc {
			p.Countries[i].Last = day
			return ""
		}
	}
	if len(p.Countries) >= maxPrincipalCountries {
		oldest := 0
		for i := range p.Countries {
			if p.Countries[i].Last < p.Countries[oldest].Last {
				oldest = i
			}
		}
		p.Countries = slices.Delete(p.Countries, oldest, oldest+1)
	}
	p.Countries = append(p.Countries, country{CC: cc, Last: day})
	if !learned {
		return ""
	}
	return cc
}

// Tick implements azops.Logic: closes the pattern windows and the days the
// watermark has passed for the principals holding them open, and once a
// day forgets what the look-back has passed.
func (d *tenantDetector) Tick(key string, ts *tenantState, wm time.Time, emit detect.Emitter) bool {
	day := dayOf(wm)
	if len(ts.Open) > 0 {
		open := ts.Open[:0]
		for _, pk := range ts.Open {
			p := ts.Principals[pk]
			if p == nil {
				continue
			}
			d.closeGroups(ts, pk, p, wm, emit)
			if day > p.Day && p.Fired > 0 {
				d.rollPrincipal(ts, pk, p, day, emit)
			}
			if (len(p.Groups) > 0 || p.Fired > 0) && !slices.Contains(open, pk) {
				open = append(open, pk)
			}
		}
		clear(ts.Open[len(open):])
		ts.Open = open
	}
	if ts.NextSweep.IsZero() {
		ts.NextSweep = wm.Add(24 * time.Hour)
	}
	if !wm.Before(ts.NextSweep) {
		ts.NextSweep = wm.Add(24 * time.Hour)
		d.sweep(ts, wm, emit)
	}
	return len(ts.Principals) == 0
}

// sweep forgets the operations, countries and principals not seen within
// the look-back, and closes every principal's past days.
func (d *tenantDetector) sweep(ts *tenantState, wm time.Time, emit detect.Emitter) {
	day := dayOf(wm)
	oldHour := hourOf(wm.Add(-d.s.LookBack))
	oldDay := dayOf(wm.Add(-d.s.LookBack))
	keys := make([]string, 0, len(ts.Principals))
	for pk := range ts.Principals {
		keys = append(keys, pk)
	}
	slices.Sort(keys) // candidates leave in the same order every run
	for _, pk := range keys {
		p := ts.Principals[pk]
		d.rollPrincipal(ts, pk, p, day, emit)
		if wm.Unix()-p.Last > int64(d.s.LookBack/time.Second) && len(p.Groups) == 0 {
			delete(ts.Principals, pk)
			ts.last = nil
			continue
		}
		p.Ops = slices.DeleteFunc(p.Ops, func(o opUse) bool { return o.Last < oldHour })
		p.Countries = slices.DeleteFunc(p.Countries, func(c country) bool { return c.Last < oldDay })
	}
}

// closeAll closes everything a principal holds open (it is forgotten).
func (d *tenantDetector) closeAll(ts *tenantState, pk string, p *principal, emit detect.Emitter) {
	for len(p.Groups) > 0 {
		d.closeGroup(ts, pk, p, 0, emit)
	}
	d.closeDay(ts, pk, p, emit)
}

// Check implements azops.Logic: validates a restored tenant and adapts it
// to the configuration in effect (a ring of another length starts over).
func (d *tenantDetector) Check(ts *tenantState) error {
	if len(ts.Principals) > d.s.MaxPrincipals && len(ts.Principals) > maxPrincipalsLimit {
		return errors.New("too many principals")
	}
	n := d.ring() + 1
	for i := range ts.Peers {
		rows := ts.Peers[i].Rows
		ok := len(rows) == n
		for _, row := range rows {
			ok = ok && len(row) == peerBins
		}
		if !ok {
			ts.Peers[i].Rows = nil // rebuilt by rollTenant
		}
	}
	if ts.Day < minDay || ts.Day > maxDay {
		return errors.New("day out of range")
	}
	if len(ts.Open) > len(ts.Principals) {
		return errors.New("more open principals than principals")
	}
	for pk, p := range ts.Principals {
		if p == nil {
			return fmt.Errorf("principal %q: no state", pk)
		}
		if err := d.checkPrincipal(p); err != nil {
			return fmt.Errorf("principal %q: %w", pk, err)
		}
	}
	return nil
}

func (d *tenantDetector) checkPrincipal(p *principal) error {
	if p.Day < minDay || p.Day > maxDay {
		return errors.New("day out of range")
	}
	if len(p.Hist) != d.ring() {
		p.Hist = make([]uint16, d.ring())
	}
	if len(p.Ops) > maxPrincipalOps || len(p.Countries) > maxPrincipalCountries || len(p.Groups) > maxPrincipalGroups ||
		len(p.NewCountries) > maxListed ||
		len(p.Touches) > maxRestored {
		return errors.New("lists too long")
	}
	if p.Fired < 0 || p.FiredAt < 0 || int(p.FiredAt) > len(p.Touches) || p.Last < p.First {
		return errors.New("account volume marks out of range")
	}
	for _, g := range p.Groups {
		if g == nil {
			return errors.New("empty pattern window")
		}
		if err := checkAcc(&g.Acc); err != nil {
			return err
		}
		if len(g.New) > maxPrincipalOps || len(g.Countries) > maxListed {
			return errors.New("pattern window lists too long")
		}
	}
	return nil
}
