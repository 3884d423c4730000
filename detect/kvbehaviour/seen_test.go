package kvbehaviour

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// day returns the time of day d (0 = t0, a Monday) at hh:mm.
func day(d, hh, mm int) time.Time {
	return t0.Add(time.Duration(d)*24*time.Hour + time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
}

// TestQuietEstate: three weeks of the estate's ordinary rhythm (services
// around the clock, an office-hours web application with its daily peak, a
// nightly job touching three vaults, people's sessions) raise nothing.
func TestQuietEstate(t *testing.T) {
	ops := estate(21)
	for _, name := range []string{NameVault, NameTenant} {
		if got := run(t, detector(t, DefaultConfig(), name), ops); len(got) != 0 {
			t.Errorf("%s: %d candidates on ordinary traffic:%s", name, len(got), summary(got))
		}
	}
}

func TestUserAnomaly(t *testing.T) {
	dave := user("dave", appCLI)
	d := detector(t, DefaultConfig(), NameVault)
	ops := withOps(estate(14),
		kv(day(9, 10, 30), vaultA, "SecretList", dave, "145.53.212.20", officeGeo),
		kv(day(9, 10, 31), vaultA, "SecretGet", dave, "145.53.212.20", officeGeo),
		kv(day(9, 10, 45), vaultA, "SecretGet", dave, "145.53.212.20", officeGeo),
	)
	got := ofType(run(t, d, ops), TypeUserAnomaly)
	if len(got) != 2 {
		t.Fatalf("%d candidates, want the first operation and the window's summary:%s", len(got), summary(got))
	}
	first, rest := got[0], got[1]
	if first.Count != 1 || rest.Count != 2 || !first.Time.Equal(day(9, 10, 30)) || !rest.Last.Equal(day(9, 10, 45)) {
		t.Errorf("counts %d, %d; times %s, %s", first.Count, rest.Count, first.Time, rest.Last)
	}
	for _, c := range got {
		if c.Resource != vaultA.ResourceID() || strings.Join(c.FingerprintKeys, " ") != vaultA.ResourceID()+" "+dave.ObjectID || c.Severity != "" {
			t.Errorf("resource %s fingerprint %v severity %q", c.Resource, c.FingerprintKeys, c.Severity)
		}
	}
	if e := dt.Entity(t, first, alert.EntityKeyVault); e.Role != "compromised" || e.ResourceID != vaultA.ResourceID() {
		t.Errorf("vault entity %+v", e)
	}
	if e := dt.Entity(t, first, alert.EntityAccount); e.ObjectID != dave.ObjectID || e.UPN != dave.UPN || e.Role != "compromised" {
		t.Errorf("account entity %+v", e)
	}
	if e := dt.Entity(t, first, alert.EntityIP); e.Address != "145.53.212.20" || e.Country != "NL" || e.ASN != 1136 {
		t.Errorf("ip entity %+v", e)
	}
	dt.WantDetails(t, first, map[string]string{
		"vault": "SALARY", "caller": "dave@contoso.com", "objectId": dave.ObjectID, "appId": appCLI,
		"operations": "SecretList", "window": "1h", "learnedSince": first.Details["learnedSince"],
		"newCountry": "", "raisedBy": "", "denied": "0", "callerIp": "145.53.212.20",
	})
	dt.WantDetails(t, rest, map[string]string{"operations": "SecretGet, SecretList"})
	// The vault's callers: svcA, the nightly job, alice and carol (CLI).
	if k := first.Details["knownCallers"]; k != "4" {
		t.Errorf("knownCallers %s, want 4", k)
	}
	if !strings.HasPrefix(first.Details["learnedSince"], "2026-11-02T0") {
		t.Errorf("learnedSince %s, want the vault's first hour", first.Details["learnedSince"])
	}
}

func TestAppAnomaly(t *testing.T) {
	intruder := app("intruder")
	d := detector(t, DefaultConfig(), NameVault)
	refused := func(at time.Time) event.Op {
		return kv(at, vaultB, "SecretGet", intruder, "20.76.48.24", azureGeo, dt.Status(403))
	}
	ops := withOps(estate(14),
		refused(day(10, 15, 0)), refused(day(10, 15, 1)),
		kv(day(10, 15, 2), vaultB, "SecretGet", intruder, "20.76.48.24", azureGeo),
	)
	got := ofType(run(t, d, ops), TypeAppAnomaly)
	if len(got) != 1 {
		t.Fatalf("%d candidates, want 1:%s", len(got), summary(got))
	}
	c := got[0]
	// The refused attempts before the first success are evidence, and raise.
	if c.Count != 3 || len(c.Evidence) != 3 || c.Evidence[0].Result != "Failure (403)" || c.Severity != alert.SeverityHigh {
		t.Errorf("count %d evidence %+v severity %q", c.Count, c.Evidence, c.Severity)
	}
	dt.WantDetails(t, c, map[string]string{"caller": "app " + intruder.AppID, "denied": "2", "raisedBy": "2 refused (403) attempt(s)"})
	if strings.Join(c.FingerprintKeys, " ") != vaultB.ResourceID()+" "+intruder.AppID {
		t.Errorf("fingerprint %v", c.FingerprintKeys)
	}
}

// TestNotNew lists what must not make a new caller.
func TestNotNew(t *testing.T) {
	graph := event.Principal{ObjectID: guid("sp graph"), AppID: AppResourceGraph, TenantID: tenant, Type: event.PrincipalApp}
	stranger := app("misconfigured-reporter")
	dave := user("dave", appCLI)
	erin := user("erin", appCLI)
	every5 := func(from time.Time, n int, p event.Principal, opts ...dt.Option) []event.Op {
		var ops []event.Op
		for i := range n {
			ops = append(ops, kv(from.Add(time.Duration(i)*5*time.Minute), vaultB, "SecretGet", p, "20.76.48.30", azureGeo, opts...))
		}
		return ops
	}
	tests := []struct {
		name  string
		extra []event.Op
	}{
		{"a new user in the vault's learning period", []event.Op{kv(day(3, 10, 0), vaultA, "SecretGet", dave, "145.53.212.20", officeGeo)}},
		{"Resource Graph's VaultGet of every vault (excepted)", []event.Op{
			kv(day(9, 6, 0), vaultA, "VaultGet", graph, "20.61.14.1", azureGeo),
			kv(day(9, 6, 0), vaultB, "VaultGet", graph, "20.61.14.1", azureGeo),
			kv(day(9, 6, 0), vaultC, "VaultGet", graph, "20.61.14.1", azureGeo)}},
		{"an application refused every 5 minutes", every5(day(9, 7, 0), 200, stranger, dt.Status(403))},
		{"an unauthenticated challenge", []event.Op{kv(day(9, 7, 0), vaultB, "SecretGet", event.Principal{}, "20.76.48.31", azureGeo, dt.Status(401))}},
		{"a user granted access by an access-policy change", []event.Op{
			kv(day(9, 14, 0), vaultA, "VaultPatch", alice, "145.53.212.10", officeGeo, dt.Added(erin.ObjectID)),
			kv(day(10, 9, 0), vaultA, "SecretGet", erin, "145.53.212.21", officeGeo)}},
	}
	d := detector(t, DefaultConfig(), NameVault)
	base := estate(14)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(t, d, withOps(base, tc.extra...)); len(got) != 0 {
				t.Errorf("%d candidates:%s", len(got), summary(got))
			}
		})
	}
	// Resource Graph is excepted for VaultGet only: its reading a secret is
	// an application's first access.
	got := run(t, d, withOps(base, kv(day(9, 6, 0), vaultA, "SecretGet", graph, "20.61.14.1", azureGeo)))
	if len(ofType(got, TypeAppAnomaly)) != 1 {
		t.Errorf("Resource Graph reading a secret: %s", summary(got))
	}
}

