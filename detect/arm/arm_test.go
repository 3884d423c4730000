package arm

import (
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

var (
	t0     = time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC)
	sub    = "a921d5d4-bdb7-43c3-aa01-88c6ae24992f"
	sub2   = "5f1c2b3a-7d4e-4a6b-9c8d-0e1f2a3b4c5d"
	tenant = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
	vm     = "/subscriptions/" + sub + "/resourceGroups/prod/providers/Microsoft.Compute/virtualMachines/web-01"
	nsg    = "/subscriptions/" + sub + "/resourcegroups/myResourceGroup/providers/Microsoft.Network/networkSecurityGroups/myNSG"
	roles  = "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleAssignments/7f3e2b1a-0c4d-4e5f-8a9b-1c2d3e4f5a6b"

	rob = event.Principal{ObjectID: "f409edeb-4d29-44b5-9763-ee9348ad91bb", UPN: "rob@contoso.com",
		AppID: "00001111-aaaa-2222-bbbb-3333cccc4444", TenantID: tenant, Name: "Rob Robertson", Type: event.PrincipalUser}
	sp = event.Principal{ObjectID: "d9da5048-2737-4770-bd64-0d1f6a2b3c4e", AppID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
		TenantID: tenant, Type: event.PrincipalApp}

	office    = "111.111.1.111"
	officeGeo = event.Geo{Country: "NL", City: "Amsterdam", Lat: 52.3759, Lon: 4.8975, HasLocation: true, ASN: 1136, ASOrg: "KPN B.V."}
	torGeo    = event.Geo{Country: "DE", City: "Frankfurt am Main", Lat: 50.1169, Lon: 8.6837, HasLocation: true, ASN: 60729, ASOrg: "Stiftung Erneuerbare Freiheit"}
)

// Addresses from testdata (see PROVENANCE.md).
const (
	torOnly   = "101.99.92.179"
	torIpsum5 = "185.220.101.13"
	ipsum3    = "1.20.178.157"
	ipsum2    = "1.0.164.165"
)

var intel = func() dt.Intel {
	in, err := dt.LoadIntel("testdata/tor-exit-nodes.sample.lst", "testdata/ipsum.sample.txt")
	if err != nil {
		panic(err)
	}
	return in
}()

func act(at time.Duration, resource, operation string, p event.Principal, addr string, opts ...dt.Option) event.Op {
	geo := torGeo
	if addr == office {
		geo = officeGeo
	}
	base := []dt.Option{dt.Caller(p), dt.From(addr, geo, intel.Lookup(addr)...), dt.Correlation("corr-" + strconv.Itoa(int(at/time.Second)))}
	return dt.Activity(t0.Add(at), resource, operation, append(base, opts...)...)
}

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

func run(t *testing.T, d detect.Detector, ops []event.Op) []alert.Candidate {
	t.Helper()
	dt.Number("activity.json", ops)
	got := dt.Run(d, 5*time.Minute, ops)
	for _, c := range got {
		dt.CheckCandidate(t, c, DefaultConfig().MaxEvidence)
	}
	return got
}

func TestProxyCandidate(t *testing.T) {
	ops := []event.Op{act(0, vm, "Microsoft.Compute/virtualMachines/runCommand/action", rob, torOnly)}
	got := run(t, detector(t, DefaultConfig(), TypeOperationFromSuspiciousProxyIP), ops)
	if len(got) != 1 {
		t.Fatalf("%d candidates, want 1", len(got))
	}
	c := got[0]
	subID := "/subscriptions/" + sub
	if c.Resource != subID || c.SubscriptionID != sub || c.TenantID != tenant || c.Count != 1 || c.Severity != "" {
		t.Errorf("resource %s sub %s tenant %s count %d severity %q", c.Resource, c.SubscriptionID, c.TenantID, c.Count, c.Severity)
	}
	if !slices.Equal(c.FingerprintKeys, []string{subID, rob.ObjectID, torOnly}) {
		t.Errorf("fingerprint %v", c.FingerprintKeys)
	}
	var subE, vmE, acc, ip bool
	for _, e := range c.Entities {
		switch {
		case e.Type == alert.EntityAzureResource && e.ResourceID == subID && e.Role == "compromised":
			subE = true
		case e.Type == alert.EntityAzureResource && e.ResourceID == vm && e.Name == "web-01" && e.Role == "related":
			vmE = true
		case e.Type == alert.EntityAccount && e.ObjectID == rob.ObjectID && e.UPN == rob.UPN && e.AppID == rob.AppID && e.Name == "Rob Robertson":
			acc = true
		case e.Type == alert.EntityIP && e.Address == torOnly && e.Country == "DE" && e.ASN == 60729 && e.Latitude != nil &&
			slices.Equal(e.Intel, []string{"tor-exit-nodes (tor, 2024-02-27)"}):
			ip = true
		}
	}
	if !subE || !vmE || !acc || !ip {
		t.Errorf("entities: subscription %v vm %v account %v ip %v: %+v", subE, vmE, acc, ip, c.Entities)
	}
	for k, v := range map[string]string{
		"vault": "", "resource": subID, "subscription": sub, "resources": vm, "caller": "rob@contoso.com",
		"callerIp": torOnly, "country": "DE", "operations": "Microsoft.Compute/virtualMachines/runCommand/action",
		"count": "1", "failed": "0", "denied": "0", "firstTime": "2026-08-22T10:00:00Z", "lastTime": "2026-08-22T10:00:00Z",
		"window": "1h", "threshold": "", "intelSource": "tor-exit-nodes (tor, 2024-02-27)",
	} {
		if got, ok := c.Details[k]; !ok || got != v {
			t.Errorf("detail %s = %q, want %q", k, got, v)
		}
	}
	want := alert.Evidence{Time: t0, Operation: "Microsoft.Compute/virtualMachines/runCommand/action", Caller: "rob@contoso.com",
		CallerIP: torOnly, Resource: vm, Target: vm, Result: "Succeeded", Source: "activity.json:1"}
	if len(c.Evidence) != 1 || c.Evidence[0] != want {
		t.Errorf("evidence %+v\nwant %+v", c.Evidence, want)
	}
}

