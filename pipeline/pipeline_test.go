package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/source/azurelog"
)

// Addresses from the shipped intel lists (examples/intel).
const (
	torExit    = "185.220.101.1" // Tor exit, and on 4 ipsum blocklists
	malicious  = "77.90.185.20"  // on 10 ipsum blocklists, not a Tor exit
	lowScore   = "1.1.220.166"   // on 1 ipsum blocklist: below the default minimum of 3
	office     = "20.40.60.80"
	vaultID    = "/SUBSCRIPTIONS/AAAA0A0A-BB1B-CC2C-DD3D-EEEEEE4E4E4E/RESOURCEGROUPS/CONTOSOGROUP/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/CONTOSOKEYVAULT"
	aliceOID   = "d9da5048-2737-4770-bd64-000000000001"
	malloryOID = "d9da5048-2737-4770-bd64-000000000002"
	appID      = "00001111-aaaa-2222-bbbb-3333cccc4444"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// kvRecord writes one Key Vault AuditEvent in the shape of Microsoft's
// logging sample (durationMs as a string, identity.claim with URI keys).
func kvRecord(at time.Duration, op, oid, upn, ip, target string, status int, props string) string {
	claims := fmt.Sprintf(`"http://schemas.microsoft.com/identity/claims/objectidentifier":%q,"appid":%q`, oid, appID)
	if upn != "" {
		claims += fmt.Sprintf(`,"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":%q`, upn)
	}
	return fmt.Sprintf(`{"time":%q,"resourceId":%q,"operationName":%q,"operationVersion":"7.4","category":"AuditEvent","resultType":"Success","resultSignature":"OK","resultDescription":"","durationMs":"12","callerIpAddress":%q,"correlationId":"","identity":{"claim":{%s}},"properties":{"clientInfo":"azsdk-go-azsecrets/v1.1.0","requestUri":"https://contosokeyvault.vault.azure.net/","id":%q,"httpStatusCode":%d%s}}`,
		t0.Add(at).Format("2006-01-02T15:04:05.0000000Z"), vaultID, op, ip, claims, target, status, props)
}

// armRecord writes one Activity Log record in the records-envelope shape.
func armRecord(at time.Duration, op, ip string) string {
	return fmt.Sprintf(`{"time":%q,"resourceId":"/subscriptions/bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f/resourceGroups/rg-001/providers/Microsoft.Compute/virtualMachines/vm1","operationName":%q,"category":"Administrative","resultType":"Success","resultSignature":"Succeeded.OK","durationMs":120,"callerIpAddress":%q,"correlationId":"aaaa6666-bb77-8888-99cc-000000dddddd","identity":{"claims":{"http://schemas.microsoft.com/identity/claims/objectidentifier":%q,"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"mallory@contoso.com","appid":%q,"http://schemas.microsoft.com/identity/claims/tenantid":"ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0"}},"level":"Information","properties":{"statusCode":"OK"}}`,
		t0.Add(at).Format("2006-01-02T15:04:05.0000000Z"), op, ip, malloryOID, appID)
}

func secret(name string) string {
	return "https://contosokeyvault.vault.azure.net/secrets/" + name + "/0f4e4ea6a0b04ea58e5f3ad1f2a1e0c9"
}

// run reads inputs through a pipeline built from the default configuration
// with the shipped Tor and ipsum lists, and returns the closed alerts.
func run(t *testing.T, inputs ...string) ([]*alert.Alert, *Pipeline) {
	t.Helper()
	cfg := config.Default()
	cfg.Intel.Tor = []string{"../examples/intel/tor-exit-nodes.lst"}
	cfg.Intel.Blocklists = []config.Blocklist{{Path: "../examples/intel/ipsum.txt", Category: "malicious"}}
	var got []*alert.Alert
	sink := SinkFunc(func(a *alert.Alert) error { got = append(got, a); return nil })
	p, err := Build(cfg, BuildOptions{Sinks: []Sink{sink},
		OnRecordError: func(e *azurelog.RecordError) { t.Logf("record error: %v", e) },
		OnFlowError:   func(e error) { t.Logf("flow error: %v", e) }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i, in := range inputs {
		if err := p.ReadAzure(context.Background(), strings.NewReader(in), fmt.Sprintf("input%d.json", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	return got, p
}

func lines(recs ...string) string { return strings.Join(recs, "\n") + "\n" }

func envelope(recs ...string) string { return `{"records":[` + strings.Join(recs, ",") + `]}` }

// TestEveryDetectionEndToEnd fires each of the six detections from records in
// their real shapes and checks the alerts render in every language with
// every detail their description needs.
func TestEveryDetectionEndToEnd(t *testing.T) {
	var kv []string
	// Tor: alice reads a secret from a Tor exit (also on ipsum: both fire).
	kv = append(kv, kvRecord(0, "SecretGet", aliceOID, "alice@contoso.com", torExit, secret("db"), 200, ""))
	// Dump: mallory lists then reads 12 secrets in 24 s.
	kv = append(kv, kvRecord(time.Hour, "SecretList", malloryOID, "", office, "https://contosokeyvault.vault.azure.net/secrets", 200, ""))
	for i := range 12 {
		kv = append(kv, kvRecord(time.Hour+time.Duration(i+1)*2*time.Second, "SecretGet", malloryOID, "", office, secret(fmt.Sprintf("s%d", i)), 200, ""))
	}
	// Put-get: alice grants mallory access, mallory reads within the hour.
	kv = append(kv, kvRecord(3*time.Hour, "VaultPatch", aliceOID, "alice@contoso.com", office, "https://contosokeyvault.vault.azure.net/", 200,
		fmt.Sprintf(`,"addedAccessPolicy":{"ObjectId":%q,"TenantId":"ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0","PermissionsToSecrets":["get"]}`, malloryOID)))
	kv = append(kv, kvRecord(3*time.Hour+10*time.Minute, "SecretGet", malloryOID, "", office, secret("payroll"), 200, ""))
	// Blocklisted caller (ipsum score 10) reads a key.
	kv = append(kv, kvRecord(5*time.Hour, "KeyGet", aliceOID, "alice@contoso.com", malicious, "https://contosokeyvault.vault.azure.net/keys/k1/1", 200, ""))

	arm := envelope(
		armRecord(6*time.Hour, "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", torExit),
		armRecord(7*time.Hour, "Microsoft.Authorization/roleAssignments/write", malicious),
	)
	alerts, p := run(t, lines(kv...), arm)

	if n := p.Counters.Records.Load(); n != int64(len(kv)+2) {
		t.Errorf("read %d records, want %d", n, len(kv)+2)
	}
	got := map[string]int{}
	for _, a := range alerts {
		got[a.Type]++
		entry, ok := alert.Lookup(a.Type)
		if !ok {
			t.Fatalf("alert type %s not in the catalogue", a.Type)
		}
		for _, lang := range alert.Languages {
			desc, err := entry.Describe(lang, a.Details)
			if err != nil {
				t.Errorf("%s in %s: %v", a.Type, lang, err)
			}
			if strings.Contains(desc, "<no value>") {
				t.Errorf("%s in %s renders a missing value: %s", a.Type, lang, desc)
			}
		}
		if len(a.Evidence) == 0 || a.Resource == "" || a.SubscriptionID == "" {
			t.Errorf("%s lacks evidence, resource or subscription: %+v", a.Type, a)
		}
	}
	want := map[string]int{
		"KV_TORAccess": 1, "KV_SuspiciousIPAccess": 2, "KV_ListGetAnomaly": 1, "KV_PutGetAnomaly": 1,
		"ARM_OperationFromSuspiciousProxyIP": 1, "ARM_OperationFromSuspiciousIP": 2,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alerts by type = %v, want %v", got, want)
	}
	// The Tor alert names the vault, the principal and the address with its source.
	for _, a := range alerts {
		if a.Type != "KV_TORAccess" {
			continue
		}
		var ip, acct bool
		for _, e := range a.Entities {
			if e.Type == alert.EntityIP && e.Address == torExit && len(e.Intel) > 0 && strings.Contains(e.Intel[0], "2024-02-27") {
				ip = true
			}
			if e.Type == alert.EntityAccount && e.ObjectID == aliceOID && e.UPN == "alice@contoso.com" {
				acct = true
			}
		}
		if !ip || !acct || !strings.EqualFold(a.Resource, vaultID) {
			t.Errorf("Tor alert entities incomplete: %+v", a.Entities)
		}
	}
}

// TestNormalUseRaisesNothing: a day of ordinary reads, a low-score ipsum
// address and a policy change without later reads raise no alert.
func TestNormalUseRaisesNothing(t *testing.T) {
	var kv []string
	for i := range 200 {
		at := time.Duration(i) * 7 * time.Minute
		kv = append(kv, kvRecord(at, "SecretGet", aliceOID, "alice@contoso.com", office, secret(fmt.Sprintf("s%d", i%4)), 200, ""))
	}
	kv = append(kv, kvRecord(time.Hour, "SecretGet", aliceOID, "alice@contoso.com", lowScore, secret("s1"), 200, ""))
	kv = append(kv, kvRecord(2*time.Hour, "VaultPatch", malloryOID, "", office, "https://contosokeyvault.vault.azure.net/", 200, ""))
	alerts, _ := run(t, lines(kv...), envelope(armRecord(time.Hour, "Microsoft.Compute/virtualMachines/write", office)))
	if len(alerts) != 0 {
		var types []string
		for _, a := range alerts {
			types = append(types, a.Type)
		}
		sort.Strings(types)
		t.Fatalf("normal use raised %v", types)
	}
}

// TestMalformedRecordIsSkippedNotFatal: one broken line is counted and its
// neighbours are still read and detected.
func TestMalformedRecordIsSkippedNotFatal(t *testing.T) {
	in := lines(
		kvRecord(0, "SecretGet", aliceOID, "", torExit, secret("a"), 200, ""),
		`{"time": "not a time", "operationName": `,
		kvRecord(time.Minute, "SecretGet", aliceOID, "", office, secret("b"), 200, ""),
	)
	alerts, p := run(t, in)
	if p.Counters.Records.Load() != 2 || p.Counters.Skipped.Load() != 1 {
		t.Fatalf("records %d skipped %d, want 2 and 1", p.Counters.Records.Load(), p.Counters.Skipped.Load())
	}
	if len(alerts) == 0 {
		t.Fatal("the record before the broken line was not detected")
	}
}
