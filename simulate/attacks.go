package simulate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// attackTypes are the alert types an attack is injected for, in the order
// of their days (attack i starts at builder.slots[i]).
var attackTypes = []string{
	"KV_TORAccess", "KV_SuspiciousIPAccess", "KV_ListGetAnomaly", "KV_PutGetAnomaly",
	"KV_UserAnomaly", "KV_AppAnomaly", "KV_UserAppAnomaly", "KV_OperationPatternAnomaly",
	"KV_OperationVolumeAnomaly", "KV_AccountVolumeAnomaly",
	"ARM_OperationFromSuspiciousProxyIP", "ARM_OperationFromSuspiciousIP",
}

// attacks injects one attack of every type and labels it.
func (b *builder) attacks() error {
	steps := map[string]func(l Label, t int64) error{
		"KV_TORAccess":                       b.torAccess,
		"KV_SuspiciousIPAccess":              b.suspiciousIP,
		"KV_ListGetAnomaly":                  b.listGet,
		"KV_PutGetAnomaly":                   b.putGet,
		"KV_UserAnomaly":                     b.userAnomaly,
		"KV_AppAnomaly":                      b.appAnomaly,
		"KV_UserAppAnomaly":                  b.userAppAnomaly,
		"KV_OperationPatternAnomaly":         b.patternAnomaly,
		"KV_OperationVolumeAnomaly":          b.volumeAnomaly,
		"KV_AccountVolumeAnomaly":            b.accountVolume,
		"ARM_OperationFromSuspiciousProxyIP": b.armProxy,
		"ARM_OperationFromSuspiciousIP":      b.armSuspicious,
	}
	for i, typ := range attackTypes {
		l := Label{ID: "A" + twoDigits(i+1), Kind: LabelAttack, AlertType: typ, MustFire: true}
		if err := steps[typ](l, b.slots[i]); err != nil {
			return fmt.Errorf("%w (attack %s)", err, typ)
		}
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// finishKV labels the scripted events from index i0 on vault v by principal pi.
func (b *builder) finishKV(l Label, i0, v, pi int, note string) {
	first, last := b.span(i0)
	l.Note = note
	b.e.onVault(&l, v)
	if pi >= 0 {
		b.e.who(&l, pi)
	}
	b.label(l, first, last+ticksPerHour)
}

// A01: a user's stolen credentials used through Tor to read the secrets
// the user reads every day.
func (b *builder) torAccess(l Label, t int64) error {
	e, r := b.e, b.r
	a, err := b.findActor(b.isUser)
	if err != nil {
		return err
	}
	v, p := a.vaults[0], &e.principals[a.who]
	addr := e.opts.TorExits[0]
	ip, client := b.ip(addr), b.attackC[0]
	i0 := len(e.scripted) // a stolen token needs no challenge: no 401
	b.kvAt(t, opSecretList, v, a.who, p.app, ip, client, 0, 200)
	secrets := len(e.vaults[v].objs[collSecrets])
	for range 3 {
		t += secs(r, 4, 25)
		b.kvAt(t, opSecretGet, v, a.who, p.app, ip, client, r.IntN(secrets), 200)
	}
	l.IP = addr
	b.finishKV(l, i0, v, a.who, "stolen credentials of "+p.upn+" used from Tor exit "+addr+" to list and read secrets")
	return nil
}

// A02: an application's leaked client secret used from a blocklisted host
// to read the application's own secrets.
func (b *builder) suspiciousIP(l Label, t int64) error {
	e, r := b.e, b.r
	a, err := b.findActor(b.isApp(profNormal))
	if err != nil {
		return err
	}
	v, p := a.vaults[0], &e.principals[a.who]
	addr := e.opts.Blocklisted[0]
	ip, client := b.ip(addr), b.attackC[0]
	i0 := len(e.scripted)
	for range 4 {
		t += secs(r, 2, 15)
		b.kvAt(t, opSecretGet, v, a.who, p.app, ip, client, int(pick(r, a.objs).idx), 200)
	}
	l.IP = addr
	b.finishKV(l, i0, v, a.who, "leaked client secret of "+p.name+" used from blocklisted address "+addr)
	return nil
}

// A03: a user lists a vault's secrets and reads every one within a minute.
func (b *builder) listGet(l Label, t int64) error {
	e, r := b.e, b.r
	v := -1
	a, err := b.findActor(func(a *actor) bool {
		if !b.isUser(a) {
			return false
		}
		v = slices.IndexFunc(a.vaults, func(v int) bool { return e.vaults[v].hasBigList })
		return v >= 0
	})
	if err != nil {
		return err
	}
	v = a.vaults[v]
	b.usedVaults[v] = true
	p := &e.principals[a.who]
	i0 := len(e.scripted)
	b.kvAt(t, opSecretList, v, noPrincipal, p.app, p.ip, a.client, 0, 401)
	t += 3 * ticksPerSecond / 10
	b.kvAt(t, opSecretList, v, a.who, p.app, p.ip, a.client, 0, 200)
	secrets := e.vaults[v].objs[collSecrets]
	for k := range secrets {
		t += 8*ticksPerSecond/10 + r.Int64N(8*ticksPerSecond/10)
		b.kvAt(t, opSecretGet, v, a.who, p.app, p.ip, a.client, k, 200)
	}
	l.Also = []string{"KV_OperationVolumeAnomaly", "KV_OperationPatternAnomaly"}
	b.finishKV(l, i0, v, a.who, "SecretList then SecretGet of all "+strconv.Itoa(len(secrets))+" secrets within a minute by "+p.upn)
	return nil
}

// A04: a compromised administrator grants an application the attacker
// registered (VaultPatch with addedAccessPolicy), which reads secrets
// minutes later.
func (b *builder) putGet(l Label, t int64) error {
	e, r := b.e, b.r
	v := -1
	ad, err := b.findActor(func(a *actor) bool { v = b.freeOf(a); return a.kind == actAdmin && v >= 0 })
	if err != nil {
		return err
	}
	b.usedVaults[v] = true
	p := &e.principals[ad.who]
	x := b.newApp(KindAttacker, p.tenant, "app-sync-"+hexN(r, 6), b.ip(attackerVPS))
	xp := &e.principals[x]
	i0 := len(e.scripted)
	b.armAt(t, armAccessPolicyWrite, e.vaults[v].resource, ad.who, p.ip, 1000+r.IntN(1000))
	b.kvAt(t+4*ticksPerSecond/10, opVaultPatch, v, ad.who, appIdxPortal, p.ip, ad.client, 0, 200)
	e.scripted[len(e.scripted)-1].extra = uint16(x + 1)
	t += secs(r, 240, 600)
	client := b.attackC[1]
	b.kvAt(t, opSecretList, v, x, xp.app, xp.ip, client, 0, 200)
	secrets := len(e.vaults[v].objs[collSecrets])
	first := r.IntN(secrets)
	for k := range min(7, secrets) {
		t += secs(r, 2, 10)
		b.kvAt(t, opSecretGet, v, x, xp.app, xp.ip, client, (first+k)%secrets, 200)
	}
	l.Also = []string{"KV_AppAnomaly", "KV_UserAnomaly", "KV_UserAppAnomaly", "KV_OperationPatternAnomaly"}
	b.finishKV(l, i0, v, x, "compromised administrator "+p.upn+" grants application "+xp.appid+
		" (VaultPatch with addedAccessPolicy), which lists and reads secrets minutes later")
	return nil
}

// A05: a user of the tenant who never used this vault lists and reads its
// secrets.
func (b *builder) userAnomaly(l Label, t int64) error {
	e := b.e
	v := -1
	a, err := b.findActor(func(a *actor) bool {
		if !b.isUser(a) {
			return false
		}
		vs := b.tenantVaults[e.principals[a.who].tenant]
		i := slices.IndexFunc(vs, func(w int) bool { return b.free(w) && !slices.Contains(a.vaults, w) })
		if i >= 0 {
			v = vs[i]
		}
		return i >= 0
	})
	if err != nil {
		return err
	}
	b.usedVaults[v] = true
	p := &e.principals[a.who]
	i0 := len(e.scripted)
	b.session(a, v, t, 3, p.app, a.client)
	l.Also = []string{"KV_UserAppAnomaly"}
	b.finishKV(l, i0, v, a.who, p.upn+" lists and reads the secrets of a vault of the tenant they never used")
	return nil
}

// session scripts a user's session on vault v with gets SecretGets,
// through client app app (client software client), from the user's address.
func (b *builder) session(a *actor, v int, t int64, gets int, app, client uint16) {
	e, r := b.e, b.r
	p := &e.principals[a.who]
	if app == appIdxPortal {
		b.kvAt(t, opVaultGet, v, a.who, app, p.ip, e.armClient, 0, 200)
	} else {
		b.kvAt(t, opSecretList, v, noPrincipal, app, p.ip, client, 0, 401)
	}
	t += secs(r, 2, 20)
	b.kvAt(t, opSecretList, v, a.who, app, p.ip, client, 0, 200)
	secrets := len(e.vaults[v].objs[collSecrets])
	for range gets {
		t += secs(r, 3, 30)
		b.kvAt(t, opSecretGet, v, a.who, app, p.ip, client, r.IntN(secrets), 200)
	}
}

// A06: an application no one has seen on the vault reads its secrets.
func (b *builder) appAnomaly(l Label, t int64) error {
	e, r := b.e, b.r
	v := b.freeVault()
	if v < 0 {
		return errNoVictim
	}
	y := b.newApp(KindAttacker, e.vaults[v].tenant, "app-"+hexN(r, 8), b.cloudIP())
	yp := &e.principals[y]
	client := b.sdkC[2]
	i0 := len(e.scripted)
	b.kvAt(t, opSecretGet, v, noPrincipal, yp.app, yp.ip, client, 0, 401)
	secrets := len(e.vaults[v].objs[collSecrets])
	for k := range min(5, secrets) {
		t += secs(r, 1, 20)
		b.kvAt(t, opSecretGet, v, y, yp.app, yp.ip, client, k, 200)
	}
	l.Also = []string{"KV_UserAnomaly", "KV_UserAppAnomaly"}
	b.finishKV(l, i0, v, y, "application "+yp.appid+", never seen on the vault, reads five of its secrets")
	return nil
}

// A07: a user who reads a vault through one client application does so
// through another, one the vault knows from other users.
func (b *builder) userAppAnomaly(l Label, t int64) error {
	e := b.e
	v, q := -1, uint16(0)
	var other *actor
	a, err := b.findActor(func(a *actor) bool {
		if !b.isUser(a) {
			return false
		}
		app := e.principals[a.who].app
		for _, w := range a.vaults {
			for i := range e.actors {
				o := &e.actors[i]
				if o.kind == actUser && o.from == 0 && o.who != a.who && slices.Contains(o.vaults, w) && e.principals[o.who].app != app {
					v, q, other = w, e.principals[o.who].app, o
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	b.usedVaults[v] = true
	p := &e.principals[a.who]
	i0 := len(e.scripted)
	b.session(a, v, t, 2, q, other.client)
	l.AppID = e.appIDs[q] // the user's label names no app: name the new one
	b.finishKV(l, i0, v, a.who, p.upn+" uses client application "+e.appIDs[q]+" on the vault for the first time; other users use it there")
	return nil
}

// A08: an application that only ever read secrets lists, backs up,
// decrypts, deletes and purges.
func (b *builder) patternAnomaly(l Label, t int64) error {
	e, r := b.e, b.r
	a, err := b.findActor(b.isApp(profNormal))
	if err != nil {
		return err
	}
	v, p := a.vaults[0], &e.principals[a.who]
	secrets := len(e.vaults[v].objs[collSecrets])
	i0 := len(e.scripted)
	at := func(op uint8, obj int) {
		t += secs(r, 30, 150)
		b.kvAt(t, op, v, a.who, p.app, p.ip, a.client, obj, 200)
	}
	at(opSecretList, 0)
	for k := range 3 {
		at(opSecretBackup, k%secrets)
	}
	at(opKeyDecrypt, 0)
	at(opKeyDecrypt, 0)
	victim := -1
	for k := range secrets {
		if !slices.ContainsFunc(a.objs, func(o objRef) bool { return o.coll == collSecrets && int(o.idx) == k }) {
			victim = k
			break
		}
	}
	if victim < 0 {
		victim = 0
	}
	at(opSecretDelete, victim)
	at(opSecretPurge, victim)
	b.finishKV(l, i0, v, a.who, p.name+", which only ever read secrets (SecretGet), lists, backs up, decrypts, deletes and purges")
	return nil
}

// A09: an application's credentials drive thousands of reads in an hour.
func (b *builder) volumeAnomaly(l Label, t int64) error {
	e, r := b.e, b.r
	a, err := b.findActor(b.isApp(profNormal))
	if err != nil {
		return err
	}
	v, p := a.vaults[0], &e.principals[a.who]
	n := 2500 + r.IntN(1000)
	i0 := len(e.scripted)
	for range n {
		ref := pick(r, a.objs)
		b.kvAt(t+r.Int64N(55*ticksPerMinute), opSecretGet, int(ref.vault), a.who, p.app, p.ip, a.client, int(ref.idx), 200)
	}
	b.finishKV(l, i0, v, a.who, strconv.Itoa(n)+" SecretGet in an hour by "+p.name+", which reads about "+
		strconv.Itoa(int(a.rate))+" an hour")
	return nil
}

// A10: one user enumerates every vault of the tenant within an hour.
func (b *builder) accountVolume(l Label, t int64) error {
	e, r := b.e, b.r
	a, err := b.findActor(b.isUser)
	if err != nil {
		return err
	}
	p := &e.principals[a.who]
	vs := slices.DeleteFunc(slices.Clone(b.tenantVaults[p.tenant]), func(v int) bool { return v == b.lateVault })
	r.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	i0 := len(e.scripted)
	for _, v := range vs {
		b.session(a, v, t, 0, p.app, a.client)
		t += secs(r, 40, 120)
	}
	first, last := b.span(i0)
	l.Note = p.upn + ", who uses " + plural(len(a.vaults), "vault") + ", lists the secrets of all " +
		strconv.Itoa(len(vs)) + " vaults of the tenant within an hour"
	// Listing the secrets of every vault one after the other is also what
	// MicroBurst's Get-AzKeyVaultSecretsREST does.
	l.Also = []string{"KV_UserAnomaly", "KV_UserAppAnomaly", "ARM_MicroBurst.AzKeyVaultSecretsREST"}
	e.who(&l, a.who)
	b.label(l, first, e.dayEnd(last)+ticksPerHour)
	return nil
}

// armResourceNew adds a resource the attack creates.
func (b *builder) armResourceNew(sub int, path string) int {
	scope := "/subscriptions/" + b.e.subs[sub].id + path
	b.e.armRes = append(b.e.armRes, armResource{id: strings.ToUpper(scope), scope: scope, sub: sub})
	return len(b.e.armRes) - 1
}

// finishARM labels Resource Manager operations of principal pi in sub.
func (b *builder) finishARM(l Label, i0, sub, pi int, addr, note string) {
	e := b.e
	first, last := b.span(i0)
	e.who(&l, pi)
	l.SubscriptionID, l.Resource, l.IP, l.Note = e.subs[sub].id, "/subscriptions/"+e.subs[sub].id, addr, note
	b.label(l, first, last+ticksPerHour)
}

// A11: an administrator's stolen session used through Tor: a role
// assignment, storage keys, a command on a VM.
func (b *builder) armProxy(l Label, t int64) error {
	e, r := b.e, b.r
	ad, err := b.findActor(func(a *actor) bool { return a.kind == actAdmin && b.userIsAdmin[a.who] })
	if err != nil {
		return err
	}
	p := &e.principals[ad.who]
	sub := e.armRes[ad.res[0]].sub
	addr := e.opts.TorExits[1%len(e.opts.TorExits)]
	ip := b.ip(addr)
	i0 := len(e.scripted)
	b.armAt(t, armRoleAssignmentWrite, b.armResourceNew(sub, "/providers/Microsoft.Authorization/roleAssignments/"+guid(r)), ad.who, ip, 1500+r.IntN(1000))
	t += secs(r, 30, 90)
	b.armAt(t, armStorageListKeys, e.subResource(sub, resStorage), ad.who, ip, 300+r.IntN(400))
	t += secs(r, 30, 90)
	b.armAt(t, armVMRunCommand, e.subResource(sub, resVM), ad.who, ip, 20000+r.IntN(20000))
	b.finishARM(l, i0, sub, ad.who, addr, "stolen session of "+p.upn+" used from Tor exit "+addr+
		": role assignment, storage account keys, run command on a VM")
	return nil
}

// A12: a release pipeline's credentials used from a blocklisted host to
// create GPU virtual machines (mining) and read storage keys.
func (b *builder) armSuspicious(l Label, t int64) error {
	e, r := b.e, b.r
	a, err := b.findActor(func(a *actor) bool { return a.kind == actDeploy })
	if err != nil {
		return err
	}
	p := &e.principals[a.who]
	sub := e.vaults[a.vaults[0]].sub
	addr := e.opts.Blocklisted[1%len(e.opts.Blocklisted)]
	ip := b.ip(addr)
	i0 := len(e.scripted)
	for k := range 2 {
		res := b.armResourceNew(sub, "/resourceGroups/rg-compute-"+strconv.Itoa(k+1)+"/providers/Microsoft.Compute/virtualMachines/vm-gpu-"+hexN(r, 4))
		b.armAt(t, armVMWrite, res, a.who, ip, 30000+r.IntN(30000))
		t += secs(r, 20, 60)
	}
	b.armAt(t, armStorageListKeys, e.subResource(sub, resStorage), a.who, ip, 300+r.IntN(400))
	b.finishARM(l, i0, sub, a.who, addr, "credentials of release pipeline "+p.name+" used from blocklisted address "+addr+
		" to create GPU virtual machines and read storage account keys")
	return nil
}
