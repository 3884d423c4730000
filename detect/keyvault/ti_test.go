package keyvault

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// want describes one expected candidate.
type want struct {
	count    int
	severity alert.Severity
	fp       []string
}

func checkWant(t *testing.T, got []alert.Candidate, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for _, c := range got {
			t.Logf("got %s at %s count %d fp %v", c.Type, c.Time.Format(time.RFC3339), c.Count, c.FingerprintKeys)
		}
		t.Fatalf("%d candidates, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		c := got[i]
		if c.Count != w.count || c.Severity != w.severity {
			t.Errorf("candidate %d: count %d severity %q, want %d %q", i, c.Count, c.Severity, w.count, w.severity)
		}
		if w.fp != nil && !slices.Equal(c.FingerprintKeys, w.fp) {
			t.Errorf("candidate %d: fingerprint %v, want %v", i, c.FingerprintKeys, w.fp)
		}
	}
}

func TestTORAccessCandidate(t *testing.T) {
	ops := []event.Op{kv(0, vault, "SecretGet", alice, torIpsum5, dt.Secret(vault, "db-password", "4c39bacace9a49b2bd542ce61bd6f312"))}
	got := run(t, detector(t, DefaultConfig(), TypeTORAccess), ops)
	if len(got) != 1 {
		t.Fatalf("%d candidates, want 1", len(got))
	}
	c := got[0]
	if c.Type != TypeTORAccess || c.Resource != vault.ResourceID() || c.TenantID != tenant || c.SubscriptionID != vault.Subscription {
		t.Errorf("type %s resource %s tenant %s subscription %s", c.Type, c.Resource, c.TenantID, c.SubscriptionID)
	}
	if !c.First.Equal(t0) || !c.Last.Equal(t0) || !c.Time.Equal(t0) || c.Count != 1 {
		t.Errorf("time %s..%s at %s count %d", c.First, c.Last, c.Time, c.Count)
	}
	// 185.220.101.13 is also on 5 ipsum lists: raised from Medium.
	if c.Severity != alert.SeverityHigh {
		t.Errorf("severity %q, want high (Tor exit also blocklisted)", c.Severity)
	}
	wantFP := []string{vault.ResourceID(), alice.ObjectID, torIpsum5}
	if !slices.Equal(c.FingerprintKeys, wantFP) {
		t.Errorf("fingerprint %v, want %v", c.FingerprintKeys, wantFP)
	}
	kvE := dt.Entity(t, c, alert.EntityKeyVault)
	if kvE.ResourceID != vault.ResourceID() || kvE.Name != "SALARY" {
		t.Errorf("vault entity %+v", kvE)
	}
	acc := dt.Entity(t, c, alert.EntityAccount)
	if acc.ObjectID != alice.ObjectID || acc.UPN != alice.UPN || acc.AppID != alice.AppID || acc.Role != "compromised" {
		t.Errorf("account entity %+v", acc)
	}
	ip := dt.Entity(t, c, alert.EntityIP)
	if ip.Address != torIpsum5 || ip.Country != "DE" || ip.City != "Frankfurt am Main" || ip.ASN != 60729 ||
		ip.Latitude == nil || *ip.Latitude != 50.1169 || ip.Longitude == nil || *ip.Longitude != 8.6837 || ip.Role != "attacker" {
		t.Errorf("ip entity %+v", ip)
	}
	wantIntel := []string{"tor-exit-nodes (tor, 2024-02-27)", "ipsum (malicious, 2026-08-22)"}
	if !slices.Equal(ip.Intel, wantIntel) {
		t.Errorf("intel %v, want %v", ip.Intel, wantIntel)
	}
	checkAgreedKeys(t, c)
	dt.WantDetails(t, c, map[string]string{
		"vault": "SALARY", "resource": vault.ResourceID(), "caller": "alice@contoso.com", "callerIp": torIpsum5,
		"country": "DE", "operations": "SecretGet", "count": "1", "failed": "0", "denied": "0",
		"firstTime": "2026-08-22T10:00:00Z", "lastTime": "2026-08-22T10:00:00Z", "window": "1h", "threshold": "",
		"intelSource": "tor-exit-nodes (tor, 2024-02-27); ipsum (malicious, 2026-08-22)",
	})
	e := c.Evidence[0]
	wantEv := alert.Evidence{Time: t0, Operation: "SecretGet", Caller: "alice@contoso.com", CallerIP: torIpsum5,
		Resource: vault.ResourceID(), Target: "https://salary.vault.azure.net/secrets/db-password/4c39bacace9a49b2bd542ce61bd6f312",
		Result: "Success (200)", Source: "keyvault.json:1"}
	if e != wantEv {
		t.Errorf("evidence %+v\nwant     %+v", e, wantEv)
	}
}

