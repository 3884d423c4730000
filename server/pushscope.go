package server

import (
	"strings"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// A push made with a token is recorded in the spool with its origin: the
// token's ID, the kind and ID of its scope, and its name. When the body is
// processed, only records of the subscriptions the scope owns are read (a
// partner's: its customers'; a customer's: its own, as the directory says);
// the others are refused and counted, so a customer cannot raise alerts in
// another tenant by pushing its logs.

// pushOrigin encodes a token as a spool record's origin.
func pushOrigin(tok store.Token) string {
	kind, id := "tenant", tok.TenantID
	if tok.PartnerID != "" {
		kind, id = "partner", tok.PartnerID
	}
	return strings.Join([]string{tok.ID, kind, id, tok.Name}, "|")
}

// pushScope is the scope a pushed body's records must fall in.
type pushScope struct {
	tokenID, name string
	tenants       map[string]bool
}

// parseOrigin decodes an origin into the scope it grants with dir; ok is
// false for a body pushed without a token.
func parseOrigin(origin string, dir *tenancy.Index) (sc pushScope, ok bool) {
	parts := strings.SplitN(origin, "|", 4)
	if len(parts) != 4 {
		return pushScope{}, false
	}
	sc = pushScope{tokenID: parts[0], name: parts[3], tenants: map[string]bool{}}
	id := tenancy.NormalizeID(parts[2])
	switch parts[1] {
	case "partner":
		for _, t := range dir.CustomersOf(id) {
			sc.tenants[tenancy.NormalizeID(t)] = true
		}
	case "tenant":
		sc.tenants[id] = true
	}
	return sc, true
}

// admits reports whether op belongs to the scope: its subscription is one
// of the scope's tenants' in the directory; a record that names no
// subscription (a tenant-level operation) by its tenant. A subscription the
// directory does not know is not provably the scope's, and is refused.
func (sc *pushScope) admits(op *event.Op, dir *tenancy.Index) bool {
	if op.SubscriptionID != "" {
		t, ok := dir.TenantOfSubscription(op.SubscriptionID)
		return ok && sc.tenants[tenancy.NormalizeID(t)]
	}
	return op.TenantID != "" && sc.tenants[tenancy.NormalizeID(op.TenantID)]
}
