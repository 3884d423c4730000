package simulate

import (
	"math/rand/v2"
	"slices"
)

// rhythms gives every principal its actors: what it does, where, and when.
func (b *builder) rhythms() {
	e := b.e
	if !e.opts.NoScenarios {
		// The last vault is created the day the learning period ends: its
		// first week is its own learning period.
		b.lateVault = len(e.vaults) - 1
		e.vaults[b.lateVault].onboarded = e.learning + 9*ticksPerHour
	}
	b.appRhythms()
	b.userRhythms()
	for ti := range e.tenants {
		vaults := b.tenantVaults[ti]
		b.addActor(actor{kind: actGraph, who: b.graph[ti], vaults: vaults, client: b.graphC})
		b.addActor(actor{kind: actPolicy, who: b.policy[ti], vaults: vaults, client: b.armC})
	}
}

func (b *builder) addActor(a actor) int {
	a.id = b.nextActor
	b.nextActor++
	b.e.actors = append(b.e.actors, a)
	return len(b.e.actors) - 1
}

// tenantTZ is the offset of a tenant's first office: where its services'
// users are, so where their applications' day is.
func (b *builder) tenantTZ(ti int) int { return b.e.offices[b.e.tenants[ti].offices[0]].tz }

// secretRefs returns n distinct secrets of vault v.
func secretRefs(r *rand.Rand, e *Estate, v, n int) []objRef {
	secrets := len(e.vaults[v].objs[collSecrets])
	n = min(n, secrets)
	first := r.IntN(secrets)
	out := make([]objRef, 0, n)
	for i := range n {
		out = append(out, objRef{vault: uint16(v), coll: collSecrets, idx: uint16((first + i) % secrets)})
	}
	return out
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// appRhythms: service principals and managed identities. The first of each
// tenant is its deployment pipeline (SPs) or its backup job (MIs); the rest
// follow a cycle of workload profiles, each reading one home vault (taken
// round-robin, so every vault has readers), a few a second one.
func (b *builder) appRhythms() {
	e, r := b.e, b.r
	nt := len(e.tenants)
	next := make([]int, nt)
	home := func(ti int) int {
		vs := b.tenantVaults[ti]
		v := vs[next[ti]%len(vs)]
		next[ti]++
		return v
	}
	spCycle := []profile{profHot, profNormal, profNormal, profCron, profNormal, profHot, profCrypto, profNormal, profHot, profNormal}
	miCycle := []profile{profCMK, profBatch, profNormal, profCMK, profNormal, profHot}
	for i, pi := range b.sps {
		ti := e.principals[pi].tenant
		if i < nt {
			vs := slices.Clone(b.tenantVaults[ti])
			r.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
			a := actor{kind: actDeploy, who: pi, tz: b.tenantTZ(ti), vaults: vs[:min(len(vs), 2+r.IntN(3))], client: b.cliC[1]}
			b.addActor(a)
			continue
		}
		b.addActor(b.workload(pi, spCycle[(i-nt)%len(spCycle)], home(ti)))
	}
	for i, pi := range b.mis {
		ti := e.principals[pi].tenant
		if i < nt {
			a := actor{kind: actBackup, who: pi, tz: b.tenantTZ(ti), vaults: b.tenantVaults[ti], client: b.sdkC[0]}
			b.addActor(a)
			continue
		}
		b.addActor(b.workload(pi, miCycle[(i-nt)%len(miCycle)], home(ti)))
	}
}

// workload returns the actor of an application of a profile on vault v.
func (b *builder) workload(pi int, prof profile, v int) actor {
	e, r := b.e, b.r
	ti := e.principals[pi].tenant
	a := actor{kind: actApp, prof: prof, who: pi, tz: b.tenantTZ(ti), vaults: []int{v}, client: pick(r, b.sdkC)}
	keys := len(e.vaults[v].objs[collKeys])
	switch prof {
	case profHot:
		a.rate = float64(150 + r.IntN(250))
		a.objs = secretRefs(r, e, v, 2+r.IntN(2))
	case profNormal:
		a.rate = float64(10 + r.IntN(50))
		a.objs = secretRefs(r, e, v, 1+r.IntN(4))
		a.missing = r.IntN(3) == 0
		if r.IntN(7) == 0 { // a second vault: the shared one of its tenant
			w := b.tenantVaults[ti][0]
			if w != v && w != b.lateVault {
				a.vaults = append(a.vaults, w)
				a.objs = append(a.objs, secretRefs(r, e, w, 1)...)
			}
		}
	case profCron:
		a.kind = actCron
		a.interval = int64(pick(r, []int{5, 10, 15})) * ticksPerMinute
		a.offset = r.Int64N(a.interval)
		a.objs = secretRefs(r, e, v, 1+r.IntN(3))
	case profCrypto:
		a.rate = float64(40 + r.IntN(60))
		a.objs = []objRef{{vault: uint16(v), coll: collKeys, idx: uint16(r.IntN(keys))}}
		a.keyOps = []uint8{opKeySign, opKeySign, opKeySign, opKeyGet}
		a.client = pick(r, b.keyC)
	case profCMK:
		a.kind = actFlat
		a.rate = float64(20 + r.IntN(40))
		a.objs = []objRef{{vault: uint16(v), coll: collKeys, idx: uint16(r.IntN(keys))}}
		a.keyOps = []uint8{opKeyWrap, opKeyUnwrap, opKeyUnwrap, opKeyGet}
		a.client = pick(r, b.keyC)
	case profBatch:
		a.kind = actBatch
		a.rate = float64(150 + r.IntN(150))
		a.objs = secretRefs(r, e, v, 3+r.IntN(4))
	}
	return a
}

// userRhythms: every user has office-hours sessions on a few vaults of their
// tenant (administrators on more, and afternoons of Resource Manager
// changes); two users of the late vault's tenant start using it after it is
// created.
func (b *builder) userRhythms() {
	e, r := b.e, b.r
	next := make([]int, len(e.tenants))
	extraOps := []uint8{opKeyList, opCertList, opKeyGet, opCertGet}
	lateUsers := 0
	for _, pi := range b.users {
		p := &e.principals[pi]
		ti := p.tenant
		vs := b.tenantVaults[ti]
		n := 1 + r.IntN(3)
		if b.userIsAdmin[pi] {
			n = 2 + r.IntN(3)
		}
		var mine []int
		for len(mine) < min(n, len(vs)-1) {
			var v int
			if len(mine) == 0 {
				v = vs[next[ti]%len(vs)]
				next[ti]++
			} else {
				v = pick(r, vs)
			}
			if v != b.lateVault && !slices.Contains(mine, v) {
				mine = append(mine, v)
			}
		}
		if b.lateVault >= 0 && e.vaults[b.lateVault].tenant == ti && lateUsers < 2 && !b.userIsAdmin[pi] {
			mine = append(mine, b.lateVault)
			lateUsers++
		}
		a := actor{kind: actUser, who: pi, tz: e.offices[p.office].tz, vaults: mine}
		switch p.app {
		case appIdxPortal:
			a.client = pick(r, b.portalC)
		case appIdxCLI:
			a.client = pick(r, b.cliC)
		default:
			a.client = pick(r, b.psC)
		}
		for _, op := range extraOps {
			if len(a.extras) < 2 && r.IntN(4) == 0 {
				a.extras = append(a.extras, op)
			}
		}
		b.addActor(a)
		if b.userIsAdmin[pi] || p.app != appIdxPortal { // administrators and developers change resources
			var res []int
			for si := range e.subs {
				if e.subs[si].tenant == ti {
					for k := range resKinds {
						if ri := e.subResource(si, k); len(e.armRes[ri].ops) > 0 {
							res = append(res, ri)
						}
					}
				}
			}
			ad := a
			ad.kind, ad.res, ad.client, ad.changeDay = actAdmin, res, pick(r, b.portalC), 2+r.IntN(3)
			ad.vaults = nil
			if b.userIsAdmin[pi] {
				ad.vaults = slices.DeleteFunc(slices.Clone(mine), func(v int) bool { return v == b.lateVault })
			}
			b.addActor(ad)
		}
	}
}
