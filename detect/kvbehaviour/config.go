package kvbehaviour

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
)

// Alert types (catalogue ids, Defender's names).
const (
	TypeUserAnomaly             = "KV_UserAnomaly"
	TypeAppAnomaly              = "KV_AppAnomaly"
	TypeUserAppAnomaly          = "KV_UserAppAnomaly"
	TypeOperationPatternAnomaly = "KV_OperationPatternAnomaly"
	TypeOperationVolumeAnomaly  = "KV_OperationVolumeAnomaly"
	TypeAccountVolumeAnomaly    = "KV_AccountVolumeAnomaly"
)

// Detector names (metrics, snapshots): one detector per partition.
const (
	NameVault  = "kvbehaviour.vault"
	NameTenant = "kvbehaviour.tenant"
)

// CatalogueSeverity is the severity Defender's "Alerts for Azure Key Vault"
// gives all six alerts (Medium). Candidates leave Severity empty so the
// catalogue decides; a detection sets it only to raise it one step.
const CatalogueSeverity = alert.SeverityMedium

// Config holds the settings of the six behavioural Key Vault detections.
// The zero value is not useful: start from DefaultConfig (the YAML file is
// decoded over it).
type Config struct {
	// MaxEvidence is the most records one candidate carries. Default 20,
	// as the other Key Vault detections.
	MaxEvidence int `yaml:"maxEvidence"`
	// Learning is how much event time a scope (a vault, a principal, a
	// tenant's population) must have been observed before anything in it
	// is new or unusual. Default 7 days (168h): the learning period
	// Defender for Cloud Apps documents for its anomaly detections, which
	// Defender for Resource Manager reuses.
	Learning time.Duration `yaml:"learning"`
	// LookBack is how long a principal, application, user-application pair
	// or operation is remembered without being seen; after it, it is new
	// again. Default 90 days (2160h): Microsoft Sentinel's UEBA keeps
	// "first time" baselines of 30 to 180 days; 90 days lets a quarterly job
	// come back without an alert, and a scope whose every key expired learns
	// again.
	LookBack time.Duration `yaml:"lookBack"`
	// HistoryDays is how many days of hourly and daily counts the volume
	// detections keep. Default 35: five weeks, so a monthly job is in the
	// history when it runs again, and every hour of the day has 35 samples.
	HistoryDays int `yaml:"historyDays"`
	// Window is how long after its first unusual operation a principal's
	// further activity is gathered into one summary candidate (with the
	// same fingerprint, so the alert manager merges it into the first).
	// Default 1h.
	Window time.Duration `yaml:"window"`
	// Exceptions are callers no behavioural detection looks at: known
	// benign Microsoft services. Default: DefaultExceptions.
	Exceptions []Exception `yaml:"exceptions"`
	// RaiseCategories and RaiseMinScore: an address with intelligence of
	// one of these categories (scored entries at least RaiseMinScore)
	// raises a candidate's severity one step. Defaults [tor, malicious, c2]
	// and 3, as KV_TORAccess and KV_SuspiciousIPAccess use them.
	RaiseCategories []string `yaml:"raiseCategories"`
	RaiseMinScore   int      `yaml:"raiseMinScore"`
	// MaxPrincipals bounds the principals one tenant's state follows
	// (KV_OperationPatternAnomaly, KV_AccountVolumeAnomaly); beyond it the
	// least recently seen are forgotten. Default 250,000.
	MaxPrincipals int `yaml:"maxPrincipals"`

	UserAnomaly      Switch           `yaml:"userAnomaly"`
	AppAnomaly       Switch           `yaml:"appAnomaly"`
	UserAppAnomaly   Switch           `yaml:"userAppAnomaly"`
	OperationPattern OperationPattern `yaml:"operationPatternAnomaly"`
	OperationVolume  OperationVolume  `yaml:"operationVolumeAnomaly"`
	AccountVolume    AccountVolume    `yaml:"accountVolumeAnomaly"`
}

// Switch turns a detection without settings of its own on or off.
type Switch struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
}

// Exception names a caller the behavioural detections ignore: its
// operations are not learnt, not counted and never alerted on.
type Exception struct {
	// Name says what the caller is, for people reading the configuration.
	Name string `yaml:"name"`
	// AppID is the caller's application (client) ID, compared ignoring case.
	AppID string `yaml:"appId"`
	// Operations limits the exception to these Key Vault operations;
	// empty means every operation.
	Operations []string `yaml:"operations"`
}