func TestTORAccess(t *testing.T) {
	fp := func(p event.Principal, ip string, v dt.Vault) []string {
		return []string{v.ResourceID(), p.Key(), ip}
	}
	tests := []struct {
		name  string
		ops   []event.Op
		wants []want
	}{
		{"one access, medium", []event.Op{kv(0, vault, "SecretGet", alice, torOnly)},
			[]want{{1, "", fp(alice, torOnly, vault)}}},
		{"IPv6 exit", []event.Op{kv(0, vault, "VaultGet", app, torIPv6)},
			[]want{{1, "", []string{vault.ResourceID(), app.ObjectID, "2001:470:1:908::9001"}}}},
		{"repeats within the hour are one summary", []event.Op{
			kv(0, vault, "SecretList", alice, torOnly),
			kv(time.Minute, vault, "SecretGet", alice, torOnly),
			kv(2*time.Minute, vault, "SecretGet", alice, torOnly),
			kv(59*time.Minute, vault, "KeyGet", alice, torOnly),
		}, []want{{1, "", fp(alice, torOnly, vault)}, {3, "", fp(alice, torOnly, vault)}}},
		{"a new hour opens a new window", []event.Op{
			kv(0, vault, "SecretGet", alice, torOnly),
			kv(60*time.Minute, vault, "SecretGet", alice, torOnly),
		}, []want{{1, "", nil}, {1, "", nil}}},
		{"failed attempt counts, not raised", []event.Op{kv(0, vault, "SecretGet", alice, torOnly, dt.Status(403))},
			[]want{{1, "", nil}}},
		{"ipsum score 1 below minimum does not raise", []event.Op{kv(0, vault, "SecretGet", alice, torIpsum1)},
			[]want{{1, "", nil}}},
		{"other principal, other incident", []event.Op{
			kv(0, vault, "SecretGet", alice, torOnly),
			kv(time.Second, vault, "SecretGet", bob, torOnly),
		}, []want{{1, "", fp(alice, torOnly, vault)}, {1, "", fp(bob, torOnly, vault)}}},
		{"different vault, other incident", []event.Op{
			kv(0, vault, "SecretGet", alice, torOnly),
			kv(time.Second, vault2, "SecretGet", alice, torOnly),
		}, []want{{1, "", fp(alice, torOnly, vault)}, {1, "", fp(alice, torOnly, vault2)}}},
		{"normal use", []event.Op{
			kv(0, vault, "SecretList", alice, office),
			kv(time.Second, vault, "SecretGet", alice, office),
			kv(2*time.Second, vault, "SecretGet", app, ipsum10),
		}, nil},
		{"redacted address", []event.Op{kv(0, vault, "SecretGet", alice, "<Redacted>")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkWant(t, run(t, detector(t, DefaultConfig(), TypeTORAccess), tc.ops), tc.wants)
		})
	}
}

func TestSuspiciousIPAccess(t *testing.T) {
	c2 := event.IntelHit{Source: "feodo-c2", Category: "c2", Date: dt.IpsumListDate}
	include := DefaultConfig()
	include.SuspiciousIPAccess.IncludeFailed = true
	tests := []struct {
		name  string
		cfg   Config
		ops   []event.Op
		wants []want
	}{
		{"ipsum score 3", DefaultConfig(), []event.Op{kv(0, vault, "SecretGet", alice, ipsum3)},
			[]want{{1, "", []string{vault.ResourceID(), alice.ObjectID, ipsum3}}}},
		{"ipsum score 2 is below the minimum", DefaultConfig(), []event.Op{kv(0, vault, "SecretGet", alice, ipsum2)}, nil},
		{"also a Tor exit: raised", DefaultConfig(), []event.Op{kv(0, vault, "SecretGet", alice, torIpsum5)},
			[]want{{1, alert.SeverityHigh, nil}}},
		{"unscored c2 list", DefaultConfig(), []event.Op{
			dt.KV(t0, vault, "KeyDecrypt", dt.Caller(app), dt.From("198.51.100.7", officeGeo, c2)),
		}, []want{{1, "", []string{vault.ResourceID(), app.ObjectID, "198.51.100.7"}}}},
		{"refused access is not access", DefaultConfig(), []event.Op{kv(0, vault, "SecretGet", alice, ipsum10, dt.Status(403))}, nil},
		{"refused access with includeFailed", include, []event.Op{kv(0, vault, "SecretGet", alice, ipsum10, dt.Status(403))},
			[]want{{1, "", nil}}},
		{"summary", DefaultConfig(), []event.Op{
			kv(0, vault, "SecretList", alice, ipsum10),
			kv(time.Second, vault, "SecretGet", alice, ipsum10),
			kv(2*time.Second, vault, "SecretGet", alice, ipsum10),
		}, []want{{1, "", nil}, {2, "", nil}}},
		{"Tor exit only", DefaultConfig(), []event.Op{kv(0, vault, "SecretGet", alice, torOnly)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, detector(t, tc.cfg, TypeSuspiciousIPAccess), tc.ops)
			checkWant(t, got, tc.wants)
			for _, c := range got {
				if c.Details["threshold"] != "3" {
					t.Errorf("threshold %q, want 3", c.Details["threshold"])
				}
			}
		})
	}
}

// TestTIOrderAndReload: delivery out of order within the lateness, and a
// snapshot/restore mid-stream, give the same candidates.
func TestTIOrderAndReload(t *testing.T) {
	var ops []event.Op
	for i := range 40 {
		at := time.Duration(i) * 97 * time.Second / 4
		p, addr := alice, torOnly
		switch i % 4 {
		case 1:
			p, addr = bob, torIpsum5
		case 2:
			addr = office
		case 3:
			p, addr = app, ipsum10
		}
		ops = append(ops, kv(at, vault, "SecretGet", p, addr))
	}
	for _, name := range []string{TypeTORAccess, TypeSuspiciousIPAccess} {
		t.Run(name, func(t *testing.T) {
			d := detector(t, DefaultConfig(), name)
			checkReload(t, d, ops)
			dt.Number("keyvault.json", ops)
			want := dt.Run(d, 5*time.Minute, ops)
			got := dt.Run(d, 5*time.Minute, shuffleWithin(ops, 4*time.Minute, 1))
			sameCandidates(t, "shuffled within lateness", got, want)
		})
	}
}
