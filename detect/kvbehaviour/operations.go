package kvbehaviour

import (
	_ "embed"
	"slices"
	"strings"

	"github.com/vigil-security/vigil/event"
)

// operationNames is Microsoft's "Operation names table" of Key Vault
// AuditEvent operationName values, one a line, '#' starting a comment (see
// testdata/PROVENANCE.md).
//
//go:embed keyvault-operation-names.txt
var operationNames string

// documented maps the lower-cased documented operation names to their
// documented casing.
var documented = func() map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(operationNames) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		m[strings.ToLower(line)] = line
	}
	return m
}()

// canonical returns the documented casing of a Key Vault operation name.
func canonical(name string) (string, bool) {
	c, ok := documented[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return name, false
	}
	return c, true
}

// opSet is a set of operation names in their documented casing: the
// decoder gives Key Vault operations in that casing, so a look-up is one
// map access without folding case.
type opSet map[string]struct{}

func newOpSet(names []string) opSet {
	s := opSet{}
	for _, n := range names {
		c, _ := canonical(n)
		s[c] = struct{}{}
	}
	return s
}

func (s opSet) has(op string) bool { _, ok := s[op]; return ok }

// management reports whether a Key Vault operation is a management-plane
// operation on the vault resource (the table's "Vault" group: VaultGet,
// VaultPut, VaultDelete, VaultPatch, VaultRecover and the access-policy
// change notification), which Resource Manager performs on the caller's
// behalf.
func management(op string) bool { return strings.HasPrefix(op, "Vault") }

// exceptions are Config.Exceptions merged by app ID (compared ignoring
// case); a nil operation set means every operation. There are a handful,
// so matching compares lengths and folds case byte by byte, which stops at
// the first byte of a GUID that differs: cheaper than hashing the caller's
// app ID for a map.
type exceptions []exception

type exception struct {
	appID string
	ops   opSet
}

func newExceptions(list []Exception) exceptions {
	var ex exceptions
	for _, e := range list {
		id := strings.ToLower(strings.TrimSpace(e.AppID))
		if id == "" {
			continue
		}
		i := slices.IndexFunc(ex, func(x exception) bool { return x.appID == id })
		if i < 0 {
			ex = append(ex, exception{appID: id, ops: opSet{}})
			i = len(ex) - 1
		}
		switch {
		case ex[i].ops == nil: // already every operation
		case len(e.Operations) == 0:
			ex[i].ops = nil
		default:
			for n := range newOpSet(e.Operations) {
				ex[i].ops[n] = struct{}{}
			}
		}
	}
	return ex
}

// match reports whether op's caller and operation are excepted.
func (ex exceptions) match(op *event.Op) bool {
	id := op.Caller.AppID
	if id == "" {
		return false
	}
	for i := range ex {
		if len(ex[i].appID) == len(id) && strings.EqualFold(ex[i].appID, id) {
			return ex[i].ops == nil || ex[i].ops.has(op.Operation)
		}
	}
	return false
}