// TestUserAppAnomaly: erin reads vaultA through PowerShell; alice, who
// reads it through the Azure CLI, starts using PowerShell there.
func TestUserAppAnomaly(t *testing.T) {
	erin := user("erin", appPowerShell)
	actors := append(estateActors(), actor{p: erin, vaults: []dt.Vault{vaultA}, ops: []string{"SecretGet"},
		addr: "145.53.212.13", geo: officeGeo, rate: sessions(15, 2)})
	base := rhythm(t0, 14, actors, 2)
	alicePS := user("alice", appPowerShell)
	alicePortal := user("alice", AppAzurePortal)
	d := detector(t, DefaultConfig(), NameVault)
	tests := []struct {
		name  string
		extra []event.Op
		want  int
	}{
		{"known user, application known from another user", []event.Op{
			kv(day(9, 16, 0), vaultA, "SecretList", alicePS, "145.53.212.10", officeGeo),
			kv(day(9, 16, 1), vaultA, "SecretGet", alicePS, "145.53.212.10", officeGeo)}, 2},
		{"an application the vault does not know", []event.Op{kv(day(9, 16, 0), vaultA, "SecretList", alicePortal, "145.53.212.10", officeGeo)}, 0},
		{"a management operation first, learnt silently", []event.Op{
			kv(day(9, 16, 0), vaultA, "VaultPatch", alicePS, "145.53.212.10", officeGeo),
			kv(day(10, 9, 0), vaultA, "SecretGet", alicePS, "145.53.212.10", officeGeo)}, 0},
		{"during the learning period", []event.Op{kv(day(4, 16, 0), vaultA, "SecretList", alicePS, "145.53.212.10", officeGeo)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, d, withOps(base, tc.extra...))
			pairs := ofType(got, TypeUserAppAnomaly)
			ops := 0
			for _, c := range pairs {
				ops += c.Count
				dt.WantDetails(t, c, map[string]string{"appId": appPowerShell, "usualApps": appCLI, "caller": "alice@contoso.com"})
				if strings.Join(c.FingerprintKeys, " ") != vaultA.ResourceID()+" "+alice.ObjectID+" "+appPowerShell {
					t.Errorf("fingerprint %v", c.FingerprintKeys)
				}
			}
			if ops != tc.want || len(got) != len(pairs) {
				t.Fatalf("%d candidates for %d operations, want pair anomalies for %d:%s", len(got), ops, tc.want, summary(got))
			}
		})
	}
}

