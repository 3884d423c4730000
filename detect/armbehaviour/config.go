package armbehaviour

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/kvbehaviour"
)

// Alert types (catalogue ids, Defender's names).
const (
	TypeStorageKeysSweep     = "ARM_MicroBurst.AZStorageKeysREST"
	TypeVMBulkCommand        = "ARM_MicroBurst.AzVMBulkCMD"
	TypeDomainInfo           = "ARM_MicroBurst.AzDomainInfo"
	TypeKeyVaultSecretsSweep = "ARM_MicroBurst.AzKeyVaultSecretsREST"
	TypeKeyVaultKeysSweep    = "ARM_MicroBurst.AzKeyVaultKeysREST"
	TypeAzurite              = "ARM_Azurite"
	TypeUnusedAccount        = "ARM_UnusedAccountPersistence"
	TypeUnusedPowerShell     = "ARM_UnusedAppPowershellPersistence"
	TypePrivilegedRole       = "ARM_PrivilegedRoleDefinitionCreation"
	TypeInfrequentCountry    = "ARM.MCAS_ActivityFromInfrequentCountry"
	TypeImpossibleTravel     = "ARM.MCAS_ImpossibleTravelActivity"
)

// Detector names (metrics, snapshots).
const (
	NamePrincipal = "arm-principal"
	NameTenant    = "arm-tenant"
	NameRoles     = "arm-roles"
)

// Well-known client application IDs (Microsoft Learn, "Verify first-party
// Microsoft applications in sign-in reports").
const (
	AppAzurePowerShell = "1950a258-227b-4e31-a9cf-717495945fc2"
	AppAzureCLI        = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	// AppBackupManagement is Azure Backup's "Backup Management Service".
	AppBackupManagement = "262044b1-e2ce-469f-a196-69ab7ada62d3"
)

// Sweep is one toolkit pattern: one principal performs Operations on at
// least MinResources distinct resources (and, when MinProviders > 1, of
// that many resource providers) within Window, more than its own busiest
// window within the look-back.
type Sweep struct {
	// Type is the alert type the sweep raises.
	Type string `yaml:"type"`
	// Kind is the log the operations are in: "activity" (Resource Manager
	// operation names, compared ignoring case; a trailing "*" matches any
	// rest) or "keyvault" (Key Vault AuditEvent operation names).
	Kind string `yaml:"kind"`
	// Operations are the operation names counted.
	Operations []string `yaml:"operations"`
	// MinResources is the least number of distinct resources (Key Vault:
	// vaults) that make a sweep.
	MinResources int `yaml:"minResources"`
	// MinProviders is the least number of distinct resource providers;
	// 0 or 1 does not ask for breadth.
	MinProviders int `yaml:"minProviders"`
	// Window is how long a sweep is gathered from its first operation.
	Window time.Duration `yaml:"window"`
}

// Recon configures the toolkit detections (MicroBurst, Azurite).
type Recon struct {
	// Enabled turns them on. Default true.
	Enabled bool `yaml:"enabled"`
	// Sweeps are the patterns. Default: DefaultSweeps.
	Sweeps []Sweep `yaml:"sweeps"`
	// PeakRatio: a principal's sweep counts only when it reaches more than
	// PeakRatio times the principal's own busiest sweep of the pattern in
	// the look-back, so a backup job or pipeline that lists every vault or
	// account each night stays quiet when one more is created. Default 1.5.
	PeakRatio float64 `yaml:"peakRatio"`
}

