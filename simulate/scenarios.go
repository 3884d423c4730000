package simulate

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
)

// Scenario building blocks: scripted events, labels, victims and times.

// kvAt adds a scripted Key Vault event.
func (b *builder) kvAt(t int64, op uint8, v, who int, app, ip, client uint16, obj int, status uint16) {
	base := opMs(op)
	b.e.scripted = append(b.e.scripted, ev{
		t: t, corr: b.r.Uint64(), kind: evKV, op: op, status: status, vault: uint16(v), who: uint16(who),
		app: app, ip: ip, client: client, obj: uint16(obj), dur: uint16(base + b.r.IntN(2*base)),
	})
}

// armAt adds a scripted Resource Manager operation (Start and Success).
func (b *builder) armAt(t int64, op uint8, res, who int, ip uint16, durMs int) {
	c := b.r.Uint64()
	status := uint16(200)
	if armOps[op].created {
		status = 201
	}
	b.e.scripted = append(b.e.scripted,
		ev{t: t, corr: c, kind: evARM, op: op, who: uint16(who), ip: ip, obj: uint16(res)},
		ev{t: t + int64(durMs)*ticksPerSecond/1000, corr: c, kind: evARM, op: op, status: status, who: uint16(who), ip: ip, obj: uint16(res), dur: uint16(durMs)})
}

// span returns the first and last time of the scripted events from index i.
func (b *builder) span(i int) (first, last int64) {
	first, last = b.e.scripted[i].t, b.e.scripted[i].t
	for _, x := range b.e.scripted[i:] {
		first, last = min(first, x.t), max(last, x.t)
	}
	return first, last
}

// label adds a label for [from, to] (ticks), clamped to the estate's end.
func (b *builder) label(l Label, from, to int64) {
	to = min(to, int64(b.e.hours)*ticksPerHour)
	l.From, l.To = b.e.time(from), b.e.time(to)
	b.e.labels = append(b.e.labels, l)
}

// ip adds an address (or finds it) and returns its index.
func (b *builder) ip(s string) uint16 {
	if i := slices.Index(b.e.ips, s); i >= 0 {
		return uint16(i)
	}
	return b.addIP(s)
}

// newApp registers a new application (service principal) of a tenant.
func (b *builder) newApp(kind PrincipalKind, ti int, name string, ip uint16) int {
	p := principal{kind: kind, tenant: ti, oid: guid(b.r), appid: guid(b.r), name: name, ip: ip}
	p.app = b.addApp(p.appid)
	return b.addPrincipal(p)
}

// free reports whether a vault may host a new scenario: established (not
// the late vault) and, unless the estate is too small for that, not taken
// by another scenario.
func (b *builder) free(v int) bool { return v != b.lateVault && (b.relaxed || !b.usedVaults[v]) }

// findActor returns the first actor, from a random start, that ok accepts,
// taking its principal and its first vault. It prefers principals and
// vaults no other scenario has taken; on an estate too small for that it
// shares them (the scenarios happen on different days).
func (b *builder) findActor(ok func(a *actor) bool) (*actor, error) {
	acts := b.e.actors
	start := b.r.IntN(len(acts))
	defer func() { b.relaxed = false }()
	for _, relaxed := range []bool{false, true} {
		b.relaxed = relaxed
		for i := range acts {
			a := &acts[(start+i)%len(acts)]
			if (relaxed || !b.usedPrincipals[a.who]) && ok(a) {
				b.usedPrincipals[a.who] = true
				if len(a.vaults) > 0 {
					b.usedVaults[a.vaults[0]] = true
				}
				return a, nil
			}
		}
	}
	return nil, errNoVictim
}

var errNoVictim = errors.New("simulate: the estate is too small for every scenario (raise the scale)")

// freeOf returns the first free vault of an actor, or -1.
func (b *builder) freeOf(a *actor) int {
	if i := slices.IndexFunc(a.vaults, b.free); i >= 0 {
		return a.vaults[i]
	}
	return -1
}

// isUser accepts a non-administrator user, there from the start, whose
// vaults are all free.
func (b *builder) isUser(a *actor) bool {
	if a.kind != actUser || b.userIsAdmin[a.who] || a.from != 0 {
		return false
	}
	for _, v := range a.vaults {
		if !b.free(v) {
			return false
		}
	}
	return true
}

