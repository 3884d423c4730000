package armbehaviour

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// feed runs ops through a fresh shard of d as the engine does and returns it.
func feed(d detect.Detector, ops []event.Op) detect.Shard {
	sh := d.NewShard()
	em := &discard{}
	for i := range ops {
		if key, ok := d.PartitionKey(&ops[i]); ok {
			sh.Process(&ops[i], key, em)
		}
		sh.Advance(ops[i].Time.Add(-5*time.Minute), em)
	}
	return sh
}

// stateOf decodes the state a shard saves for key into s.
func stateOf[S any](t *testing.T, sh detect.Shard, key string, s *S) {
	t.Helper()
	found := false
	err := sh.Snapshot(func(k string, state []byte) error {
		if k != key {
			return nil
		}
		found = true
		env := struct {
			S *S `json:"s"`
		}{S: s}
		return json.Unmarshal(state, &env)
	})
	if err != nil || !found {
		t.Fatalf("state of %q: found %v, %v", key, found, err)
	}
}

// TestStateIsBounded: a principal that sweeps 2,000 accounts at once and
// works from 100 cities, and a tenant with more users than MaxPrincipals,
// keep no more than the documented bounds.
func TestStateIsBounded(t *testing.T) {
	ops := cat(routine(rob, office, officeGeo, 0, 8, 1), listKeys(rob, office, at(9, 0), 0, 2000, 100*time.Millisecond))
	for i := range 100 {
		g := event.Geo{Country: "NL", City: "c" + strconv.Itoa(i), Lat: 50 + float64(i)/100, Lon: 4, HasLocation: true, AccuracyKm: 20}
		ops = append(ops, act(at(10, time.Duration(i)*time.Hour), storage(1), "Microsoft.Resources/deployments/write", rob, office, g))
	}
	sortOps(ops)
	sh := feed(detector(t, DefaultConfig(), NamePrincipal), ops[:len(ops)-100])
	sh.Advance(at(9, 6*time.Minute), &discard{}) // the sweep is released, its window (10m) still open
	var s pState
	stateOf(t, sh, rob.ObjectID, &s)
	if len(s.Sweeps) == 0 {
		t.Fatal("no sweep kept")
	}
	for _, sw := range s.Sweeps {
		if len(sw.Resources) != maxSweepResources || len(sw.Acc.Recs) > DefaultConfig().MaxEvidence {
			t.Errorf("sweep %s keeps %d resources (bound %d), %d records", sw.Type, len(sw.Resources), maxSweepResources, len(sw.Acc.Recs))
		}
	}
	sh = feed(detector(t, DefaultConfig(), NamePrincipal), ops)
	s = pState{}
	stateOf(t, sh, rob.ObjectID, &s)
	if len(s.Places) != maxPlaces {
		t.Errorf("%d places kept, want the bound %d", len(s.Places), maxPlaces)
	}

	cfg := DefaultConfig()
	cfg.InfrequentCountry.MaxPrincipals = 50
	var users []event.Op
	for i := range 200 {
		p := event.Principal{UPN: "u" + strconv.Itoa(i) + "@contoso.com", TenantID: tenantID, Type: event.PrincipalUser}
		users = append(users, act(at(0, time.Duration(i)*time.Minute), storage(1), "Microsoft.Resources/deployments/write", p, office, officeGeo))
	}
	ts := feed(detector(t, cfg, NameTenant), users)
	ts.Advance(at(1, 0), &discard{})
	var tst tState
	stateOf(t, ts, tenantID, &tst)
	if len(tst.Users) != 50 {
		t.Errorf("tenant keeps %d users, want MaxPrincipals (50)", len(tst.Users))
	}
}
