package azops

import (
	"strings"

	"github.com/vigil-security/vigil/alert"
)

// vaultsSegment is what precedes a vault's name in its resource ID.
const vaultsSegment = "/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/"

// vaultSpan returns resourceID upper-cased and the length of its prefix up
// to and including the vault's name, 0 when it names no vault.
func vaultSpan(resourceID string) (up string, end int) {
	up = strings.ToUpper(resourceID) // no copy when already upper-case
	i := strings.Index(up, vaultsSegment)
	if i < 0 {
		return up, 0
	}
	end = i + len(vaultsSegment)
	j := strings.IndexByte(up[end:], '/')
	switch {
	case j < 0:
		end = len(up)
	default:
		end += j
	}
	if end == i+len(vaultsSegment) {
		return up, 0 // no name
	}
	return up, end
}

// VaultID returns the upper-cased resource ID of the vault a resource ID
// names or lies under (".../vaults/NAME/accessPolicies/add" gives
// ".../VAULTS/NAME"), or "" when it names no vault. Key Vault audit records
// carry the ID upper-cased already, and then it is returned without copying.
func VaultID(resourceID string) string {
	up, end := vaultSpan(resourceID)
	return up[:end]
}

// RecordedVaultID is the ID of the vault resourceID names or lies under, in
// the casing of the record (resourceID itself when it names no vault).
func RecordedVaultID(resourceID string) string {
	up, end := vaultSpan(resourceID)
	if end == 0 {
		return resourceID
	}
	if len(up) != len(resourceID) { // case mapping changed the length: keep it safe
		return up[:end]
	}
	return resourceID[:end]
}

// VaultName is the vault's name in the casing of the record (the last
// segment of its vault ID), or the record's resource name.
func VaultName(r *Rec) string {
	if _, end := vaultSpan(r.ResourceID); end > 0 {
		return lastSegment(RecordedVaultID(r.ResourceID))
	}
	return r.ResourceName
}

// VaultEntity is the vault r touched, as a keyvault entity in the role
// "compromised" (the resource the alert is about), with the resource ID as
// recorded up to the vault's name.
func VaultEntity(r *Rec) alert.Entity {
	return alert.Entity{Type: alert.EntityKeyVault, Role: "compromised", ResourceID: RecordedVaultID(r.ResourceID), Name: VaultName(r)}
}

// lastSegment returns what follows the last '/' of a resource ID.
func lastSegment(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}
