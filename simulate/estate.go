package simulate

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// EstateOptions configure NewEstate. The zero value is the default estate:
// 2 tenants, 4 subscriptions, 30 vaults, 60 users, 40 service principals and
// 20 managed identities over 21 days from Monday 2026-11-02, with a 7-day
// learning period, every attack injected, seed 0.
type EstateOptions struct {
	// Seed makes the estate and everything written from it reproducible:
	// the same options write the same bytes.
	Seed uint64
	// Start is the event time of the estate's first hour; zero means
	// 2026-11-02T00:00:00Z (a Monday). It is truncated to the hour, in UTC.
	Start time.Time
	// Days is how many days of telemetry to write; 0 means 21. It must
	// leave at least two days after the learning period for the attacks.
	Days int
	// LearningDays is the estate's learning period: every principal, vault
	// and rhythm that is normal shows itself within it, and no attack or
	// labelled look-alike happens in it. 0 means 7.
	LearningDays int
	// Scale multiplies the number of tenants, subscriptions, vaults and
	// principals (and so the volume); 0 means 1. Small scales are clamped to
	// the least estate that still holds every scenario.
	Scale float64
	// TorExits are the Tor exit addresses attacks come from; nil means the
	// built-in ones (from examples/intel/tor-exit-nodes.lst).
	TorExits []string
	// Blocklisted are the addresses on a blocklist (ipsum score >= 3, not
	// Tor exits) attacks come from; nil means the built-in ones.
	Blocklisted []string
	// LowScore is an address a blocklist names with a score below the
	// detections' threshold (ipsum score 1), used by a benign partner
	// application; "" means the built-in one.
	LowScore string
	// NoScenarios writes only the estate's normal rhythm: no attacks and
	// no labelled look-alikes (Labels then holds only the learning periods).
	NoScenarios bool
}

// Format is the shape records are written in.
type Format uint8

const (
	// JSONLines writes one record per line, as diagnostic settings write
	// PT1H.json blobs to a storage account.
	JSONLines Format = iota
	// Records writes {"records":[...]} envelopes, one per line, of up to
	// RecordsPerEnvelope records each, as diagnostic settings send them to
	// Event Hubs.
	Records
)

// RecordsPerEnvelope is the most records one envelope holds in Records format.
const RecordsPerEnvelope = 500

// ParseFormat returns the Format named "jsonl" or "records".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "jsonl":
		return JSONLines, nil
	case "records":
		return Records, nil
	}
	return 0, fmt.Errorf("simulate: unknown format %q (want jsonl or records)", s)
}

// String returns "jsonl" or "records".
func (f Format) String() string {
	if f == Records {
		return "records"
	}
	return "jsonl"
}

// VaultInfo describes one vault of the estate.
type VaultInfo struct {
	Name           string
	ResourceID     string // upper-cased, as Key Vault audit records carry it
	SubscriptionID string
	TenantID       string
	// Onboarded is when the vault's first Key Vault record is written: the
	// estate's start for most vaults, later for a vault created during the
	// run (its creation in the Activity Log comes a moment before).
	Onboarded time.Time
	// LearningEnd is when the vault's learning period ends: the later of
	// the estate's LearningEnd and Onboarded plus the learning period.
	// Behavioural alerts on the vault before it are false positives.
	LearningEnd time.Time
}

// PrincipalKind classifies a principal of the estate.
type PrincipalKind string

// Principal kinds.
const (
	KindUser             PrincipalKind = "user"
	KindServicePrincipal PrincipalKind = "servicePrincipal"
	KindManagedIdentity  PrincipalKind = "managedIdentity"
	// KindFirstParty is a Microsoft service (Azure Resource Graph, Policy
	// Insights) acting in a tenant.
	KindFirstParty PrincipalKind = "firstParty"
	// KindAttacker is an identity an attacker created (an application
	// registration granted access to a vault).
	KindAttacker PrincipalKind = "attacker"
)

// PrincipalInfo describes one identity of the estate.
type PrincipalInfo struct {
	Kind     PrincipalKind
	ObjectID string
	UPN      string // users only
	AppID    string // applications and managed identities; "" for users
	TenantID string
	Name     string
}

// Stats counts what Write wrote.
type Stats struct {
	Records  int64 // all records
	KeyVault int64 // Key Vault AuditEvent records
	Activity int64 // Activity Log records
	Bytes    int64
}

// Estate is a simulated Azure estate: tenants, subscriptions, vaults and
// principals with their rhythms, and the scenarios (attacks and benign
// look-alikes) injected into it. It is immutable once built: Write may be
// called any number of times, also concurrently, and writes the same bytes.
type Estate struct {
	opts        EstateOptions
	start       int64 // Unix time of the start, in ticks of 100 ns
	startTime   time.Time
	hours       int
	learning    int64 // ticks from the start to the end of the learning period
	tenants     []tenant
	subs        []subscription
	vaults      []vault
	principals  []principal
	offices     []office
	ips         []string
	appIDs      []string
	clients     []string
	armClient   uint16 // clients index of azure-resource-manager/2.0
	armRes      []armResource
	bodies      []string // Activity Log response bodies, escaped for a JSON string
	subRes      int      // armRes index of the first subscription's resKinds
	actors      []actor
	scripted    []ev // scenario events, sorted by time
	labels      []Label
	vaultsInfo  []VaultInfo
	principalsI []PrincipalInfo
}

