package keyvault

import (
	"bufio"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
)

// Test estate: shapes from Microsoft's samples (upper-cased vault IDs in
// audit records, GUID object IDs, Azure CLI's app ID).
var (
	t0     = time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC)
	vault  = dt.Vault{Subscription: "a921d5d4-bdb7-43c3-aa01-88c6ae24992f", ResourceGroup: "finance", Name: "salary"}
	vault2 = dt.Vault{Subscription: "a921d5d4-bdb7-43c3-aa01-88c6ae24992f", ResourceGroup: "finance", Name: "audits"}
	tenant = "aaaabbbb-0000-cccc-1111-dddd2222eeee"

	alice = event.Principal{ObjectID: "30a6c29d-de7c-4830-815f-9b3bb366e975", UPN: "alice@contoso.com",
		AppID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46", TenantID: tenant, Type: event.PrincipalUser}
	bob = event.Principal{ObjectID: "f409edeb-4d29-44b5-9763-ee9348ad91bb", UPN: "bob@contoso.com",
		AppID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46", TenantID: tenant, Type: event.PrincipalUser}
	app = event.Principal{ObjectID: "d9da5048-2737-4770-bd64-0d1f6a2b3c4e",
		AppID: "00001111-aaaa-2222-bbbb-3333cccc4444", TenantID: tenant, Type: event.PrincipalApp}

	// office is an ordinary corporate address; its geo is what an mmdb gives.
	office    = "104.40.82.76"
	officeGeo = event.Geo{Country: "US", City: "San Jose", Lat: 37.3388, Lon: -121.8914, HasLocation: true, ASN: 8075, ASOrg: "MICROSOFT-CORP-MSN-AS-BLOCK"}
	// torGeo is the location of the Tor exits used below.
	torGeo = event.Geo{Country: "DE", City: "Frankfurt am Main", Lat: 50.1169, Lon: 8.6837, HasLocation: true, ASN: 60729, ASOrg: "Stiftung Erneuerbare Freiheit"}
)

// Addresses from testdata (see PROVENANCE.md): a Tor exit ipsum does not
// name, Tor exits ipsum names with scores 1 and 5, and ipsum-only entries.
const (
	torOnly   = "101.99.92.179"
	torIpsum1 = "102.130.113.9"
	torIpsum5 = "185.220.101.13"
	ipsum3    = "1.20.178.157"
	ipsum2    = "1.0.164.165"
	ipsum10   = "77.90.185.20"
	torIPv6   = "2001:0470:0001:0908:0000:0000:0000:9001"
)

var intel = mustIntel()

func mustIntel() dt.Intel {
	in, err := dt.LoadIntel("testdata/tor-exit-nodes.sample.lst", "testdata/ipsum.sample.txt")
	if err != nil {
		panic(err)
	}
	return in
}

// from sets the caller address with its intelligence as enrichment would.
func from(addr string) dt.Option {
	geo := officeGeo
	if addr != office {
		geo = torGeo
	}
	return dt.From(addr, geo, intel.Lookup(addr)...)
}

// kv builds a Key Vault op on v at t0+at by p from addr.
func kv(at time.Duration, v dt.Vault, op string, p event.Principal, addr string, opts ...dt.Option) event.Op {
	return dt.KV(t0.Add(at), v, op, append([]dt.Option{dt.Caller(p), from(addr), dt.Correlation(randomID(at, op))}, opts...)...)
}

// randomID is a deterministic correlation ID per (time, operation).
func randomID(at time.Duration, op string) string {
	r := rand.New(rand.NewPCG(uint64(at), uint64(len(op))))
	const hex = "0123456789abcdef"
	b := make([]byte, 36)
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		default:
			b[i] = hex[r.IntN(16)]
		}
	}
	return string(b)
}