// OperationPattern configures KV_OperationPatternAnomaly: a principal
// whose history is learnt performs operations it has not performed in the
// look-back. Each operation new for the principal counts 1, a sensitive one
// 2; the principal's new operations on one vault within Window fire once
// they count MinScore.
type OperationPattern struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// MinScore is the score that fires. Default 2: two new operations, or
	// one new sensitive operation. One new ordinary operation (a user who
	// sets a secret for once) is not enough.
	MinScore int `yaml:"minScore"`
	// SensitiveOperations count 2 when new for the principal. Default: the
	// operations that read, copy or destroy what a vault holds in bulk or
	// use its keys on foreign data: the lists, backups, purges, deletes,
	// KeyDecrypt and KeyUnwrap ("KeyDecrypt, purge, backup or listing where
	// it only ever did SecretGet").
	SensitiveOperations []string `yaml:"sensitiveOperations"`
	// MinHistory is how many operations a principal must have in its
	// history before its pattern is judged: a principal seen a few times
	// has no pattern to depart from. Default 10.
	MinHistory int `yaml:"minHistory"`
}

// OperationVolume configures KV_OperationVolumeAnomaly: in one clock hour
// a principal performs far more operations on a vault than the vault and
// the principal usually see. All of these must hold:
//
//   - the principal performed at least MinCount operations in the hour;
//   - the vault's count for the hour is at least Ratio times its usual
//     upper bound for that hour of the day: median + 3 x 1.4826 x MAD of
//     the same hour over the last HistoryDays days (at least median + 3 x
//     sqrt(median), the Poisson spread, and at least 1);
//   - the vault's count is at least PeakRatio times its highest hour in
//     the history (so a normal daily, weekly or monthly peak never fires);
//   - the principal's count is at least PeakRatio times its own highest
//     hour on the vault in the history, and at least half of the vault's
//     excess over its median (the principal caused the excess).
type OperationVolume struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// MinCount is the least operations of one principal in an hour.
	// Default 100: fewer are a busy hour, not exfiltration; bursts of tens
	// of reads are KV_ListGetAnomaly's.
	MinCount int `yaml:"minCount"`
	// Ratio over the hour-of-day upper bound. Default 3.
	Ratio float64 `yaml:"ratio"`
	// PeakRatio over the highest hour of the vault and of the principal.
	// Default 1.5.
	PeakRatio float64 `yaml:"peakRatio"`
}

// AccountVolume configures KV_AccountVolumeAnomaly: one principal, whose
// history is learnt, touches more distinct vaults in a UTC day than all of
// MinVaults, Ratio times its own busiest day in the history, and the
// PeerQuantile of its peers' days (principals of the same tenant and kind,
// users or applications) in the history.
type AccountVolume struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// MinVaults is the least distinct vaults in a day. Default 5.
	MinVaults int `yaml:"minVaults"`
	// Ratio over the principal's busiest day. Default 3.
	Ratio float64 `yaml:"ratio"`
	// PeerQuantile of the peers' daily counts that must be exceeded.
	// Default 0.99.
	PeerQuantile float64 `yaml:"peerQuantile"`
}

// Application IDs of Microsoft services, for DefaultExceptions.
const (
	// AppResourceGraph and AppPolicyInsights: Microsoft Sentinel's "Mass
	// secret retrieval from Azure Key Vault" rule (Azure/Azure-Sentinel,
	// Solutions/Azure Key Vault/Analytic Rules/KeyvaultMassSecretRetrieval.yaml,
	// 37b07060) allow-lists both for VaultGet: "Azure Resource Graph
	// performing VaultGet operations for indexing and syncing all tracked
	// resources across Azure" and "Microsoft Policy Insights Provider Data
	// Plane performing VaultGet operations for policies checks".
	AppResourceGraph  = "509e4652-da8d-478d-a730-e9d4a1996ca4"
	AppPolicyInsights = "8cae6e77-e04e-42ce-b5cb-50d82bce26b1"
	// AppAzurePortal, AppResourceManager ("Windows Azure Service Management
	// API") and AppSecurityResourceProvider ("Windows Azure Security Resource
	// Provider", Defender for Cloud's resource provider): Microsoft's table
	// of "Application IDs of commonly used Microsoft applications"
	// (MicrosoftDocs/SupportArticles-docs,
	// support/entra/entra-id/governance/verify-first-party-apps-sign-in.md, 0d3f7df5).
	AppAzurePortal              = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"
	AppResourceManager          = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
	AppSecurityResourceProvider = "8edd93e1-2103-40b4-bd70-6e34e586362d"
)