// Default sizes of the estate at Scale 1.
const (
	defaultTenants  = 2
	defaultSubs     = 4
	defaultVaults   = 30
	defaultUsers    = 60
	defaultSPs      = 40
	defaultMIs      = 20
	defaultDays     = 21
	defaultLearning = 7
	// maxScale keeps every table within the 16-bit indices of an event.
	maxScale = 400
)

// NewEstate builds the estate the options describe. It fails on options out
// of range (too few days for the learning period and the attacks, a
// negative scale, an attack address that is not an IP address).
func NewEstate(opts EstateOptions) (*Estate, error) {
	if err := normalisePeriod(&opts.Start, &opts.Days, &opts.LearningDays, &opts.Scale); err != nil {
		return nil, err
	}
	switch {
	case opts.Scale < 0 || math.IsNaN(opts.Scale) || math.IsInf(opts.Scale, 0) || opts.Scale > maxScale:
		return nil, fmt.Errorf("simulate: scale %v out of range (0, %d]", opts.Scale, maxScale)
	}
	if opts.TorExits == nil {
		opts.TorExits = builtinTorExits
	}
	if opts.Blocklisted == nil {
		opts.Blocklisted = builtinBlocklisted
	}
	if opts.LowScore == "" {
		opts.LowScore = builtinLowScore
	}
	if err := checkAddresses(opts); err != nil {
		return nil, err
	}
	e := &Estate{
		opts:      opts,
		start:     opts.Start.UnixNano() / 100,
		startTime: opts.Start,
		hours:     opts.Days * 24,
		learning:  int64(opts.LearningDays) * ticksPerDay,
	}
	b := newBuilder(e)
	b.entities()
	b.rhythms()
	if !opts.NoScenarios {
		if err := b.scenarios(); err != nil {
			return nil, err
		}
	}
	b.finish()
	if n := max(len(e.principals)+1, len(e.ips), len(e.appIDs), len(e.armRes), len(e.vaults)); n > 0xffff {
		return nil, fmt.Errorf("simulate: scale %v needs %d entities of a kind, more than %d", opts.Scale, n, 0xffff)
	}
	return e, nil
}

// Start is the event time of the first hour written.
func (e *Estate) Start() time.Time { return e.startTime }

// End is the event time just after the last record written.
func (e *Estate) End() time.Time { return e.startTime.Add(time.Duration(e.hours) * time.Hour) }

// LearningStart is when the estate's learning period starts (= Start).
func (e *Estate) LearningStart() time.Time { return e.startTime }

// LearningEnd is when the estate's learning period ends: before it, every
// vault-day is benign; no scenario happens before it. A vault onboarded
// later has its own (VaultInfo.LearningEnd).
func (e *Estate) LearningEnd() time.Time { return e.time(e.learning) }

// Vaults describes every vault, in a stable order.
func (e *Estate) Vaults() []VaultInfo { return append([]VaultInfo(nil), e.vaultsInfo...) }

// Principals describes every identity that appears in the records.
func (e *Estate) Principals() []PrincipalInfo { return append([]PrincipalInfo(nil), e.principalsI...) }

// Labels returns what must and must not be detected, in time order: every
// injected attack (MustFire true), every benign look-alike (MustFire
// false) and the learning periods (Kind "learning", MustFire false).
func (e *Estate) Labels() []Label { return append([]Label(nil), e.labels...) }

// time converts ticks since the start into a time.
func (e *Estate) time(ticks int64) time.Time {
	return e.startTime.Add(time.Duration(ticks) * 100)
}

// normalisePeriod fills the defaults of the options both estates share (days,
// learning days, scale, start) and checks the period: it must leave two days
// after the learning period for the attacks, and start between 1971 and
// 2200; the start is truncated to the hour, in UTC.
func normalisePeriod(start *time.Time, days, learningDays *int, scale *float64) error {
	if *days == 0 {
		*days = defaultDays
	}
	if *learningDays == 0 {
		*learningDays = defaultLearning
	}
	if *scale == 0 {
		*scale = 1
	}
	switch {
	case *days < 0 || *learningDays < 0:
		return errors.New("simulate: days and learning days must be positive")
	case *days < *learningDays+2:
		return fmt.Errorf("simulate: %d days leave no room for attacks after a %d-day learning period (need at least %d)",
			*days, *learningDays, *learningDays+2)
	case *days > 3660:
		return fmt.Errorf("simulate: %d days is too long (at most 3660)", *days)
	case !start.IsZero() && (start.Year() < 1971 || start.Year() > 2200):
		return fmt.Errorf("simulate: start %s out of range (years 1971-2200)", start.Format(time.RFC3339))
	}
	if start.IsZero() {
		*start = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	}
	*start = start.UTC().Truncate(time.Hour)
	return nil
}
