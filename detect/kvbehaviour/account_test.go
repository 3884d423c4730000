package kvbehaviour

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// otherVaults are vaults of the tenant the estate's principals do not use.
func otherVaults(n int) []dt.Vault {
	vs := make([]dt.Vault, n)
	for i := range vs {
		vs[i] = dt.Vault{Subscription: sub, ResourceGroup: "shared", Name: "kv-team-" + strconv.Itoa(i+1)}
	}
	return vs
}

// sweep is one operation of p on each vault, a minute apart, from at.
func sweep(at time.Time, p event.Principal, addr string, geo event.Geo, op string, vaults ...dt.Vault) []event.Op {
	ops := make([]event.Op, len(vaults))
	for i, v := range vaults {
		ops[i] = kv(at.Add(time.Duration(i)*time.Minute), v, op, p, addr, geo)
	}
	return ops
}

func TestAccountVolume(t *testing.T) {
	extra := otherVaults(8)
	newcomer := user("newcomer", appCLI)
	admins := []event.Principal{user("admin1", appCLI), user("admin2", appCLI), user("admin3", appCLI)}
	var adminOps []event.Op
	for d := range 14 {
		for i, a := range admins {
			adminOps = append(adminOps, sweep(day(d, 8+i, 0), a, "145.53.212.30", officeGeo, "SecretList", extra[:8]...)...)
		}
	}
	base := estate(14)
	tests := []struct {
		name   string
		base   []event.Op
		extra  []event.Op
		counts []int // candidates' vault counts
	}{
		{"a user who uses two vaults lists eight", base,
			sweep(day(10, 13, 0), carol, "145.53.212.12", officeGeo, "SecretList", append([]dt.Vault{vaultA, vaultC}, extra[:6]...)...), []int{6, 8}},
		{"five vaults, below three times the user's busiest day", base,
			sweep(day(10, 13, 0), carol, "145.53.212.12", officeGeo, "SecretList", append([]dt.Vault{vaultA, vaultC}, extra[:3]...)...), nil},
		{"the nightly job touching seven vaults (three a night)", base,
			sweep(day(10, 2, 30), job, "20.61.14.10", azureGeo, "SecretGet", extra[:4]...), nil},
		{"a principal in its first week", base,
			append(sweep(day(8, 13, 0), newcomer, "145.53.212.31", officeGeo, "SecretList", vaultA),
				sweep(day(10, 13, 0), newcomer, "145.53.212.31", officeGeo, "SecretList", extra...)...), nil},
		{"peers who list eight vaults every day", withOps(base, adminOps...),
			sweep(day(10, 13, 0), carol, "145.53.212.12", officeGeo, "SecretList", append([]dt.Vault{vaultA, vaultC}, extra[:6]...)...), nil},
	}
	d := detector(t, DefaultConfig(), NameTenant)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, d, withOps(tc.base, tc.extra...))
			if len(got) != len(tc.counts) || len(ofType(got, TypeAccountVolumeAnomaly)) != len(got) {
				t.Fatalf("%d candidates, want %d account anomalies:%s", len(got), len(tc.counts), summary(got))
			}
			total := 0
			for i, c := range got {
				if c.Details["vaultCount"] != strconv.Itoa(tc.counts[i]) {
					t.Errorf("candidate %d: vaultCount %s, want %d", i, c.Details["vaultCount"], tc.counts[i])
				}
				total += c.Count
			}
			if len(got) > 0 && total != tc.counts[len(tc.counts)-1] {
				t.Errorf("counts add up to %d, want the day's %d vaults", total, tc.counts[len(tc.counts)-1])
			}
		})
	}
}

