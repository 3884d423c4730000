package kvbehaviour

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/baseline"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
)

// What a vault remembers of its callers (KV_UserAnomaly, KV_AppAnomaly,
// KV_UserAppAnomaly), in two compact tables of about 10 bytes a key:
//
//   - Users holds a key per user-application pair, HashPair(user, app ID),
//     and per object ID an access-policy change granted access to,
//     HashPair(grantTag, object ID);
//   - Apps holds a key per application calling as itself, HashString(app ID).
//
// A user is known to the vault when a pair of the user with one of the
// client applications the vault's users call through (Clients, a small
// set) is held: a pair table alone answers all three questions with one key
// per pair, so 100,000 principals on each of 1,000 vaults fit in about 1 GB.

// grantTag marks the keys of granted object IDs.
const grantTag = "\x00granted"

// Bounds of a vault's caller memory.
const (
	maxClients   = 64  // client applications of users remembered per vault
	maxCountries = 256 // countries remembered per vault
	maxFailed    = 16  // recent refused calls kept as evidence
	maxGroups    = 64  // open new-caller windows per vault
)

// seenState is what one vault remembers of its callers.
type seenState struct {
	// First is the start of the vault's history: nothing is new before
	// Learning has passed since.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// NextExpire is when the tables next forget what LookBack has passed.
	NextExpire time.Time                `json:"nextExpire"`
	Users      *baseline.CompactSeenSet `json:"users"`
	Apps       *baseline.CompactSeenSet `json:"apps"`
	Clients    *baseline.SeenSet        `json:"clients"`
	Countries  *baseline.SeenSet        `json:"countries"`
	// Failed is a ring of the latest refused calls: the attempts that
	// precede a new caller's first success are evidence.
	Failed     []azops.Rec  `json:"failed,omitempty"`
	FailedNext int          `json:"failedNext,omitempty"`
	Groups     []*seenGroup `json:"groups,omitempty"`
}

// seenGroup is the window after a new caller's first operation: its
// further operations become one summary candidate when the window closes.
type seenGroup struct {
	Type      string    `json:"type"`
	Principal string    `json:"principal"`
	App       string    `json:"app,omitempty"`
	Start     time.Time `json:"start"`
	// Known is how many callers the vault knew when the new one came.
	Known int `json:"known"`
	// UsualApps are the applications the user called the vault through
	// before (KV_UserAppAnomaly).
	UsualApps []string `json:"usualApps,omitempty"`
	// Ops are the operations of the whole window; Countries the countries
	// new to the vault it came from.
	Ops       []string  `json:"ops,omitempty"`
	Countries []string  `json:"countries,omitempty"`
	Summary   azops.Acc `json:"summary"`
}

// matches reports whether a caller's records belong to the group.
func (g *seenGroup) matches(pk, app string) bool {
	switch g.Type {
	case TypeUserAnomaly:
		return pk == g.Principal
	case TypeAppAnomaly:
		return appKey(pk, app) == g.App
	default:
		return pk == g.Principal && app == g.App
	}
}

// appKey is what identifies an application calling as itself: its app ID,
// else its principal key.
func appKey(pk, app string) string {
	if app != "" {
		return app
	}
	return pk
}

func (d *vaultDetector) seenConfigs() (compact, clients, countries baseline.SeenConfig) {
	compact = baseline.SeenConfig{Learning: -1, LookBack: d.s.LookBack}
	clients = baseline.SeenConfig{Learning: -1, LookBack: d.s.LookBack, MaxKeys: maxClients}
	countries = baseline.SeenConfig{Learning: d.s.Learning, LookBack: d.s.LookBack, MaxKeys: maxCountries}
	if d.s.Learning == 0 {
		countries.Learning = -1
	}
	return compact, clients, countries
}

func (d *vaultDetector) newSeen(t time.Time) *seenState {
	compact, clients, countries := d.seenConfigs()
	return &seenState{
		First:      t,
		Last:       t,
		NextExpire: t.Add(24 * time.Hour),
		Users:      baseline.NewCompactSeenSet(compact),
		Apps:       baseline.NewCompactSeenSet(compact),
		Clients:    baseline.NewSeenSet(clients),
		Countries:  baseline.NewSeenSet(countries),
	}
}

