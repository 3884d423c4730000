package simulate

// The estate's internal model: entities referenced by index from compact
// events, and the tables of operations the renderers draw from.

// Ticks are 100 ns, the precision of Azure's record times (7 decimals).
const (
	ticksPerSecond = 10_000_000
	ticksPerMinute = 60 * ticksPerSecond
	ticksPerHour   = 60 * ticksPerMinute
	ticksPerDay    = 24 * ticksPerHour
)

type tenant struct {
	id, name, domain string
	offices          []int
}

type subscription struct {
	id     string // lower-case GUID
	name   string
	tenant int
}

type office struct {
	name   string
	tz     int   // offset from UTC in hours
	ips    []int // egress addresses
	tenant int
}

// object is a secret, key or certificate of a vault.
type object struct{ name, version string }

// Object collections, also the coll of a kvOp.
const (
	collSecrets = iota
	collKeys
	collCerts
	collVault
)

var collNames = [...]string{"secrets", "keys", "certificates", ""}

type vault struct {
	name, rg   string
	rid        string // upper-case resource ID
	base       string // https://name.vault.azure.net
	mgmt       string // management URI path: /subscriptions/.../vaults/name
	region     string
	sub        int
	tenant     int
	objs       [3][]object // secrets, keys, certificates
	onboarded  int64       // ticks from the start
	resource   int         // index of the vault in armRes
	hasBigList bool        // holds enough secrets for a dump
}

type principal struct {
	kind    PrincipalKind
	tenant  int
	oid     string
	upn     string
	appid   string
	name    string
	app     uint16 // index in appIDs: own app, or a user's usual client app
	ip      uint16 // usual address
	office  int    // users: index in offices; -1 otherwise
	role    string // Resource Manager role in the evidence
	claim   string // pre-rendered identity up to the appid value
	roleDef string // role definition ID (hex, no dashes)
	assign  string // role assignment ID (hex, no dashes)
	pidHex  string // object ID without dashes (evidence principalId)
}

// armResource is a resource the Activity Log names.
type armResource struct {
	id    string  // upper-case, as exported records carry it
	scope string  // in its usual casing, for identity.authorization.scope
	sub   int     // subscription index
	ops   []uint8 // what an administrator does to it
}

// Resources of each subscription, in armRes from Estate.subRes on.
const (
	resVM = iota
	resNSG
	resStorage
	resSite
	resDeployment
	resKinds
)

// subResource returns the armRes index of a subscription's resource.
func (e *Estate) subResource(sub, kind int) int { return e.subRes + sub*resKinds + kind }

// Event kinds.
const (
	evKV uint8 = iota
	evARM
)

// noPrincipal marks an event without identity (a 401 challenge).
const noPrincipal = 0xffff

// ev is one record to write, compact so an hour of them sorts fast. The
// renderers turn it into JSON from the estate's tables.
type ev struct {
	t      int64  // ticks since the start
	corr   uint64 // seeds the correlation and request IDs
	kind   uint8  // evKV or evARM
	op     uint8  // index in kvOps or armOps
	status uint16 // HTTP status; for Activity Log: 0 = Start record
	vault  uint16 // vault (Key Vault events)
	who    uint16 // principal, or noPrincipal
	app    uint16
	ip     uint16 // index in ips
	client uint16 // index in clients
	obj    uint16 // object within its collection; Activity Log: armRes index
	// extra: VaultPatch: granted principal + 1; 404: missing-object flag;
	// Activity Log: index of the response body in Estate.bodies + 1.
	extra uint16
	// app is, for Key Vault events, the index in appIDs; for Activity Log
	// events, 0 for the principal's usual client app, else its index + 1.
	dur uint16 // durationMs
}

// opKind says how a Key Vault operation's URIs are formed.
type opKind uint8

const (
	okGet        opKind = iota // .../coll/name/?api ; id .../coll/name/version
	okList                     // .../coll?api ; no id
	okSet                      // .../coll/name?api ; id .../coll/name/newversion
	okAction                   // .../keys/name/version/verb?api ; id .../keys/name/version
	okBackup                   // .../coll/name/backup?api ; id .../coll/name
	okDelete                   // .../coll/name?api ; id .../coll/name
	okPurge                    // .../deletedcoll/name?api ; id .../deletedcoll/name
	okVaultGet                 // management URI ; id https://name.vault.azure.net/
	okVaultWrite               // management URI ; id as VaultGet, maybe addedAccessPolicy
)