// isApp accepts an application of a profile, there from the start, reading
// one free vault.
func (b *builder) isApp(prof profile) func(a *actor) bool {
	return func(a *actor) bool {
		return a.prof == prof && a.from == 0 && len(a.vaults) == 1 && b.free(a.vaults[0])
	}
}

// slot returns the start of attack i of n: spread over the days after the
// learning period, between 06:00 and 19:00 after the day's start.
func (b *builder) slot(i, n int) int64 {
	l, d := int64(b.e.opts.LearningDays), int64(b.e.opts.Days)
	day := l + int64(i)*(d-l)/int64(n)
	return day*ticksPerDay + int64(6+(i*7)%13)*ticksPerHour + b.r.Int64N(50*ticksPerMinute)
}

// dayEnd returns the end of the UTC day of t.
func (e *Estate) dayEnd(t int64) int64 {
	return (floorDiv(e.start+t, ticksPerDay)+1)*ticksPerDay - e.start
}

// localDayOf returns the local day (days since the epoch) of t at offset tz.
func (e *Estate) localDayOf(t int64, tz int) int64 {
	return floorDiv(e.start+t+int64(tz)*ticksPerHour, ticksPerDay)
}

// secs is a random pause of lo to hi seconds.
func secs(r *rand.Rand, lo, hi int64) int64 {
	return lo*ticksPerSecond + r.Int64N((hi-lo+1)*ticksPerSecond)
}

// scenarios injects the attacks and the benign look-alikes, and labels them
// and the learning periods. Look-alikes go first: they take the vaults
// they need before the attacks choose victims.
func (b *builder) scenarios() error {
	b.slots = make([]int64, len(attackTypes))
	for i := range b.slots {
		b.slots[i] = b.slot(i, len(b.slots))
	}
	if err := b.benign(); err != nil {
		return err
	}
	if err := b.attacks(); err != nil {
		return err
	}
	return b.armScenarios()
}

// learningLabels labels the estate's learning period and the late vault's.
func (b *builder) learningLabels() {
	e := b.e
	for _, t := range behavioural {
		b.label(Label{ID: "L", Kind: LabelLearning, AlertType: t,
			Note: "the estate's learning period: every vault-day before its end is benign"}, 0, e.learning)
	}
	if b.lateVault < 0 {
		return
	}
	v := &e.vaults[b.lateVault]
	for _, t := range behavioural {
		l := Label{ID: "L", Kind: LabelLearning, AlertType: t,
			Note: "vault " + v.name + " was created after the estate's learning period: its first week is its own"}
		e.onVault(&l, b.lateVault)
		b.label(l, v.onboarded, v.onboarded+int64(e.opts.LearningDays)*ticksPerDay)
	}
}

// finish sorts the scripted events and labels and fills the descriptions.
func (b *builder) finish() {
	e := b.e
	b.learningLabels()
	slices.SortStableFunc(e.scripted, func(x, y ev) int { return cmpInt(x.t, y.t) })
	slices.SortStableFunc(e.labels, func(x, y Label) int {
		if c := x.From.Compare(y.From); c != 0 {
			return c
		}
		return strings.Compare(x.ID+x.AlertType, y.ID+y.AlertType)
	})
	for i := range e.vaults {
		v := &e.vaults[i]
		on := e.time(v.onboarded)
		end := max(e.learning, v.onboarded+int64(e.opts.LearningDays)*ticksPerDay)
		e.vaultsInfo = append(e.vaultsInfo, VaultInfo{
			Name: v.name, ResourceID: v.rid, SubscriptionID: e.subs[v.sub].id, TenantID: e.tenants[v.tenant].id,
			Onboarded: on, LearningEnd: e.time(end),
		})
	}
	for i := range e.principals {
		p := &e.principals[i]
		info := PrincipalInfo{Kind: p.kind, ObjectID: p.oid, UPN: p.upn, TenantID: e.tenants[p.tenant].id, Name: p.name}
		if p.kind != KindUser {
			info.AppID = p.appid
		}
		e.principalsI = append(e.principalsI, info)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
