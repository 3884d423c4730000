package keyvault

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
)

// Alert types (catalogue ids, Defender's names).
const (
	TypeTORAccess          = "KV_TORAccess"
	TypeSuspiciousIPAccess = "KV_SuspiciousIPAccess"
	TypeListGetAnomaly     = "KV_ListGetAnomaly"
	TypePutGetAnomaly      = "KV_PutGetAnomaly"
)

// CatalogueSeverity is the severity Defender's "Alerts for Azure Key Vault"
// gives all four alerts (Medium). Candidates leave Severity empty so the
// catalogue decides; a detection sets it only to raise it one step above this.
const CatalogueSeverity = alert.SeverityMedium

// Config holds the settings of every Key Vault detection. The zero value is
// not useful: start from DefaultConfig (the YAML file is decoded over it).
type Config struct {
	// MaxEvidence is the most records one candidate carries as evidence
	// (the alert manager caps what it keeps across candidates). Default 20.
	// KV_ListGetAnomaly carries the reads of the window that fired, keeping
	// at most min(MaxEvidence, BurstMinReads) recent reads per caller.
	MaxEvidence int `yaml:"maxEvidence"`

	TORAccess          TORAccess          `yaml:"torAccess"`
	SuspiciousIPAccess SuspiciousIPAccess `yaml:"suspiciousIpAccess"`
	ListGetAnomaly     ListGetAnomaly     `yaml:"listGetAnomaly"`
	PutGetAnomaly      PutGetAnomaly      `yaml:"putGetAnomaly"`
}

// TORAccess configures KV_TORAccess: a vault operation whose caller address
// is a Tor exit node (intelligence category "tor"). Defender: "A key vault
// has been accessed from a known TOR exit node"; failed attempts count too.
type TORAccess struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// Window groups repeats: a caller's first operation from an exit node is
	// a candidate at once; the rest within Window are one summary candidate
	// when it closes. Default 1h, the cadence of Microsoft Sentinel's "TI map
	// IP entity to Azure Key Vault logs" rule (runs hourly over the last hour).
	Window time.Duration `yaml:"window"`
}

// SuspiciousIPAccess configures KV_SuspiciousIPAccess: a vault operation from
// an address on a blocklist.
type SuspiciousIPAccess struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// Categories are the intelligence categories that make an address
	// suspicious. Default ["malicious", "c2"].
	Categories []string `yaml:"categories"`
	// MinScore is the least score of a scored list's entry (ipsum counts the
	// blocklists naming the address); unscored lists match on category alone.
	// Default 3: ipsum's README gives "at least 3 (black)lists" as its
	// ready-to-deploy threshold, and entries on 1-2 lists are mostly scanners
	// seen by one sensor, too weak to call a vault compromised.
	MinScore int `yaml:"minScore"`
	// IncludeFailed also alerts on refused operations. Default false:
	// Defender raises KV_SuspiciousIPAccess when a vault "has been
	// successfully accessed" from a suspicious address.
	IncludeFailed bool `yaml:"includeFailed"`
	// Window groups repeats as for TORAccess. Default 1h (same source).
	Window time.Duration `yaml:"window"`
}

// ListGetAnomaly configures KV_ListGetAnomaly: a list of secrets, keys or
// certificates followed by many reads by one caller. Two triggers:
//
//   - burst: at least BurstMinReads reads of at least BurstMinOperationTypes
//     operation names within BurstWindow, the last one after a list in that
//     window (defaults 10, 2, 1m: Elastic's "Azure Key Vault Excessive Secret
//     or Key Retrieved", ES|QL count >= 10 and count_distinct(action) >= 2
//     per caller per minute, with Defender's "Secret List operation followed
//     by one or more Secret Get operations" as the list requirement);
//   - daily: reads of more than DailyThreshold distinct objects (secrets,
//     keys, certificates, versions folded) by DailyOperations within
//     DailyWindow (defaults 25, [SecretGet, KeyGet], 24h: Microsoft
//     Sentinel's "Mass secret retrieval from Azure Key Vault",
//     EventCountThreshold = 25 per caller over 1d; its VaultGet is left out
//     because it reads no secret material and the rule itself must
//     allow-list Azure Resource Graph and Policy for it). Vigil counts
//     distinct objects where Sentinel counts operations: an application
//     without a cache reads its three secrets hundreds of times a day, which
//     is not a dump, and on a simulated estate counting operations raised
//     thousands of such alerts a day.
//
// Failed reads (403) count as attempts; the candidate says how many.
type ListGetAnomaly struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// ListOperations start a dump. Default [SecretList, KeyList, CertificateList].
	ListOperations []string `yaml:"listOperations"`
	// ReadOperations are counted as reads (list operations count too).
	// Default: the 20 read operations of Elastic's rule (VaultGet, KeyGet,
	// KeyList, ... CertificateIssuersList).
	ReadOperations []string `yaml:"readOperations"`
	// RequireList demands a list operation in the burst window. Default true.
	RequireList bool `yaml:"requireList"`
	// BurstWindow, BurstMinReads and BurstMinOperationTypes: see above.
	BurstWindow            time.Duration `yaml:"burstWindow"`
	BurstMinReads          int           `yaml:"burstMinReads"`
	BurstMinOperationTypes int           `yaml:"burstMinOperationTypes"`
	// DailyOperations, DailyWindow and DailyThreshold: see above; an empty
	// DailyOperations turns the daily trigger off.
	DailyOperations []string      `yaml:"dailyOperations"`
	DailyWindow     time.Duration `yaml:"dailyWindow"`
	DailyThreshold  int           `yaml:"dailyThreshold"`
}

