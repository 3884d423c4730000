package simulate

import "math/rand/v2"

// Daily plans: what an actor does on a local day, drawn from the day's own
// stream so that the hour generating it and the scenario builder (which
// labels some of these as look-alikes) see the same plan.

// workday counts the weekdays from the epoch to day: consecutive weekdays
// have consecutive numbers, so rotating by it visits n things in n weekdays.
func workday(day int64) int64 {
	return day/7*5 + [7]int64{0, 1, 2, 2, 2, 3, 4}[day%7] // the epoch was a Thursday
}

// userDay returns the start of each of a user's sessions on a local day
// (none at weekends): 1-3 between 08:30 and 17:30, or for an administrator
// 1-2 between 08:30 and 11:30 (their afternoons are for changes).
func (e *Estate) userDay(p *rand.PCG, r *rand.Rand, a *actor, day int64, admin bool, out []int64) []int64 {
	out = out[:0]
	if weekend(weekdayOf(day)) {
		return out
	}
	seedDay(p, e, a, day, 1)
	n, span := 1+r.IntN(3), int64(540)
	if admin {
		n, span = 1+r.IntN(2), 180
	}
	for range n {
		m := 510 + r.Int64N(span)
		out = append(out, e.localTicks(day, a.tz, m*ticksPerMinute+r.Int64N(ticksPerMinute)))
	}
	return out
}

// deployment is one release: Resource Manager writes, then SecretSet of n
// secrets of a vault from secret index first on.
type deployment struct {
	at       int64
	vault    int
	first, n int
}

// deployDay returns the deploy actor's release of a local day, if any: every
// weekday between 10:00 and 16:00, to its vaults in turn (so the learning
// period sees it on each).
func (e *Estate) deployDay(p *rand.PCG, r *rand.Rand, a *actor, day int64) (deployment, bool) {
	if weekend(weekdayOf(day)) {
		return deployment{}, false
	}
	seedDay(p, e, a, day, 3)
	d := deployment{at: e.localTicks(day, a.tz, (600+r.Int64N(360))*ticksPerMinute+r.Int64N(ticksPerMinute))}
	d.vault = a.vaults[int(workday(day)%int64(len(a.vaults)))]
	secrets := len(e.vaults[d.vault].objs[collSecrets])
	d.n = min(secrets, 8+r.IntN(20))
	d.first = r.IntN(secrets)
	return d, true
}

// backupDay returns when the nightly backup of a local day starts: 02:00
// local plus up to ten minutes.
func (e *Estate) backupDay(p *rand.PCG, r *rand.Rand, a *actor, day int64) int64 {
	seedDay(p, e, a, day, 4)
	return e.localTicks(day, a.tz, 2*ticksPerHour+r.Int64N(10*ticksPerMinute))
}

// adminDay is an afternoon of Resource Manager changes between 13:00 and
// 17:00: one to five for an administrator, up to two for a developer. On
// their weekly change day an administrator also changes their first vault
// (VaultPatch) between 15:00 and 17:30, never within an hour of their
// morning's reads.
type adminDay struct {
	n     int
	at    [5]int64
	res   [5]int
	op    [5]uint8
	patch bool
	pt    int64
	pv    int
}

func (e *Estate) adminPlan(p *rand.PCG, r *rand.Rand, a *actor, day int64) adminDay {
	var d adminDay
	if weekend(weekdayOf(day)) {
		return d
	}
	seedDay(p, e, a, day, 2)
	admin := e.principals[a.who].role == "Owner"
	d.n = r.IntN(3)
	if admin {
		d.n = 1 + r.IntN(5)
	}
	for i := range d.n {
		d.at[i] = e.localTicks(day, a.tz, (13*60+r.Int64N(240))*ticksPerMinute+r.Int64N(ticksPerMinute))
		d.res[i] = a.res[r.IntN(len(a.res))]
		ops := e.armRes[d.res[i]].ops
		d.op[i] = ops[r.IntN(len(ops))]
	}
	d.patch = admin && len(a.vaults) > 0 && weekdayOf(day) == a.changeDay
	d.pt = e.localTicks(day, a.tz, (15*60+r.Int64N(150))*ticksPerMinute+r.Int64N(ticksPerMinute))
	if d.patch {
		d.pv = a.vaults[0]
	}
	return d
}

// user generates the sessions that start in this hour.
func (g *hourGen) user(a *actor) {
	day, _, _ := g.local(a.tz)
	admin := g.e.principals[a.who].role == "Owner"
	g.times = g.e.userDay(&g.pcg, g.r, a, day, admin, g.times)
	var starts [3]int64
	n := copy(starts[:], g.times)
	for s, t := range starts[:n] {
		if t >= g.t0 && t < g.t1 {
			seedDay(&g.pcg, g.e, a, day, 16+uint64(s))
			g.session(a, day, s, t)
		}
	}
}

