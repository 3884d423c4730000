package kvbehaviour

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// The test estate: shapes from Microsoft's samples (upper-cased vault IDs in
// audit records, GUID object IDs, the first-party client app IDs of
// Microsoft's table: Azure CLI 04b07795-..., Azure PowerShell 1950a258-...,
// the Azure portal c44b4083-...). t0 is a Monday.
var (
	t0     = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	tenant = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
	sub    = "a921d5d4-bdb7-43c3-aa01-88c6ae24992f"
	vaultA = dt.Vault{Subscription: sub, ResourceGroup: "finance", Name: "salary"}
	vaultB = dt.Vault{Subscription: sub, ResourceGroup: "finance", Name: "audits"}
	vaultC = dt.Vault{Subscription: sub, ResourceGroup: "web", Name: "webshop"}

	appCLI        = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	appPowerShell = "1950a258-227b-4e31-a9cf-717495945fc2"

	officeGeo = event.Geo{Country: "NL", City: "Amsterdam", Lat: 52.3740, Lon: 4.8897, HasLocation: true, ASN: 1136, ASOrg: "KPN B.V."}
	azureGeo  = event.Geo{Country: "NL", City: "Amsterdam", Lat: 52.3740, Lon: 4.8897, HasLocation: true, ASN: 8075, ASOrg: "MICROSOFT-CORP-MSN-AS-BLOCK"}
	brGeo     = event.Geo{Country: "BR", City: "São Paulo", Lat: -23.5475, Lon: -46.6361, HasLocation: true, ASN: 28573, ASOrg: "Claro NXT Telecomunicacoes Ltda"}
)

// guid returns a deterministic GUID-shaped ID for a name.
func guid(name string) string {
	r := rand.New(rand.NewPCG(uint64(len(name)), hashName(name)))
	const hex = "0123456789abcdef"
	b := make([]byte, 36)
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		default:
			b[i] = hex[r.IntN(16)]
		}
	}
	return string(b)
}

