package simulate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// benign injects and labels the look-alikes: activity a detection engineer
// knows resembles an attack and must not raise the alert.
func (b *builder) benign() error {
	steps := []func() error{
		b.newHire, b.deployLookAlike, b.backupLookAlike, b.hotAppLookAlike, b.graphLookAlike,
		b.newVault, b.deniedApp, b.mondayLookAlike, b.scanner, b.partnerApp,
	}
	for i, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("%w (look-alike B%02d)", err, i+1)
		}
	}
	return nil
}

// newUser adds a user who joins a tenant during the run.
func (b *builder) newUser(ti int) int {
	e, r := b.e, b.r
	t := &e.tenants[ti]
	oi := t.offices[0]
	o := &e.offices[oi]
	first, last := pick(r, firstName), pick(r, lastName)
	local := strings.ToLower(first + "." + strings.ReplaceAll(last, " ", ""))
	upn := local + "@" + t.domain
	for n := 2; slices.ContainsFunc(e.principals, func(p principal) bool { return p.upn == upn }); n++ {
		upn = local + strconv.Itoa(n) + "@" + t.domain
	}
	return b.addPrincipal(principal{
		kind: KindUser, tenant: ti, oid: guid(r), upn: upn, name: first + " " + last,
		app: appIdxPortal, ip: uint16(o.ips[r.IntN(len(o.ips))]), office: oi,
	})
}

// B01: an administrator grants a new colleague access (VaultPatch with
// addedAccessPolicy, and the Activity Log's accessPolicies/write) in the
// afternoon and reads nothing; the colleague starts reading the next
// morning and every weekday after. Neither a put-then-get nor, for a
// detection that honours grants, a new user.
func (b *builder) newHire() error {
	e, r := b.e, b.r
	v := -1
	ad, err := b.findActor(func(a *actor) bool { v = b.freeOf(a); return a.kind == actAdmin && v >= 0 })
	if err != nil {
		return err
	}
	b.usedVaults[v] = true
	nh := b.newUser(e.vaults[v].tenant)
	p, np := &e.principals[ad.who], &e.principals[nh]
	tp := e.learning + 14*ticksPerHour + r.Int64N(30*ticksPerMinute)
	b.armAt(tp, armAccessPolicyWrite, e.vaults[v].resource, ad.who, p.ip, 1200+r.IntN(800))
	b.kvAt(tp+4*ticksPerSecond/10, opVaultPatch, v, ad.who, appIdxPortal, p.ip, ad.client, 0, 200)
	e.scripted[len(e.scripted)-1].extra = uint16(nh + 1)

	// The first weekday after the grant, at 09:00-10:00 in the office.
	tz := e.offices[np.office].tz
	day := e.localDayOf(tp, tz) + 1
	for weekend(weekdayOf(day)) && e.localTicks(day+1, tz, 0) < int64(e.hours-24)*ticksPerHour {
		day++
	}
	t := e.localTicks(day, tz, 9*ticksPerHour+r.Int64N(ticksPerHour))
	first := t
	client := pick(r, b.portalC)
	b.kvAt(t, opVaultGet, v, nh, appIdxPortal, np.ip, e.armClient, 0, 200)
	t += secs(r, 3, 20)
	b.kvAt(t, opSecretList, v, nh, appIdxPortal, np.ip, client, 0, 200)
	for range 3 {
		t += secs(r, 5, 40)
		b.kvAt(t, opSecretGet, v, nh, appIdxPortal, np.ip, client, r.IntN(len(e.vaults[v].objs[collSecrets])), 200)
	}
	b.addActor(actor{kind: actUser, who: nh, tz: tz, vaults: []int{v}, client: client, from: t + 2*ticksPerHour})

	note := "new colleague " + np.upn + " granted access by " + p.upn + " (VaultPatch with addedAccessPolicy); the administrator reads nothing, the colleague starts the next morning"
	l := Label{ID: "B01", Kind: LabelBenign, AlertType: "KV_PutGetAnomaly", Note: note}
	e.onVault(&l, v)
	e.who(&l, nh)
	b.label(l, tp, first+ticksPerHour)
	for _, typ := range []string{"KV_UserAnomaly", "KV_UserAppAnomaly"} {
		l.AlertType = typ
		b.label(l, first, first+ticksPerDay)
	}
	return nil
}

// B02: a release pipeline sets many secrets at once, as it did every
// weekday of the learning period.
func (b *builder) deployLookAlike() error {
	e := b.e
	var pcg rand.PCG
	r := rand.New(&pcg)
	for ai := range e.actors {
		a := &e.actors[ai]
		if a.kind != actDeploy {
			continue
		}
		end := int64(e.hours) * ticksPerHour
		for day := e.localDayOf(e.learning, a.tz); ; day++ {
			d, ok := e.deployDay(&pcg, r, a, day)
			if d.at+ticksPerHour > end {
				return nil
			}
			if !ok || d.at < e.learning || d.vault == b.lateVault {
				continue
			}
			b.usedVaults[d.vault] = true
			for _, typ := range []string{"KV_ListGetAnomaly", "KV_OperationVolumeAnomaly", "KV_OperationPatternAnomaly"} {
				l := Label{ID: "B02", Kind: LabelBenign, AlertType: typ,
					Note: "release pipeline sets " + strconv.Itoa(d.n) + " secrets in a burst, as on every weekday since the start"}
				e.onVault(&l, d.vault)
				e.who(&l, a.who)
				b.label(l, d.at, d.at+10*ticksPerMinute)
			}
			return nil
		}
	}
	return nil
}