// DefaultExceptions are the Microsoft services whose reads of a vault's
// properties (VaultGet, a management-plane read of no secret material) the
// behavioural detections ignore: Resource Graph indexes every vault every
// few hours, Policy Insights evaluates policies on it, the Azure portal and
// Resource Manager read it whenever someone browses the subscription, and
// Defender for Cloud assesses it. They are excepted for VaultGet only: a
// secret read through the portal is the signed-in user's and stays visible.
func DefaultExceptions() []Exception {
	return []Exception{
		{Name: "Azure Resource Graph", AppID: AppResourceGraph, Operations: []string{"VaultGet"}},
		{Name: "Microsoft Policy Insights Provider Data Plane", AppID: AppPolicyInsights, Operations: []string{"VaultGet"}},
		{Name: "Azure Portal", AppID: AppAzurePortal, Operations: []string{"VaultGet"}},
		{Name: "Azure Resource Manager (Windows Azure Service Management API)", AppID: AppResourceManager, Operations: []string{"VaultGet"}},
		{Name: "Microsoft Defender for Cloud (Windows Azure Security Resource Provider)", AppID: AppSecurityResourceProvider, Operations: []string{"VaultGet"}},
	}
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		MaxEvidence:     20,
		Learning:        7 * 24 * time.Hour,
		LookBack:        90 * 24 * time.Hour,
		HistoryDays:     35,
		Window:          time.Hour,
		Exceptions:      DefaultExceptions(),
		RaiseCategories: []string{"tor", "malicious", "c2"},
		RaiseMinScore:   3,
		MaxPrincipals:   250_000,
		UserAnomaly:     Switch{Enabled: true},
		AppAnomaly:      Switch{Enabled: true},
		UserAppAnomaly:  Switch{Enabled: true},
		OperationPattern: OperationPattern{
			Enabled:  true,
			MinScore: 2,
			SensitiveOperations: []string{
				"SecretList", "SecretListVersions", "SecretListDeleted", "KeyList", "KeyListVersions", "KeyListDeleted",
				"CertificateList", "CertificateListVersions", "CertificateListDeleted",
				"SecretBackup", "KeyBackup", "CertificateBackup",
				"SecretPurge", "KeyPurge", "CertificatePurge",
				"SecretDelete", "KeyDelete", "CertificateDelete", "VaultDelete",
				"KeyDecrypt", "KeyUnwrap",
			},
			MinHistory: 10,
		},
		OperationVolume: OperationVolume{Enabled: true, MinCount: 100, Ratio: 3, PeakRatio: 1.5},
		AccountVolume:   AccountVolume{Enabled: true, MinVaults: 5, Ratio: 3, PeerQuantile: 0.99},
	}
}

// Limits of the settings.
const (
	maxHistoryDays = 120
	maxLearning    = 90 * 24 * time.Hour
	// maxPrincipalsLimit bounds MaxPrincipals.
	maxPrincipalsLimit = 10_000_000
)

// Validate checks values the types alone cannot.
func (c *Config) Validate() error {
	var errs []error
	positive := func(name string, v int) {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be >= 1, got %d", name, v))
		}
	}
	ratio := func(name string, v, least float64) {
		if !(v >= least) || math.IsInf(v, 1) {
			errs = append(errs, fmt.Errorf("%s must be a number >= %g, got %g", name, least, v))
		}
	}
	ops := func(name string, names []string) {
		for _, n := range names {
			if _, ok := canonical(n); !ok {
				errs = append(errs, fmt.Errorf("%s: %q is not a Key Vault operation name", name, n))
			}
		}
	}
	positive("maxEvidence", c.MaxEvidence)
	if c.Learning < 0 || c.Learning > maxLearning {
		errs = append(errs, fmt.Errorf("learning must be between 0 and %s, got %s", maxLearning, c.Learning))
	}
	if c.LookBack < c.Learning || c.LookBack <= 0 {
		errs = append(errs, fmt.Errorf("lookBack must be > 0 and at least learning (%s), got %s", c.Learning, c.LookBack))
	}
	if c.HistoryDays < 2 || c.HistoryDays > maxHistoryDays {
		errs = append(errs, fmt.Errorf("historyDays must be between 2 and %d, got %d", maxHistoryDays, c.HistoryDays))
	}
	if c.Window <= 0 || c.Window > 24*time.Hour {
		errs = append(errs, fmt.Errorf("window must be > 0 and at most 24h, got %s", c.Window))
	}
	for i, e := range c.Exceptions {
		if strings.TrimSpace(e.AppID) == "" {
			errs = append(errs, fmt.Errorf("exceptions[%d] (%s): appId is empty", i, e.Name))
		}
		ops(fmt.Sprintf("exceptions[%d].operations", i), e.Operations)
	}
	if c.MaxPrincipals < 1 || c.MaxPrincipals > maxPrincipalsLimit {
		errs = append(errs, fmt.Errorf("maxPrincipals must be between 1 and %d, got %d", maxPrincipalsLimit, c.MaxPrincipals))
	}
	p := &c.OperationPattern
	positive("operationPatternAnomaly.minScore", p.MinScore)
	ops("operationPatternAnomaly.sensitiveOperations", p.SensitiveOperations)
	if p.MinHistory < 0 {
		errs = append(errs, fmt.Errorf("operationPatternAnomaly.minHistory must be >= 0, got %d", p.MinHistory))
	}
	v := &c.OperationVolume
	positive("operationVolumeAnomaly.minCount", v.MinCount)
	ratio("operationVolumeAnomaly.ratio", v.Ratio, 1)
	ratio("operationVolumeAnomaly.peakRatio", v.PeakRatio, 1)
	a := &c.AccountVolume
	positive("accountVolumeAnomaly.minVaults", a.MinVaults)
	ratio("accountVolumeAnomaly.ratio", a.Ratio, 1)
	if !(a.PeerQuantile > 0 && a.PeerQuantile <= 1) {
		errs = append(errs, fmt.Errorf("accountVolumeAnomaly.peerQuantile must be in (0, 1], got %g", a.PeerQuantile))
	}
	if c.RaiseMinScore < 0 {
		errs = append(errs, fmt.Errorf("raiseMinScore must be >= 0, got %d", c.RaiseMinScore))
	}
	return errors.Join(errs...)
}

