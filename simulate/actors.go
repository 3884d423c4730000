package simulate

import (
	"math"
	"math/rand/v2"
)

// An actor is one principal's rhythm. Each hour the writer asks every actor
// for its events of that hour; an actor draws them from a random stream
// seeded by (seed, actor, hour) or, for what it plans per day, (seed, actor,
// day), so what it does never depends on the order actors run in, and a
// plan made for a day is the same whichever hour looks at it.
type actorKind uint8

const (
	actApp    actorKind = iota // reads following office hours (weekday peak, quiet nights)
	actFlat                    // reads around the clock (encryption keys of a service)
	actBatch                   // a nightly job's reads, 01:00-03:00 local
	actCron                    // reads every interval, exactly
	actUser                    // office-hours sessions on weekdays
	actAdmin                   // Resource Manager changes in the afternoon; administrators now and then a VaultPatch
	actDeploy                  // weekday deployments: Resource Manager writes and SecretSet bursts
	actBackup                  // nightly backup of every secret, key and certificate of the tenant
	actGraph                   // Azure Resource Graph: VaultGet of every vault every 6 hours
	actPolicy                  // Policy Insights: VaultGet of every vault once a day
	actDenied                  // a misconfigured application refused (403) every 5 minutes
)

// objRef names one object of one vault.
type objRef struct {
	vault uint16
	coll  uint8
	idx   uint16
}

// profile is what an application actor is for; scenarios pick victims by it.
type profile uint8

const (
	profNone    profile = iota
	profHot             // reads a few secrets thousands of times a day
	profNormal          // reads its secrets during office hours, SecretGet only
	profCron            // reads on a timer
	profCrypto          // signs with a key
	profCMK             // wraps and unwraps a customer-managed key around the clock
	profBatch           // a nightly job
	profPartner         // a partner's application
)

type actor struct {
	kind     actorKind
	prof     profile
	id       uint64
	who      int
	tz       int
	vaults   []int
	objs     []objRef
	res      []int   // Resource Manager resources it changes (armRes indices)
	keyOps   []uint8 // operations on keys, drawn uniformly
	extras   []uint8 // a user's further operations, once a session
	rate     float64 // reads per hour at rhythm 1
	interval int64   // actCron, actDenied: ticks between rounds
	offset   int64   // actCron: ticks after the round's start
	client   uint16
	from     int64 // active from (ticks since the start)
	until    int64 // active until; 0 = to the end
	missing  bool  // now and then asks for a secret that is gone (404)
	// changeDay is an administrator's weekday (2-4: Tuesday-Thursday) for
	// changing their first vault.
	changeDay int
}

// hourGen generates the events of one hour.
type hourGen struct {
	e       *Estate
	h       int
	t0, t1  int64 // the hour, ticks since the start
	absHour int64 // hours since the Unix epoch
	pcg     rand.PCG
	r       *rand.Rand
	evs     []ev
	times   []int64
	a       *actor
}

func newHourGen(e *Estate) *hourGen {
	g := &hourGen{e: e}
	g.r = rand.New(&g.pcg)
	return g
}

// mix is SplitMix64's finaliser: spreads an actor ID over 64 bits.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// seedHour seeds the stream for the actor's hour.
func (g *hourGen) seedHour(a *actor) { g.pcg.Seed(g.e.opts.Seed^mix(a.id), uint64(g.h)) }

// seedDay seeds the stream for the actor's plan of a local day.
func seedDay(p *rand.PCG, e *Estate, a *actor, day int64, salt uint64) {
	p.Seed(e.opts.Seed^mix(a.id^0x5ca1ab1e), uint64(day)<<8|salt)
}

