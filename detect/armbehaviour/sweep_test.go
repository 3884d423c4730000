package armbehaviour

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// storage returns the ID of storage account i.
func storage(i int) string {
	return rg + "/providers/Microsoft.Storage/storageAccounts/store" + strconv.Itoa(i)
}

func vmID(i int) string {
	return rg + "/providers/Microsoft.Compute/virtualMachines/vm-" + strconv.Itoa(i)
}

// listKeys is p listing the keys of accounts [from, to) one every gap from t.
func listKeys(p event.Principal, addr string, t time.Time, from, to int, gap time.Duration) []event.Op {
	var ops []event.Op
	for i := from; i < to; i++ {
		ops = append(ops, act(t.Add(time.Duration(i-from)*gap), storage(i), "Microsoft.Storage/storageAccounts/listKeys/action", p, addr, officeGeo))
	}
	return ops
}

func runCommands(p event.Principal, t time.Time, n int, gap time.Duration) []event.Op {
	var ops []event.Op
	for i := range n {
		ops = append(ops, act(t.Add(time.Duration(i)*gap), vmID(i), "Microsoft.Compute/virtualMachines/runCommand/action", p, office, officeGeo))
	}
	return ops
}

// kvList is p listing the secrets (or keys) of n vaults, as Key Vault's
// audit log records it.
func kvList(p event.Principal, t time.Time, n int, op string) []event.Op {
	var ops []event.Op
	for i := range n {
		v := dt.Vault{Subscription: sub, ResourceGroup: "prod", Name: "vault" + strconv.Itoa(i)}
		o := dt.KV(t.Add(time.Duration(i)*20*time.Second), v, op, dt.Caller(p), dt.From(office, officeGeo))
		ops = append(ops, o)
	}
	return ops
}

func TestSweeps(t *testing.T) {
	history := routine(rob, office, officeGeo, 0, 10, 3)
	pipeHistory := routine(pipeline, "20.50.2.10", officeGeo, 0, 10, 2)
	// The release pipeline lists the keys of 5 accounts every night.
	var nightly []event.Op
	for d := range 14 {
		nightly = append(nightly, listKeys(pipeline, "20.50.2.10", at(d, 14*time.Hour), 0, 5, 3*time.Second)...)
	}
	mixed := []event.Op{
		act(at(12, 0), storage(1), "Microsoft.Storage/storageAccounts/listKeys/action", rob, office, officeGeo),
		act(at(12, time.Minute), rg+"/providers/Microsoft.ContainerRegistry/registries/acrprod", "Microsoft.ContainerRegistry/registries/listCredentials/action", rob, office, officeGeo),
		act(at(12, 2*time.Minute), rg+"/providers/Microsoft.DocumentDB/databaseAccounts/orders", "Microsoft.DocumentDB/databaseAccounts/listKeys/action", rob, office, officeGeo),
		act(at(12, 3*time.Minute), rg+"/providers/Microsoft.Web/sites/shop", "Microsoft.Web/sites/publishxml/action", rob, office, officeGeo),
		act(at(12, 4*time.Minute), rg+"/providers/Microsoft.Web/sites/api", "Microsoft.Web/sites/config/list/action", rob, office, officeGeo),
	}
	var publish []event.Op
	for i, site := range []string{"shop", "api", "admin", "blog"} {
		publish = append(publish, act(at(12, time.Duration(i)*30*time.Second), rg+"/providers/Microsoft.Web/sites/"+site,
			"Microsoft.Web/sites/publishxml/action", rob, office, officeGeo))
	}
	tests := []struct {
		name string
		ops  []event.Op
		want []string
	}{
		{"MicroBurst Get-AzStorageKeysREST: 12 accounts in a minute", cat(history, listKeys(rob, office, at(12, 0), 0, 12, 5*time.Second)),
			[]string{TypeStorageKeysSweep, TypeStorageKeysSweep}},
		{"three accounts is an administrator's work", cat(history, listKeys(rob, office, at(12, 0), 0, 3, 5*time.Second)), nil},
		{"the same accounts spread over an afternoon", cat(history, listKeys(rob, office, at(12, 0), 0, 12, 20*time.Minute)), nil},
		{"during the principal's first week", listKeys(rob, office, at(2, 0), 0, 12, 5*time.Second), nil},
		{"a nightly pipeline that always lists 5 accounts", cat(pipeHistory, nightly), nil},
		{"the pipeline suddenly lists 30", cat(pipeHistory, nightly, listKeys(pipeline, "20.50.2.10", at(15, 2*time.Hour), 0, 30, time.Second)),
			[]string{TypeStorageKeysSweep, TypeStorageKeysSweep}},
		{"Azure Resource Graph is not followed", cat(routine(graph, "20.50.2.11", officeGeo, 0, 10, 2), listKeys(graph, "20.50.2.11", at(12, 0), 0, 20, time.Second)), nil},
		{"Invoke-AzVMBulkCMD: run command on 6 VMs", cat(history, runCommands(rob, at(12, 0), 6, 40*time.Second)), []string{TypeVMBulkCommand, TypeVMBulkCommand}},
		{"run command on two VMs", cat(history, runCommands(rob, at(12, 0), 2, 40*time.Second)), nil},
		{"Get-AzPasswords style: credentials of 5 resources of 4 providers", cat(history, mixed),
			[]string{TypeDomainInfo}},
		{"Azurite: 4 publishing profiles", cat(history, publish), []string{TypeAzurite, TypeAzurite}},
		{"Get-AzKeyVaultSecretsREST: secrets of 5 vaults", cat(history, kvList(rob, at(12, 0), 5, "SecretList")),
			[]string{TypeKeyVaultSecretsSweep, TypeKeyVaultSecretsSweep}},
		{"Get-AzKeyVaultKeysREST: keys of 4 vaults", cat(history, kvList(rob, at(12, 0), 4, "KeyList")),
			[]string{TypeKeyVaultKeysSweep, TypeKeyVaultKeysSweep}},
		{"secrets of two vaults", cat(history, kvList(rob, at(12, 0), 2, "SecretList")), nil},
		{"an application seen only in vault logs, reading for ten days, then listing 5 vaults", cat(kvReads(pipeline, 10),
			kvList(pipeline, at(12, 0), 5, "SecretList")), []string{TypeKeyVaultSecretsSweep, TypeKeyVaultSecretsSweep}},
		{"its first list is in its first week", cat(kvReads(pipeline, 3), kvList(pipeline, at(3, 0), 5, "SecretList")), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, DefaultConfig(), NamePrincipal, slices.Clone(tc.ops))
			if g := types(got); !slices.Equal(g, tc.want) {
				t.Fatalf("candidates %v, want %v", g, tc.want)
			}
		})
	}
}