type kvOp struct {
	name string
	kind opKind
	coll uint8
	verb string // okAction: the URI's last segment
	perm string // the permission a 403 names: "secrets get"
}

// Key Vault operations (indices in kvOps).
const (
	opSecretGet uint8 = iota
	opSecretList
	opSecretSet
	opSecretBackup
	opSecretDelete
	opSecretPurge
	opKeyGet
	opKeyList
	opKeyBackup
	opKeyWrap
	opKeyUnwrap
	opKeySign
	opKeyDecrypt
	opCertGet
	opCertList
	opCertBackup
	opVaultGet
	opVaultPatch
	opVaultPut
	numKVOps
)

var kvOps = [numKVOps]kvOp{
	opSecretGet:    {"SecretGet", okGet, collSecrets, "", "secrets get"},
	opSecretList:   {"SecretList", okList, collSecrets, "", "secrets list"},
	opSecretSet:    {"SecretSet", okSet, collSecrets, "", "secrets set"},
	opSecretBackup: {"SecretBackup", okBackup, collSecrets, "", "secrets backup"},
	opSecretDelete: {"SecretDelete", okDelete, collSecrets, "", "secrets delete"},
	opSecretPurge:  {"SecretPurge", okPurge, collSecrets, "", "secrets purge"},
	opKeyGet:       {"KeyGet", okGet, collKeys, "", "keys get"},
	opKeyList:      {"KeyList", okList, collKeys, "", "keys list"},
	opKeyBackup:    {"KeyBackup", okBackup, collKeys, "", "keys backup"},
	opKeyWrap:      {"KeyWrap", okAction, collKeys, "wrapkey", "keys wrapKey"},
	opKeyUnwrap:    {"KeyUnwrap", okAction, collKeys, "unwrapkey", "keys unwrapKey"},
	opKeySign:      {"KeySign", okAction, collKeys, "sign", "keys sign"},
	opKeyDecrypt:   {"KeyDecrypt", okAction, collKeys, "decrypt", "keys decrypt"},
	opCertGet:      {"CertificateGet", okGet, collCerts, "", "certificates get"},
	opCertList:     {"CertificateList", okList, collCerts, "", "certificates list"},
	opCertBackup:   {"CertificateBackup", okBackup, collCerts, "", "certificates backup"},
	opVaultGet:     {"VaultGet", okVaultGet, collVault, "", ""},
	opVaultPatch:   {"VaultPatch", okVaultWrite, collVault, "", ""},
	opVaultPut:     {"VaultPut", okVaultWrite, collVault, "", ""},
}

// Data-plane and management API versions in the records.
const (
	dataAPIVersion = "7.4"
	mgmtAPIVersion = "2023-07-01"
)

// armOp is a Resource Manager operation as the Activity Log records it.
type armOp struct {
	action   string // Microsoft.Compute/virtualMachines/write
	category string // Write, Action or Delete
	created  bool   // Succeeded.Created rather than Succeeded.OK
}

// Resource Manager operations (indices in armOps).
const (
	armVMWrite uint8 = iota
	armVMRestart
	armNSGWrite
	armStorageListKeys
	armSiteWrite
	armDeploymentWrite
	armVaultWrite
	armAccessPolicyWrite
	armRoleAssignmentWrite
	armVMRunCommand
	armRunbookWrite
	armWebhookWrite
	armRoleDefinitionWrite
	armSitePublishXML
	armCosmosListKeys
	armACRListCredentials
	armSiteConfigList
	armVMSSWrite
	armMLComputeWrite
	armBatchPoolWrite
	armContainerGroupWrite
	numARMOps
)