// B03: the nightly backup lists and backs up every secret, key and
// certificate of every vault of its tenant, as every night since the start.
func (b *builder) backupLookAlike() error {
	e := b.e
	var pcg rand.PCG
	r := rand.New(&pcg)
	i := slices.IndexFunc(e.actors, func(a actor) bool { return a.kind == actBackup })
	if i < 0 {
		return nil
	}
	a := &e.actors[i]
	t := e.backupDay(&pcg, r, a, e.localDayOf(e.learning, a.tz)+1)
	if t < e.learning || t+ticksPerHour > int64(e.hours)*ticksPerHour {
		return nil
	}
	for _, typ := range []string{"KV_OperationPatternAnomaly", "KV_OperationVolumeAnomaly", "KV_AccountVolumeAnomaly", "KV_ListGetAnomaly",
		"ARM_MicroBurst.AzKeyVaultSecretsREST", "ARM_MicroBurst.AzKeyVaultKeysREST"} {
		l := Label{ID: "B03", Kind: LabelBenign, AlertType: typ,
			Note: "nightly backup (SecretList, SecretBackup, KeyBackup ...) of every vault of the tenant, every night since the start"}
		e.who(&l, a.who)
		b.label(l, t, t+ticksPerHour)
	}
	return nil
}

// B04: an application without a cache reads its few secrets thousands of
// times a day.
func (b *builder) hotAppLookAlike() error {
	e := b.e
	i := slices.IndexFunc(e.actors, func(a actor) bool { return a.prof == profHot && a.vaults[0] != b.lateVault })
	if i < 0 {
		return nil
	}
	a := &e.actors[i]
	b.usedVaults[a.vaults[0]] = true
	for _, typ := range []string{"KV_ListGetAnomaly", "KV_OperationVolumeAnomaly"} {
		l := Label{ID: "B04", Kind: LabelBenign, AlertType: typ,
			Note: "application reads the same " + strconv.Itoa(len(a.objs)) + " secrets thousands of times a day, every day since the start"}
		e.onVault(&l, a.vaults[0])
		e.who(&l, a.who)
		b.label(l, e.learning, e.learning+ticksPerDay)
	}
	return nil
}

// B05: Azure Resource Graph reads every vault of the tenant every 6 hours.
func (b *builder) graphLookAlike() error {
	e := b.e
	i := slices.IndexFunc(e.actors, func(a actor) bool { return a.kind == actGraph })
	a := &e.actors[i]
	for _, typ := range []string{"KV_AccountVolumeAnomaly", "KV_ListGetAnomaly", "KV_OperationVolumeAnomaly"} {
		l := Label{ID: "B05", Kind: LabelBenign, AlertType: typ,
			Note: "Azure Resource Graph (app " + appResourceGraph + ") indexes every vault of the tenant with VaultGet every 6 hours"}
		e.who(&l, a.who)
		b.label(l, e.learning, e.learning+ticksPerDay)
	}
	return nil
}

// B06: a vault is created after the learning period (VaultPut by the
// release pipeline, then its secrets); applications and users start using
// it during its first week, its own learning period (labelled by
// learningLabels).
func (b *builder) newVault() error {
	e, r := b.e, b.r
	if b.lateVault < 0 {
		return nil
	}
	v := &e.vaults[b.lateVault]
	i := slices.IndexFunc(e.actors, func(a actor) bool {
		return a.kind == actDeploy && e.principals[a.who].tenant == v.tenant
	})
	if i < 0 {
		return errNoVictim
	}
	a := &e.actors[i]
	p := &e.principals[a.who]
	on := v.onboarded
	b.armAt(on-2*ticksPerSecond, armVaultWrite, v.resource, a.who, p.ip, 4000+r.IntN(3000))
	b.kvAt(on, opVaultPut, b.lateVault, a.who, p.app, p.ip, e.armClient, 0, 200)
	t := on + 60*ticksPerSecond
	b.kvAt(t, opSecretSet, b.lateVault, noPrincipal, p.app, p.ip, a.client, 0, 401)
	for k := range v.objs[collSecrets] {
		t += secs(r, 1, 3)
		b.kvAt(t, opSecretSet, b.lateVault, a.who, p.app, p.ip, a.client, k, 200)
	}
	l := Label{ID: "B06", Kind: LabelBenign, AlertType: "KV_PutGetAnomaly",
		Note: "release pipeline creates vault " + v.name + " (VaultPut) and sets its secrets; its applications start reading at once"}
	e.onVault(&l, b.lateVault)
	e.who(&l, a.who)
	b.label(l, on, on+2*ticksPerHour)
	return nil
}

