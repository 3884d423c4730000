package evaluate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/simulate"
)

// TestNetworkEfficacyOn21Days runs the network detections over a simulated
// 21-day network estate exported as IPFIX at each sampling rate and holds
// them to the targets: unsampled and at 1-in-10 every injected attack found,
// at 1-in-100 at least 11 of 12, at 1-in-1000 what one sampled record names
// (the C2 beacon and the listed pool; see the README); at every rate at
// most one false positive per alert type per 1,000 VM-days. Estates of four
// more seeds are held to the sampled targets too.
func TestNetworkEfficacyOn21Days(t *testing.T) {
	if testing.Short() {
		t.Skip("a 21-day network estate takes a while; run without -short")
	}
	type target struct {
		seed     uint64
		sampling uint32
		minFound int // of the estate's 12 attacks
	}
	tests := []target{{1, 1, 12}, {1, 10, 12}, {1, 100, 11}, {1, 1000, 2}}
	for seed := uint64(2); seed <= 5; seed++ {
		tests = append(tests, target{seed, 100, 11}, target{seed, 1000, 1})
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("seed-%d-1-in-%d", tc.seed, tc.sampling), func(t *testing.T) {
			est, err := simulate.NewFlowEstate(simulate.FlowEstateOptions{Seed: tc.seed, SamplingRate: tc.sampling})
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
			t.Logf("network efficacy at 1-in-%d:\n%s", tc.sampling, table.String())
			attacks, found := 0, 0
			for _, r := range rep.Rows {
				attacks += r.Attacks
				found += r.Found
				if r.FPPer1000VaultDays > 1 {
					t.Errorf("%s: %d false positives, %.2f per 1,000 VM-days", r.Type, r.FalsePositives, r.FPPer1000VaultDays)
				}
			}
			if attacks != 12 {
				t.Errorf("%d attacks labelled, want 12", attacks)
			}
			if found < tc.minFound {
				t.Errorf("found %d of %d attacks, want at least %d:\n%s", found, attacks, tc.minFound, table.String())
			}
		})
	}
}