// DefaultSweeps returns the toolkit patterns as the toolkits' own code
// calls Azure (NetSPI/MicroBurst: REST/Get-AZStorageKeysREST.ps1 POSTs
// .../storageAccounts/NAME/listKeys for every account of every
// subscription; Az/Invoke-AzVMBulkCMD.ps1 and REST/Invoke-AzVMCommandREST.ps1
// POST .../virtualMachines/NAME/runCommand on every VM; Az/Get-AzPasswords.ps1
// lists the keys and credentials of storage, Cosmos DB, container
// registries, web apps, Service Bus, Cognitive Services, Batch and container
// apps; REST/Get-AzKeyVaultSecretsREST.ps1 and Get-AzKeyVaultKeysREST.ps1
// GET https://VAULT.vault.azure.net/secrets (keys) of every vault;
// mwrlabs/Azurite's AzuriteExplorer.ps1 fetches every web app's publishing
// profile). The Activity Log records writes and POST actions, never reads,
// so what an enumeration leaves in it is its list actions; the Key Vault
// sweeps are in the vaults' audit logs. Thresholds are this project's: the
// toolkits touch every resource of a kind within seconds to minutes, an
// administrator a few.
func DefaultSweeps() []Sweep {
	return []Sweep{
		{Type: TypeStorageKeysSweep, Kind: "activity", MinResources: 4, Window: 10 * time.Minute,
			Operations: []string{"Microsoft.Storage/storageAccounts/listKeys/action"}},
		{Type: TypeVMBulkCommand, Kind: "activity", MinResources: 3, Window: 30 * time.Minute,
			Operations: []string{
				"Microsoft.Compute/virtualMachines/runCommand/action",
				"Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommand/action",
				"Microsoft.Compute/virtualMachines/runCommands/write",
			}},
		{Type: TypeAzurite, Kind: "activity", MinResources: 3, Window: 10 * time.Minute,
			Operations: []string{"Microsoft.Web/sites/publishxml/action", "Microsoft.Web/sites/slots/publishxml/action"}},
		{Type: TypeDomainInfo, Kind: "activity", MinResources: 5, MinProviders: 3, Window: 15 * time.Minute,
			Operations: []string{
				"Microsoft.Storage/storageAccounts/listKeys/action",
				"Microsoft.Storage/storageAccounts/listAccountSas/action",
				"Microsoft.DocumentDB/databaseAccounts/listKeys/action",
				"Microsoft.ContainerRegistry/registries/listCredentials/action",
				"Microsoft.Web/sites/publishxml/action",
				"Microsoft.Web/sites/config/list/action",
				"Microsoft.ServiceBus/namespaces/authorizationRules/listKeys/action",
				"Microsoft.EventHub/namespaces/authorizationRules/listKeys/action",
				"Microsoft.CognitiveServices/accounts/listKeys/action",
				"Microsoft.Batch/batchAccounts/listKeys/action",
				"Microsoft.App/containerApps/listSecrets/action",
				"Microsoft.ContainerService/managedClusters/listClusterAdminCredential/action",
				"Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
				"Microsoft.Automation/automationAccounts/listKeys/action",
			}},
		{Type: TypeKeyVaultSecretsSweep, Kind: "keyvault", MinResources: 3, Window: 10 * time.Minute,
			Operations: []string{"SecretList"}},
		{Type: TypeKeyVaultKeysSweep, Kind: "keyvault", MinResources: 3, Window: 10 * time.Minute,
			Operations: []string{"KeyList"}},
	}
}

// UnusedAccount configures ARM_UnusedAccountPersistence. Defender: "a
// principal not used for a long period of time is now performing actions
// that can secure persistence for an attacker".
type UnusedAccount struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// MinIdle is how long the principal must have been silent. Default
	// 60 days (Vigil's issue 12; Microsoft Entra's access reviews call a
	// user inactive after 30 to 90 days without sign-in).
	MinIdle time.Duration `yaml:"minIdle"`
}

// UnusedPowerShell configures ARM_UnusedAppPowershellPersistence. Defender:
// "a principal that doesn't regularly use PowerShell to manage the
// subscription environment is now using PowerShell, and performing actions
// that can secure persistence for an attacker".
type UnusedPowerShell struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// ClientApps are the client application IDs (the token's appid claim)
	// of PowerShell. Default [Azure PowerShell].
	ClientApps []string `yaml:"clientApps"`
	// MinHistory is how many operations the principal must have been seen
	// making (none through ClientApps) before. Default 20.
	MinHistory int `yaml:"minHistory"`
}

// PrivilegedRole configures ARM_PrivilegedRoleDefinitionCreation (Defender:
// "Usage of advanced Azure persistence techniques": custom roles given to
// legitimised identity entities).
type PrivilegedRole struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// SensitiveActions are operations a custom role must not grant lightly;
	// a role whose actions (wildcards included: "*", "*/write",
	// "Microsoft.Authorization/*") cover one of them is privileged. Default:
	// the actions of Microsoft's privileged built-in roles (Owner's "*",
	// User Access Administrator's Microsoft.Authorization/*) and the
	// persistence writes of Microsoft's Azure threat research matrix.
	SensitiveActions []string `yaml:"sensitiveActions"`
	// AssignWindow is how long after the definition an assignment of the
	// role raises the severity. Default 7 days.
	AssignWindow time.Duration `yaml:"assignWindow"`
}