func TestSweepCandidate(t *testing.T) {
	ops := cat(routine(rob, office, officeGeo, 0, 10, 3), listKeys(rob, "185.220.101.13", at(12, 0), 0, 12, 5*time.Second))
	got := run(t, DefaultConfig(), NamePrincipal, ops)
	if len(got) != 2 {
		t.Fatalf("%d candidates, want the crossing and the summary", len(got))
	}
	c, sum := got[0], got[1]
	if c.Count != 4 || sum.Count != 8 || !c.First.Equal(at(12, 0)) || !sum.Last.Equal(at(12, 55*time.Second)) {
		t.Errorf("crossing %d [%s, %s], summary %d [%s, %s]", c.Count, c.First, c.Last, sum.Count, sum.First, sum.Last)
	}
	if !slices.Equal(c.FingerprintKeys, sum.FingerprintKeys) {
		t.Errorf("fingerprints differ: %v, %v", c.FingerprintKeys, sum.FingerprintKeys)
	}
	dt.WantDetails(t, c, map[string]string{
		"caller": "rob@contoso.com", "subscription": sub, "resourceCount": "4", "threshold": "4", "usualPeak": "0",
		"window": "10m", "providers": "microsoft.storage", "resources": "store0, store1, store2, store3",
		"operations": "microsoft.storage/storageaccounts/listkeys/action", "callerIp": "185.220.101.13",
	})
	dt.WantDetails(t, sum, map[string]string{"resourceCount": "12", "resources": "store0, store1, store2, store3, store4, store5, store6, store7, store8, store9, (+2)"})
	if c.Resource != "/subscriptions/"+sub || dt.Entity(t, c, "account").ObjectID != rob.ObjectID {
		t.Errorf("resource %s entities %+v", c.Resource, c.Entities)
	}
	if !strings.Contains(c.Evidence[0].Resource, "store0") {
		t.Errorf("evidence %+v", c.Evidence[0])
	}
}

// kvReads is p reading a secret of one vault every hour for days days.
func kvReads(p event.Principal, days int) []event.Op {
	v := dt.Vault{Subscription: sub, ResourceGroup: "prod", Name: "vault0"}
	var ops []event.Op
	for h := range days * 24 {
		ops = append(ops, dt.KV(t0.Add(time.Duration(h)*time.Hour), v, "SecretGet", dt.Caller(p), dt.From(office, officeGeo)))
	}
	return ops
}
