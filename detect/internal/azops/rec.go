// Package azops holds what the Azure Resource Manager (Activity Log) and Key
// Vault detections share: Rec, the copy of an event.Op a detection keeps;
// Buffer, which holds records until the watermark passes them and releases
// them in event-time order; Shard, a detect.Shard over per-key state; the
// suspicious-address (threat-intelligence) detection used by
// ARM_OperationFromSuspiciousIP, ARM_OperationFromSuspiciousProxyIP,
// KV_TORAccess and KV_SuspiciousIPAccess; and the helpers that turn records
// into alert entities, evidence and details.
//
// Detections release records in event-time order (ties broken by input
// position), so out-of-order delivery within the engine's lateness gives the
// same candidates as in-order delivery.
package azops

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

// Rec is the part of an event.Op a detection keeps after Process returns.
// Strings are shared with the Op (they are immutable); slices are copied.
type Rec struct {
	Time           time.Time       `json:"t"`
	Kind           event.Kind      `json:"k,omitempty"`
	TenantID       string          `json:"tenant,omitempty"`
	SubscriptionID string          `json:"sub,omitempty"`
	ResourceID     string          `json:"res,omitempty"`
	ResourceName   string          `json:"name,omitempty"`
	Operation      string          `json:"op"`
	Result         string          `json:"result,omitempty"`
	StatusCode     int             `json:"status,omitempty"`
	Caller         event.Principal `json:"caller"`
	CallerIP       netip.Addr      `json:"ip,omitzero"`
	CallerIPText   string          `json:"ipText,omitempty"`
	CorrelationID  string          `json:"corr,omitempty"`
	Target         string          `json:"target,omitempty"`
	// Added is the op's AddedAccessPolicy (object IDs granted access).
	Added []string `json:"added,omitempty"`
	// Body is an Activity Log record's request body, else its response body (JSON text, shared with
	// the Op), for detections that read what a write asked for (a role
	// definition's actions, a VM's size). Evidence kept in an Acc drops it.
	Body  string           `json:"body,omitempty"`
	Pos   event.Position   `json:"pos"`
	Geo   event.Geo        `json:"geo"`
	Intel []event.IntelHit `json:"intel,omitempty"`
}

// Fill copies op into r, reusing nothing of r's previous contents.
func (r *Rec) Fill(op *event.Op) {
	*r = Rec{
		Time:           op.Time,
		Kind:           op.Kind,
		TenantID:       op.TenantID,
		SubscriptionID: op.SubscriptionID,
		ResourceID:     op.ResourceID,
		ResourceName:   op.ResourceName,
		Operation:      op.Operation,
		Result:         op.Result,
		StatusCode:     op.StatusCode,
		Caller:         op.Caller,
		CallerIP:       op.CallerIP,
		CallerIPText:   op.CallerIPText,
		CorrelationID:  op.CorrelationID,
		Target:         op.Target,
		Pos:            op.Pos,
		Geo:            op.Geo,
	}
	if op.Kind == event.KindActivity {
		// The Start record of a write carries the request body, the
		// Succeeded one the response body (the resource as created).
		r.Body = op.RequestBody
		if r.Body == "" {
			r.Body = op.ResponseBody
		}
	}
	if len(op.AddedAccessPolicy) > 0 {
		r.Added = slices.Clone(op.AddedAccessPolicy)
	}
	if len(op.Intel.Hits) > 0 {
		r.Intel = slices.Clone(op.Intel.Hits)
	}
}

// Failed reports whether the operation failed (HTTP 4xx/5xx or a Failure result).
func (r *Rec) Failed() bool {
	if r.StatusCode >= 400 {
		return true
	}
	return strings.EqualFold(r.Result, "Failure") || strings.EqualFold(r.Result, "Failed")
}

// Denied reports whether the operation was refused for lack of permission
// (HTTP 403, or a Forbidden result signature folded into Result).
func (r *Rec) Denied() bool {
	return r.StatusCode == 403 || strings.EqualFold(r.Result, "Forbidden")
}

// IP returns the caller address as text: the parsed address when there is
// one, else the address text as recorded ("" when absent).
func (r *Rec) IP() string {
	if r.CallerIP.IsValid() {
		return r.CallerIP.String()
	}
	return r.CallerIPText
}