func hashName(s string) uint64 {
	h := uint64(1469598103934665603)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// user and app build principals as the decoder makes them.
func user(name, app string) event.Principal {
	return event.Principal{ObjectID: guid("user " + name), UPN: name + "@contoso.com", AppID: app, TenantID: tenant, Type: event.PrincipalUser}
}

func app(name string) event.Principal {
	return event.Principal{ObjectID: guid("sp " + name), AppID: guid("app " + name), TenantID: tenant, Type: event.PrincipalApp}
}

// actor is one principal's rhythm on its vaults.
type actor struct {
	p      event.Principal
	vaults []dt.Vault
	ops    []string // picked uniformly
	addr   string
	geo    event.Geo
	// rate is the expected operations in an hour (weekday, hour of day UTC).
	rate func(weekday time.Weekday, hour int) float64
}

// office is a working-hours rhythm: peak per hour 09:00-17:00 on weekdays,
// a tenth of it in the evening, a twentieth at night and weekends.
func office(peak float64) func(time.Weekday, int) float64 {
	return func(wd time.Weekday, h int) float64 {
		switch {
		case wd == time.Saturday || wd == time.Sunday:
			return peak / 20
		case h >= 9 && h < 17:
			return peak
		case h >= 7 && h < 20:
			return peak / 10
		}
		return peak / 20
	}
}

// steady is a service's rhythm: the same rate around the clock.
func steady(rate float64) func(time.Weekday, int) float64 {
	return func(time.Weekday, int) float64 { return rate }
}

// sessions is a person's rhythm: n operations in one hour of each weekday.
func sessions(hour int, n float64) func(time.Weekday, int) float64 {
	return func(wd time.Weekday, h int) float64 {
		if wd == time.Saturday || wd == time.Sunday || h != hour {
			return 0
		}
		return n
	}
}

// poisson draws from Poisson(lambda) (Knuth for small, normal for large).
func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 50 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// rhythm generates the actors' operations over days from start, sorted by
// time: each hour a Poisson number of operations at uniform times.
func rhythm(start time.Time, days int, actors []actor, seed uint64) []event.Op {
	r := rand.New(rand.NewPCG(seed, 0x6b76))
	var ops []event.Op
	for h := range days * 24 {
		at := start.Add(time.Duration(h) * time.Hour)
		for _, a := range actors {
			n := poisson(r, a.rate(at.Weekday(), at.Hour()))
			for range n {
				v := a.vaults[r.IntN(len(a.vaults))]
				op := a.ops[r.IntN(len(a.ops))]
				t := at.Add(time.Duration(r.Int64N(int64(time.Hour))))
				ops = append(ops, dt.KV(t, v, op, dt.Caller(a.p), dt.From(a.addr, a.geo),
					dt.Secret(v, "s"+strconv.Itoa(r.IntN(5)), "v1")))
			}
		}
	}
	sortOps(ops)
	return ops
}

func sortOps(ops []event.Op) {
	slices.SortStableFunc(ops, func(a, b event.Op) int { return a.Time.Compare(b.Time) })
}

// kv builds one operation of p on v at t.
func kv(t time.Time, v dt.Vault, op string, p event.Principal, addr string, geo event.Geo, opts ...dt.Option) event.Op {
	return dt.KV(t, v, op, append([]dt.Option{dt.Caller(p), dt.From(addr, geo), dt.Secret(v, "s1", "v1")}, opts...)...)
}

// The standard estate: two services reading secrets around the clock, a
// web application in office hours, a nightly job, and three people.
var (
	svcA   = app("payroll-service")
	svcB   = app("audit-exporter")
	webApp = app("webshop-frontend")
	job    = app("nightly-rotation")
	alice  = user("alice", appCLI)
	bob    = user("bob", appPowerShell)
	carol  = user("carol", appCLI)
)

func estateActors() []actor {
	return []actor{
		{p: svcA, vaults: []dt.Vault{vaultA}, ops: []string{"SecretGet"}, addr: "20.61.14.7", geo: azureGeo, rate: steady(12)},
		{p: svcB, vaults: []dt.Vault{vaultB}, ops: []string{"SecretGet", "KeyUnwrap"}, addr: "20.61.14.8", geo: azureGeo, rate: steady(6)},
		{p: webApp, vaults: []dt.Vault{vaultC}, ops: []string{"SecretGet"}, addr: "20.61.14.9", geo: azureGeo, rate: office(60)},
		{p: job, vaults: []dt.Vault{vaultA, vaultB, vaultC}, ops: []string{"SecretSet", "SecretGet"}, addr: "20.61.14.10", geo: azureGeo,
			rate: func(_ time.Weekday, h int) float64 {
				if h == 2 {
					return 9
				}
				return 0
			}},
		{p: alice, vaults: []dt.Vault{vaultA}, ops: []string{"SecretList", "SecretGet", "SecretGet"}, addr: "145.53.212.10", geo: officeGeo, rate: sessions(10, 4)},
		{p: bob, vaults: []dt.Vault{vaultB}, ops: []string{"SecretList", "SecretGet"}, addr: "145.53.212.11", geo: officeGeo, rate: sessions(14, 3)},
		{p: carol, vaults: []dt.Vault{vaultA, vaultC}, ops: []string{"SecretGet", "SecretList"}, addr: "145.53.212.12", geo: officeGeo, rate: sessions(11, 3)},
	}
}

// estate returns days of the standard estate's rhythm from t0.
func estate(days int) []event.Op { return rhythm(t0, days, estateActors(), 1) }

// withOps returns base with extra merged in, sorted by time.
func withOps(base []event.Op, extra ...event.Op) []event.Op {
	out := append(slices.Clone(base), extra...)
	sortOps(out)
	return out
}

// run runs d over ops with 5 minutes of lateness and checks every
// candidate's invariants and that its details render in every language.
func run(t testing.TB, d detect.Detector, ops []event.Op) []alert.Candidate {
	t.Helper()
	dt.Number("keyvault.json", ops)
	got := dt.Run(d, 5*time.Minute, ops)
	for _, c := range got {
		dt.CheckCandidate(t, c, DefaultConfig().MaxEvidence)
		checkRenders(t, c)
	}
	return got
}

// checkRenders describes the candidate in every language from its details.
func checkRenders(t testing.TB, c alert.Candidate) {
	t.Helper()
	e, ok := alert.Lookup(c.Type)
	if !ok {
		t.Fatalf("%s is not in the catalogue", c.Type)
	}
	details := cloneMap(c.Details)
	details["count"] = strconv.Itoa(c.Count) // the manager's standard details
	details["first"] = c.First.UTC().Format(time.RFC3339)
	details["last"] = c.Last.UTC().Format(time.RFC3339)
	for _, lang := range alert.Languages {
		if _, err := e.Describe(lang, details); err != nil {
			t.Errorf("%s in %s: %v", c.Type, lang, err)
		}
	}
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+3)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// detector returns cfg's detector of the given name.
func detector(t testing.TB, cfg Config, name string) detect.Detector {
	t.Helper()
	for _, d := range Detectors(cfg) {
		if d.Name() == name {
			return d
		}
	}
	t.Fatalf("no detector %s", name)
	return nil
}

// ofType returns the candidates of one type.
func ofType(cs []alert.Candidate, typ string) []alert.Candidate {
	var out []alert.Candidate
	for _, c := range cs {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// summary renders candidates for failure messages.
func summary(cs []alert.Candidate) string {
	s := ""
	for _, c := range cs {
		s += fmt.Sprintf("\n  %s %s count %d sev %q fp %v ops %q", c.Type, c.Time.Format(time.RFC3339), c.Count, c.Severity, c.FingerprintKeys, c.Details["operations"])
	}
	return s
}

// sameCandidates compares two runs.
func sameCandidates(t *testing.T, what string, got, want []alert.Candidate) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %d candidates differ from the %d of the reference run:%s\nwant:%s", what, len(got), len(want), summary(got), summary(want))
	}
}
