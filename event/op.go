// Package event defines Vigil's normalised event types: Op, one control-plane
// or data-plane operation from the Azure Activity Log or a Key Vault audit log,
// and (later) Flow, one network flow record.
//
// Every source decodes into these types; enrichment fills their Geo and Intel
// fields once; detectors only read them. An event handed to a detector must be
// treated as read-only and must not be retained: the engine reuses its memory
// once the batch that carried it has been processed. A detector that needs to
// keep something copies the fields it needs (strings are immutable and may be
// kept as they are; Raw must be copied).
package event

import (
	"net/netip"
	"strings"
	"time"
)

// Kind tells which log an Op came from.
type Kind uint8

const (
	// KindUnknown is the zero Kind; a decoder never emits it.
	KindUnknown Kind = iota
	// KindActivity is an Azure Activity Log (Resource Manager) event.
	KindActivity
	// KindKeyVault is a Key Vault AuditEvent (data-plane and vault operations).
	KindKeyVault
	// KindFlow is a network flow (event.Flow), not an Op.
	KindFlow
)

// String returns the kind's name as used in JSON, config and metrics.
func (k Kind) String() string {
	switch k {
	case KindActivity:
		return "activity"
	case KindKeyVault:
		return "keyvault"
	case KindFlow:
		return "flow"
	default:
		return "unknown"
	}
}

// PrincipalType classifies the caller of an operation.
type PrincipalType uint8

const (
	// PrincipalUnknown means the record did not say who called.
	PrincipalUnknown PrincipalType = iota
	// PrincipalUser is a human identity (has a UPN).
	PrincipalUser
	// PrincipalApp is a service principal or managed identity (app ID, no UPN).
	PrincipalApp
)

// String returns "user", "app" or "unknown".
func (t PrincipalType) String() string {
	switch t {
	case PrincipalUser:
		return "user"
	case PrincipalApp:
		return "app"
	default:
		return "unknown"
	}
}

// Principal identifies who performed an operation. Any field may be empty:
// an application has no UPN, a caller from outside Azure AD has no object ID.
type Principal struct {
	ObjectID string        // Azure AD object ID (oid claim)
	UPN      string        // user principal name (upn claim), or the caller e-mail
	AppID    string        // application (client) ID (appid / azp claim)
	TenantID string        // the token's tenant (tid claim)
	Name     string        // display name when the record gives one
	Type     PrincipalType // user, app or unknown
}

// Key returns the most stable identifier of the principal: the object ID,
// else the UPN (lower-cased), else the app ID, else "".
func (p *Principal) Key() string {
	switch {
	case p.ObjectID != "":
		return p.ObjectID
	case p.UPN != "":
		return strings.ToLower(p.UPN)
	default:
		return p.AppID
	}
}

// Label returns a human-readable name for the principal: UPN, else app ID,
// else object ID, else "unknown".
func (p *Principal) Label() string {
	switch {
	case p.UPN != "":
		return p.UPN
	case p.AppID != "":
		return "app " + p.AppID
	case p.ObjectID != "":
		return p.ObjectID
	default:
		return "unknown"
	}
}

// Geo is the location and network owner of an IP address, from mmdb files.
type Geo struct {
	Country string  // ISO 3166-1 alpha-2 code, "" when unknown
	City    string  // English city name
	Lat     float64 // latitude; meaningful only when HasLocation
	Lon     float64 // longitude
	// HasLocation is true when Lat/Lon come from the database.
	HasLocation bool
	// AccuracyKm is the database's accuracy radius around Lat/Lon in
	// kilometres (MaxMind location.accuracy_radius), 0 when it gives none.
	AccuracyKm uint16
	ASN        uint32 // autonomous system number, 0 when unknown
	ASOrg      string // autonomous system organisation
}

// IntelHit is one threat-intelligence match for an address.
type IntelHit struct {
	// Source names the list, e.g. "tor-exit-nodes" or "ipsum".
	Source string
	// Category is what the list says the address is: "tor", "proxy",
	// "malicious", "c2" or "mining-pool".
	Category string
	// Date is when the list was last updated, as the list or its metadata says.
	Date time.Time
	// Score is the list's own weight (e.g. ipsum's number of blocklists), 0 if none.
	Score int
}

