package azurelog

import (
	"hash/maphash"
)

// resourceInfo is what a resource ID says about its resource. The decoder
// caches it per resource ID: a log holds few resources and many records.
type resourceInfo struct {
	id, name, sub, rg string
	rtype             string // as inferred from the ID
	kvType            string // rtype in its documented casing for Key Vault events
	vault             bool   // the ID names a Key Vault vault
}

// noResource describes a record without a resource ID; it is never written.
var noResource resourceInfo

// resourceCache is a direct-mapped cache of resourceInfo by resource ID.
type resourceCache struct {
	seed maphash.Seed
	tab  []resourceInfo
}

// resource returns the facts of a resource ID, computing them on a miss.
func (r *Reader) resource(rid []byte) *resourceInfo {
	if len(rid) == 0 {
		return &noResource
	}
	c := &r.res
	e := &c.tab[maphash.Bytes(c.seed, rid)&uint64(len(c.tab)-1)]
	if e.id == string(rid) {
		return e
	}
	*e = resourceInfo{
		id:    r.strs.bytes(rid),
		name:  r.strs.bytes(lastSegment(rid)),
		rg:    r.strs.bytes(segmentAfter(rid, "resourceGroups")),
		vault: indexFold(rid, "/providers/microsoft.keyvault/vaults/") >= 0,
	}
	r.scratch = lower(r.scratch[:0], segmentAfter(rid, "subscriptions"))
	e.sub = r.strs.bytes(r.scratch)
	r.scratch = appendResourceType(r.scratch[:0], rid)
	e.rtype = r.strs.bytes(r.scratch)
	e.kvType = keyVaultType(e.rtype)
	return e
}

// keyVaultType returns a Key Vault resource type in its documented casing.
func keyVaultType(t string) string {
	switch {
	case equalFold([]byte(t), "Microsoft.KeyVault/vaults"):
		return "Microsoft.KeyVault/vaults"
	case equalFold([]byte(t), "Microsoft.KeyVault/managedHSMs"):
		return "Microsoft.KeyVault/managedHSMs"
	}
	return t
}
