package kvbehaviour

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

type discard struct{ n int }

func (d *discard) Emit(alert.Candidate) { d.n++ }

// TestStateMemory fills the state of a tenant's principals on its vaults
// and measures the heap it holds: on every vault a week of its callers
// (one seen-table key per principal and vault), and for the tenant two
// weeks of every principal's daily history. By default a small estate in
// which every principal used every vault; VIGIL_KVB_MEMORY selects the
// issue's 100,000 principals and 1,000 vaults (a minute or two, and twice
// the state's memory while filling):
//
//   - "sparse": each principal used 10 vaults (1 million pairs), the shape
//     of a real estate;
//   - "dense": each principal used every vault (100 million pairs), the
//     worst case.
//
// The state must stay under 1 GiB, and a pair and a principal within the
// costs documented in the package.
func TestStateMemory(t *testing.T) {
	principals, vaults, perPrincipal := 2000, 20, 20
	switch os.Getenv("VIGIL_KVB_MEMORY") {
	case "sparse":
		principals, vaults, perPrincipal = 100_000, 1000, 10
	case "dense":
		principals, vaults, perPrincipal = 100_000, 1000, 1000
	}
	stride := vaults / perPrincipal // vault v's callers: principals i with i%stride == v%stride
	callers := make([]event.Principal, principals)
	for i := range callers {
		if i%2 == 0 { // half people through the Azure CLI, half applications
			callers[i] = user("u"+strconv.Itoa(i), appCLI)
		} else {
			callers[i] = app("a" + strconv.Itoa(i))
		}
	}
	s := clamp(DefaultConfig())
	vd, td := newVaultDetector(s), newTenantDetector(s)
	em := &discard{}

	before := heap()
	states := make([]*vaultState, vaults)
	start := time.Now()
	var rec azops.Rec
	for v := range vaults {
		vid := "/SUBSCRIPTIONS/" + sub + "/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-" + strconv.Itoa(v)
		st := &vaultState{}
		for i := v % stride; i < principals; i += stride {
			// Every caller once over the first week, in time order.
			rec = azops.Rec{Time: t0.Add(time.Duration(i) * (7 * 24 * time.Hour / time.Duration(principals))), Kind: event.KindKeyVault,
				ResourceID: vid, Operation: "SecretGet", StatusCode: 200, Result: "Success", Caller: callers[i], Geo: azureGeo}
			vd.Release(vid, st, &rec, em)
		}
		vd.Tick(vid, st, rec.Time.Add(time.Hour), em) // close the last hour
		states[v] = st
	}
	fillVaults := time.Since(start)
	afterVaults := heap()

	ts := &tenantState{}
	start = time.Now()
	for d := range 14 {
		for i := range callers {
			for k := range 2 { // two vaults a day
				vid := "/SUBSCRIPTIONS/" + sub + "/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-" + strconv.Itoa((i+k)%vaults)
				rec = azops.Rec{Time: day(d, 0, 0).Add(time.Duration(i) * (20 * time.Hour / time.Duration(principals))), Kind: event.KindKeyVault,
					ResourceID: vid, Operation: []string{"SecretGet", "KeyUnwrap"}[k], StatusCode: 200, Result: "Success", Caller: callers[i], Geo: azureGeo}
				td.Release(tenant, ts, &rec, em)
			}
		}
	}
	fillTenant := time.Since(start)
	afterTenant := heap()
	runtime.KeepAlive(states)
	runtime.KeepAlive(ts)

	tables := 0
	for _, st := range states {
		tables += st.Seen.Users.Bytes() + st.Seen.Apps.Bytes()
	}
	pairs := float64(principals) * float64(perPrincipal)
	vaultBytes, tenantBytes := afterVaults-before, afterTenant-afterVaults
	total := vaultBytes + tenantBytes
	t.Logf("%d principals, %d vaults, %d vaults each: vault state %.1f MB (%.1f bytes a pair, %.1f MB of it seen tables; filled in %s); tenant state %.1f MB (%.0f bytes a principal, filled in %s); %.2f GiB in all; %d candidates",
		principals, vaults, perPrincipal, float64(vaultBytes)/1e6, float64(vaultBytes)/pairs, float64(tables)/1e6, fillVaults.Round(time.Millisecond),
		float64(tenantBytes)/1e6, float64(tenantBytes)/float64(principals), fillTenant.Round(time.Millisecond),
		float64(total)/(1<<30), em.n)
	if total > 1<<30 {
		t.Errorf("state holds %d bytes, more than 1 GiB", total)
	}
	// A pair is one compact key (about 10 bytes); a vault's fixed part
	// (hourly ring, peaks, the hour's callers) adds about 25 KB.
	if per := float64(vaultBytes) / pairs; per > 11.5+float64(25_000*vaults)/pairs {
		t.Errorf("%.1f bytes a pair", per)
	}
	if per := float64(tenantBytes) / float64(principals); per > 1300 {
		t.Errorf("%.0f bytes a principal", per)
	}
	if n := len(ts.Principals); n != principals {
		t.Errorf("%d principals followed, want %d", n, principals)
	}
	if n, want := states[0].Seen.Users.Len()+states[0].Seen.Apps.Len(), principals/stride; n < want-want/1000 {
		t.Errorf("vault 0 knows %d callers, want %d", n, want)
	}
}

func heap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
