package simulate

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Resource Manager behaviour and partner fraud scenarios (detect/armbehaviour,
// detect/fraud): routine compute deployments with their bodies, look-alikes
// (a quarterly scale-up, a new region launch, a data scientist's compute
// instance, VPN and mobile-network users, a traveller) and one attack of
// every type, each labelled.

// Address ranges of these scenarios (first three octets), on neither intel
// list; GeoIP places them (geo.go).
const (
	vpnRange      = "155.190.12" // the organisations' VPN egress, in Ashburn (US)
	mobileRange   = "176.123.4"  // a mobile carrier, placed at the Netherlands' centre (radius 500 km)
	brazilRange   = "177.54.148" // residential, São Paulo (BR)
	amsterdamHome = "94.210.140" // residential, Amsterdam (NL)
	singaporeDC   = "116.88.40"  // a hosting provider in Singapore (SG)
)

// armTypes are the alert types these scenarios inject, in the order of
// their slots.
var armTypes = []string{
	"ARM_MicroBurst.AZStorageKeysREST", "ARM_MicroBurst.AzVMBulkCMD", "ARM_MicroBurst.AzDomainInfo", "ARM_Azurite",
	"ARM_MicroBurst.AzKeyVaultSecretsREST", "ARM_MicroBurst.AzKeyVaultKeysREST", "ARM_UnusedAccountPersistence",
	"ARM_UnusedAppPowershellPersistence", "ARM_PrivilegedRoleDefinitionCreation", "ARM.MCAS_ActivityFromInfrequentCountry",
	"ARM.MCAS_ImpossibleTravelActivity", "VM_AnomalousDeployment", "AzureMachineLearning_AnomalousDeployment",
	"AzureBatch_AnomalousDeployment", "AzureContainerInstances_AnomalousDeployment",
}

// body registers a response body and returns its ev.extra value.
func (b *builder) body(v any) uint16 {
	j, err := json.Marshal(v)
	if err != nil {
		panic(err) // the bodies are this file's own maps
	}
	q, _ := json.Marshal(string(j))
	b.e.bodies = append(b.e.bodies, string(q[1:len(q)-1]))
	return uint16(len(b.e.bodies))
}

// armWith adds a scripted Resource Manager operation whose Succeeded record
// carries a response body (extra) and, when app > 0, the client app app-1.
func (b *builder) armWith(t int64, op uint8, res, who int, ip uint16, durMs int, extra, app uint16) {
	b.armAt(t, op, res, who, ip, durMs)
	n := len(b.e.scripted)
	for i := n - 2; i < n; i++ {
		b.e.scripted[i].app = app
	}
	b.e.scripted[n-1].extra = extra
}

// armSlot is the start of these scenarios' attack i: one a day after the
// learning period, in the UTC afternoon of the day.
func (b *builder) armSlot(i int) int64 {
	l, d := int64(b.e.opts.LearningDays), int64(b.e.opts.Days)
	day := l + 2 + int64(i)*max(d-l-3, 0)/int64(len(armTypes))
	day = max(min(day, d-1), l)
	return day*ticksPerDay + int64(11+i%4)*ticksPerHour + b.r.Int64N(40*ticksPerMinute)
}

func vmBody(name, size, region string) map[string]any {
	return map[string]any{"name": name, "type": "Microsoft.Compute/virtualMachines", "location": region,
		"properties": map[string]any{"hardwareProfile": map[string]any{"vmSize": size}, "provisioningState": "Creating"}}
}

// armScenarios adds everything above.
func (b *builder) armScenarios() error {
	if err := b.routineCompute(); err != nil {
		return err
	}
	steps := []func(l Label, t int64) error{
		b.storageSweep, b.vmBulk, b.domainInfo, b.azurite, b.vaultSweep, b.vaultSweep, b.unusedAccount,
		b.powerShell, b.customRole, b.infrequentCountry, b.travel, b.gpuFleet, b.mlCluster, b.batchPool, b.containers,
	}
	// These scenarios are added where the estate has room for them: two
	// days after the learning period, and the victims they need.
	end := int64(b.e.hours) * ticksPerHour
	for i, typ := range armTypes {
		l := Label{ID: "A" + twoDigits(len(attackTypes)+i+1), Kind: LabelAttack, AlertType: typ, MustFire: true}
		t := b.armSlot(i)
		if t+ticksPerDay+2*ticksPerHour > end {
			continue
		}
		if err := steps[i](l, t); err != nil && !errors.Is(err, errNoVictim) {
			return fmt.Errorf("%w (attack %s)", err, typ)
		}
	}
	return b.locationLookAlikes()
}

// owner finds an administrator (Owner) not yet in a scenario.
func (b *builder) owner() (*actor, error) {
	return b.findActor(func(a *actor) bool {
		return a.kind == actAdmin && b.userIsAdmin[a.who] && b.e.principals[a.who].app != appIdxPowerShell
	})
}

// newResources adds n resources under a subscription's resource group.
func (b *builder) newResources(sub, n int, path string) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = b.armResourceNew(sub, path+strconv.Itoa(i+1))
	}
	return out
}