// local returns the local day (days since the epoch), hour of day and
// weekday (0 = Sunday) of the hour being generated, at offset tz.
func (g *hourGen) local(tz int) (day int64, hour, weekday int) {
	lh := g.absHour + int64(tz)
	day = floorDiv(lh, 24)
	return day, int(lh - day*24), weekdayOf(day)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func weekdayOf(day int64) int { return int(((day+4)%7 + 7) % 7) } // 1970-01-01 was a Thursday

func weekend(wd int) bool { return wd == 0 || wd == 6 }

// localTicks converts a time of a local day into ticks since the start.
func (e *Estate) localTicks(day int64, tz int, sinceMidnight int64) int64 {
	return day*ticksPerDay - int64(tz)*ticksPerHour + sinceMidnight - e.start
}

// officeRhythm is the share of an office application's hourly rate by local
// hour on a weekday: quiet nights, a morning ramp, a daytime plateau.
var officeRhythm = [24]float64{
	0.2, 0.15, 0.15, 0.15, 0.2, 0.3, 0.5, 0.9, 1.3, 1.5, 1.6, 1.6,
	1.4, 1.5, 1.6, 1.5, 1.3, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.25,
}

func rhythm(k actorKind, hour, weekday int) float64 {
	switch k {
	case actApp:
		m := officeRhythm[hour]
		if weekend(weekday) {
			m = 0.3
		}
		return m
	case actBatch:
		if hour == 1 || hour == 2 {
			return 1
		}
		return 0
	}
	return 1
}

// poisson draws a Poisson-distributed count with mean lambda.
func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda < 30 {
		limit, k, p := math.Exp(-lambda), 0, r.Float64()
		for p > limit {
			k++
			p *= r.Float64()
		}
		return k
	}
	return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
}

// opMs is the typical service time of an operation, in milliseconds.
func opMs(op uint8) int {
	switch kvOps[op].kind {
	case okVaultGet, okVaultWrite:
		return 40
	case okSet, okBackup, okPurge, okDelete:
		return 25
	case okList:
		return 15
	}
	return 6
}

// kv adds a Key Vault event unless the actor or the vault is not active yet.
func (g *hourGen) kv(t int64, op uint8, v int, who int, app, ip, client uint16, obj int, status uint16) {
	a := g.a
	if t < a.from || (a.until > 0 && t >= a.until) || t < g.e.vaults[v].onboarded {
		return
	}
	base := opMs(op)
	g.evs = append(g.evs, ev{
		t: t, corr: g.r.Uint64(), kind: evKV, op: op, status: status, vault: uint16(v), who: uint16(who),
		app: app, ip: ip, client: client, obj: uint16(obj), dur: uint16(base + g.r.IntN(2*base)),
	})
}

// arm adds a Resource Manager operation: its Start record and, after
// durMs, its Success record, with one correlation ID.
func (g *hourGen) arm(t int64, op uint8, res int, who int, ip uint16, durMs int) {
	a := g.a
	if t < a.from || (a.until > 0 && t >= a.until) {
		return
	}
	c := g.r.Uint64()
	status := uint16(200)
	if armOps[op].created {
		status = 201
	}
	g.evs = append(g.evs,
		ev{t: t, corr: c, kind: evARM, op: op, status: 0, who: uint16(who), ip: ip, obj: uint16(res)},
		ev{t: t + int64(durMs)*ticksPerSecond/1000, corr: c, kind: evARM, op: op, status: status, who: uint16(who), ip: ip, obj: uint16(res), dur: uint16(durMs)})
}

// readOp is the operation an application uses on an object.
func readOp(a *actor, coll uint8, r *rand.Rand) uint8 {
	switch coll {
	case collKeys:
		if len(a.keyOps) > 0 {
			return a.keyOps[r.IntN(len(a.keyOps))]
		}
		return opKeyGet
	case collCerts:
		return opCertGet
	}
	return opSecretGet
}

