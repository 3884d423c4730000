package keyvault

import (
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// dump is a SecretList by p then n SecretGet of distinct secrets, every step
// apart, starting at start.
func dump(start time.Duration, v dt.Vault, p event.Principal, addr string, n int, step time.Duration, opts ...dt.Option) []event.Op {
	ops := []event.Op{kv(start, v, "SecretList", p, addr, append([]dt.Option{dt.Target(v.URI() + "secrets")}, opts...)...)}
	for i := range n {
		name := "secret-" + strconv.Itoa(i)
		if start > 0 { // a later dump reads other secrets
			name = "secret-" + start.String() + "-" + strconv.Itoa(i)
		}
		o := append([]dt.Option{dt.Secret(v, name, "0f4e4ea6a0b04ea58e5f3ad1f2a1e0c9")}, opts...)
		ops = append(ops, kv(start+time.Duration(i+1)*step, v, "SecretGet", p, addr, o...))
	}
	return ops
}

func TestListGetCandidate(t *testing.T) {
	ops := dump(0, vault, alice, office, 9, 4*time.Second)
	got := run(t, detector(t, DefaultConfig(), TypeListGetAnomaly), ops)
	if len(got) != 1 {
		t.Fatalf("%d candidates, want 1", len(got))
	}
	c := got[0]
	last := t0.Add(36 * time.Second)
	if !c.First.Equal(t0) || !c.Last.Equal(last) || c.Count != 10 || c.Severity != "" {
		t.Errorf("first %s last %s count %d severity %q", c.First, c.Last, c.Count, c.Severity)
	}
	if c.Resource != vault.ResourceID() || c.FingerprintKeys[0] != vault.ResourceID() || c.FingerprintKeys[1] != alice.ObjectID {
		t.Errorf("resource %s fingerprint %v", c.Resource, c.FingerprintKeys)
	}
	if e := dt.Entity(t, c, alert.EntityKeyVault); e.ResourceID != vault.ResourceID() {
		t.Errorf("vault entity %+v", e)
	}
	if e := dt.Entity(t, c, alert.EntityAccount); e.ObjectID != alice.ObjectID || e.UPN != alice.UPN {
		t.Errorf("account %+v", e)
	}
	if e := dt.Entity(t, c, alert.EntityIP); e.Address != office || e.Country != "US" || e.ASN != 8075 || len(e.Intel) != 0 {
		t.Errorf("ip %+v", e)
	}
	checkAgreedKeys(t, c)
	dt.WantDetails(t, c, map[string]string{
		"vault": "SALARY", "caller": "alice@contoso.com", "callerIp": office, "country": "US",
		"operations": "SecretGet, SecretList", "count": "10", "failed": "0", "denied": "0",
		"firstTime": "2026-08-22T10:00:00Z", "lastTime": "2026-08-22T10:00:36Z",
		"window": "1m", "threshold": "10", "trigger": "burst", "intelSource": "",
	})
	if len(c.Evidence) != 10 || c.Evidence[0].Operation != "SecretList" || c.Evidence[9].Target != vault.URI()+"secrets/secret-8/0f4e4ea6a0b04ea58e5f3ad1f2a1e0c9" ||
		c.Evidence[9].Source != "keyvault.json:10" {
		t.Errorf("evidence %+v", c.Evidence)
	}
}

func TestListGet(t *testing.T) {
	cfg := DefaultConfig()
	noList := DefaultConfig()
	noList.ListGetAnomaly.RequireList = false
	concat := func(parts ...[]event.Op) []event.Op {
		var out []event.Op
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	daily := func(n int, p event.Principal) []event.Op {
		var ops []event.Op
		for i := range n {
			ops = append(ops, kv(time.Duration(i)*45*time.Minute, vault, "SecretGet", p, office,
				dt.Secret(vault, "s"+strconv.Itoa(i), "v1")))
		}
		return ops
	}
	// busyApp reads the same three secrets all day, as an application
	// without a cache does: many gets, few objects, not a dump.
	busyApp := func(n int, p event.Principal) []event.Op {
		var ops []event.Op
		for i := range n {
			ops = append(ops, kv(time.Duration(i)*time.Minute, vault, "SecretGet", p, office,
				dt.Secret(vault, "s"+strconv.Itoa(i%3), "v"+strconv.Itoa(i%7))))
		}
		return ops
	}
	denied := dump(0, vault, bob, office, 9, 2*time.Second)
	for i := 5; i < len(denied); i++ {
		denied[i].StatusCode, denied[i].Result, denied[i].ResultSignature = 403, "Failure", "Forbidden"
	}
	tests := []struct {
		name    string
		cfg     Config
		ops     []event.Op
		wants   []want
		details map[string]string
	}{
		{"burst: list then 9 gets in 36s", cfg, dump(0, vault, alice, office, 9, 4*time.Second),
			[]want{{10, "", nil}}, map[string]string{"trigger": "burst"}},
		{"long dump: one burst, then the daily count at the 26th get", cfg, dump(0, vault, alice, office, 60, time.Second),
			[]want{{10, "", nil}, {26, "", nil}}, nil},
		{"just below: list then 8 gets", cfg, dump(0, vault, alice, office, 8, 4*time.Second), nil, nil},
		{"reads spread past the minute", cfg, dump(0, vault, alice, office, 9, 7*time.Second), nil, nil},
		{"no list before the gets", cfg, concat(
			dump(0, vault, alice, office, 9, 2*time.Second)[1:],
			[]event.Op{kv(20*time.Second, vault, "KeyGet", alice, office)},
		), nil, nil},
		{"no list needed when requireList is off", noList, concat(
			dump(0, vault, alice, office, 9, 2*time.Second)[1:],
			[]event.Op{kv(20*time.Second, vault, "KeyGet", alice, office)},
		), []want{{10, "", nil}}, nil},
		{"list by one principal, gets by another", cfg, concat(
			dump(0, vault, alice, office, 0, time.Second),
			dump(time.Second, vault, bob, office, 9, time.Second)[1:],
		), nil, nil},
		{"list on one vault, gets on another", cfg, concat(
			dump(0, vault, alice, office, 0, time.Second),
			dump(time.Second, vault2, alice, office, 9, time.Second)[1:],
		), nil, nil},
		{"denied reads count and raise", cfg, denied,
			[]want{{10, alert.SeverityHigh, nil}}, map[string]string{"failed": "5", "denied": "5"}},
		{"from a Tor exit: raised", cfg, dump(0, vault, alice, torOnly, 9, time.Second),
			[]want{{10, alert.SeverityHigh, nil}}, map[string]string{"intelSource": "tor-exit-nodes (tor, 2024-02-27)"}},
		{"daily: 26 SecretGet in 19h", cfg, daily(26, app),
			[]want{{26, "", []string{vault.ResourceID(), app.ObjectID}}},
			map[string]string{"trigger": "daily", "window": "24h", "threshold": "25", "count": "26", "caller": "app " + app.AppID}},
		{"daily: 25 is not more than 25", cfg, daily(25, app), nil, nil},
		{"daily: 600 gets of 3 secrets are an application, not a dump", cfg, busyApp(600, app), nil, nil},
		{"daily: 26 over more than a day", cfg, concat(daily(25, app), []event.Op{kv(25*time.Hour, vault, "SecretGet", app, office)}), nil, nil},
		{"normal use: an app listing and reading 3 keys every hour", cfg, func() []event.Op {
			var ops []event.Op
			for i := range 8 {
				at := time.Duration(i) * time.Hour
				ops = append(ops, kv(at, vault, "SecretList", app, office))
				for j := range 3 {
					ops = append(ops, kv(at+time.Duration(j+1)*time.Second, vault, "KeyGet", app, office))
				}
			}
			return ops
		}(), nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, detector(t, tc.cfg, TypeListGetAnomaly), tc.ops)
			checkWant(t, got, tc.wants)
			for _, c := range got {
				dt.WantDetails(t, c, tc.details)
				checkAgreedKeys(t, c)
			}
		})
	}
}

