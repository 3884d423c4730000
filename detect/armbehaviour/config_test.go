package armbehaviour

import (
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestConfigDefaultsValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if n := len(Detectors(cfg)); n != 3 {
		t.Errorf("%d detectors, want 3", n)
	}
	cfg.Recon.Enabled, cfg.UnusedAccount.Enabled, cfg.UnusedPowerShell.Enabled, cfg.ImpossibleTravel.Enabled = false, false, false, false
	cfg.InfrequentCountry.Enabled, cfg.PrivilegedRole.Enabled = false, false
	if n := len(Detectors(cfg)); n != 0 {
		t.Errorf("everything off: %d detectors", n)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"look-back shorter than idleness", func(c *Config) { c.LookBack = 30 * 24 * time.Hour }, "lookBack must exceed unusedAccountPersistence.minIdle"},
		{"bad range", func(c *Config) { c.ExceptRanges = []string{"10.0.0.0/33"} }, `exceptRanges: "10.0.0.0/33" is not a CIDR`},
		{"bad persistence op", func(c *Config) { c.PersistenceOperations = []string{"roleAssignments/write"} }, "is not a Resource Manager operation"},
		{"unknown sweep type", func(c *Config) { c.Recon.Sweeps[0].Type = "ARM_NoSuch" }, "type is not in the alert catalogue"},
		{"sweep of one", func(c *Config) { c.Recon.Sweeps[0].MinResources = 1 }, "minResources must be between 2"},
		{"sweep kind", func(c *Config) { c.Recon.Sweeps[0].Kind = "flow" }, "kind must be activity or keyvault"},
		{"vault op with a slash", func(c *Config) { c.Recon.Sweeps[4].Operations = []string{"Microsoft.KeyVault/vaults/read"} }, "is not a Key Vault operation name"},
		{"wildcard sensitive action", func(c *Config) { c.PrivilegedRole.SensitiveActions = []string{"Microsoft.Authorization/*"} }, "without wildcards"},
		{"slow traveller", func(c *Config) { c.ImpossibleTravel.MaxSpeedKmh = 50 }, "maxSpeedKmh must be a number >= 100"},
		{"no PowerShell apps", func(c *Config) { c.UnusedPowerShell.ClientApps = nil }, "clientApps is empty"},
		{"negative org users", func(c *Config) { c.InfrequentCountry.MaxOrgPrincipals = -1 }, "maxOrgPrincipals must be >= 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestConfigYAML decodes keys as config.Load does (strict, over the defaults).
func TestConfigYAML(t *testing.T) {
	src := `
exceptRanges: [100.64.0.0/16]
unusedAccountPersistence: {minIdle: 2160h}
impossibleTravel: {maxSpeedKmh: 900}
recon:
  sweeps:
    - {type: ARM_MicroBurst.AZStorageKeysREST, kind: activity, minResources: 6, window: 5m,
       operations: [Microsoft.Storage/storageAccounts/listKeys/action]}
`
	cfg := DefaultConfig()
	if err := yaml.UnmarshalWithOptions([]byte(src), &cfg, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.UnusedAccount.MinIdle != 90*24*time.Hour || cfg.ImpossibleTravel.MaxSpeedKmh != 900 || len(cfg.Recon.Sweeps) != 1 ||
		cfg.Recon.Sweeps[0].MinResources != 6 || cfg.ExceptRanges[0] != "100.64.0.0/16" || !cfg.Recon.Enabled {
		t.Errorf("decoded %+v", cfg)
	}
	if err := yaml.UnmarshalWithOptions([]byte("recon: {sweep: []}"), &cfg, yaml.Strict()); err == nil {
		t.Error("unknown key accepted")
	}
}