// observe learns one record and raises the candidates it makes. It
// returns the record's country when the vault, past its learning period,
// had not been reached from it before.
func (d *vaultDetector) observe(ss *seenState, r *azops.Rec, emit detect.Emitter) string {
	t := r.Time
	if t.After(ss.Last) {
		ss.Last = t
	}
	if len(ss.Groups) > 0 {
		d.closeGroups(ss, t, emit)
	}
	pk, app := r.PrincipalKey(), r.Caller.AppID
	var g *seenGroup
	for _, x := range ss.Groups {
		if x.matches(pk, app) {
			g = x
			break
		}
	}
	if r.Failed() {
		// A refused call is not access: nothing is learnt from it. It is
		// evidence for the window it falls in, or for a window that opens.
		if g != nil {
			g.add(r, d.s.MaxEvidence, "")
			return ""
		}
		ss.pushFailed(r)
		return ""
	}
	cc := r.Geo.Country
	newCC := cc != "" && ss.Countries.Observe(cc, t)
	if !newCC {
		cc = ""
	}
	for _, oid := range r.Added { // an access-policy change granting access
		if oid != "" {
			ss.Users.Observe(baseline.HashPair(grantTag, oid), t)
		}
	}
	if g != nil {
		g.add(r, d.s.MaxEvidence, cc)
	}
	learned := !t.Before(ss.First.Add(d.s.Learning))
	if isUser(&r.Caller) {
		if fresh := ss.Users.Observe(baseline.HashPair(pk, app), t); fresh && learned && g == nil {
			d.newPair(ss, r, pk, app, cc, emit)
		}
		if app != "" {
			ss.Clients.Observe(app, t)
		}
		return cc
	}
	ak := appKey(pk, app)
	if fresh := ss.Apps.Observe(baseline.HashString(ak), t); fresh && learned && g == nil && d.s.AppAnomaly.Enabled &&
		!ss.granted(r.Caller.ObjectID) {
		d.open(ss, TypeAppAnomaly, ak, nil, r, cc, emit)
	}
	return cc
}

// newPair decides what a user-application pair the vault had not seen
// means: a user the vault does not know (KV_UserAnomaly, unless an access
// policy granted the user access), or a known user through an application
// the vault knows from others (KV_UserAppAnomaly).
func (d *vaultDetector) newPair(ss *seenState, r *azops.Rec, pk, app, cc string, emit detect.Emitter) {
	if typ, usual, ok := d.pairType(ss, r, pk, app, ss.granted); ok {
		d.open(ss, typ, pk, usual, r, cc, emit)
	}
}

// pairType is newPair's decision, without changing ss: the type of
// candidate a new pair raises, the applications the user usually calls
// through, and whether it raises one; granted tells whether an
// access-policy change granted an object ID access.
func (d *vaultDetector) pairType(ss *seenState, r *azops.Rec, pk, app string, granted func(string) bool) (typ string, usual []string, ok bool) {
	for _, a := range ss.Clients.Keys() { // a rare path: a new pair
		if a != app && has(ss.Users, baseline.HashPair(pk, a)) {
			usual = append(usual, a)
		}
	}
	if app != "" && has(ss.Users, baseline.HashPair(pk, "")) {
		usual = append(usual, "")
	}
	if len(usual) == 0 {
		return TypeUserAnomaly, nil, d.s.UserAnomaly.Enabled && !granted(r.Caller.ObjectID)
	}
	// A management operation (VaultGet, VaultPatch ...) reaches the vault
	// through Resource Manager: the application is how the user reached
	// Resource Manager (the portal, the CLI), which administrators change
	// at will; the pair is learnt without an alert.
	return TypeUserAppAnomaly, usual, d.s.UserAppAnomaly.Enabled && app != "" && !management(r.Operation) &&
		(ss.clientKnown(app) || has(ss.Apps, baseline.HashString(app)))
}

// has reports whether the table holds the key with hash h.
func has(s *baseline.CompactSeenSet, h uint64) bool {
	_, _, ok := s.Seen(h)
	return ok
}

// granted reports whether an access-policy change granted the object ID
// access to the vault within the look-back.
func (ss *seenState) granted(objectID string) bool {
	return objectID != "" && has(ss.Users, baseline.HashPair(grantTag, objectID))
}

// clientKnown reports whether users called the vault through app before.
func (ss *seenState) clientKnown(app string) bool {
	_, ok := ss.Clients.LastSeen(app)
	return ok
}

// pushFailed keeps r in the ring of refused calls.
func (ss *seenState) pushFailed(r *azops.Rec) {
	if len(ss.Failed) < maxFailed {
		ss.Failed = append(ss.Failed, *r)
		return
	}
	ss.Failed[ss.FailedNext] = *r
	ss.FailedNext = (ss.FailedNext + 1) % len(ss.Failed)
}