// sweep runs op over resources, one every 5-25 seconds, from the actor's
// usual address.
func (b *builder) sweep(a *actor, t int64, op uint8, res []int) int64 {
	p := &b.e.principals[a.who]
	for _, x := range res {
		b.armAt(t, op, x, a.who, p.ip, 200+b.r.IntN(600))
		t += secs(b.r, 5, 25)
	}
	return t
}

// A13: MicroBurst's Get-AzStorageKeysREST with an administrator's token.
func (b *builder) storageSweep(l Label, t int64) error {
	a, err := b.owner()
	if err != nil {
		return err
	}
	sub := b.e.armRes[a.res[0]].sub
	i0 := len(b.e.scripted)
	b.sweep(a, t, armStorageListKeys, b.newResources(sub, 9, "/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/stdata"))
	b.finishARM(l, i0, sub, a.who, b.e.ips[b.e.principals[a.who].ip], "MicroBurst Get-AzStorageKeysREST: the keys of 9 storage accounts listed in about 2 minutes")
	return nil
}

// A14: MicroBurst's Invoke-AzVMBulkCMD: run command on 6 VMs.
func (b *builder) vmBulk(l Label, t int64) error {
	a, err := b.owner()
	if err != nil {
		return err
	}
	sub := b.e.armRes[a.res[0]].sub
	i0 := len(b.e.scripted)
	b.sweep(a, t, armVMRunCommand, b.newResources(sub, 6, "/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-app-"))
	b.finishARM(l, i0, sub, a.who, b.e.ips[b.e.principals[a.who].ip], "MicroBurst Invoke-AzVMBulkCMD: run command on 6 virtual machines")
	return nil
}

// A15: a Get-AzPasswords style harvest: keys and credentials of storage,
// Cosmos DB, a container registry and web apps.
func (b *builder) domainInfo(l Label, t int64) error {
	a, err := b.owner()
	if err != nil {
		return err
	}
	sub := b.e.armRes[a.res[0]].sub
	i0 := len(b.e.scripted)
	t = b.sweep(a, t, armStorageListKeys, b.newResources(sub, 2, "/resourceGroups/rg-web/providers/Microsoft.Storage/storageAccounts/stweb"))
	t = b.sweep(a, t, armCosmosListKeys, b.newResources(sub, 2, "/resourceGroups/rg-web/providers/Microsoft.DocumentDB/databaseAccounts/cosmos-"))
	t = b.sweep(a, t, armACRListCredentials, b.newResources(sub, 1, "/resourceGroups/rg-web/providers/Microsoft.ContainerRegistry/registries/acr"))
	b.sweep(a, t, armSiteConfigList, b.newResources(sub, 2, "/resourceGroups/rg-web/providers/Microsoft.Web/sites/web-"))
	b.finishARM(l, i0, sub, a.who, b.e.ips[b.e.principals[a.who].ip],
		"credential harvest across storage, Cosmos DB, container registry and web apps within minutes")
	return nil
}

// A16: Azurite fetching every web app's publishing profile.
func (b *builder) azurite(l Label, t int64) error {
	a, err := b.owner()
	if err != nil {
		return err
	}
	sub := b.e.armRes[a.res[0]].sub
	i0 := len(b.e.scripted)
	b.sweep(a, t, armSitePublishXML, b.newResources(sub, 5, "/resourceGroups/rg-sites/providers/Microsoft.Web/sites/site-"))
	b.finishARM(l, i0, sub, a.who, b.e.ips[b.e.principals[a.who].ip], "Azurite: publishing profiles of 5 web apps")
	return nil
}

