package detecttest

import (
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-security/vigil/event"
)

// Vault is a Key Vault as its audit records name it.
type Vault struct {
	Subscription  string // subscription GUID
	ResourceGroup string
	Name          string
}

// ResourceID is the vault's ID the way Key Vault AuditEvent records carry
// it: upper-cased ("/SUBSCRIPTIONS/.../PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/NAME").
func (v Vault) ResourceID() string {
	return strings.ToUpper("/subscriptions/" + v.Subscription + "/resourceGroups/" + v.ResourceGroup +
		"/providers/Microsoft.KeyVault/vaults/" + v.Name)
}

// ARMID is the vault's ID the way the Activity Log carries it (mixed case).
func (v Vault) ARMID() string {
	return "/subscriptions/" + v.Subscription + "/resourceGroups/" + v.ResourceGroup +
		"/providers/Microsoft.KeyVault/vaults/" + v.Name
}

// URI is the vault's data-plane address.
func (v Vault) URI() string { return "https://" + strings.ToLower(v.Name) + ".vault.azure.net/" }

// Option sets fields of a built event.
type Option func(*event.Op)

// KV builds a successful Key Vault AuditEvent operation on v at t, shaped
// as the decoder makes it from a record like Microsoft's logging sample.
func KV(t time.Time, v Vault, operation string, opts ...Option) event.Op {
	op := event.Op{
		Kind:            event.KindKeyVault,
		Time:            t.UTC(),
		SubscriptionID:  strings.ToLower(v.Subscription),
		ResourceGroup:   strings.ToUpper(v.ResourceGroup),
		ResourceID:      v.ResourceID(),
		ResourceType:    "VAULTS",
		ResourceName:    strings.ToUpper(v.Name),
		Operation:       operation,
		Category:        "AuditEvent",
		Result:          "Success",
		ResultSignature: "OK",
		StatusCode:      200,
		DurationMs:      9,
		ClientInfo:      "azsdk-python-keyvault-secrets/4.7.0 Python/3.11.5 (Windows-10-10.0.19044-SP0)",
		Target:          v.URI(),
		Pos:             event.Position{File: "keyvault.json"},
	}
	for _, o := range opts {
		o(&op)
	}
	return op
}

// Activity builds a succeeded Activity Log (Administrative) operation on
// resourceID at t.
func Activity(t time.Time, resourceID, operation string, opts ...Option) event.Op {
	sub := ""
	if parts := strings.Split(resourceID, "/"); len(parts) > 2 && strings.EqualFold(parts[1], "subscriptions") {
		sub = strings.ToLower(parts[2])
	}
	op := event.Op{
		Kind:           event.KindActivity,
		Time:           t.UTC(),
		SubscriptionID: sub,
		ResourceID:     resourceID,
		ResourceName:   resourceID[strings.LastIndexByte(resourceID, '/')+1:],
		Operation:      operation,
		Category:       "Administrative",
		Result:         "Succeeded",
		ClientInfo:     "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
		Target:         resourceID,
		Pos:            event.Position{File: "activity.json"},
	}
	for _, o := range opts {
		o(&op)
	}
	return op
}

// Caller sets the principal (and the tenant from its TenantID).
func Caller(p event.Principal) Option {
	return func(op *event.Op) {
		op.Caller = p
		if p.TenantID != "" {
			op.TenantID = p.TenantID
		}
	}
}

// From sets the caller address, its location and its intelligence hits.
// An address that does not parse is kept as text only (as "<Redacted>" is).
func From(addr string, geo event.Geo, hits ...event.IntelHit) Option {
	return func(op *event.Op) {
		op.CallerIPText = addr
		op.CallerIP = netip.Addr{}
		if a, err := netip.ParseAddr(addr); err == nil {
			op.CallerIP = a
		}
		op.Geo = geo
		op.Intel.Hits = hits
	}
}

// Status sets the HTTP status and the result that goes with it.
func Status(code int) Option {
	return func(op *event.Op) {
		op.StatusCode = code
		switch {
		case code == 403:
			op.Result, op.ResultSignature = "Failure", "Forbidden"
		case code == 401:
			op.Result, op.ResultSignature = "Failure", "Unauthorized"
		case code >= 400:
			op.Result, op.ResultSignature = "Failure", ""
		default:
			op.Result, op.ResultSignature = "Success", "OK"
		}
	}
}

// Result sets the recorded result (Activity Log: "Started", "Failed" ...).
func Result(r string) Option { return func(op *event.Op) { op.Result = r } }

// Target sets the object acted on (a Key Vault object URI).
func Target(uri string) Option { return func(op *event.Op) { op.Target = uri } }

// Secret sets the target to a secret's URI in v.
func Secret(v Vault, name, version string) Option {
	return Target(v.URI() + "secrets/" + name + "/" + version)
}

// Added sets the object IDs a VaultPut or VaultPatch granted access.
func Added(objectIDs ...string) Option {
	return func(op *event.Op) { op.AddedAccessPolicy = objectIDs }
}

// Correlation sets the correlation ID.
func Correlation(id string) Option { return func(op *event.Op) { op.CorrelationID = id } }

// Number gives ops positions in the order they stand in (file name, line
// i+1, index i), as a decoder reading them from one file would: the order
// detections use to break ties between equal times.
func Number(file string, ops []event.Op) {
	for i := range ops {
		ops[i].Pos = event.Position{File: file, Line: i + 1, Index: i}
	}
}