var armOps = [numARMOps]armOp{
	armVMWrite:             {"Microsoft.Compute/virtualMachines/write", "Write", true},
	armVMRestart:           {"Microsoft.Compute/virtualMachines/restart/action", "Action", false},
	armNSGWrite:            {"Microsoft.Network/networkSecurityGroups/write", "Write", false},
	armStorageListKeys:     {"Microsoft.Storage/storageAccounts/listKeys/action", "Action", false},
	armSiteWrite:           {"Microsoft.Web/sites/write", "Write", false},
	armDeploymentWrite:     {"Microsoft.Resources/deployments/write", "Write", true},
	armVaultWrite:          {"Microsoft.KeyVault/vaults/write", "Write", false},
	armAccessPolicyWrite:   {"Microsoft.KeyVault/vaults/accessPolicies/write", "Write", false},
	armRoleAssignmentWrite: {"Microsoft.Authorization/roleAssignments/write", "Write", true},
	armVMRunCommand:        {"Microsoft.Compute/virtualMachines/runCommand/action", "Action", false},
	armRunbookWrite:        {"Microsoft.Automation/automationAccounts/runbooks/write", "Write", true},
	armWebhookWrite:        {"Microsoft.Automation/automationAccounts/webhooks/write", "Write", true},
	armRoleDefinitionWrite: {"Microsoft.Authorization/roleDefinitions/write", "Write", true},
	armSitePublishXML:      {"Microsoft.Web/sites/publishxml/action", "Action", false},
	armCosmosListKeys:      {"Microsoft.DocumentDB/databaseAccounts/listKeys/action", "Action", false},
	armACRListCredentials:  {"Microsoft.ContainerRegistry/registries/listCredentials/action", "Action", false},
	armSiteConfigList:      {"Microsoft.Web/sites/config/list/action", "Action", false},
	armVMSSWrite:           {"Microsoft.Compute/virtualMachineScaleSets/write", "Write", true},
	armMLComputeWrite:      {"Microsoft.MachineLearningServices/workspaces/computes/write", "Write", true},
	armBatchPoolWrite:      {"Microsoft.Batch/batchAccounts/pools/write", "Write", true},
	armContainerGroupWrite: {"Microsoft.ContainerInstance/containerGroups/write", "Write", true},
}

// Well-known first-party application IDs.
const (
	appAzurePortal     = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"
	appAzureCLI        = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	appAzurePowerShell = "1950a258-227b-4e31-a9cf-717495945fc2"
	appResourceGraph   = "509e4652-da8d-478d-a730-e9d4a1996ca4"
	appPolicyInsights  = "8cae6e77-e04e-42ce-b5cb-50d82bce26b1"
	roleDefContributor = "b24988ac618042a0ab8820f7382dd24c"
	roleDefOwner       = "8e3af657a8ff443ca75c2fe8c4bcb635"
)

// Indices of the first-party client apps in appIDs (set by the builder in
// this order).
const (
	appIdxPortal uint16 = iota
	appIdxCLI
	appIdxPowerShell
)

// Client software strings (clientInfo), by what runs them. Indices into
// clients are assigned by the builder in this order.
var (
	portalClients = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
	}
	cliClients = []string{
		"AZURECLI/2.66.0 (MSI) azsdk-python-keyvault-secrets/4.8.0 Python/3.12.7 (Windows-11-10.0.22631-SP0)",
		"AZURECLI/2.66.0 (DEB) azsdk-python-keyvault-secrets/4.8.0 Python/3.12.7 (Linux-6.8.0-48-generic-x86_64-with-glibc2.39)",
	}
	psClients = []string{
		"azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.10; Microsoft Windows 10.0.22631) AzurePowershell/v12.4.0 PSVersion/v7.4.6",
	}
	sdkClients = []string{
		"azsdk-net-Security.KeyVault.Secrets/4.6.0 (.NET 8.0.10; Linux 5.15.0-1073-azure #82-Ubuntu SMP)",
		"azsdk-java-azure-security-keyvault-secrets/4.8.3 (17.0.12; Linux; 5.15.0-1073-azure)",
		"azsdk-python-keyvault-secrets/4.8.0 Python/3.11.10 (Linux-5.15.0-1073-azure-x86_64-with-glibc2.35)",
		"azsdk-js-keyvault-secrets/4.8.0 core-rest-pipeline/1.16.3 Node/v20.17.0 OS/(x64-Linux-5.15.0-1073-azure)",
		"azsdk-go-azsecrets/v1.1.0 (go1.22.7; linux)",
		"FxVersion/4.8.9256.0 OSName/Windows OSVersion/Microsoft.Windows.10.0.20348 Microsoft.Azure.KeyVault.KeyVaultClient/3.0.5.1",
	}
	keyClients = []string{
		"azsdk-net-Security.KeyVault.Keys/4.6.0 (.NET 8.0.10; Linux 5.15.0-1073-azure #82-Ubuntu SMP)",
		"azsdk-java-azure-security-keyvault-keys/4.8.8 (17.0.12; Linux; 5.15.0-1073-azure)",
	}
	armClient           = "azure-resource-manager/2.0"
	resourceGraphClient = "AzureResourceGraph.IngestionWorkerService.global/1.24.1.714"
	attackClients       = []string{
		"python-requests/2.32.3",
		"curl/8.5.0",
		"Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.4291",
	}
)