// B07: a misconfigured application asks every 5 minutes for a secret of a
// vault it has no access to, refused (403) every time.
func (b *builder) deniedApp() error {
	e, r := b.e, b.r
	v := b.freeVault()
	if v < 0 {
		return errNoVictim
	}
	ti := e.vaults[v].tenant
	m := b.newApp(KindServicePrincipal, ti, "sp-reports-legacy", b.cloudIP())
	from := e.learning + ticksPerDay + 7*ticksPerHour + r.Int64N(30*ticksPerMinute)
	interval := int64(5 * ticksPerMinute)
	b.addActor(actor{
		kind: actDenied, who: m, tz: b.tenantTZ(ti), vaults: []int{v}, client: pick(r, b.sdkC),
		objs: []objRef{{vault: uint16(v), coll: collSecrets}}, interval: interval, offset: from % interval, from: from,
	})
	for _, typ := range []string{"KV_AppAnomaly", "KV_UserAnomaly", "KV_OperationVolumeAnomaly"} {
		l := Label{ID: "B07", Kind: LabelBenign, AlertType: typ,
			Note: "misconfigured application refused (403 Forbidden) every 5 minutes: it reads nothing"}
		e.onVault(&l, v)
		e.who(&l, m)
		b.label(l, from, from+ticksPerDay)
	}
	return nil
}

// freeVault takes a random free vault, or -1.
func (b *builder) freeVault() int {
	n := len(b.e.vaults)
	start := b.r.IntN(n)
	for i := range n {
		if v := (start + i) % n; b.free(v) {
			b.usedVaults[v] = true
			return v
		}
	}
	return -1
}

// B08: Monday morning after a quiet weekend: every office application and
// user returns at once.
func (b *builder) mondayLookAlike() error {
	e := b.e
	end := int64(e.hours) * ticksPerHour
	for day := floorDiv(e.start+e.learning, ticksPerDay); ; day++ {
		t := e.localTicks(day, 0, 6*ticksPerHour)
		if t+6*ticksPerHour > end {
			return nil
		}
		volume := b.slots[slices.Index(attackTypes, "KV_OperationVolumeAnomaly")]
		if weekdayOf(day) == 1 && t >= e.learning && (volume+2*ticksPerHour < t || volume > t+6*ticksPerHour) {
			b.label(Label{ID: "B08", Kind: LabelBenign, AlertType: "KV_OperationVolumeAnomaly",
				Note: "Monday morning: office-hours applications and users return after the weekend (every vault)"}, t, t+6*ticksPerHour)
			return nil
		}
	}
}

// B09: an unauthenticated scanner from a blocklisted address is refused
// (401, no identity): nothing was accessed.
func (b *builder) scanner() error {
	e, r := b.e, b.r
	v := b.freeVault()
	if v < 0 {
		return errNoVictim
	}
	addr := e.opts.Blocklisted[2%len(e.opts.Blocklisted)]
	ip, client := b.ip(addr), b.attackC[1]
	t := e.learning + ticksPerDay + 3*ticksPerHour + r.Int64N(ticksPerHour)
	i0 := len(e.scripted)
	for _, op := range []uint8{opSecretList, opSecretGet, opSecretGet} {
		b.kvAt(t, op, v, noPrincipal, 0, ip, client, r.IntN(len(e.vaults[v].objs[collSecrets])), 401)
		t += secs(r, 1, 4)
	}
	first, last := b.span(i0)
	l := Label{ID: "B09", Kind: LabelBenign, AlertType: "KV_SuspiciousIPAccess", IP: addr,
		Note: "unauthenticated requests from a blocklisted address, all refused (401): the vault was not accessed"}
	e.onVault(&l, v)
	b.label(l, first, last+ticksPerHour)
	return nil
}

// B10: a partner's application calls from an address one blocklist names
// (below the detections' threshold), every weekday since the start.
func (b *builder) partnerApp() error {
	e, r := b.e, b.r
	v := b.freeVault()
	if v < 0 {
		return errNoVictim
	}
	ti := e.vaults[v].tenant
	pp := b.newApp(KindServicePrincipal, ti, "sp-partner-edi", b.ip(e.opts.LowScore))
	b.addActor(actor{kind: actApp, prof: profPartner, who: pp, tz: b.tenantTZ(ti), vaults: []int{v},
		objs: secretRefs(r, e, v, 2), rate: 6, client: pick(r, b.sdkC)})
	l := Label{ID: "B10", Kind: LabelBenign, AlertType: "KV_SuspiciousIPAccess", IP: e.opts.LowScore,
		Note: "partner application from an address a single blocklist names (score below the threshold), daily since the start"}
	e.onVault(&l, v)
	e.who(&l, pp)
	b.label(l, e.learning, e.learning+ticksPerDay)
	return nil
}