type want struct {
	count    int
	severity alert.Severity
	fp       []string
}

func TestDetections(t *testing.T) {
	proxyHit := event.IntelHit{Source: "proxy-list", Category: "proxy", Date: dt.IpsumListDate}
	started := act(0, roles, "Microsoft.Authorization/roleAssignments/write", rob, torOnly, dt.Result("Started"))
	succeeded := act(0, roles, "Microsoft.Authorization/roleAssignments/write", rob, torOnly)
	succeeded.Time = t0.Add(3 * time.Second)
	fp := func(s string, p event.Principal, ip string) []string {
		return []string{"/subscriptions/" + s, p.Key(), ip}
	}
	tests := []struct {
		name  string
		det   string
		ops   []event.Op
		wants []want
	}{
		{"proxy: anonymising proxy", TypeOperationFromSuspiciousProxyIP, []event.Op{
			dt.Activity(t0, nsg, "Microsoft.Network/networkSecurityGroups/write", dt.Caller(rob), dt.From("203.0.113.9", torGeo, proxyHit)),
		}, []want{{1, "", fp(sub, rob, "203.0.113.9")}}},
		{"proxy: repeats are one summary; a request's records count once", TypeOperationFromSuspiciousProxyIP, []event.Op{
			act(0, vm, "Microsoft.Compute/virtualMachines/read", rob, torOnly),
			started, succeeded,
			act(10*time.Minute, nsg, "Microsoft.Network/networkSecurityGroups/write", rob, torOnly, dt.Status(403)),
		}, []want{{1, "", nil}, {2, "", nil}}},
		{"proxy: also blocklisted raises", TypeOperationFromSuspiciousProxyIP, []event.Op{act(0, vm, "Microsoft.Compute/virtualMachines/write", rob, torIpsum5)},
			[]want{{1, alert.SeverityHigh, nil}}},
		{"proxy: blocklisted only is not a proxy", TypeOperationFromSuspiciousProxyIP, []event.Op{act(0, vm, "Microsoft.Compute/virtualMachines/write", rob, ipsum3)}, nil},
		{"proxy: normal use", TypeOperationFromSuspiciousProxyIP, []event.Op{
			act(0, vm, "Microsoft.Compute/virtualMachines/write", rob, office),
			act(time.Minute, vm, "Microsoft.Compute/virtualMachines/read", sp, office),
		}, nil},
		{"proxy: other principal, other incident", TypeOperationFromSuspiciousProxyIP, []event.Op{
			act(0, vm, "Microsoft.Compute/virtualMachines/read", rob, torOnly),
			act(time.Second, vm, "Microsoft.Compute/virtualMachines/read", sp, torOnly),
		}, []want{{1, "", fp(sub, rob, torOnly)}, {1, "", fp(sub, sp, torOnly)}}},
		{"proxy: other subscription, other incident", TypeOperationFromSuspiciousProxyIP, []event.Op{
			act(0, vm, "Microsoft.Compute/virtualMachines/read", rob, torOnly),
			act(time.Second, "/subscriptions/"+sub2+"/resourceGroups/x/providers/Microsoft.Compute/virtualMachines/y", "Microsoft.Compute/virtualMachines/read", rob, torOnly),
		}, []want{{1, "", fp(sub, rob, torOnly)}, {1, "", fp(sub2, rob, torOnly)}}},
		{"proxy: after the window, a new incident", TypeOperationFromSuspiciousProxyIP, []event.Op{
			act(0, vm, "Microsoft.Compute/virtualMachines/read", rob, torOnly),
			act(61*time.Minute, vm, "Microsoft.Compute/virtualMachines/read", rob, torOnly),
		}, []want{{1, "", nil}, {1, "", nil}}},
		{"TI: ipsum 3", TypeOperationFromSuspiciousIP, []event.Op{act(0, roles, "Microsoft.Authorization/roleAssignments/write", sp, ipsum3)},
			[]want{{1, "", fp(sub, sp, ipsum3)}}},
		{"TI: ipsum 2 is below the minimum", TypeOperationFromSuspiciousIP, []event.Op{act(0, roles, "Microsoft.Authorization/roleAssignments/write", sp, ipsum2)}, nil},
		{"TI: also a Tor exit raises", TypeOperationFromSuspiciousIP, []event.Op{act(0, vm, "Microsoft.Compute/virtualMachines/write", rob, torIpsum5)},
			[]want{{1, alert.SeverityHigh, nil}}},
		{"TI: a failed operation counts", TypeOperationFromSuspiciousIP, []event.Op{act(0, vm, "Microsoft.Compute/virtualMachines/write", rob, ipsum3, dt.Result("Failed"))},
			[]want{{1, "", nil}}},
		{"TI: Tor only", TypeOperationFromSuspiciousIP, []event.Op{act(0, vm, "Microsoft.Compute/virtualMachines/write", rob, torOnly)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, detector(t, DefaultConfig(), tc.det), tc.ops)
			if len(got) != len(tc.wants) {
				t.Fatalf("%d candidates, want %d", len(got), len(tc.wants))
			}
			for i, w := range tc.wants {
				c := got[i]
				if c.Count != w.count || c.Severity != w.severity {
					t.Errorf("candidate %d: count %d severity %q, want %d %q", i, c.Count, c.Severity, w.count, w.severity)
				}
				if w.fp != nil && !slices.Equal(c.FingerprintKeys, w.fp) {
					t.Errorf("candidate %d: fingerprint %v, want %v", i, c.FingerprintKeys, w.fp)
				}
			}
		})
	}
}