func TestListGetOrder(t *testing.T) {
	d := detector(t, DefaultConfig(), TypeListGetAnomaly)
	// A dump by alice, interleaved with bob's normal use and a second dump an hour later.
	ops := dump(0, vault, alice, office, 15, 3*time.Second)
	for i := range 10 {
		ops = append(ops, kv(time.Duration(i)*20*time.Second, vault, "SecretGet", bob, office))
	}
	ops = append(ops, dump(time.Hour, vault, alice, office, 12, 2*time.Second)...)
	ops = append(ops, dump(2*time.Hour, vault2, app, torOnly, 12, 2*time.Second)...)
	sortByTime(ops)
	checkReload(t, d, ops)
	dt.Number("keyvault.json", ops)
	want := dt.Run(d, 5*time.Minute, ops)
	// alice's two bursts, her 26th SecretGet of the day, app's burst.
	if len(want) != 4 {
		t.Fatalf("reference: %d candidates, want 4", len(want))
	}
	for seed := range uint64(5) {
		got := dt.Run(d, 5*time.Minute, shuffleWithin(ops, 4*time.Minute, seed))
		sameCandidates(t, "shuffled within lateness", got, want)
	}

	// Out of order the other way: the gets arrive first but happened more
	// than a minute after the list; must not fire.
	late := dump(0, vault, alice, office, 9, time.Second)
	for i := 1; i < len(late); i++ {
		late[i].Time = late[i].Time.Add(2 * time.Minute)
	}
	dt.Number("keyvault.json", late)
	late = append(late[1:], late[0]) // the list arrives last, within the lateness
	if got := dt.Run(d, 5*time.Minute, late); len(got) != 0 {
		t.Errorf("list 2 minutes before the gets, delivered last: %d candidates, want 0", len(got))
	}
}

func sortByTime(ops []event.Op) {
	for i := 1; i < len(ops); i++ {
		for j := i; j > 0 && ops[j].Time.Before(ops[j-1].Time); j-- {
			ops[j], ops[j-1] = ops[j-1], ops[j]
		}
	}
}