// InfrequentCountry configures ARM.MCAS_ActivityFromInfrequentCountry.
// Defender (seed 004): "activity from a location that wasn't recently or
// ever visited by any user in the organization".
type InfrequentCountry struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// MaxOrgPrincipals: the country is rare for the organisation when at
	// most this many other users of the tenant used it in the look-back.
	// Default 0 (seed 004: a location "not recently or ever visited by any
	// user in the organization").
	MaxOrgPrincipals int `yaml:"maxOrgPrincipals"`
	// MaxPrincipals bounds the users a tenant keeps. Default 100000.
	MaxPrincipals int `yaml:"maxPrincipals"`
}

// ImpossibleTravel configures ARM.MCAS_ImpossibleTravelActivity. Defender
// (seed 004): "two user activities originating from geographically distant
// locations within a time period shorter than the time it would have taken
// the user to travel from the first location to the second"; 7-day initial
// learning; VPNs and locations regularly used by the organisation ignored.
type ImpossibleTravel struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// MaxSpeedKmh is the fastest a person travels. Default 1000 km/h, above
	// a jet airliner's cruising speed (about 900 km/h).
	MaxSpeedKmh float64 `yaml:"maxSpeedKmh"`
	// MinDistanceKm is the least distance, after both locations' accuracy
	// radii are subtracted, that counts. Default 500 km.
	MinDistanceKm float64 `yaml:"minDistanceKm"`
	// MinKnownDays: a place the user was seen at on this many distinct days
	// before is one of its regular locations; travel between two regular
	// locations is not impossible travel (a split VPN). Default 2.
	MinKnownDays int `yaml:"minKnownDays"`
}

