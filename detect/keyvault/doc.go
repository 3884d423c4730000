// Package keyvault holds the Key Vault detections of Defender for Key Vault
// that need no learnt baseline:
//
//   - KV_TORAccess: a vault operation from a Tor exit node;
//   - KV_SuspiciousIPAccess: a successful vault operation from a blocklisted
//     address (intelligence category malicious or c2, scored entries at
//     least MinScore);
//   - KV_ListGetAnomaly: a list of secrets, keys or certificates followed by
//     many reads by one caller (a burst within a minute, or more than 25 of
//     one read in a day);
//   - KV_PutGetAnomaly: a change of the vault or its access policy, then
//     reads by the changer or by a principal the change granted access
//     (an access policy's addedAccessPolicy, or an RBAC role assignment of
//     a Key Vault data role at the vault's scope in the Activity Log),
//     within the hour.
//
// Each default and where it comes from is documented on Config's fields.
// Windows run on event time and close when the engine's watermark passes
// them; records are released to a detection in event-time order, so the
// order of delivery within the lateness does not change the output.
//
// # Partitions
//
// All four partition by vault: the upper-cased vault resource ID, so the
// Activity Log's mixed case and the audit log's upper case meet, and an audit
// record (upper-case already) is routed without allocating. KV_ListGetAnomaly
// keeps its state per caller within the vault's: the principal key (object
// ID, else lower-cased UPN, else app ID) or, for a record naming nobody, the
// caller address. (A "vault|caller" partition key would spread a hot vault
// over workers but cost an allocation for every read routed.)
//
// # Candidates
//
// Every candidate has Resource set to the vault's resource ID as recorded,
// a keyvault entity for the vault (role "compromised"), an account entity
// for the caller (role "compromised"; object ID, UPN and app ID as the record
// gives them, absent ones empty), an ip entity per caller address (up to 5)
// with country, city, coordinates, ASN and the intelligence sources that name
// it as "source (category, yyyy-mm-dd)", evidence (time, operation, caller,
// address, result with HTTP status, target, source file:line), TenantID,
// SubscriptionID, First, Last, Time (= Last) and Count. Severity is empty
// (the catalogue's, Medium for all four) unless raised one step because the
// address is also a Tor exit or blocklisted, or (ListGet, PutGet) a read was
// denied (403).
//
// TI candidates (KV_TORAccess, KV_SuspiciousIPAccess): the first operation
// of a caller from an address is a candidate at once (Count 1); the rest
// within the window are one summary candidate when it closes. Fingerprint
// keys: vault ID, principal key, address.
// KV_ListGetAnomaly fingerprint: vault ID, caller. KV_PutGetAnomaly: vault
// ID, changer's principal key, reader's principal key; its first candidate
// (once MinReads reads are seen) carries the change, later reads within the
// window are one summary candidate when the window closes.
//
// # Details
//
// The keys every candidate sets (empty when unknown), for the catalogue's
// description templates:
//
//	vault        vault name as recorded
//	resource     vault resource ID
//	caller       principal label: UPN, "app <appId>", object ID or "unknown"
//	callerIp     caller addresses, ", "-separated (up to 5)
//	country      their ISO country codes, ", "-separated
//	operations   distinct operation names, sorted, ", "-separated
//	count        events counted (ListGet: reads in the window; PutGet: reads)
//	failed       how many of the evidence operations failed (attempts count)
//	denied       how many were refused with 403
//	firstTime    first event time, RFC 3339 UTC
//	lastTime     last event time
//	window       the detection's window, e.g. "1m", "1h", "24h"
//	threshold    the threshold crossed (ListGet: reads; PutGet: MinReads;
//	             SuspiciousIP: MinScore; "" for Tor)
//	intelSource  intelligence sources naming the addresses, "; "-separated
//
// KV_ListGetAnomaly adds trigger ("burst", "daily" or "burst, daily").
// KV_PutGetAnomaly adds changedBy (changer's label), changeOperation,
// changeTime, grantedObjectIds (", "-separated) and granted ("true" when the
// reader is not the changer but was granted access).
package keyvault
