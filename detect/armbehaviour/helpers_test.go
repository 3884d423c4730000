package armbehaviour

import (
	"fmt"
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
	t0       = time.Date(2026, 8, 3, 9, 0, 0, 0, time.UTC) // a Monday
	tenantID = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
	sub      = "a921d5d4-bdb7-43c3-aa01-88c6ae24992f"
	rg       = "/subscriptions/" + sub + "/resourceGroups/prod"

	rob = event.Principal{ObjectID: "f409edeb-4d29-44b5-9763-ee9348ad91bb", UPN: "rob@contoso.com",
		AppID: AppAzureCLI, TenantID: tenantID, Name: "Rob Robertson", Type: event.PrincipalUser}
	ann = event.Principal{ObjectID: "30a6c29d-de7c-4830-815f-9b3bb366e975", UPN: "ann@contoso.com",
		AppID: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", TenantID: tenantID, Type: event.PrincipalUser}
	kim = event.Principal{ObjectID: "6e1b5d1c-8a3e-4f0e-9a55-2b7f3c1d9e20", UPN: "kim@contoso.com",
		AppID: AppAzureCLI, TenantID: tenantID, Type: event.PrincipalUser}
	pipeline = event.Principal{ObjectID: "d9da5048-2737-4770-bd64-0d1f6a2b3c4e", AppID: "7a1c3e5f-0b2d-4f6a-8c9e-1d3f5a7b9c0e",
		TenantID: tenantID, Type: event.PrincipalApp}
	graph = event.Principal{ObjectID: "0b5a1f3c-7d9e-4b2a-8c6d-4e0f2a1b3c5d", AppID: "509e4652-da8d-478d-a730-e9d4a1996ca4",
		TenantID: tenantID, Type: event.PrincipalApp}

	office    = "198.51.100.23"
	officeGeo = event.Geo{Country: "NL", City: "Amsterdam", Lat: 52.3740, Lon: 4.8897, HasLocation: true, AccuracyKm: 20}
	brazil    = "203.0.113.77"
	brazilGeo = event.Geo{Country: "BR", City: "São Paulo", Lat: -23.5475, Lon: -46.6361, HasLocation: true, AccuracyKm: 50}
)

// at is t0 plus d days and h hours.
func at(days int, h time.Duration) time.Time { return t0.Add(time.Duration(days)*24*time.Hour + h) }

// act builds an Activity Log operation (the succeeded record) by p from
// addr, with the operation name lower-cased as the decoder gives it.
func act(t time.Time, resource, operation string, p event.Principal, addr string, geo event.Geo, opts ...dt.Option) event.Op {
	base := []dt.Option{dt.Caller(p), dt.From(addr, geo), dt.Correlation(fmt.Sprintf("c-%d", t.UnixNano()))}
	op := dt.Activity(t, resource, lower(operation), append(base, opts...)...)
	op.TenantID = tenantID
	return op
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// body sets the record's request body.
func body(s string) dt.Option { return func(op *event.Op) { op.RequestBody = s } }

// routine is p's ordinary work: n deployments a day from addr on the given
// days (from day first, for days days), in office hours.
func routine(p event.Principal, addr string, geo event.Geo, first, days, n int) []event.Op {
	var ops []event.Op
	for d := first; d < first+days; d++ {
		for i := range n {
			ops = append(ops, act(at(d, time.Duration(i)*17*time.Minute), rg+"/providers/Microsoft.Resources/deployments/web-"+strconv.Itoa(i),
				"Microsoft.Resources/deployments/write", p, addr, geo))
		}
	}
	return ops
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

// run feeds ops (sorted by time) to a fresh shard, checks every candidate,
// and checks that a snapshot and restore halfway changes nothing.
func run(t *testing.T, cfg Config, name string, ops []event.Op) []alert.Candidate {
	t.Helper()
	sortOps(ops)
	dt.Number("activity.json", ops)
	d := detector(t, cfg, name)
	got := dt.Run(d, 5*time.Minute, ops)
	for _, c := range got {
		dt.CheckCandidate(t, c, cfg.MaxEvidence)
		if _, ok := alert.Lookup(c.Type); !ok {
			t.Errorf("candidate type %s is not in the catalogue", c.Type)
		}
		e, _ := alert.Lookup(c.Type)
		for _, lang := range alert.Languages {
			if _, err := e.Describe(lang, withManaged(c)); err != nil {
				t.Errorf("%s: %v", c.Type, err)
			}
		}
	}
	if len(ops) > 2 {
		again, err := dt.RunReload(detector(t, cfg, name), 5*time.Minute, ops, len(ops)/2)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != len(got) {
			t.Errorf("after a reload halfway: %d candidates, want %d", len(again), len(got))
		}
	}
	return got
}

// withManaged adds the details the alert manager maintains.
func withManaged(c alert.Candidate) map[string]string {
	m := map[string]string{"count": strconv.Itoa(c.Count), "first": c.First.Format(time.RFC3339), "last": c.Last.Format(time.RFC3339)}
	for k, v := range c.Details {
		m[k] = v
	}
	return m
}

func sortOps(ops []event.Op) {
	slices.SortStableFunc(ops, func(a, b event.Op) int { return a.Time.Compare(b.Time) })
}

// types lists the candidates' types.
func types(cs []alert.Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Type)
	}
	return out
}

func cat(parts ...[]event.Op) []event.Op {
	var out []event.Op
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