// Config holds the settings of the behavioural Resource Manager detections.
type Config struct {
	// MaxEvidence is the most records one candidate carries. Default 20.
	MaxEvidence int `yaml:"maxEvidence"`
	// Learning is how long after a principal's (tenant's) first operation
	// nothing it does is new. Default 7 days (Defender's learning period).
	Learning time.Duration `yaml:"learning"`
	// LookBack is how long a principal's history is kept after its last
	// operation. Default 120 days (it must exceed UnusedAccount.MinIdle).
	LookBack time.Duration `yaml:"lookBack"`
	// Window is how long after a principal's return (unused account) or
	// first PowerShell use its persistence writes are gathered. Default 24h.
	Window time.Duration `yaml:"window"`
	// PersistenceOperations are the writes that can secure persistence
	// (Resource Manager operation names, ignoring case, "*" suffix
	// allowed): role assignments and definitions, credentials of identities,
	// Automation runbooks, webhooks and schedules, VM extensions and run
	// commands, Logic Apps, access policies, elevated access.
	PersistenceOperations []string `yaml:"persistenceOperations"`
	// ServiceApps are Microsoft's own services whose operations are nobody's
	// behaviour (Azure Resource Graph, Policy Insights, Resource Manager,
	// Defender for Cloud, Azure Backup): app principals with these app IDs
	// are not followed.
	ServiceApps []string `yaml:"serviceApps"`
	// ExceptRanges are the organisation's VPN, proxy and egress ranges
	// (CIDRs): operations from them have no location of their own and are
	// left out of the country and travel detections.
	ExceptRanges []string `yaml:"exceptRanges"`

	Recon             Recon             `yaml:"recon"`
	UnusedAccount     UnusedAccount     `yaml:"unusedAccountPersistence"`
	UnusedPowerShell  UnusedPowerShell  `yaml:"unusedAppPowershellPersistence"`
	PrivilegedRole    PrivilegedRole    `yaml:"privilegedRoleDefinitionCreation"`
	InfrequentCountry InfrequentCountry `yaml:"activityFromInfrequentCountry"`
	ImpossibleTravel  ImpossibleTravel  `yaml:"impossibleTravel"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		MaxEvidence: 20,
		Learning:    7 * 24 * time.Hour,
		LookBack:    120 * 24 * time.Hour,
		Window:      24 * time.Hour,
		PersistenceOperations: []string{
			"Microsoft.Authorization/roleAssignments/write",
			"Microsoft.Authorization/roleDefinitions/write",
			"Microsoft.Authorization/elevateAccess/action",
			"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
			"Microsoft.Automation/automationAccounts/runbooks/*",
			"Microsoft.Automation/automationAccounts/webhooks/write",
			"Microsoft.Automation/automationAccounts/jobSchedules/write",
			"Microsoft.Automation/automationAccounts/credentials/write",
			"Microsoft.Compute/virtualMachines/extensions/write",
			"Microsoft.Compute/virtualMachineScaleSets/extensions/write",
			"Microsoft.Compute/virtualMachines/runCommands/write",
			"Microsoft.Logic/workflows/write",
			"Microsoft.KeyVault/vaults/accessPolicies/write",
			"Microsoft.Web/sites/functions/write",
		},
		ServiceApps: []string{
			kvbehaviour.AppResourceGraph, kvbehaviour.AppPolicyInsights, kvbehaviour.AppResourceManager,
			kvbehaviour.AppSecurityResourceProvider, AppBackupManagement,
		},
		Recon:            Recon{Enabled: true, Sweeps: DefaultSweeps(), PeakRatio: 1.5},
		UnusedAccount:    UnusedAccount{Enabled: true, MinIdle: 60 * 24 * time.Hour},
		UnusedPowerShell: UnusedPowerShell{Enabled: true, ClientApps: []string{AppAzurePowerShell}, MinHistory: 20},
		PrivilegedRole: PrivilegedRole{
			Enabled: true,
			SensitiveActions: []string{
				"Microsoft.Authorization/roleAssignments/write",
				"Microsoft.Authorization/roleDefinitions/write",
				"Microsoft.Authorization/elevateAccess/action",
				"Microsoft.Authorization/policyExemptions/write",
				"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
				"Microsoft.Compute/virtualMachines/runCommand/action",
				"Microsoft.Compute/virtualMachines/extensions/write",
				"Microsoft.Automation/automationAccounts/runbooks/write",
				"Microsoft.KeyVault/vaults/accessPolicies/write",
			},
			AssignWindow: 7 * 24 * time.Hour,
		},
		InfrequentCountry: InfrequentCountry{Enabled: true, MaxOrgPrincipals: 0, MaxPrincipals: 100_000},
		ImpossibleTravel:  ImpossibleTravel{Enabled: true, MaxSpeedKmh: 1000, MinDistanceKm: 500, MinKnownDays: 2},
	}
}

// Limits of the settings.
const (
	maxLearning      = 90 * 24 * time.Hour
	maxLookBack      = 400 * 24 * time.Hour
	maxSweepWindow   = 24 * time.Hour
	maxSweepMin      = maxSweepResources
	maxPrincipalsCap = 10_000_000
)

// Validate checks values the types alone cannot.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.MaxEvidence < 1 {
		bad("maxEvidence must be >= 1, got %d", c.MaxEvidence)
	}
	if c.Learning < 0 || c.Learning > maxLearning {
		bad("learning must be between 0 and %s, got %s", maxLearning, c.Learning)
	}
	if c.LookBack <= c.UnusedAccount.MinIdle || c.LookBack > maxLookBack {
		bad("lookBack must exceed unusedAccountPersistence.minIdle (%s) and be at most %s, got %s", c.UnusedAccount.MinIdle, maxLookBack, c.LookBack)
	}
	if c.Window <= 0 || c.Window > 7*24*time.Hour {
		bad("window must be > 0 and at most 168h, got %s", c.Window)
	}
	for _, n := range c.PersistenceOperations {
		if !isARMOperation(n) {
			bad("persistenceOperations: %q is not a Resource Manager operation (Provider/type/action)", n)
		}
	}
	for _, r := range c.ExceptRanges {
		if _, err := netip.ParsePrefix(r); err != nil {
			bad("exceptRanges: %q is not a CIDR: %v", r, err)
		}
	}
	if !(c.Recon.PeakRatio >= 1) || math.IsInf(c.Recon.PeakRatio, 1) {
		bad("recon.peakRatio must be a number >= 1, got %g", c.Recon.PeakRatio)
	}
	if c.Recon.Enabled && len(c.Recon.Sweeps) == 0 {
		bad("recon.sweeps is empty")
	}
	for i, s := range c.Recon.Sweeps {
		p := fmt.Sprintf("recon.sweeps[%d] (%s)", i, s.Type)
		if _, ok := alert.Lookup(s.Type); !ok {
			bad("%s: type is not in the alert catalogue", p)
		}
		switch s.Kind {
		case "activity":
			for _, n := range s.Operations {
				if !isARMOperation(n) {
					bad("%s: %q is not a Resource Manager operation", p, n)
				}
			}
		case "keyvault":
			for _, n := range s.Operations {
				if strings.Contains(n, "/") || n == "" {
					bad("%s: %q is not a Key Vault operation name", p, n)
				}
			}
		default:
			bad("%s: kind must be activity or keyvault, got %q", p, s.Kind)
		}
		if len(s.Operations) == 0 {
			bad("%s: no operations", p)
		}
		if s.MinResources < 2 || s.MinResources > maxSweepMin {
			bad("%s: minResources must be between 2 and %d, got %d", p, maxSweepMin, s.MinResources)
		}
		if s.MinProviders < 0 || s.MinProviders > s.MinResources {
			bad("%s: minProviders must be between 0 and minResources, got %d", p, s.MinProviders)
		}
		if s.Window <= 0 || s.Window > maxSweepWindow {
			bad("%s: window must be > 0 and at most %s, got %s", p, maxSweepWindow, s.Window)
		}
	}
	if c.UnusedAccount.MinIdle < 24*time.Hour {
		bad("unusedAccountPersistence.minIdle must be at least 24h, got %s", c.UnusedAccount.MinIdle)
	}
	ps := &c.UnusedPowerShell
	if ps.Enabled && len(ps.ClientApps) == 0 {
		bad("unusedAppPowershellPersistence.clientApps is empty")
	}
	if ps.MinHistory < 1 {
		bad("unusedAppPowershellPersistence.minHistory must be >= 1, got %d", ps.MinHistory)
	}
	pr := &c.PrivilegedRole
	if pr.Enabled && len(pr.SensitiveActions) == 0 {
		bad("privilegedRoleDefinitionCreation.sensitiveActions is empty")
	}
	for _, n := range pr.SensitiveActions {
		if !isARMOperation(n) || strings.Contains(n, "*") {
			bad("privilegedRoleDefinitionCreation.sensitiveActions: %q is not a Resource Manager operation without wildcards", n)
		}
	}
	if pr.AssignWindow <= 0 || pr.AssignWindow > 90*24*time.Hour {
		bad("privilegedRoleDefinitionCreation.assignWindow must be > 0 and at most 2160h, got %s", pr.AssignWindow)
	}
	ic := &c.InfrequentCountry
	if ic.MaxOrgPrincipals < 0 {
		bad("activityFromInfrequentCountry.maxOrgPrincipals must be >= 0, got %d", ic.MaxOrgPrincipals)
	}
	if ic.MaxPrincipals < 1 || ic.MaxPrincipals > maxPrincipalsCap {
		bad("activityFromInfrequentCountry.maxPrincipals must be between 1 and %d, got %d", maxPrincipalsCap, ic.MaxPrincipals)
	}
	it := &c.ImpossibleTravel
	if !(it.MaxSpeedKmh >= 100) || math.IsInf(it.MaxSpeedKmh, 1) {
		bad("impossibleTravel.maxSpeedKmh must be a number >= 100, got %g", it.MaxSpeedKmh)
	}
	if !(it.MinDistanceKm >= 0) || it.MinDistanceKm > 20_000 {
		bad("impossibleTravel.minDistanceKm must be between 0 and 20000, got %g", it.MinDistanceKm)
	}
	if it.MinKnownDays < 1 {
		bad("impossibleTravel.minKnownDays must be >= 1, got %d", it.MinKnownDays)
	}
	return errors.Join(errs...)
}

// isARMOperation reports whether n looks like a Resource Manager operation:
// Provider/type[/...]/action, with an optional trailing "*".
func isARMOperation(n string) bool {
	parts := strings.Split(n, "/")
	if len(parts) < 2 || !strings.Contains(parts[0], ".") {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
	}
	return true
}

// Detectors returns the enabled detections: NamePrincipal (toolkit sweeps,
// unused account, PowerShell, impossible travel), NameTenant (infrequent
// country) and NameRoles (privileged role definitions). cfg should have
// passed Validate.
func Detectors(cfg Config) []detect.Detector {
	cfg.MaxEvidence = max(cfg.MaxEvidence, 1)
	var out []detect.Detector
	if p := newPrincipal(cfg); p.enabled() {
		out = append(out, p)
	}
	if cfg.InfrequentCountry.Enabled {
		out = append(out, newTenant(cfg))
	}
	if cfg.PrivilegedRole.Enabled {
		out = append(out, newRoles(cfg))
	}
	return out
}