// TestRaise: a new user's severity rises for a Tor exit, a country the
// vault was never reached from, and refused attempts.
func TestRaise(t *testing.T) {
	dave := user("dave", appCLI)
	tor := dt.From("185.220.101.13", event.Geo{Country: "DE"}, dt.TorHit())
	tests := []struct {
		name   string
		op     event.Op
		raised string
		cc     string
	}{
		{"office address", kv(day(9, 10, 0), vaultA, "SecretGet", dave, "145.53.212.20", officeGeo), "", ""},
		{"new country", kv(day(9, 10, 0), vaultA, "SecretGet", dave, "177.33.1.5", brGeo), "new country BR", "BR"},
		{"Tor exit from a new country", kv(day(9, 10, 0), vaultA, "SecretGet", dave, "", event.Geo{}, tor),
			"address on a threat-intelligence list; new country DE", "DE"},
	}
	d := detector(t, DefaultConfig(), NameVault)
	base := estate(14)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, d, withOps(base, tc.op))
			if len(got) != 1 {
				t.Fatalf("%d candidates:%s", len(got), summary(got))
			}
			c := got[0]
			dt.WantDetails(t, c, map[string]string{"raisedBy": tc.raised, "newCountry": tc.cc})
			want := alert.Severity("")
			if tc.raised != "" {
				want = alert.SeverityHigh
			}
			if c.Severity != want {
				t.Errorf("severity %q, want %q", c.Severity, want)
			}
		})
	}
}

// TestNewVault: a vault first used after the estate's learning period has
// its own: its first callers are not new, a later newcomer is.
func TestNewVault(t *testing.T) {
	vaultD := dt.Vault{Subscription: sub, ResourceGroup: "new", Name: "created-late"}
	dave := user("dave", appCLI)
	actors := append(estateActors(), actor{p: svcA, vaults: []dt.Vault{vaultD}, ops: []string{"SecretGet"}, addr: "20.61.14.7", geo: azureGeo,
		rate: func(wd time.Weekday, h int) float64 { return 4 }})
	early := rhythm(t0, 9, estateActors(), 3)
	late := rhythm(day(9, 0, 0), 10, actors, 4)
	base := withOps(early, late...)
	d := detector(t, DefaultConfig(), NameVault)
	got := run(t, d, withOps(base,
		kv(day(12, 10, 0), vaultD, "SecretGet", dave, "145.53.212.20", officeGeo), // the vault's learning period
		kv(day(17, 10, 0), vaultD, "SecretGet", carol, "145.53.212.12", officeGeo)))
	if len(got) != 1 || got[0].Type != TypeUserAnomaly || got[0].FingerprintKeys[1] != carol.ObjectID {
		t.Fatalf("want carol's first access after the new vault's week:%s", summary(got))
	}
	if ls := got[0].Details["learnedSince"]; !strings.HasPrefix(ls, "2026-11-11") {
		t.Errorf("learnedSince %s, want the vault's first day 2026-11-11", ls)
	}
}

// TestLookBack: a caller not seen within the look-back is new again; the
// vault, whose other callers kept it learnt, raises.
func TestLookBack(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LookBack = 8 * 24 * time.Hour
	dave := user("dave", appCLI)
	got := run(t, detector(t, cfg, NameVault), withOps(estate(20),
		kv(day(1, 10, 0), vaultA, "SecretGet", dave, "145.53.212.20", officeGeo),
		kv(day(19, 10, 0), vaultA, "SecretGet", dave, "145.53.212.20", officeGeo)))
	if len(got) != 1 || got[0].Type != TypeUserAnomaly || !got[0].Time.Equal(day(19, 10, 0)) {
		t.Fatalf("want dave's return after the look-back:%s", summary(got))
	}
}