// run generates actor a's events of the hour.
func (g *hourGen) run(a *actor) {
	if g.t1 <= a.from || (a.until > 0 && g.t0 >= a.until) {
		return
	}
	g.a = a
	switch a.kind {
	case actApp, actFlat, actBatch:
		g.reads(a)
	case actCron:
		g.cron(a)
	case actUser:
		g.user(a)
	case actAdmin:
		g.admin(a)
	case actDeploy:
		g.deploy(a)
	case actBackup:
		g.backup(a)
	case actGraph, actPolicy:
		g.monitor(a)
	case actDenied:
		g.denied(a)
	}
}

// reads: a Poisson number of reads, uniform over the hour, the first
// preceded by the SDK's unauthenticated challenge (401).
func (g *hourGen) reads(a *actor) {
	g.seedHour(a)
	_, hour, wd := g.local(a.tz)
	n := poisson(g.r, a.rate*rhythm(a.kind, hour, wd))
	if n == 0 {
		return
	}
	g.times = g.times[:0]
	first := g.t1
	for range n {
		t := g.t0 + g.r.Int64N(ticksPerHour)
		g.times = append(g.times, t)
		first = min(first, t)
	}
	p := &g.e.principals[a.who]
	ref := a.objs[0]
	g.kv(max(g.t0, first-400_000), readOp(a, ref.coll, g.r), int(ref.vault), noPrincipal, p.app, p.ip, a.client, int(ref.idx), 401)
	for _, t := range g.times {
		ref := a.objs[g.r.IntN(len(a.objs))]
		status := uint16(200)
		if a.missing && ref.coll == collSecrets && g.r.IntN(400) == 0 {
			status = 404
		}
		g.kv(t, readOp(a, ref.coll, g.r), int(ref.vault), a.who, p.app, p.ip, a.client, int(ref.idx), status)
	}
}

// cron: every interval, one read of each object, 30 ms apart.
func (g *hourGen) cron(a *actor) {
	g.seedHour(a)
	p := &g.e.principals[a.who]
	k := floorDiv(g.t0-a.offset+a.interval-1, a.interval)
	challenged := false
	for t := k*a.interval + a.offset; t < g.t1; t += a.interval {
		if !challenged {
			ref := a.objs[0]
			g.kv(t, readOp(a, ref.coll, g.r), int(ref.vault), noPrincipal, p.app, p.ip, a.client, int(ref.idx), 401)
			challenged = true
		}
		for i, ref := range a.objs {
			g.kv(t+int64(i+1)*300_000, readOp(a, ref.coll, g.r), int(ref.vault), a.who, p.app, p.ip, a.client, int(ref.idx), 200)
		}
	}
}

// denied: a misconfigured application asking every 5 minutes for a secret
// of a vault it has no access to.
func (g *hourGen) denied(a *actor) {
	g.seedHour(a)
	p := &g.e.principals[a.who]
	k := floorDiv(g.t0-a.offset+a.interval-1, a.interval)
	for t := k*a.interval + a.offset; t < g.t1; t += a.interval {
		ref := a.objs[0]
		g.kv(t, opSecretGet, int(ref.vault), a.who, p.app, p.ip, a.client, int(ref.idx), 403)
	}
}

// monitor: Resource Graph reads each vault every 6 hours, Policy Insights
// once a day, each vault at its own minute.
func (g *hourGen) monitor(a *actor) {
	g.seedHour(a)
	p := &g.e.principals[a.who]
	period, spread := 6*int64(ticksPerHour), int64(360)
	if a.kind == actPolicy {
		period, spread = ticksPerDay, 1440
	}
	for _, v := range a.vaults {
		off := (int64(v)*7919%spread)*ticksPerMinute + int64(v*13%60)*ticksPerSecond
		k := floorDiv(g.t0-off+period-1, period)
		for t := k*period + off; t < g.t1; t += period {
			n := len(g.evs)
			g.kv(t, opVaultGet, v, a.who, p.app, p.ip, a.client, 0, 200)
			if a.kind == actGraph && len(g.evs) > n {
				g.evs[n].extra = 1 // Resource Graph's regional management URI
			}
		}
	}
}
