package evaluate

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/simulate"
)

// intelConfig is the default configuration with the shipped Tor and ipsum
// lists, which the simulator's attack addresses come from.
func intelConfig() config.Config {
	cfg := config.Default()
	cfg.Intel.Tor = []string{"../examples/intel/tor-exit-nodes.lst"}
	cfg.Intel.Blocklists = []config.Blocklist{{Path: "../examples/intel/ipsum.txt", Category: "malicious", Source: "ipsum"}}
	return cfg
}

// estateConfig is intelConfig adapted to the estate (ForEstate).
func estateConfig(t *testing.T, est *simulate.Estate) config.Config {
	t.Helper()
	cfg, err := ForEstate(intelConfig(), est, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ARMBehaviour.UnusedAccount.MinIdle != EstateIdle || len(cfg.Intel.GeoIP) != 1 || len(cfg.ARMBehaviour.ExceptRanges) != 1 {
		t.Fatalf("ForEstate: %+v", cfg.ARMBehaviour)
	}
	return cfg
}

// TestEfficacyOnA21DayEstate runs every detection over a simulated 21-day
// estate and holds them to the target: every injected attack found, at most
// one false positive per alert type per 1,000 vault-days of benign activity.
func TestEfficacyOnA21DayEstate(t *testing.T) {
	if testing.Short() {
		t.Skip("a 21-day estate takes a while; run without -short")
	}
	est, err := simulate.NewEstate(simulate.EstateOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), est, estateConfig(t, est))
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("efficacy:\n%s", table.String())
	if os.Getenv("VIGIL_EVAL_OUT") != "" {
		_ = os.WriteFile(os.Getenv("VIGIL_EVAL_OUT"), []byte(table.String()), 0o644)
	}
	if rep.Alerts == 0 || len(rep.Rows) == 0 {
		t.Fatal("no alerts at all")
	}
	if !rep.Passed(1) {
		t.Errorf("efficacy target missed:\n%s", table.String())
	}
}