// open raises the first candidate for a new caller, with its refused
// attempts of the last Window as evidence, and opens its window.
func (d *vaultDetector) open(ss *seenState, typ, who string, usual []string, r *azops.Rec, cc string, emit detect.Emitter) {
	g, acc := d.newGroup(ss, typ, who, usual, r, cc, ss.Users.Len()+ss.Apps.Len()-1)
	emit.Emit(d.seenCandidate(ss, g, &acc))
	if len(ss.Groups) >= maxGroups {
		d.closeGroup(ss, 0, emit)
	}
	ss.Groups = append(ss.Groups, g)
}

// newGroup makes the window a new caller opens and the records of its
// first candidate, without changing ss; known is how many callers the
// vault knew before.
func (d *vaultDetector) newGroup(ss *seenState, typ, who string, usual []string, r *azops.Rec, cc string, known int) (*seenGroup, azops.Acc) {
	pk, app := r.PrincipalKey(), r.Caller.AppID
	g := &seenGroup{Type: typ, Principal: pk, Start: r.Time, Known: known, UsualApps: usual}
	switch typ {
	case TypeAppAnomaly:
		g.Principal, g.App = "", who
	case TypeUserAppAnomaly:
		g.App = app
	}
	var acc azops.Acc
	n := len(ss.Failed)
	for i := range n {
		f := &ss.Failed[(ss.FailedNext+i)%n]
		if g.matches(f.PrincipalKey(), f.Caller.AppID) && r.Time.Sub(f.Time) < d.s.Window {
			acc.Add(f, d.s.MaxEvidence)
		}
	}
	acc.Add(r, d.s.MaxEvidence)
	g.Ops = slices.Clone(acc.Ops)
	g.Countries = addCountry(nil, cc)
	return g, acc
}

// speculate announces the new callers among a vault's pending records
// (see azops.Speculator): a user, application or pair the vault has not
// seen, past its learning period, not granted access by a change before
// it, and outside an open window.
func (d *vaultDetector) speculate(ss *seenState, pending []azops.Rec, emit detect.Emitter) {
	var (
		users, apps map[uint64]bool // keys the pending records before have shown
		grants      []string
	)
	granted := func(oid string) bool { return ss.granted(oid) || (oid != "" && slices.Contains(grants, oid)) }
	for i := range pending {
		r := &pending[i]
		for _, oid := range r.Added {
			if oid != "" {
				grants = append(grants, oid)
			}
		}
		if r.Failed() {
			continue
		}
		pk, app := r.PrincipalKey(), r.Caller.AppID
		if slices.ContainsFunc(ss.Groups, func(g *seenGroup) bool { return g.matches(pk, app) }) {
			continue
		}
		learned := !r.Time.Before(ss.First.Add(d.s.Learning))
		known := ss.Users.Len() + ss.Apps.Len()
		if isUser(&r.Caller) {
			h := baseline.HashPair(pk, app)
			if has(ss.Users, h) || users[h] {
				continue
			}
			if users == nil {
				users = map[uint64]bool{}
			}
			users[h] = true
			if typ, usual, ok := d.pairType(ss, r, pk, app, granted); ok && learned {
				g, acc := d.newGroup(ss, typ, pk, usual, r, "", known)
				emit.Emit(d.seenCandidate(ss, g, &acc))
			}
			continue
		}
		ak := appKey(pk, app)
		h := baseline.HashString(ak)
		if has(ss.Apps, h) || apps[h] {
			continue
		}
		if apps == nil {
			apps = map[uint64]bool{}
		}
		apps[h] = true
		if learned && d.s.AppAnomaly.Enabled && !granted(r.Caller.ObjectID) {
			g, acc := d.newGroup(ss, TypeAppAnomaly, ak, nil, r, "", known)
			emit.Emit(d.seenCandidate(ss, g, &acc))
		}
	}
}

// add counts a record of the window's caller for its summary.
func (g *seenGroup) add(r *azops.Rec, maxEvidence int, newCountry string) {
	g.Summary.Add(r, maxEvidence)
	if len(g.Ops) < azops.MaxOps && !slices.Contains(g.Ops, r.Operation) {
		g.Ops = append(g.Ops, r.Operation)
	}
	g.Countries = addCountry(g.Countries, newCountry)
}

