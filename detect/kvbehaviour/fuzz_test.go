package kvbehaviour

import (
	"strconv"
	"strings"
	"testing"
	"time"

	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/detect/internal/azops"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// FuzzRestore: state from any bytes either fails to restore with an error
// naming the key, or restores into a shard that then processes, advances
// and snapshots without panicking. Minimising a new input runs the whole
// probe many times; bound it:
//
//	go test -run x -fuzz FuzzRestore -fuzztime 30s -fuzzminimizetime 100x ./detect/kvbehaviour
func FuzzRestore(f *testing.F) {
	dets := Detectors(DefaultConfig())
	// Seeds: real states taken in open windows, from two days of a small
	// estate learnt in an hour (seeds must stay small for the mutator).
	cfg := DefaultConfig()
	cfg.Learning = time.Hour
	cfg.OperationVolume.MinCount = 20
	cfg.OperationPattern.MinHistory = 1
	small := rhythm(t0, 2, estateActors()[:2], 5)
	small = withOps(small, kv(day(1, 10, 0), vaultA, "SecretGet", user("dave", appCLI), "145.53.212.20", officeGeo),
		kv(day(1, 10, 1), vaultA, "SecretList", svcA, "20.61.14.7", azureGeo, dt.Status(403)))
	small = withOps(small, burst(day(1, 10, 0), vaultA, svcA, "20.61.14.7", 40)...)
	dt.Number("keyvault.json", small)
	cut := len(small) - 10
	for di, d := range Detectors(cfg) {
		sh := d.NewShard()
		em := &discard{}
		for i := range small[:cut] {
			if key, ok := d.PartitionKey(&small[i]); ok {
				sh.Process(&small[i], key, em)
			}
		}
		sh.Advance(small[cut-1].Time.Add(-time.Minute), em)
		_ = sh.Snapshot(func(key string, state []byte) error {
			f.Add(uint8(di), key, state)
			return nil
		})
	}
	f.Add(uint8(0), "K", []byte(`{"v":1,"s":{"volume":{"first":5,"hour":4,"counts":[1,2]}}}`))
	f.Add(uint8(0), "K", []byte(`{"v":1,"s":{"seen":{"users":"","apps":null}}}`))
	f.Add(uint8(1), "K", []byte(`{"v":1,"s":{"principals":{"x":null}}}`))
	f.Add(uint8(1), "K", []byte(`{"v":1,"s":{"principals":{"x":{"touches":[{}],"firedAt":3}}}}`))
	f.Add(uint8(1), "K", []byte(`{"v":1,"s":{"peers":[{"rows":[[1,2]]},{}]}}`))
	probe := withOps(nil, burst(day(30, 3, 0), vaultA, svcA, "20.61.14.7", 150)...)
	probe = append(probe, sequence(day(30, 5, 0), vaultA, svcA, "20.61.14.7", azureGeo, "SecretList", "SecretPurge")...)
	dt.Number("probe.json", probe)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, which uint8, key string, state []byte) {
		key, state = key[:min(len(key), 256)], state[:min(len(state), 4<<10)] // larger adds nothing but slowness
		d := dets[int(which)%len(dets)]
		sh := d.NewShard()
		if err := sh.Restore(key, state); err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(key)) {
				t.Errorf("error %q does not name the key %q", err, key)
			}
			return
		}
		em := &discard{}
		sh.Advance(day(29, 0, 0), em)
		for i := range probe {
			if k, ok := d.PartitionKey(&probe[i]); ok {
				sh.Process(&probe[i], k, em)
				sh.Process(&probe[i], key, em)
			}
		}
		sh.Advance(day(40, 0, 0), em)
		if err := sh.Snapshot(func(string, []byte) error { return nil }); err != nil {
			t.Fatalf("snapshot after restore: %v", err)
		}
	})
}

// FuzzVaultKey: the fast path agrees with azops.VaultID's last segment
// whenever the resource ID holds the vaults segment once, and upperASCII
// with a byte-by-byte check.
func FuzzVaultKey(f *testing.F) {
	for _, s := range []string{
		vaultA.ResourceID(), vaultA.ARMID(), vaultA.ResourceID() + "/SECRETS/X", "/SUBSCRIPTIONS/X/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/",
		"/SUBSCRIPTIONS/X/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/kv-Mixed", "", "/", "VAULTS/X", "/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/É",
	} {
		f.Add(s)
	}
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, id string) {
		up := true
		for i := 0; i < len(id); i++ {
			if c := id[i]; c >= 0x80 || ('a' <= c && c <= 'z') {
				up = false
			}
		}
		if upperASCII(id) != up {
			t.Fatalf("upperASCII(%q) = %v", id, !up)
		}
		got := vaultKey(id)
		if strings.Count(strings.ToUpper(id), vaultsSuffix+"/") > 1 {
			return // the fast path takes the last vault segment, VaultID the first
		}
		v := azops.VaultID(id)
		if want := v[strings.LastIndexByte(v, '/')+1:]; got != want {
			t.Fatalf("vaultKey(%q) = %q, want %q", id, got, want)
		}
		if (got != "") != onVault(id) {
			t.Fatalf("onVault(%q) = %v, key %q", id, onVault(id), got)
		}
	})
}
