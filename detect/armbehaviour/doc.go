// Package armbehaviour holds the Resource Manager (Activity Log) detections
// of Defender for Resource Manager that follow a principal's or a tenant's
// behaviour:
//
//   - toolkit sweeps: ARM_MicroBurst.AZStorageKeysREST (listKeys on many
//     storage accounts), ARM_MicroBurst.AzVMBulkCMD (run command on many
//     VMs), ARM_MicroBurst.AzDomainInfo (keys and credentials of many
//     resources of several providers), ARM_Azurite (many web apps'
//     publishing profiles), ARM_MicroBurst.AzKeyVaultSecretsREST and
//     AzKeyVaultKeysREST (the secrets or keys of many vaults listed, from
//     the vaults' audit logs): one principal touches at least MinResources
//     distinct resources within the sweep's window, more than its own
//     busiest sweep of the look-back. The patterns are what the toolkits'
//     code calls (DefaultSweeps), never a user agent;
//   - ARM_UnusedAccountPersistence: a principal silent for MinIdle (60
//     days) performs persistence-type writes (PersistenceOperations) within
//     Window of its return;
//   - ARM_UnusedAppPowershellPersistence: a principal with MinHistory
//     operations, none through PowerShell (the token's client application),
//     performs persistence-type writes through PowerShell within Window of
//     its first PowerShell operation;
//   - ARM_PrivilegedRoleDefinitionCreation: a custom role whose actions
//     (wildcards included) cover a sensitive action is created or made
//     privileged; assigning it within AssignWindow raises the severity;
//   - ARM.MCAS_ActivityFromInfrequentCountry: a user acts from a country it
//     did not use within the look-back and no other user of its tenant used;
//   - ARM.MCAS_ImpossibleTravelActivity: two operations of a user whose
//     distance, less both locations' accuracy radii, needs more than
//     MaxSpeedKmh.
//
// # Avoiding false positives
//
// Nothing a principal does in its first Learning (7 days) is new, nor is
// anything a tenant does in its first week for the country detection.
// Microsoft's own services (ServiceApps: Resource Graph, Policy Insights,
// Resource Manager, Defender for Cloud, Azure Backup) are not followed. A
// pipeline that lists the keys of the same accounts every night sets its own
// peak and stays quiet. Intermediate records of a request (Start, Accept)
// are left out; refused writes are not persistence. The location
// detections follow users only (service principals run in every region),
// leave out the organisation's VPN and egress ranges (ExceptRanges),
// subtract the databases' accuracy radii (a mobile carrier's address placed
// at a country's centre with a radius of hundreds of kilometres travels
// nowhere), and treat travel between two places the user was at on
// MinKnownDays days as a split VPN. A country one colleague of the tenant
// used is not rare.
//
// # Partitions and state
//
// NamePrincipal is keyed by the principal (object ID, else UPN, else app
// ID); it reads every Activity Log record's final result and every
// identified Key Vault record (those no sweep counts only move the
// principal's first and last time, without waiting for the watermark, as do
// plain Activity Log operations), and keeps, per principal: first and last operation, operation counts,
// the open sweeps (at most 16, 256 resources each) and the peak of each
// pattern, the open return and PowerShell episodes, the last located
// operation and up to 16 places. NameTenant is keyed by tenant: up to
// MaxPrincipals users with up to 16 countries each, and per country the
// last users seen there. NameRoles is keyed by tenant (a role defined at a
// management group is assigned in a subscription): the privileged roles
// waiting for an assignment (64) and the privileged actions of up to 4096
// known role definitions. Records are released in event-time order
// (detect/internal/azops); a principal or tenant silent for LookBack is
// dropped; every key's state is snapshotted as JSON.
//
// # Candidates
//
// Resource is the subscription ("/subscriptions/<id>", an azure-resource
// entity with role "compromised"); the caller is an account entity, its
// addresses ip entities with location and intelligence; the resources
// operated on are "related" azure-resource entities. Details always carry
// caller, objectId, appId, callerIp, country, subscription, operations,
// count, firstTime and lastTime; each type adds what its description says
// (resourceCount, resources, providers, usualPeak, window for sweeps;
// idleDays, lastActivity for unused accounts; clientApp, historyCount for
// PowerShell; roleId, roleName, sensitiveActions, grantingActions,
// assignedTo for roles; usualCountries, orgUsers for countries; from/to
// address, city, country and time, distanceKm, minutes, speedKmh for
// travel). Severity is the catalogue's, raised for an assigned privileged
// role.
package armbehaviour
