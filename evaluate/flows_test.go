package evaluate

import (
	"context"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/simulate"
)

// TestNetworkEfficacyOn21Days runs the network detections over a simulated
// 21-day network estate (unsampled IPFIX flows) and holds them to the
// target: every injected attack found, at most one false positive per alert
// type per 1,000 VM-days.
func TestNetworkEfficacyOn21Days(t *testing.T) {
	if testing.Short() {
		t.Skip("a 21-day network estate takes a while; run without -short")
	}
	est, err := simulate.NewFlowEstate(simulate.FlowEstateOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunFlows(context.Background(), est, intelConfig())
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("network efficacy:\n%s", table.String())
	if rep.Alerts == 0 {
		t.Fatal("no alerts at all")
	}
	if !rep.Passed(1) {
		t.Errorf("efficacy target missed:\n%s", table.String())
	}
}