func TestAccountVolumeCandidate(t *testing.T) {
	extra := otherVaults(6)
	ops := sweep(day(12, 13, 0), carol, "177.33.1.5", brGeo, "SecretList", append([]dt.Vault{vaultA, vaultC}, extra...)...)
	got := run(t, detector(t, DefaultConfig(), NameTenant), withOps(estate(14), ops...))
	if len(got) != 2 {
		t.Fatalf("%d candidates:%s", len(got), summary(got))
	}
	c := got[0]
	if c.Resource != "/subscriptions/"+sub || c.SubscriptionID != sub || strings.Join(c.FingerprintKeys, " ") != carol.ObjectID {
		t.Errorf("resource %s subscription %s fingerprint %v", c.Resource, c.SubscriptionID, c.FingerprintKeys)
	}
	if c.Count != 6 || len(c.Evidence) != 6 || !c.First.Equal(day(12, 13, 0)) || !c.Last.Equal(day(12, 13, 5)) {
		t.Errorf("count %d evidence %d range %s .. %s", c.Count, len(c.Evidence), c.First, c.Last)
	}
	vaults := 0
	for _, e := range c.Entities {
		if e.Type == alert.EntityKeyVault {
			vaults++
			if e.Role != "related" {
				t.Errorf("vault entity role %q", e.Role)
			}
		}
	}
	if vaults != 6 || dt.Entity(t, c, alert.EntityAccount).ObjectID != carol.ObjectID {
		t.Errorf("%d vault entities, account %+v", vaults, dt.Entity(t, c, alert.EntityAccount))
	}
	// On a Saturday, carol touched at most 2 vaults a day before; users of
	// the tenant at most 2 on 99% of their days. Brazil is new for her: the
	// severity rises.
	dt.WantDetails(t, c, map[string]string{
		"vaultCount": "6", "usualVaults": "2", "peerVaults": "2", "peerQuantile": "99%", "day": "2026-11-14",
		"historyDays": "12", "threshold": "6", "window": "24h", "newCountry": "BR", "raisedBy": "new country BR",
		"vaults": "SALARY, WEBSHOP, KV-TEAM-1, KV-TEAM-2, KV-TEAM-3, KV-TEAM-4",
	})
	if c.Severity != alert.SeverityHigh {
		t.Errorf("severity %q", c.Severity)
	}
	if !strings.HasPrefix(c.Details["baseline"], "at most 2 vault(s) a day over the last 12 days; peers (users of the tenant): at most 2 on 99% of ") {
		t.Errorf("baseline %q", c.Details["baseline"])
	}
	// The day's summary carries the rest.
	rest := got[1]
	if rest.SubscriptionID != c.SubscriptionID || rest.Resource != c.Resource || rest.TenantID != c.TenantID || rest.TenantID != tenant {
		t.Errorf("the summary's subscription %s, resource %s, tenant %s differ from the first candidate's: no common fingerprint",
			rest.SubscriptionID, rest.Resource, rest.TenantID)
	}
	if rest.Count != 2 || rest.Details["vaultCount"] != "8" || !rest.Last.Equal(day(12, 13, 7)) {
		t.Errorf("summary count %d vaults %s last %s", rest.Count, rest.Details["vaultCount"], rest.Last)
	}
}

func TestPeerQuantile(t *testing.T) {
	pd := peerDays{Rows: make([][]uint32, 3)}
	for i := range pd.Rows {
		pd.Rows[i] = make([]uint32, peerBins)
	}
	pd.Rows[0][1] = 90 // day 0: 90 principals with 1 vault
	pd.Rows[0][3] = 9  // 9 with 3
	pd.Rows[1][40] = 1 // day 1: one with 40
	pd.Rows[2][64] = 5 // today (day 2): ignored
	for _, tc := range []struct {
		q          float64
		want, days int
	}{{0.5, 1, 100}, {0.9, 1, 100}, {0.95, 3, 100}, {0.99, 3, 100}, {1, 40, 100}} {
		if v, n := pd.quantile(2, tc.q); v != tc.want || n != tc.days {
			t.Errorf("quantile %.2f = %d over %d, want %d over %d", tc.q, v, n, tc.want, tc.days)
		}
	}
	if v, n := (&peerDays{}).quantile(5, 0.99); v != 0 || n != 0 {
		t.Errorf("empty ring: %d over %d", v, n)
	}
}