// run numbers ops in the order given, runs d over them with 5 minutes of
// lateness and checks every candidate's invariants.
func run(t *testing.T, d detect.Detector, ops []event.Op) []alert.Candidate {
	t.Helper()
	dt.Number("keyvault.json", ops)
	got := dt.Run(d, 5*time.Minute, ops)
	for _, c := range got {
		dt.CheckCandidate(t, c, DefaultConfig().MaxEvidence)
	}
	return got
}

// detector returns the named detector of cfg.
func detector(t testing.TB, cfg Config, name string) detect.Detector {
	t.Helper()
	for _, d := range Detectors(cfg) {
		if d.Name() == name {
			return d
		}
	}
	t.Fatalf("no detector %s", name)
	return nil
}

// agreedKeys are the detail keys every candidate sets.
var agreedKeys = []string{"vault", "resource", "caller", "callerIp", "country", "operations", "count",
	"firstTime", "lastTime", "window", "threshold", "intelSource", "failed", "denied"}

func checkAgreedKeys(t *testing.T, c alert.Candidate) {
	t.Helper()
	for _, k := range agreedKeys {
		if _, ok := c.Details[k]; !ok {
			t.Errorf("%s candidate lacks detail %s", c.Type, k)
		}
	}
}

// shuffleWithin reorders ops so that no op arrives more than d of event time
// after a later one (the lateness the engine tolerates), deterministically.
func shuffleWithin(ops []event.Op, d time.Duration, seed uint64) []event.Op {
	out := slices.Clone(ops)
	r := rand.New(rand.NewPCG(seed, 7))
	for range len(out) * 4 {
		i := r.IntN(len(out))
		j := r.IntN(len(out))
		if i > j {
			i, j = j, i
		}
		// Swapping is allowed when every op from i to j is within d of both:
		// then no two ops end up inverted by more than d.
		ok := true
		for k := i; k <= j && ok; k++ {
			for _, x := range []time.Time{out[i].Time, out[j].Time} {
				if out[k].Time.Sub(x) > d || x.Sub(out[k].Time) > d {
					ok = false
				}
			}
		}
		if ok {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// sameCandidates compares two runs.
func sameCandidates(t *testing.T, what string, got, want []alert.Candidate) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %d candidates differ from the %d of the reference run", what, len(got), len(want))
		for i := range max(len(got), len(want)) {
			if i < len(got) && i < len(want) && reflect.DeepEqual(got[i], want[i]) {
				continue
			}
			if i < len(got) {
				t.Logf("got  %d: %s %s count %d fp %v", i, got[i].Type, got[i].Time.Format(time.RFC3339), got[i].Count, got[i].FingerprintKeys)
			}
			if i < len(want) {
				t.Logf("want %d: %s %s count %d fp %v", i, want[i].Type, want[i].Time.Format(time.RFC3339), want[i].Count, want[i].FingerprintKeys)
			}
		}
	}
}

// checkReload runs ops whole and with a snapshot/restore at several points;
// every run must give the same candidates.
func checkReload(t *testing.T, d detect.Detector, ops []event.Op) {
	t.Helper()
	dt.Number("keyvault.json", ops)
	want := dt.Run(d, 5*time.Minute, ops)
	if len(want) == 0 {
		t.Fatal("reference run emits nothing; the round trip would prove little")
	}
	for _, at := range []int{1, len(ops) / 3, len(ops) / 2, len(ops) - 1} {
		got, err := dt.RunReload(d, 5*time.Minute, ops, at)
		if err != nil {
			t.Fatalf("reload at %d: %v", at, err)
		}
		sameCandidates(t, "reload after "+strconv.Itoa(at)+" events", got, want)
	}
}

func TestDocumentedOperations(t *testing.T) {
	f, err := os.Open("testdata/keyvault-operation-names.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			names = append(names, l)
		}
	}
	if !slices.Equal(names, documentedOperations) {
		t.Errorf("documentedOperations differs from the documented table (%d vs %d names)", len(documentedOperations), len(names))
	}
}