// Intel is every intelligence match for one address. It is a small value so
// enrichment does not allocate for the common case of no match.
type Intel struct {
	// Hits is a shared, read-only slice owned by the intel index: every list
	// that names the address, merged when the lists were loaded, so that a
	// look-up only assigns it and never allocates.
	Hits []IntelHit
}

// Has reports whether any hit has the given category.
func (in *Intel) Has(category string) bool {
	for i := range in.Hits {
		if in.Hits[i].Category == category {
			return true
		}
	}
	return false
}

// First returns the first hit of a category and whether there was one.
func (in *Intel) First(category string) (IntelHit, bool) {
	for i := range in.Hits {
		if in.Hits[i].Category == category {
			return in.Hits[i], true
		}
	}
	return IntelHit{}, false
}

// Position says where a record was read from, for error reports and evidence.
type Position struct {
	File string // file name, "-" for standard input, or the input's name
	Line int    // 1-based line of the record's start (JSON lines), or 0
	// Index is the 0-based index of the record within its file or envelope.
	Index int
}

// Op is one normalised operation from the Activity Log or a Key Vault audit
// log. Strings are copied out of the input, so an Op does not pin its buffer.
type Op struct {
	Kind Kind
	Time time.Time // event time (eventTimestamp / time), UTC

	TenantID       string
	SubscriptionID string // lower-case GUID when the record has one
	ResourceGroup  string
	ResourceID     string // as in the record
	ResourceType   string // e.g. "Microsoft.KeyVault/vaults", lower-cased provider preserved as given
	ResourceName   string // last segment of ResourceID, e.g. the vault name

	// Operation is the operation name as normalised: Key Vault operation
	// names in their documented casing (SecretGet), Activity Log operation
	// names as in the record with upper-case exports mapped to lower case
	// (microsoft.keyvault/vaults/write). Compare with OperationIs.
	Operation string
	Category  string // Activity Log category (Administrative, Write, ...) or AuditEvent
	// Result is the outcome: "Success", "Failure", "Start", "Accept" ... as recorded.
	Result          string
	ResultSignature string
	StatusCode      int   // HTTP status code when recorded (Key Vault httpStatusCode), else 0
	DurationMs      int64 // durationMs, string or number in the input

	Caller       Principal
	CallerIP     netip.Addr // zero when CallerIPText is not a single address
	CallerIPText string     // callerIpAddress as recorded ("<Redacted>", a CIDR, "")
	ClientInfo   string     // Key Vault clientInfo or Activity Log user agent / client app
	// CorrelationID ties the records of one request together.
	CorrelationID string
	// Target is the object acted on: a Key Vault object URI (properties.id)
	// or, for the Activity Log, the authorization scope.
	Target string
	// RequestBody and ResponseBody are the Activity Log properties, as JSON
	// text whether the record held a string or an object.
	RequestBody  string
	ResponseBody string
	// AddedAccessPolicy lists object IDs granted access by a Key Vault
	// VaultPut/VaultPatch (properties.addedAccessPolicy), if any.
	AddedAccessPolicy []string

	// Raw is the record's JSON as read, for evidence. It aliases the reader's
	// buffer and is valid only while the event is being processed.
	Raw []byte
	Pos Position

	// Enrichment, filled once by enrich.Enricher before detection.
	Geo   Geo
	Intel Intel
}

// OperationIs reports whether the operation name equals name, ignoring case.
func (o *Op) OperationIs(name string) bool { return strings.EqualFold(o.Operation, name) }

// Failed reports whether the operation failed (result Failure, or HTTP 4xx/5xx).
func (o *Op) Failed() bool {
	if o.StatusCode >= 400 {
		return true
	}
	return strings.EqualFold(o.Result, "Failure") || strings.EqualFold(o.Result, "Failed")
}

// Reset clears the Op for reuse, keeping the capacity of its slices.
func (o *Op) Reset() {
	added := o.AddedAccessPolicy[:0]
	*o = Op{}
	o.AddedAccessPolicy = added
}