// settings is a Config with its values clamped into range, shared by the
// detectors.
type settings struct {
	Config
	exceptions exceptions
	sensitive  opSet
}

// clamp returns cfg with out-of-range values replaced by defaults or
// limits, so Detectors never trusts a configuration that skipped Validate.
func clamp(cfg Config) settings {
	def := DefaultConfig()
	cfg.MaxEvidence = max(cfg.MaxEvidence, 1)
	if cfg.Learning < 0 || cfg.Learning > maxLearning {
		cfg.Learning = def.Learning
	}
	if cfg.LookBack <= 0 {
		cfg.LookBack = def.LookBack
	}
	cfg.LookBack = max(cfg.LookBack, cfg.Learning)
	if cfg.HistoryDays < 2 || cfg.HistoryDays > maxHistoryDays {
		cfg.HistoryDays = def.HistoryDays
	}
	if cfg.Window <= 0 || cfg.Window > 24*time.Hour {
		cfg.Window = def.Window
	}
	if cfg.MaxPrincipals < 1 || cfg.MaxPrincipals > maxPrincipalsLimit {
		cfg.MaxPrincipals = def.MaxPrincipals
	}
	cfg.RaiseMinScore = max(cfg.RaiseMinScore, 0)
	p := &cfg.OperationPattern
	p.MinScore = max(p.MinScore, 1)
	p.MinHistory = max(p.MinHistory, 0)
	v := &cfg.OperationVolume
	v.MinCount = max(v.MinCount, 1)
	if !(v.Ratio >= 1) || math.IsInf(v.Ratio, 1) {
		v.Ratio = def.OperationVolume.Ratio
	}
	if !(v.PeakRatio >= 1) || math.IsInf(v.PeakRatio, 1) {
		v.PeakRatio = def.OperationVolume.PeakRatio
	}
	a := &cfg.AccountVolume
	a.MinVaults = max(a.MinVaults, 1)
	if !(a.Ratio >= 1) || math.IsInf(a.Ratio, 1) {
		a.Ratio = def.AccountVolume.Ratio
	}
	if !(a.PeerQuantile > 0 && a.PeerQuantile <= 1) {
		a.PeerQuantile = def.AccountVolume.PeerQuantile
	}
	return settings{Config: cfg, exceptions: newExceptions(cfg.Exceptions), sensitive: newOpSet(p.SensitiveOperations)}
}

// Detectors returns the detectors the enabled detections need: the vault
// detector (KV_UserAnomaly, KV_AppAnomaly, KV_UserAppAnomaly,
// KV_OperationVolumeAnomaly; partitioned by vault) and the tenant detector
// (KV_OperationPatternAnomaly, KV_AccountVolumeAnomaly; partitioned by the
// caller's tenant, whose principals are each other's peers). cfg should have
// passed Validate; out-of-range values are clamped rather than trusted.
func Detectors(cfg Config) []detect.Detector {
	s := clamp(cfg)
	var out []detect.Detector
	if s.UserAnomaly.Enabled || s.AppAnomaly.Enabled || s.UserAppAnomaly.Enabled || s.OperationVolume.Enabled {
		out = append(out, newVaultDetector(s))
	}
	if s.OperationPattern.Enabled || s.AccountVolume.Enabled {
		out = append(out, newTenantDetector(s))
	}
	return out
}
