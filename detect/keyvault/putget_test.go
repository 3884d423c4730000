package keyvault

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"
)

var carol = event.Principal{ObjectID: "6e1b5d1c-8a3e-4f0e-9a55-2b7f3c1d9e20", UPN: "carol@contoso.com",
	AppID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46", TenantID: tenant, Type: event.PrincipalUser}

func TestPutGetCandidate(t *testing.T) {
	ops := []event.Op{
		kv(0, vault, "VaultPatch", alice, torOnly, dt.Added(bob.ObjectID), dt.Target(vault.URI())),
		kv(10*time.Minute, vault, "SecretGet", bob, office, dt.Secret(vault, "db-password", "4c39bacace9a49b2bd542ce61bd6f312")),
	}
	got := run(t, detector(t, DefaultConfig(), TypePutGetAnomaly), ops)
	if len(got) != 1 {
		t.Fatalf("%d candidates, want 1", len(got))
	}
	c := got[0]
	if !c.First.Equal(t0) || !c.Last.Equal(t0.Add(10*time.Minute)) || c.Count != 2 {
		t.Errorf("first %s last %s count %d", c.First, c.Last, c.Count)
	}
	// The change came from a Tor exit: raised.
	if c.Severity != alert.SeverityHigh {
		t.Errorf("severity %q, want high", c.Severity)
	}
	wantFP := []string{vault.ResourceID(), alice.ObjectID, bob.ObjectID}
	if len(c.FingerprintKeys) != 3 || c.FingerprintKeys[0] != wantFP[0] || c.FingerprintKeys[1] != wantFP[1] || c.FingerprintKeys[2] != wantFP[2] {
		t.Errorf("fingerprint %v, want %v", c.FingerprintKeys, wantFP)
	}
	var reader, changer bool
	for _, e := range c.Entities {
		switch {
		case e.Type == alert.EntityAccount && e.ObjectID == bob.ObjectID && e.Role == "compromised":
			reader = true
		case e.Type == alert.EntityAccount && e.ObjectID == alice.ObjectID && e.Role == "related":
			changer = true
		}
	}
	if !reader || !changer {
		t.Errorf("entities lack the reader (%v) or the changer (%v): %+v", reader, changer, c.Entities)
	}
	if e := dt.Entity(t, c, alert.EntityKeyVault); e.ResourceID != vault.ResourceID() {
		t.Errorf("vault %+v", e)
	}
	checkAgreedKeys(t, c)
	dt.WantDetails(t, c, map[string]string{
		"vault": "SALARY", "caller": "bob@contoso.com", "callerIp": office, "operations": "SecretGet",
		"count": "1", "changedBy": "alice@contoso.com", "changeOperation": "VaultPatch",
		"changeTime": "2026-08-22T10:00:00Z", "grantedObjectIds": bob.ObjectID, "granted": "true",
		"window": "1h", "threshold": "1", "firstTime": "2026-08-22T10:10:00Z",
	})
	if len(c.Evidence) != 2 || c.Evidence[0].Operation != "VaultPatch" || c.Evidence[0].CallerIP != torOnly ||
		c.Evidence[1].Operation != "SecretGet" || c.Evidence[1].Caller != "bob@contoso.com" || c.Evidence[1].Source != "keyvault.json:2" {
		t.Errorf("evidence %+v", c.Evidence)
	}
}

func TestPutGet(t *testing.T) {
	fp := func(by, reader event.Principal, v dt.Vault) []string {
		return []string{v.ResourceID(), by.Key(), reader.Key()}
	}
	activityChange := dt.Activity(t0, vault.ARMID(), "Microsoft.KeyVault/vaults/accessPolicies/write",
		dt.Caller(alice), from(office), dt.Correlation("aaaa0000-bb11-2222-33cc-444444dddddd"))
	activityStarted := activityChange
	activityStarted.Result = "Started"
	tests := []struct {
		name  string
		ops   []event.Op
		wants []want
	}{
		{"self: put then get", []event.Op{
			kv(0, vault, "VaultPut", alice, office),
			kv(5*time.Minute, vault, "SecretGet", alice, office),
		}, []want{{2, "", fp(alice, alice, vault)}}},
		{"further reads are one summary at the window's end", []event.Op{
			kv(0, vault, "VaultPut", alice, office),
			kv(5*time.Minute, vault, "SecretList", alice, office),
			kv(6*time.Minute, vault, "SecretGet", alice, office),
			kv(7*time.Minute, vault, "KeyDecrypt", alice, office),
		}, []want{{2, "", nil}, {2, "", nil}}},
		{"change in the Activity Log, read in the audit log", []event.Op{
			activityChange,
			kv(time.Minute, vault, "CertificateGet", alice, office),
		}, []want{{2, "", fp(alice, alice, vault)}}},
		{"an Activity Log change not yet done", []event.Op{
			activityStarted,
			kv(time.Minute, vault, "SecretGet", alice, office),
		}, nil},
		{"denied read raises", []event.Op{
			kv(0, vault, "VaultPatch", alice, office),
			kv(time.Minute, vault, "SecretGet", alice, office, dt.Status(403)),
		}, []want{{2, alert.SeverityHigh, nil}}},
		{"normal use: reads without a change", []event.Op{
			kv(0, vault, "SecretGet", alice, office),
			kv(time.Minute, vault, "SecretGet", bob, office),
		}, nil},
		{"change then a read that is not a secret read", []event.Op{
			kv(0, vault, "VaultPut", alice, office),
			kv(time.Minute, vault, "VaultGet", alice, office),
		}, nil},
		{"other principal, not granted", []event.Op{
			kv(0, vault, "VaultPatch", alice, office, dt.Added(bob.ObjectID)),
			kv(time.Minute, vault, "SecretGet", carol, office),
		}, nil},
		{"read after the hour", []event.Op{
			kv(0, vault, "VaultPut", alice, office),
			kv(time.Hour, vault, "SecretGet", alice, office),
		}, nil},
		{"read on another vault", []event.Op{
			kv(0, vault, "VaultPut", alice, office),
			kv(time.Minute, vault2, "SecretGet", alice, office),
		}, nil},
		{"failed change", []event.Op{
			kv(0, vault, "VaultPut", alice, office, dt.Status(403)),
			kv(time.Minute, vault, "SecretGet", alice, office),
		}, nil},
		{"a second change extends the window", []event.Op{
			kv(0, vault, "VaultPut", alice, office),
			kv(50*time.Minute, vault, "VaultPatch", alice, office),
			kv(100*time.Minute, vault, "SecretGet", alice, office),
		}, []want{{3, "", fp(alice, alice, vault)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, detector(t, DefaultConfig(), TypePutGetAnomaly), tc.ops)
			checkWant(t, got, tc.wants)
			for _, c := range got {
				checkAgreedKeys(t, c)
			}
		})
	}
}

func TestPutGetOrder(t *testing.T) {
	d := detector(t, DefaultConfig(), TypePutGetAnomaly)
	var ops []event.Op
	for h := range 3 {
		base := time.Duration(h) * 2 * time.Hour
		ops = append(ops, kv(base, vault, "VaultPatch", alice, office, dt.Added(bob.ObjectID)))
		for i := range 6 {
			at := base + time.Duration(i+1)*90*time.Second
			ops = append(ops, kv(at, vault, "SecretGet", bob, office), kv(at+time.Second, vault, "SecretGet", carol, office))
		}
	}
	checkReload(t, d, ops)
	dt.Number("keyvault.json", ops)
	want := dt.Run(d, 5*time.Minute, ops)
	if len(want) != 6 { // per change: bob's first read, then his summary
		t.Fatalf("reference: %d candidates, want 6", len(want))
	}
	for seed := range uint64(5) {
		sameCandidates(t, "shuffled within lateness", dt.Run(d, 5*time.Minute, shuffleWithin(ops, 4*time.Minute, seed)), want)
	}

	// The read happened before the change but is delivered after it.
	early := []event.Op{
		kv(2*time.Minute, vault, "VaultPut", alice, office),
		kv(0, vault, "SecretGet", alice, office),
	}
	dt.Number("keyvault.json", early)
	if got := dt.Run(d, 5*time.Minute, early); len(got) != 0 {
		t.Errorf("read before the change: %d candidates, want 0", len(got))
	}
}

// readActivity decodes an Activity Log file with the production reader.
func readActivity(t *testing.T, path string) []event.Op {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := azurelog.NewReader(f, filepath.Base(path), azurelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ops []event.Op
	for {
		var op event.Op
		err := rd.Next(&op)
		if err == io.EOF {
			return ops
		}
		if err != nil {
			t.Fatal(err)
		}
		op.Raw = nil
		ops = append(ops, op)
	}
}

// An RBAC role assignment on the vault (Key Vault Secrets User for bob, by
// alice) is a grant: bob's reads within the hour are KV_PutGetAnomaly.
func TestPutGetRoleAssignment(t *testing.T) {
	grant := readActivity(t, "testdata/role-assignment-vault-scope.json")
	if len(grant) != 2 || grant[1].Result != "Success" || grant[1].ResponseBody == "" {
		t.Fatalf("decoded %d records: %+v", len(grant), grant)
	}
	succeeded := grant[1:]
	read := kv(10*time.Minute, vault, "SecretGet", bob, office)
	readByCarol := kv(11*time.Minute, vault, "SecretGet", carol, office)
	noRoles := DefaultConfig()
	noRoles.PutGetAnomaly.GrantRoles = nil
	readerRole := DefaultConfig()
	readerRole.PutGetAnomaly.GrantRoles = []string{"21090545-7ca7-4776-b22c-e363652d74d2"} // Key Vault Reader
	tests := []struct {
		name  string
		cfg   Config
		ops   []event.Op
		wants []want
	}{
		{"granted reader", DefaultConfig(), []event.Op{succeeded[0], read},
			[]want{{2, "", []string{vault.ResourceID(), alice.ObjectID, bob.ObjectID}}}},
		{"Start and Succeeded records of one request", DefaultConfig(), append(slices.Clone(grant), read),
			[]want{{2, "", []string{vault.ResourceID(), alice.ObjectID, bob.ObjectID}}}},
		{"someone else reads", DefaultConfig(), []event.Op{succeeded[0], readByCarol}, nil},
		{"role assignments not counted", noRoles, []event.Op{succeeded[0], read}, nil},
		{"a role that grants no data access", readerRole, []event.Op{succeeded[0], read}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, detector(t, tc.cfg, TypePutGetAnomaly), slices.Clone(tc.ops))
			checkWant(t, got, tc.wants)
			if len(got) > 0 {
				dt.WantDetails(t, got[0], map[string]string{
					"changeOperation":  "microsoft.authorization/roleassignments/write",
					"grantedObjectIds": bob.ObjectID, "granted": "true", "changedBy": "alice@contoso.com",
				})
			}
		})
	}
}