// PrincipalKey is the caller's stable key (event.Principal.Key).
func (r *Rec) PrincipalKey() string { return r.Caller.Key() }

// CallerKey is the principal key, or the caller IP when the record names no
// principal, so anonymous callers are still told apart by address.
func CallerKey(op *event.Op) string {
	if k := op.Caller.Key(); k != "" {
		return k
	}
	if op.CallerIP.IsValid() {
		return op.CallerIP.String()
	}
	return op.CallerIPText
}

// Subscription returns the record's subscription ID, taken from the
// resource ID ("/subscriptions/<id>/...") when the record has none, lower-cased.
func (r *Rec) Subscription() string {
	if r.SubscriptionID != "" {
		return r.SubscriptionID
	}
	return SubscriptionOf(r.ResourceID)
}

// SubscriptionOf extracts the lower-cased subscription ID from a resource ID,
// or "" when it has none.
func SubscriptionOf(resourceID string) string {
	const p = "/subscriptions/"
	if len(resourceID) < len(p) || !strings.EqualFold(resourceID[:len(p)], p) {
		return ""
	}
	rest := resourceID[len(p):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return strings.ToLower(rest)
}

// Source is where the record was read, "file:line" (or the file alone when
// the line is unknown).
func (r *Rec) Source() string {
	if r.Pos.File == "" {
		return ""
	}
	if r.Pos.Line > 0 {
		return r.Pos.File + ":" + strconv.Itoa(r.Pos.Line)
	}
	return r.Pos.File
}

// Evidence turns the record into alert evidence.
func (r *Rec) Evidence() alert.Evidence {
	res := r.Result
	if r.StatusCode != 0 {
		if res == "" {
			res = strconv.Itoa(r.StatusCode)
		} else {
			res += " (" + strconv.Itoa(r.StatusCode) + ")"
		}
	}
	return alert.Evidence{
		Time:      r.Time,
		Operation: r.Operation,
		Caller:    r.Caller.Label(),
		CallerIP:  r.IP(),
		Resource:  r.ResourceID,
		Target:    r.Target,
		Result:    res,
		Source:    r.Source(),
	}
}

// AccountEntity returns the caller as an account entity, or false when the
// record names nobody. Fields the record lacks stay empty.
func AccountEntity(p *event.Principal, role string) (alert.Entity, bool) {
	if p.ObjectID == "" && p.UPN == "" && p.AppID == "" {
		return alert.Entity{}, false
	}
	return alert.Entity{
		Type:     alert.EntityAccount,
		Role:     role,
		Name:     p.Name,
		ObjectID: p.ObjectID,
		UPN:      p.UPN,
		AppID:    p.AppID,
	}, true
}

// IPEntity returns the caller address with its location, network owner and
// intelligence sources, or false when the record has no address.
func (r *Rec) IPEntity(role string) (alert.Entity, bool) {
	addr := r.IP()
	if addr == "" {
		return alert.Entity{}, false
	}
	e := alert.Entity{
		Type:    alert.EntityIP,
		Role:    role,
		Address: addr,
		Country: r.Geo.Country,
		City:    r.Geo.City,
		ASN:     r.Geo.ASN,
		ASOrg:   r.Geo.ASOrg,
		Intel:   IntelStrings(r.Intel),
	}
	if r.Geo.HasLocation {
		lat, lon := r.Geo.Lat, r.Geo.Lon
		e.Latitude, e.Longitude = &lat, &lon
	}
	return e, true
}

// IntelStrings renders hits as "source (category, yyyy-mm-dd)", the date
// left out when the list gave none, in the order of the hits.
func IntelStrings(hits []event.IntelHit) []string {
	if len(hits) == 0 {
		return nil
	}
	out := make([]string, 0, len(hits))
	for _, h := range hits {
		s := h.Source + " (" + h.Category
		if !h.Date.IsZero() {
			s += ", " + h.Date.UTC().Format(time.DateOnly)
		}
		out = append(out, s+")")
	}
	return out
}

// FormatTime renders an event time for alert details (RFC 3339, UTC).
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// FormatDuration renders a window for alert details without zero units:
// "1m", "1h", "24h", "1h30m", "90s" becomes "1m30s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