// TestOrderAndReload: out-of-order delivery within the lateness and a
// snapshot/restore mid-stream give the same candidates as one in-order run.
func TestOrderAndReload(t *testing.T) {
	var ops []event.Op
	who := []event.Principal{rob, sp}
	addrs := []string{torOnly, office, torIpsum5, ipsum3}
	for i := range 60 {
		ops = append(ops, act(time.Duration(i)*25*time.Second, vm, "Microsoft.Compute/virtualMachines/read", who[i%2], addrs[i%4]))
	}
	dt.Number("activity.json", ops)
	for _, d := range Detectors(DefaultConfig()) {
		t.Run(d.Name(), func(t *testing.T) {
			want := dt.Run(d, 5*time.Minute, ops)
			if len(want) < 2 {
				t.Fatalf("reference run: %d candidates", len(want))
			}
			for _, at := range []int{1, 20, 45, 59} {
				got, err := dt.RunReload(d, 5*time.Minute, ops, at)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("reload after %d events: %d candidates differ from %d", at, len(got), len(want))
				}
			}
			for seed := range uint64(5) {
				if got := dt.Run(d, 5*time.Minute, shuffleWithin(ops, 4*time.Minute, seed)); !reflect.DeepEqual(got, want) {
					t.Errorf("shuffle %d: %d candidates differ from %d", seed, len(got), len(want))
				}
			}
		})
	}
}

// shuffleWithin swaps ops only where every op between is within d of both,
// so no op arrives more than d of event time after a later one.
func shuffleWithin(ops []event.Op, d time.Duration, seed uint64) []event.Op {
	out := slices.Clone(ops)
	r := rand.New(rand.NewPCG(seed, 11))
	near := func(a, b time.Time) bool { return a.Sub(b) <= d && b.Sub(a) <= d }
	for range len(out) * 4 {
		i, j := r.IntN(len(out)), r.IntN(len(out))
		if i > j {
			i, j = j, i
		}
		ok := true
		for k := i; k <= j && ok; k++ {
			ok = near(out[k].Time, out[i].Time) && near(out[k].Time, out[j].Time)
		}
		if ok {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

func TestConfig(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if n := len(Detectors(cfg)); n != 2 {
		t.Errorf("%d detectors, want 2", n)
	}
	bad := cfg
	bad.MaxEvidence = 0
	bad.OperationFromSuspiciousIP.Categories = nil
	bad.OperationFromSuspiciousProxyIP.Window = 0
	if err := bad.Validate(); err == nil {
		t.Error("bad config validates")
	}
	off := cfg
	off.OperationFromSuspiciousIP.Enabled = false
	if ds := Detectors(off); len(ds) != 1 || ds[0].Name() != TypeOperationFromSuspiciousProxyIP {
		t.Errorf("disabling one left %d detectors", len(ds))
	}
}
