// Package kvbehaviour holds the Key Vault detections of Defender for Key
// Vault that compare activity with a learnt history:
//
//   - KV_UserAnomaly: a user (object ID) accesses a vault it had not
//     accessed within the look-back;
//   - KV_AppAnomaly: an application calling as itself (a service principal
//     or managed identity) accesses a vault it had not accessed;
//   - KV_UserAppAnomaly: a known user accesses a vault through an
//     application the vault knows from other callers, which the user had not
//     used on it (a management operation, which Resource Manager performs on
//     the user's behalf, is learnt without an alert);
//   - KV_OperationPatternAnomaly: a principal performs operations it had not
//     performed within the look-back (a sensitive one, such as a list,
//     backup, purge, delete or decrypt, counts double);
//   - KV_OperationVolumeAnomaly: in one clock hour a principal performs far
//     more operations on a vault than the vault's history for that hour of
//     the day, its busiest hour and the principal's busiest hour allow;
//   - KV_AccountVolumeAnomaly: in one UTC day a principal touches more
//     vaults than its own busiest day and its peers' days (principals of the
//     same tenant and kind) allow.
//
// Each default and where it comes from is documented on Config's fields.
//
// # Avoiding false positives
//
// Nothing is new until its scope has history: a vault's callers and
// volume are judged only Learning (default 7 days) after the vault's first
// operation, a principal's operations and vault count only Learning after
// its own first operation, its peers only Learning after the tenant's. A
// vault created later has its own first week; a scope whose history has
// all expired learns again. Only identified operations count: the
// unauthenticated challenge (401, no identity) that precedes every SDK
// client's token is nobody's behaviour. Refused operations (403) are not
// access: nothing is learnt from them and they make no new caller, but they
// are evidence, and raise the severity, of a candidate they fall in.
// Microsoft's own services reading a vault's properties (Azure Resource
// Graph, Policy Insights, the portal, Resource Manager, Defender for Cloud:
// DefaultExceptions) are excepted by configuration. An object ID an
// access-policy change granted access to (VaultPut or VaultPatch with
// addedAccessPolicy) is not a new user when it first reads. Volume needs a
// minimum absolute count and ratios over the hour of the day's median and
// over the highest hour (never a z-score alone), so daily, weekly and
// monthly peaks pass. One alert per vault and principal a day comes from the
// fingerprint keys and the alert manager's 24-hour aggregation: a new
// caller raises one candidate at once and one summary when its Window
// closes, with the same fingerprint.
//
// # Partitions and state
//
// Two detectors share the work: NameVault, partitioned by vault (upper-cased
// vault resource ID), runs the user, application, pair and volume
// detections; NameTenant, partitioned by the caller's tenant, whose
// principals are each other's peers, runs the pattern and account-volume
// detections. Records are released to them in event-time order (package
// detect/internal/azops), windows close when the engine's watermark passes
// them, and every key's state is snapshotted as JSON (the seen tables as
// baseline's compact binary) so a restart keeps what was learnt.
//
// Memory is bounded per key: a vault keeps 9 to 10 bytes per known
// user-application pair and application (baseline.CompactSeenSet, at most
// 2^20 each), HistoryDays x 24 hourly counts, its busiest 64 callers' peaks,
// the hour's callers (80 bytes each, at most 512) and its open windows,
// about 15 KB besides the pairs; a tenant keeps at most MaxPrincipals
// principals of about 1 KB each (operations, at most 128; countries, 8;
// the day's vaults and their first access; a daily history). Measured by
// TestStateMemory (Go 1.26, amd64): 100,000 principals on 1,000 vaults take
// 0.11 GiB when each used 10 vaults, 0.95 GiB when each used every vault
// (100 million pairs).
//
// # Candidates
//
// Every candidate has Resource set to the vault's resource ID as recorded
// (KV_AccountVolumeAnomaly: the subscription of the day's first vault,
// the same for every candidate of the day), entities as the other Key Vault detections build them (the vault
// as "compromised" keyvault entity, the caller as "compromised" account
// entity, an ip entity per address with location, network and intelligence;
// KV_AccountVolumeAnomaly names every vault as a "related" keyvault
// entity), evidence records (time, operation, caller, address, result,
// target, file:line), TenantID, SubscriptionID, First, Last, Time (= Last)
// and Count (operations; KV_AccountVolumeAnomaly: vaults). Severity is empty
// (the catalogue's, Medium) unless raised one step because the address is a
// Tor exit or blocklisted (RaiseCategories), an operation was refused (403),
// or the scope (the vault; for the tenant detections, the principal) had not
// been reached from the country before.
//
// Fingerprint keys: vault ID and principal key (KV_UserAnomaly,
// KV_OperationPatternAnomaly, KV_OperationVolumeAnomaly), vault ID and app
// ID (KV_AppAnomaly), vault ID, principal key and app ID
// (KV_UserAppAnomaly), principal key (KV_AccountVolumeAnomaly). The
// principal key is the object ID, else the lower-cased UPN, else the app ID.
//
// # Details
//
// Every candidate sets (empty when unknown):
//
//	vault         vault name as recorded ("" for KV_AccountVolumeAnomaly)
//	resource      the candidate's resource ID
//	caller        principal label: UPN, "app <appId>", object ID or "unknown"
//	objectId      caller's object ID
//	appId         caller's application ID
//	callerIp      caller addresses, ", "-separated (up to 5)
//	country       their ISO country codes
//	operations    distinct operation names, sorted, ", "-separated
//	count         operations (vaults) the candidate stands for
//	failed        operations that failed; denied: refused with 403
//	firstTime     first event time, RFC 3339 UTC; lastTime: the last
//	intelSource   intelligence sources naming the addresses
//	newCountry    countries the scope had not been reached from
//	learnedSince  start of the history compared with, RFC 3339 UTC
//	raisedBy      why the severity was raised, in English
//	window        how long activity is gathered: "1h" (Window), "24h"
//
// KV_UserAnomaly and KV_AppAnomaly add knownCallers (the caller identities
// the vault knew); KV_UserAppAnomaly adds usualApps (the applications the
// user called the vault through before, "(none)" for calls without one).
// KV_OperationPatternAnomaly: operations are the new ones; usualOperations
// the principal's operations before, with counts ("SecretGet (1,204)"), and
// historyCount their total. KV_OperationVolumeAnomaly: hourStart,
// hourCount (the vault's operations that hour), expected (median of that
// hour of the day), mad (its median absolute deviation), historyDays (days
// the median is over), peak (the vault's busiest hour), callerPeak (the
// caller's busiest hour on the vault), baseline (the same in English:
// "median 102/h at 10:00 UTC, MAD 12 over 16 days; busiest hour 142; this
// caller's busiest hour 68"). KV_AccountVolumeAnomaly: vaultCount, vaults
// (names, "(+N)" for those not listed), day, usualVaults (the principal's
// busiest day), historyDays, peerQuantile ("99%"), peerVaults (the peers'
// quantile), peerDays (the peers' active days it is over), threshold and
// baseline (in English).
package kvbehaviour