// PutGetAnomaly configures KV_PutGetAnomaly: a change of the vault or its
// access policy by a principal, then reads by the same principal or by one
// the change granted access (addedAccessPolicy) within Window. Defender: "an
// anomalous Vault Put policy change operation followed by one or more Secret
// Get operations".
type PutGetAnomaly struct {
	// Enabled turns the detection on. Default true.
	Enabled bool `yaml:"enabled"`
	// ChangeOperations are Key Vault audit operations that change the vault
	// or its access policy. Default [VaultPut, VaultPatch,
	// VaultAccessPolicyChangedEventGridNotification]. Only successful
	// changes count.
	ChangeOperations []string `yaml:"changeOperations"`
	// ActivityChangeOperations are the same changes as the Activity Log
	// names them (compared ignoring case). Default
	// [Microsoft.KeyVault/vaults/write, Microsoft.KeyVault/vaults/accessPolicies/write],
	// the operations of Sigma's "Azure Keyvault Modified or Deleted" that change access.
	ActivityChangeOperations []string `yaml:"activityChangeOperations"`
	// GrantRoles are the role definitions (GUIDs) whose assignment at a
	// vault's scope grants access to its secrets, keys or certificates: a
	// successful Microsoft.Authorization/roleAssignments/write on the vault
	// (or below it) for one of them counts as a change that grants its
	// principal access, as addedAccessPolicy does for vaults that use
	// access policies. Default: the built-in data-plane roles of Microsoft
	// Learn's "Azure built-in roles for Key Vault data plane operations" —
	// Key Vault Administrator, Certificates Officer, Certificate User, Crypto
	// Officer, Crypto Service Encryption User, Crypto User, Secrets Officer,
	// Secrets User (Key Vault Reader reads metadata only and is left out).
	// Empty turns role assignments off.
	GrantRoles []string `yaml:"grantRoles"`
	// ReadOperations are the reads that follow. Default [SecretGet,
	// SecretList, SecretListVersions, SecretBackup, KeyGet, KeyList,
	// KeyDecrypt, KeyUnwrap, KeyBackup, CertificateGet, CertificateList,
	// CertificateBackup]: reads of secret material and its enumeration, with
	// the backups Sentinel's "Sensitive Azure Key Vault operations" watches.
	ReadOperations []string `yaml:"readOperations"`
	// Window is how long after the change reads count. Default 1h.
	Window time.Duration `yaml:"window"`
	// MinReads is how many reads make a candidate. Default 1 (Defender: "one
	// or more Secret Get operations").
	MinReads int `yaml:"minReads"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		MaxEvidence: 20,
		TORAccess:   TORAccess{Enabled: true, Window: time.Hour},
		SuspiciousIPAccess: SuspiciousIPAccess{
			Enabled: true, Categories: []string{"malicious", "c2"}, MinScore: 3, Window: time.Hour,
		},
		ListGetAnomaly: ListGetAnomaly{
			Enabled:        true,
			ListOperations: []string{"SecretList", "KeyList", "CertificateList"},
			ReadOperations: []string{
				"VaultGet", "KeyGet", "KeyList", "KeyListVersions", "KeyGetDeleted", "KeyListDeleted",
				"SecretGet", "SecretList", "SecretListVersions", "SecretGetDeleted", "SecretListDeleted",
				"CertificateGet", "CertificateList", "CertificateListVersions", "CertificateGetDeleted",
				"CertificateListDeleted", "CertificatePolicyGet", "CertificateContactsGet",
				"CertificateIssuerGet", "CertificateIssuersList",
			},
			RequireList:            true,
			BurstWindow:            time.Minute,
			BurstMinReads:          10,
			BurstMinOperationTypes: 2,
			DailyOperations:        []string{"SecretGet", "KeyGet"},
			DailyWindow:            24 * time.Hour,
			DailyThreshold:         25,
		},
		PutGetAnomaly: PutGetAnomaly{
			Enabled:                  true,
			ChangeOperations:         []string{"VaultPut", "VaultPatch", "VaultAccessPolicyChangedEventGridNotification"},
			ActivityChangeOperations: []string{"Microsoft.KeyVault/vaults/write", "Microsoft.KeyVault/vaults/accessPolicies/write"},
			GrantRoles: []string{
				"00482a5a-887f-4fb3-b363-3b7fe8e74483", // Key Vault Administrator
				"a4417e6f-fecd-4de8-b567-7b0420556985", // Key Vault Certificates Officer
				"db79e9a7-68ee-4b58-9aeb-b90e7c24fcba", // Key Vault Certificate User
				"14b46e9e-c2b7-41b4-b07b-48a6ebf60603", // Key Vault Crypto Officer
				"e147488a-f6f5-4113-8e2d-b22465e65bf6", // Key Vault Crypto Service Encryption User
				"12338af0-0e69-4776-bea7-57ae8d297424", // Key Vault Crypto User
				"b86a8fe4-44ce-4948-aee5-eccb2c155cd7", // Key Vault Secrets Officer
				"4633458b-17de-408a-b874-0445c86b69e6", // Key Vault Secrets User
			},
			ReadOperations: []string{
				"SecretGet", "SecretList", "SecretListVersions", "SecretBackup",
				"KeyGet", "KeyList", "KeyDecrypt", "KeyUnwrap", "KeyBackup",
				"CertificateGet", "CertificateList", "CertificateBackup",
			},
			Window:   time.Hour,
			MinReads: 1,
		},
	}
}

// Validate checks values the types alone cannot: positive windows and
// thresholds, and operation names Key Vault documents.
func (c *Config) Validate() error {
	var errs []error
	positive := func(name string, v int) {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be >= 1, got %d", name, v))
		}
	}
	window := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be > 0, got %s", name, d))
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
	window("torAccess.window", c.TORAccess.Window)
	s := &c.SuspiciousIPAccess
	window("suspiciousIpAccess.window", s.Window)
	if s.Enabled && len(s.Categories) == 0 {
		errs = append(errs, errors.New("suspiciousIpAccess.categories is empty"))
	}
	lg := &c.ListGetAnomaly
	ops("listGetAnomaly.listOperations", lg.ListOperations)
	ops("listGetAnomaly.readOperations", lg.ReadOperations)
	ops("listGetAnomaly.dailyOperations", lg.DailyOperations)
	window("listGetAnomaly.burstWindow", lg.BurstWindow)
	window("listGetAnomaly.dailyWindow", lg.DailyWindow)
	positive("listGetAnomaly.burstMinReads", lg.BurstMinReads)
	positive("listGetAnomaly.burstMinOperationTypes", lg.BurstMinOperationTypes)
	positive("listGetAnomaly.dailyThreshold", lg.DailyThreshold)
	if lg.Enabled && lg.RequireList && len(lg.ListOperations) == 0 {
		errs = append(errs, errors.New("listGetAnomaly.requireList is set but listOperations is empty"))
	}
	pg := &c.PutGetAnomaly
	ops("putGetAnomaly.changeOperations", pg.ChangeOperations)
	ops("putGetAnomaly.readOperations", pg.ReadOperations)
	for _, n := range pg.ActivityChangeOperations {
		if !strings.Contains(n, "/") {
			errs = append(errs, fmt.Errorf("putGetAnomaly.activityChangeOperations: %q is not a Resource Manager operation (provider/type/action)", n))
		}
	}
	for _, r := range pg.GrantRoles {
		if !isGUID(r) {
			errs = append(errs, fmt.Errorf("putGetAnomaly.grantRoles: %q is not a role definition GUID", r))
		}
	}
	window("putGetAnomaly.window", pg.Window)
	positive("putGetAnomaly.minReads", pg.MinReads)
	return errors.Join(errs...)
}

// Detectors returns the enabled detections. cfg should have passed
// Validate; out-of-range values are clamped rather than trusted.
func Detectors(cfg Config) []detect.Detector {
	cfg.MaxEvidence = max(cfg.MaxEvidence, 1)
	var out []detect.Detector
	if cfg.TORAccess.Enabled {
		out = append(out, newTORAccess(cfg))
	}
	if cfg.SuspiciousIPAccess.Enabled {
		out = append(out, newSuspiciousIPAccess(cfg))
	}
	if cfg.ListGetAnomaly.Enabled {
		out = append(out, newListGet(cfg))
	}
	if cfg.PutGetAnomaly.Enabled {
		out = append(out, newPutGet(cfg))
	}
	return out
}

// canonical returns the documented casing of a Key Vault operation name.
func canonical(name string) (string, bool) {
	for _, d := range documentedOperations {
		if strings.EqualFold(d, name) {
			return d, true
		}
	}
	return name, false
}

// opSet is a set of operation names in their documented casing, so a
// look-up is one map access on the decoder's normalised name.
type opSet map[string]struct{}

func newOpSet(lists ...[]string) opSet {
	s := opSet{}
	for _, l := range lists {
		for _, n := range l {
			c, _ := canonical(n)
			s[c] = struct{}{}
		}
	}
	return s
}

func (s opSet) has(op string) bool { _, ok := s[op]; return ok }

// isGUID reports whether s is a GUID in its 8-4-4-4-12 hexadecimal form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range []byte(s) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