// session: a user looks at one of their vaults: (the portal's VaultGet,)
// the secrets list, one to four secrets, and their usual further operations.
func (g *hourGen) session(a *actor, day int64, s int, t int64) {
	e, r := g.e, g.r
	p := &e.principals[a.who]
	v := -1
	for i := range a.vaults {
		c := a.vaults[(int(workday(day))+s+i)%len(a.vaults)]
		if e.vaults[c].onboarded <= t {
			v = c
			break
		}
	}
	if v < 0 {
		return
	}
	step := func() { t += (2+r.Int64N(38))*ticksPerSecond + r.Int64N(ticksPerSecond) }
	if p.app == appIdxPortal {
		g.kv(t, opVaultGet, v, a.who, p.app, p.ip, e.armClient, 0, 200)
		step()
	} else {
		g.kv(t, opSecretList, v, noPrincipal, p.app, p.ip, a.client, 0, 401)
		t += r.Int64N(ticksPerSecond / 5)
	}
	g.kv(t, opSecretList, v, a.who, p.app, p.ip, a.client, 0, 200)
	step()
	secrets := e.vaults[v].objs[collSecrets]
	for range 1 + r.IntN(4) {
		g.kv(t, opSecretGet, v, a.who, p.app, p.ip, a.client, r.IntN(len(secrets)), 200)
		step()
	}
	for _, op := range a.extras {
		objs := e.vaults[v].objs[kvOps[op].coll]
		if kvOps[op].kind != okList && len(objs) == 0 {
			continue
		}
		obj := 0
		if len(objs) > 0 {
			obj = r.IntN(len(objs))
		}
		g.kv(t, op, v, a.who, p.app, p.ip, a.client, obj, 200)
		step()
	}
}

// admin generates an administrator's changes that start in this hour.
func (g *hourGen) admin(a *actor) {
	day, _, _ := g.local(a.tz)
	d := g.e.adminPlan(&g.pcg, g.r, a, day)
	p := &g.e.principals[a.who]
	for i := range d.n {
		if d.at[i] >= g.t0 && d.at[i] < g.t1 {
			g.arm(d.at[i], d.op[i], d.res[i], a.who, p.ip, 800+g.r.IntN(20000))
		}
	}
	if d.patch && d.pt >= g.t0 && d.pt < g.t1 {
		v := &g.e.vaults[d.pv]
		g.arm(d.pt, armVaultWrite, v.resource, a.who, p.ip, 900+g.r.IntN(1500))
		g.kv(d.pt+3*ticksPerSecond/10, opVaultPatch, d.pv, a.who, appIdxPortal, p.ip, a.client, 0, 200)
	}
}

// deploy generates a release that starts in this hour.
func (g *hourGen) deploy(a *actor) {
	day, _, _ := g.local(a.tz)
	d, ok := g.e.deployDay(&g.pcg, g.r, a, day)
	if !ok || d.at < g.t0 || d.at >= g.t1 {
		return
	}
	e := g.e
	p := &e.principals[a.who]
	v := &e.vaults[d.vault]
	g.arm(d.at, armDeploymentWrite, e.subResource(v.sub, resDeployment), a.who, p.ip, 180_000+g.r.IntN(180_000))
	g.arm(d.at+20*ticksPerSecond, armStorageListKeys, e.subResource(v.sub, resStorage), a.who, p.ip, 200+g.r.IntN(400))
	g.arm(d.at+40*ticksPerSecond, armNSGWrite, e.subResource(v.sub, resNSG), a.who, p.ip, 5_000+g.r.IntN(10_000))
	g.arm(d.at+60*ticksPerSecond, armSiteWrite, e.subResource(v.sub, resSite), a.who, p.ip, 20_000+g.r.IntN(40_000))
	t := d.at + 90*ticksPerSecond
	secrets := len(v.objs[collSecrets])
	g.kv(t, opSecretSet, d.vault, noPrincipal, p.app, p.ip, a.client, d.first, 401)
	for i := range d.n {
		t += ticksPerSecond + g.r.Int64N(3*ticksPerSecond)
		g.kv(t, opSecretSet, d.vault, a.who, p.app, p.ip, a.client, (d.first+i)%secrets, 200)
	}
}

// backup generates the nightly backup if it starts in this hour.
func (g *hourGen) backup(a *actor) {
	day, _, _ := g.local(a.tz)
	t := g.e.backupDay(&g.pcg, g.r, a, day)
	if t < g.t0 || t >= g.t1 {
		return
	}
	e := g.e
	p := &e.principals[a.who]
	step := func() { t += 1_500_000 + g.r.Int64N(3_000_000) }
	g.kv(t, opSecretList, a.vaults[0], noPrincipal, p.app, p.ip, a.client, 0, 401)
	step()
	for _, v := range a.vaults {
		if e.vaults[v].onboarded > t {
			continue
		}
		for _, c := range [...]struct{ list, backup uint8 }{
			{opSecretList, opSecretBackup}, {opKeyList, opKeyBackup}, {opCertList, opCertBackup},
		} {
			objs := e.vaults[v].objs[kvOps[c.list].coll]
			if len(objs) == 0 {
				continue
			}
			g.kv(t, c.list, v, a.who, p.app, p.ip, a.client, 0, 200)
			step()
			for i := range objs {
				g.kv(t, c.backup, v, a.who, p.app, p.ip, a.client, i, 200)
				step()
			}
		}
	}
}
