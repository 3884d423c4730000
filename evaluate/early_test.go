package evaluate

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/simulate"
)

// TestEarlyEmissionChangesNoAlert: on the 21-day estate with an attack of
// every Key Vault and Resource Manager type, emitting early (provisional
// alerts confirmed by the in-order pass) gives exactly the alerts of the
// in-order pass alone: same IDs, counts, times, evidence and severities,
// and none left provisional. Some of them must have been announced early,
// or the test would prove nothing.
func TestEarlyEmissionChangesNoAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("a 21-day estate takes a while; run without -short")
	}
	est, err := simulate.NewEstate(simulate.EstateOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := intelConfig()
	// A replayed file fills batches of hours of events, so with the default
	// lateness most findings are released within their own batch; a longer
	// lateness leaves them pending at the batch's end, where early emission
	// works, as it does for a live input.
	cfg.Engine.Lateness = 3 * time.Hour
	cfg.Engine.EmitEarly = false
	want, none, err := detectAll(context.Background(), est, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine.EmitEarly = true
	got, early, err := detectAll(context.Background(), est, cfg)
	if err != nil {
		t.Fatal(err)
	}
	byID := func(a, b *alert.Alert) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(want, byID)
	slices.SortFunc(got, byID)
	if len(got) != len(want) {
		t.Fatalf("%d alerts emitting early, %d in order", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Provisional() {
			t.Errorf("%s %s left provisional", g.Type, g.ID)
		}
		// Updated is the wall clock of the last write.
		w.Updated = g.Updated
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s %s differs:\n early    %+v\n in order %+v", w.Type, w.ID, g, w)
		}
	}
	if len(want) == 0 || len(none) != 0 {
		t.Fatalf("%d alerts, %v opened early with emitEarly off", len(want), none)
	}
	// Each detection that can decide on what has arrived did.
	for _, typ := range []string{"KV_TORAccess", "KV_SuspiciousIPAccess", "KV_ListGetAnomaly", "KV_PutGetAnomaly",
		"KV_UserAnomaly", "KV_AppAnomaly", "KV_UserAppAnomaly", "ARM_OperationFromSuspiciousProxyIP", "ARM_OperationFromSuspiciousIP"} {
		if early[typ] == 0 {
			t.Errorf("no %s alert was opened early (early: %v)", typ, early)
		}
	}
	t.Logf("%d alerts; opened early: %v", len(want), early)
}