// A17, A18: MicroBurst's Get-AzKeyVaultSecretsREST / KeysREST in an
// administrator's Az PowerShell session (the toolkit runs in the signed-in
// context): the secrets (keys) of six vaults of its tenant listed one after
// the other.
func (b *builder) vaultSweep(l Label, t int64) error {
	e := b.e
	a, err := b.owner()
	if err != nil {
		return err
	}
	p := &e.principals[a.who]
	vs := slices.DeleteFunc(slices.Clone(b.tenantVaults[p.tenant]), func(v int) bool { return v == b.lateVault })
	if len(vs) > 6 {
		vs = vs[:6]
	}
	op := opSecretList
	if l.AlertType == "ARM_MicroBurst.AzKeyVaultKeysREST" {
		op = opKeyList
	}
	i0 := len(e.scripted)
	for _, v := range vs {
		b.kvAt(t, op, v, a.who, appIdxPowerShell, p.ip, b.attackC[2], 0, 200)
		t += secs(b.r, 3, 12)
	}
	first, last := b.span(i0)
	e.who(&l, a.who)
	l.TenantID, l.IP = e.tenants[p.tenant].id, e.ips[p.ip]
	l.Also = []string{"KV_UserAnomaly", "KV_AppAnomaly", "KV_UserAppAnomaly", "KV_OperationPatternAnomaly", "KV_AccountVolumeAnomaly", "KV_ListGetAnomaly"}
	l.Note = "MicroBurst " + map[uint8]string{opSecretList: "Get-AzKeyVaultSecretsREST", opKeyList: "Get-AzKeyVaultKeysREST"}[op] +
		" with " + p.name + "'s credentials: " + plural(len(vs), "vault") + " listed in a minute"
	b.label(l, first, e.dayEnd(last)+ticksPerHour)
	return nil
}

// A19: an account used in the first days, then silent, returns and grants
// itself a role and adds a runbook.
func (b *builder) unusedAccount(l Label, t int64) error {
	e := b.e
	ad, err := b.owner()
	if err != nil {
		return err
	}
	sub := e.armRes[ad.res[0]].sub
	pi := b.newUser(e.subs[sub].tenant)
	p := &e.principals[pi]
	p.role, p.roleDef = "Owner", roleDefOwner
	dep := e.subResource(sub, resDeployment)
	for d := range int64(3) {
		b.armAt(d*ticksPerDay+14*ticksPerHour+secs(b.r, 0, 3600), armDeploymentWrite, dep, pi, p.ip, 2000+b.r.IntN(4000))
	}
	i0 := len(e.scripted)
	addr := b.ip(singaporeDC + ".31")
	b.armAt(t, armRoleAssignmentWrite, b.armResourceNew(sub, "/providers/Microsoft.Authorization/roleAssignments/"+guid(b.r)), pi, addr, 1800)
	b.armAt(t+secs(b.r, 60, 300), armRunbookWrite, b.armResourceNew(sub, "/resourceGroups/rg-ops/providers/Microsoft.Automation/automationAccounts/ops/runbooks/update-agent"), pi, addr, 1200)
	l.Also = []string{"ARM.MCAS_ActivityFromInfrequentCountry", "ARM.MCAS_ImpossibleTravelActivity"}
	b.finishARM(l, i0, sub, pi, e.ips[addr], p.upn+", last active on day 3, returns from Singapore and assigns a role and writes a runbook")
	return nil
}

// A20: an administrator who always used the portal or CLI writes a runbook
// and its webhook through Azure PowerShell.
func (b *builder) powerShell(l Label, t int64) error {
	e := b.e
	a, err := b.owner()
	if err != nil {
		return err
	}
	p := &e.principals[a.who]
	sub := e.armRes[a.res[0]].sub
	i0 := len(e.scripted)
	rb := b.armResourceNew(sub, "/resourceGroups/rg-ops/providers/Microsoft.Automation/automationAccounts/ops/runbooks/sync-users")
	b.armWith(t, armRunbookWrite, rb, a.who, p.ip, 1500, 0, appIdxPowerShell+1)
	wh := b.armResourceNew(sub, "/resourceGroups/rg-ops/providers/Microsoft.Automation/automationAccounts/ops/webhooks/sync")
	b.armWith(t+secs(b.r, 30, 120), armWebhookWrite, wh, a.who, p.ip, 900, 0, appIdxPowerShell+1)
	b.finishARM(l, i0, sub, a.who, e.ips[p.ip], p.upn+" writes a runbook and a webhook through Azure PowerShell for the first time")
	return nil
}

