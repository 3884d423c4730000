package simulate

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// builder assembles an Estate: its entities, their rhythms (actors) and the
// scenarios. Everything it draws comes from one PCG stream seeded by the
// options, so the estate is a function of the options alone.
type builder struct {
	e *Estate
	r *rand.Rand

	portalC, cliC, psC, sdkC, keyC, attackC []uint16 // client indices
	armC, graphC                            uint16

	users, sps, mis []int        // principal indices by kind
	graph, policy   []int        // first-party principals per tenant
	tenantVaults    [][]int      // vaults by tenant
	userIsAdmin     map[int]bool // users who administer their tenant (role Owner)
	lateVault       int          // a vault created after the learning period, or -1
	nextActor       uint64
	usedVaults      map[int]bool // vaults a scenario has taken
	usedPrincipals  map[int]bool
	relaxed         bool    // scenarios may share vaults and principals
	slots           []int64 // start of each attack, by attackTypes index
}

func newBuilder(e *Estate) *builder {
	return &builder{
		e:              e,
		r:              rand.New(rand.NewPCG(e.opts.Seed, 0x0e57a7e)),
		userIsAdmin:    map[int]bool{},
		lateVault:      -1,
		usedVaults:     map[int]bool{},
		usedPrincipals: map[int]bool{},
	}
}

// scaled returns round(n*scale), at least least.
func (b *builder) scaled(n, least int) int {
	return max(least, int(math.Round(float64(n)*b.e.opts.Scale)))
}

var (
	tenantNames = []string{"contoso", "fabrikam", "northwind", "adatum", "tailspin", "woodgrove", "litware", "wingtip", "proseware", "lamna"}
	officeSites = []struct {
		name string
		tz   int
	}{{"Amsterdam", 1}, {"Tokyo", 9}, {"Utrecht", 1}, {"Osaka", 9}, {"Rotterdam", 1}, {"Nagoya", 9}}
	workloadNames = []string{
		"payments", "orders", "billing", "identity", "search", "catalog", "shipping", "ledger", "reports", "crm",
		"hr", "web", "api", "data", "ml", "iot", "mobile", "portal", "auth", "media", "pricing", "loyalty",
		"claims", "fraud", "notify", "docs", "erp", "warehouse", "booking", "risk",
	}
	secretWords = []string{
		"sql-connection-string", "storage-account-key", "redis-password", "servicebus-connection", "cosmos-primary-key",
		"jwt-signing-secret", "smtp-password", "appinsights-connection", "eventhub-connection", "client-secret",
		"api-key-stripe", "api-key-sendgrid", "api-key-twilio", "api-key-adyen", "oauth-client-secret", "db-admin-password",
		"search-admin-key", "blob-sas-token", "webhook-signing-key", "encryption-salt", "ldap-bind-password",
		"sftp-password", "partner-api-token", "openai-api-key", "maps-subscription-key", "signalr-connection",
	}
	keyWords  = []string{"cmk-storage", "cmk-sql-tde", "signing-key", "token-encryption", "backup-encryption"}
	certWords = []string{"tls-wildcard", "client-auth", "saml-signing"}
	firstName = []string{
		"Anna", "Bram", "Daan", "Emma", "Femke", "Jeroen", "Lotte", "Maarten", "Noor", "Pieter", "Sanne", "Thijs",
		"Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Kenji", "Sakura", "Takumi", "Mei", "Olivia", "James",
		"Sofia", "Lucas", "Amira", "Omar", "Chen", "Priya",
	}
	lastName = []string{
		"de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos", "Sato", "Suzuki", "Takahashi",
		"Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Smith", "Garcia", "Khan", "Wang", "Patel",
	}
)