// closeGroups closes the windows that ended at or before now.
func (d *vaultDetector) closeGroups(ss *seenState, now time.Time, emit detect.Emitter) {
	for i := 0; i < len(ss.Groups); {
		if !now.Before(ss.Groups[i].Start.Add(d.s.Window)) {
			d.closeGroup(ss, i, emit)
			continue
		}
		i++
	}
}

// closeGroup emits window i's summary, if it has one, and removes it.
func (d *vaultDetector) closeGroup(ss *seenState, i int, emit detect.Emitter) {
	g := ss.Groups[i]
	if g.Summary.Count > 0 {
		emit.Emit(d.seenCandidate(ss, g, &g.Summary))
	}
	ss.Groups = slices.Delete(ss.Groups, i, i+1)
}

// seenCandidate builds a candidate of the group's type from acc.
func (d *vaultDetector) seenCandidate(ss *seenState, g *seenGroup, acc *azops.Acc) alert.Candidate {
	c := acc.Candidate(g.Type, "related")
	r := &acc.Recs[0]
	switch g.Type {
	case TypeAppAnomaly:
		vaultCandidate(&c, r, g.App)
	case TypeUserAnomaly:
		vaultCandidate(&c, r, g.Principal)
	default:
		vaultCandidate(&c, r, g.Principal, g.App)
	}
	ops := slices.Clone(g.Ops)
	slices.Sort(ops)
	c.Details["operations"] = strings.Join(ops, ", ")
	c.Details["window"] = azops.FormatDuration(d.s.Window)
	c.Details["knownCallers"] = formatCount(int64(max(g.Known, 0)))
	usual := make([]string, 0, len(g.UsualApps))
	for _, a := range g.UsualApps {
		if a == "" {
			a = "(none)"
		}
		usual = append(usual, a)
	}
	c.Details["usualApps"] = strings.Join(usual, ", ")
	d.raise.finish(&c, acc, g.Countries, ss.First)
	return c
}

// tickSeen closes the windows the watermark has passed and, once a day,
// forgets the callers, clients and countries not seen within LookBack. It
// reports whether the vault holds nothing any more.
func (d *vaultDetector) tickSeen(ss *seenState, wm time.Time, emit detect.Emitter) bool {
	d.closeGroups(ss, wm, emit)
	if wm.Before(ss.NextExpire) {
		return false
	}
	ss.NextExpire = wm.Add(24 * time.Hour)
	ss.Users.Expire(wm)
	ss.Apps.Expire(wm)
	ss.Clients.Expire(wm)
	ss.Countries.Expire(wm)
	cut := wm.Add(-d.s.Window)
	ss.Failed = slices.DeleteFunc(ss.Failed, func(f azops.Rec) bool { return f.Time.Before(cut) })
	ss.FailedNext = 0
	if len(ss.Failed) > 0 {
		slices.SortStableFunc(ss.Failed, func(a, b azops.Rec) int { return a.Time.Compare(b.Time) })
	}
	return ss.Users.Len() == 0 && ss.Apps.Len() == 0 && len(ss.Groups) == 0 && len(ss.Failed) == 0
}

// checkSeen validates a restored caller memory and applies the
// configuration in effect to its tables.
func (d *vaultDetector) checkSeen(ss *seenState) error {
	if ss.Users == nil || ss.Apps == nil || ss.Clients == nil || ss.Countries == nil {
		return errors.New("missing table")
	}
	compact, clients, countries := d.seenConfigs()
	ss.Users.SetConfig(compact)
	ss.Apps.SetConfig(compact)
	ss.Clients.SetConfig(clients)
	ss.Countries.SetConfig(countries)
	if len(ss.Failed) > maxFailed || ss.FailedNext < 0 || (ss.FailedNext > 0 && ss.FailedNext >= len(ss.Failed)) {
		return errors.New("refused-call ring out of range")
	}
	if len(ss.Groups) > maxGroups {
		return errors.New("too many open windows")
	}
	for _, g := range ss.Groups {
		if g == nil {
			return errors.New("empty window")
		}
		switch g.Type {
		case TypeUserAnomaly, TypeAppAnomaly, TypeUserAppAnomaly:
		default:
			return errors.New("window of unknown type " + g.Type)
		}
		if err := checkAcc(&g.Summary); err != nil {
			return err
		}
		if len(g.Ops) > azops.MaxOps || len(g.Countries) > maxListed || len(g.UsualApps) > maxClients+1 {
			return errors.New("window lists too long")
		}
	}
	return nil
}