// A21: a custom role granting every action, then assigned.
func (b *builder) customRole(l Label, t int64) error {
	e := b.e
	a, err := b.owner()
	if err != nil {
		return err
	}
	p := &e.principals[a.who]
	sub := e.armRes[a.res[0]].sub
	id := guid(b.r)
	defID := "/subscriptions/" + e.subs[sub].id + "/providers/Microsoft.Authorization/roleDefinitions/" + id
	def := b.armResourceNew(sub, "/providers/Microsoft.Authorization/roleDefinitions/"+id)
	i0 := len(e.scripted)
	b.armWith(t, armRoleDefinitionWrite, def, a.who, p.ip, 1400, b.body(map[string]any{"id": defID, "name": id,
		"properties": map[string]any{"roleName": "Ops automation", "type": "CustomRole",
			"permissions":      []any{map[string]any{"actions": []string{"*"}, "notActions": []string{}}},
			"assignableScopes": []string{"/subscriptions/" + e.subs[sub].id}}}), 0)
	as := b.armResourceNew(sub, "/providers/Microsoft.Authorization/roleAssignments/"+guid(b.r))
	b.armWith(t+secs(b.r, 120, 600), armRoleAssignmentWrite, as, a.who, p.ip, 1900, b.body(map[string]any{
		"properties": map[string]any{"roleDefinitionId": defID, "principalId": guid(b.r), "principalType": "ServicePrincipal",
			"scope": "/subscriptions/" + e.subs[sub].id}}), 0)
	b.finishARM(l, i0, sub, a.who, e.ips[p.ip], "custom role \"Ops automation\" with actions [*] created, then assigned to a service principal")
	return nil
}

// A22: an administrator's session used from Brazil, where nobody of the
// organisation works, in the night after the working day.
func (b *builder) infrequentCountry(l Label, t int64) error {
	e := b.e
	a, err := b.owner()
	if err != nil {
		return err
	}
	sub := e.armRes[a.res[0]].sub
	addr := b.ip(brazilRange + ".87")
	t = e.dayEnd(t) + 3*ticksPerHour // 03:00 UTC, hours after any office work
	i0 := len(e.scripted)
	b.armAt(t, armVMRunCommand, e.subResource(sub, resVM), a.who, addr, 25000)
	l.Also = []string{"ARM.MCAS_ImpossibleTravelActivity"}
	b.finishARM(l, i0, sub, a.who, e.ips[addr], e.principals[a.who].upn+"'s session used from São Paulo (BR) at night")
	b.extendLabel(e.dayEnd(t) + ticksPerDay) // the office the next morning is travel too
	return nil
}

// A23: an administrator of the Tokyo office acts, and 35 minutes later
// its session acts from an Amsterdam home address (a country the
// organisation knows: only the travel is impossible).
func (b *builder) travel(l Label, t int64) error {
	e := b.e
	a, err := b.findActor(func(a *actor) bool {
		p := &e.principals[a.who]
		return a.kind == actAdmin && b.userIsAdmin[a.who] && p.office >= 0 && e.offices[p.office].tz == 9
	})
	if err != nil {
		return err
	}
	p := &e.principals[a.who]
	sub := e.armRes[a.res[0]].sub
	i0 := len(e.scripted)
	t = (t/ticksPerDay)*ticksPerDay + 5*ticksPerHour // 14:00 in Tokyo
	b.armAt(t, armNSGWrite, e.subResource(sub, resNSG), a.who, p.ip, 1800)
	addr := b.ip(amsterdamHome + ".44")
	b.armAt(t+35*ticksPerMinute, armRoleAssignmentWrite, b.armResourceNew(sub, "/providers/Microsoft.Authorization/roleAssignments/"+guid(b.r)), a.who, addr, 1700)
	b.finishARM(l, i0, sub, a.who, "", p.upn+" acts from the Tokyo office, then 35 minutes later from Amsterdam")
	b.extendLabel(e.dayEnd(t)) // and back at the office later that day
	return nil
}

// extendLabel moves the last label's end to t (ticks), within the estate.
func (b *builder) extendLabel(t int64) {
	e := b.e
	e.labels[len(e.labels)-1].To = e.time(min(t, int64(e.hours)*ticksPerHour))
}