// hexN returns n random lower-case hex digits.
func hexN(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

func (b *builder) addIP(s string) uint16 {
	b.e.ips = append(b.e.ips, s)
	return uint16(len(b.e.ips) - 1)
}

func (b *builder) addClients(list []string) []uint16 {
	var idx []uint16
	for _, c := range list {
		b.e.clients = append(b.e.clients, c)
		idx = append(idx, uint16(len(b.e.clients)-1))
	}
	return idx
}

func (b *builder) addApp(id string) uint16 {
	b.e.appIDs = append(b.e.appIDs, id)
	return uint16(len(b.e.appIDs) - 1)
}

// cloudIP returns a new workload address in the estate's cloud ranges.
func (b *builder) cloudIP() uint16 {
	n := len(b.e.ips)
	return b.addIP(cloudRanges[n%len(cloudRanges)] + "." + strconv.Itoa(10+(n/len(cloudRanges))%240))
}

// entities builds tenants, offices, subscriptions, vaults and principals.
func (b *builder) entities() {
	e, r := b.e, b.r
	b.addApp(appAzurePortal)
	b.addApp(appAzureCLI)
	b.addApp(appAzurePowerShell)
	b.portalC, b.cliC, b.psC = b.addClients(portalClients), b.addClients(cliClients), b.addClients(psClients)
	b.sdkC, b.keyC, b.attackC = b.addClients(sdkClients), b.addClients(keyClients), b.addClients(attackClients)
	b.armC, b.graphC = b.addClients([]string{armClient})[0], b.addClients([]string{resourceGraphClient})[0]
	e.armClient = b.armC

	nt := b.scaled(defaultTenants, 1)
	for i := range nt {
		name := tenantNames[i%len(tenantNames)]
		if i >= len(tenantNames) {
			name += strconv.Itoa(i / len(tenantNames))
		}
		t := tenant{id: guid(r), name: name, domain: name + ".com"}
		for k := range 2 {
			oi := len(e.offices)
			site := officeSites[(2*i+k)%len(officeSites)]
			o := office{name: site.name, tz: site.tz, tenant: i}
			rng := officeRanges[oi%len(officeRanges)]
			for h := range 4 {
				host := 10 + ((oi/len(officeRanges))*4+h)%240 // large estates share addresses
				o.ips = append(o.ips, int(b.addIP(rng+"."+strconv.Itoa(host))))
			}
			e.offices = append(e.offices, o)
			t.offices = append(t.offices, oi)
		}
		e.tenants = append(e.tenants, t)
	}
	ns := b.scaled(defaultSubs, nt)
	for i := range ns {
		ti := i % nt
		env := "prod"
		if (i/nt)%2 == 1 {
			env = "nonprod"
		}
		e.subs = append(e.subs, subscription{id: guid(r), name: e.tenants[ti].name + "-" + env + "-" + strconv.Itoa(i/nt/2+1), tenant: ti})
	}
	b.buildVaults()
	b.buildPrincipals()
}

func (b *builder) buildVaults() {
	e, r := b.e, b.r
	nv := b.scaled(defaultVaults, 12)
	b.tenantVaults = make([][]int, len(e.tenants))
	for i := range nv {
		si := i % len(e.subs)
		sub := &e.subs[si]
		env := "prd"
		if strings.Contains(sub.name, "nonprod") {
			env = []string{"dev", "tst"}[r.IntN(2)]
		}
		app := workloadNames[i%len(workloadNames)]
		name := "kv-" + app + "-" + env + "-" + strconv.Itoa(i+1)
		v := vault{
			name:   name,
			rg:     "rg-" + app + "-" + env,
			region: []string{"westeurope", "japaneast"}[sub.tenant%2],
			sub:    si,
			tenant: sub.tenant,
		}
		v.mgmt = "/subscriptions/" + sub.id + "/resourceGroups/" + v.rg + "/providers/Microsoft.KeyVault/vaults/" + name
		v.rid = strings.ToUpper(v.mgmt)
		v.base = "https://" + name + ".vault.azure.net"
		nsec := 6 + r.IntN(18)
		if i%4 == 1 {
			nsec, v.hasBigList = 32+r.IntN(14), true
		}
		v.objs[collSecrets] = objects(r, secretWords, nsec)
		v.objs[collKeys] = objects(r, keyWords, 1+r.IntN(3))
		v.objs[collCerts] = objects(r, certWords, r.IntN(3))
		v.resource = len(e.armRes)
		e.armRes = append(e.armRes, armResource{id: v.rid, scope: v.mgmt, sub: si})
		b.tenantVaults[v.tenant] = append(b.tenantVaults[v.tenant], i)
		e.vaults = append(e.vaults, v)
	}
	// Other resources the Activity Log names: per subscription a VM, an
	// NSG, a storage account, a web app and a deployment (in resKinds order).
	e.subRes = len(e.armRes)
	for si := range e.subs {
		sub := e.subs[si].id
		for k, rt := range []struct {
			path string
			ops  []uint8
		}{
			{"Microsoft.Compute/virtualMachines/vm-app-", []uint8{armVMWrite, armVMRestart}},
			{"Microsoft.Network/networkSecurityGroups/nsg-app-", []uint8{armNSGWrite}},
			{"Microsoft.Storage/storageAccounts/stapp", []uint8{armStorageListKeys}},
			{"Microsoft.Web/sites/app-web-", []uint8{armSiteWrite}},
			{"Microsoft.Resources/deployments/release-", nil},
		} {
			scope := "/subscriptions/" + sub + "/resourceGroups/rg-platform-" + strconv.Itoa(si+1) + "/providers/" + rt.path + strconv.Itoa(si*5+k+1)
			e.armRes = append(e.armRes, armResource{id: strings.ToUpper(scope), scope: scope, sub: si, ops: rt.ops})
		}
	}
}

// objects returns n distinct objects named from words.
func objects(r *rand.Rand, words []string, n int) []object {
	out := make([]object, 0, n)
	for i := range n {
		name := words[i%len(words)]
		if i >= len(words) {
			name += "-" + strconv.Itoa(i/len(words)+1)
		}
		out = append(out, object{name: name, version: hexN(r, 32)})
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// addPrincipal appends a principal and pre-renders its identity claim.
func (b *builder) addPrincipal(p principal) int {
	if p.kind != KindUser {
		p.office = -1
	}
	p.claim = `"identity":{"claim":{"http://schemas.microsoft.com/identity/claims/objectidentifier":"` + p.oid + `"`
	if p.upn != "" {
		p.claim += `,"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"` + p.upn + `"`
	}
	p.claim += `,"appid":"`
	p.pidHex = strings.ReplaceAll(p.oid, "-", "")
	p.assign = hexN(b.r, 32)
	if p.roleDef == "" {
		p.role, p.roleDef = "Contributor", roleDefContributor
	}
	b.e.principals = append(b.e.principals, p)
	return len(b.e.principals) - 1
}

func (b *builder) buildPrincipals() {
	e, r := b.e, b.r
	nt := len(e.tenants)
	nu := b.scaled(defaultUsers, 10)
	adminsPerTenant := b.scaled(2, 1)
	seen := map[string]int{}
	perTenant := make([]int, nt)
	for i := range nu {
		ti := i % nt
		t := &e.tenants[ti]
		oi := t.offices[r.IntN(len(t.offices))]
		o := &e.offices[oi]
		first, last := firstName[r.IntN(len(firstName))], lastName[r.IntN(len(lastName))]
		local := strings.ToLower(first + "." + strings.ReplaceAll(last, " ", ""))
		if n := seen[local+t.domain]; n > 0 {
			local += strconv.Itoa(n + 1)
		}
		seen[local+t.domain]++
		app := appIdxPortal
		switch x := r.IntN(20); {
		case x >= 17:
			app = appIdxPowerShell
		case x >= 11:
			app = appIdxCLI
		}
		p := principal{
			kind: KindUser, tenant: ti, oid: guid(r), upn: local + "@" + t.domain, name: first + " " + last,
			app: app, ip: uint16(o.ips[r.IntN(len(o.ips))]), office: oi,
		}
		admin := perTenant[ti] < adminsPerTenant
		if admin {
			p.role, p.roleDef = "Owner", roleDefOwner
		}
		perTenant[ti]++
		pi := b.addPrincipal(p)
		b.users = append(b.users, pi)
		if admin {
			b.userIsAdmin[pi] = true
		}
	}
	nsp := b.scaled(defaultSPs, 10)
	for i := range nsp {
		ti := i % nt
		p := principal{kind: KindServicePrincipal, tenant: ti, oid: guid(r), ip: b.cloudIP()}
		p.appid = guid(r)
		p.app = b.addApp(p.appid)
		p.name = "sp-" + workloadNames[(i*7)%len(workloadNames)] + "-" + strconv.Itoa(i+1)
		b.sps = append(b.sps, b.addPrincipal(p))
	}
	nmi := b.scaled(defaultMIs, 5)
	for i := range nmi {
		ti := i % nt
		p := principal{kind: KindManagedIdentity, tenant: ti, oid: guid(r), ip: b.cloudIP()}
		p.appid = guid(r)
		p.app = b.addApp(p.appid)
		p.name = "id-" + workloadNames[(i*11+3)%len(workloadNames)] + "-" + strconv.Itoa(i+1)
		b.mis = append(b.mis, b.addPrincipal(p))
	}
	graphApp, policyApp := b.addApp(appResourceGraph), b.addApp(appPolicyInsights)
	msIP := []uint16{b.addIP(microsoftRanges[0] + ".21"), b.addIP(microsoftRanges[1] + ".37")}
	for ti := range nt {
		b.graph = append(b.graph, b.addPrincipal(principal{
			kind: KindFirstParty, tenant: ti, oid: guid(r), appid: appResourceGraph, app: graphApp,
			name: "Azure Resource Graph", ip: msIP[0], role: "Reader", roleDef: "acdd72a7338548efbd42f606fffbc5a8",
		}))
		b.policy = append(b.policy, b.addPrincipal(principal{
			kind: KindFirstParty, tenant: ti, oid: guid(r), appid: appPolicyInsights, app: policyApp,
			name: "Microsoft Policy Insights", ip: msIP[1], role: "Reader", roleDef: "acdd72a7338548efbd42f606fffbc5a8",
		}))
	}
}
