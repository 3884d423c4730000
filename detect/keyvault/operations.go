package keyvault

// documentedOperations are the Key Vault AuditEvent operationName values of
// Microsoft's "Operation names table" (MicrosoftDocs/azure-security-docs,
// articles/key-vault/general/logging.md, 118a99d4), in their documented
// casing. TestDocumentedOperations checks the list against
// testdata/keyvault-operation-names.txt.
var documentedOperations = []string{
	"Authentication", "VaultGet", "VaultPut", "VaultDelete", "VaultPatch", "VaultRecover",
	"VaultAccessPolicyChangedEventGridNotification", "KeyCreate", "KeyGet", "KeyImport", "KeyDelete", "KeySign",
	"KeyVerify", "KeyWrap", "KeyUnwrap", "KeyEncrypt", "KeyDecrypt", "KeyUpdate", "KeyList", "KeyListVersions",
	"KeyPurge", "KeyBackup", "KeyRestore", "KeyRecover", "KeyGetDeleted", "KeyListDeleted",
	"KeyNearExpiryEventGridNotification", "KeyExpiredEventGridNotification", "KeyRotate", "KeyRotateIfDue",
	"KeyRotationPolicyGet", "KeyRotationPolicySet", "SecretSet", "SecretGet", "SecretUpdate", "SecretDelete",
	"SecretList", "SecretListVersions", "SecretPurge", "SecretBackup", "SecretRestore", "SecretRecover",
	"SecretGetDeleted", "SecretListDeleted", "SecretNearExpiryEventGridNotification",
	"SecretExpiredEventGridNotification", "CertificateGet", "CertificateCreate", "CertificateImport",
	"CertificateUpdate", "CertificateList", "CertificateListVersions", "CertificateDelete", "CertificatePurge",
	"CertificateBackup", "CertificateRestore", "CertificateRecover", "CertificateGetDeleted",
	"CertificateListDeleted", "CertificatePolicyGet", "CertificatePolicyUpdate", "CertificatePolicySet",
	"CertificateContactsGet", "CertificateContactsSet", "CertificateContactsDelete", "CertificateIssuerGet",
	"CertificateIssuerSet", "CertificateIssuerUpdate", "CertificateIssuerDelete", "CertificateIssuersList",
	"CertificateEnroll", "CertificateRenew", "CertificatePendingGet", "CertificatePendingMerge",
	"CertificatePendingUpdate", "CertificatePendingDelete", "CertificateNearExpiryEventGridNotification",
	"CertificateExpiredEventGridNotification",
}
