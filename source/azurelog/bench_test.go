package azurelog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// genKeyVault generates n Key Vault AuditEvent records in the real shape of
// the documented sample (and of newer exports, with short claim keys and
// tlsVersion), with realistic repetition: a few dozen vaults, a few hundred
// callers and addresses, one correlation ID and object per request.
func genKeyVault(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	guid := func() string {
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
	}
	subs := []string{guid(), guid(), guid()}
	type vault struct{ sub, rg, name string }
	var vaults []vault
	for i := range 40 {
		vaults = append(vaults, vault{subs[i%3], fmt.Sprintf("RG-%02d", i%7), fmt.Sprintf("KV-PROD-%02d", i)})
	}
	type who struct{ oid, upn, appid, tid string }
	tenant := guid()
	var callers []who
	for i := range 300 {
		w := who{oid: guid(), appid: guid(), tid: tenant}
		if i%3 != 0 {
			w.upn = fmt.Sprintf("user%03d@contoso.com", i)
		}
		callers = append(callers, w)
	}
	ops := []string{"SecretGet", "SecretGet", "SecretGet", "SecretList", "KeySign", "KeyUnwrap", "VaultGet", "SecretSet", "CertificateGet", "Authentication"}
	clients := []string{"azure-resource-manager/2.0", "FxVersion/4.8.9232.0 OSName/Windows OSVersion/Microsoft.Windows.10.0.20348 Microsoft.Azure.KeyVault.KeyVaultClient/3.0.5.1",
		"azsdk-python-keyvault-secrets/4.7.0 Python/3.11.4 (Linux-5.15.0-1049-azure-x86_64-with-glibc2.35)", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64) Firefox/12.0"}
	// Applications read the same few secrets again and again: a pool of
	// object URIs (name and version) per vault.
	secrets := make([]string, 16)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("secrets/app-secret-%d/%016x%016x", i, rng.Uint64(), rng.Uint64())
	}
	ips := make([]string, 400)
	for i := range ips {
		ips[i] = fmt.Sprintf("%d.%d.%d.%d", 20+rng.IntN(180), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	}
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	recs := make([][]byte, n)
	for i := range recs {
		v := vaults[rng.IntN(len(vaults))]
		c := callers[rng.IntN(len(callers))]
		op := ops[rng.IntN(len(ops))]
		var claim map[string]any
		if i%2 == 0 {
			claim = map[string]any{uriOID: c.oid, "appid": c.appid}
			if c.upn != "" {
				claim[uriUPN] = c.upn
			}
		} else {
			claim = map[string]any{"oid": c.oid, "appid": c.appid, "scp": "user_impersonation", "appidacr": "0", "xms_az_nwperimid": []any{}, "ipaddr": ips[i%len(ips)], "tid": c.tid, "amr": "pwd"}
			if c.upn != "" {
				claim["upn"] = c.upn
				claim["unique_name"] = c.upn
			}
		}
		lv := bytes.ToLower([]byte(v.name))
		rec := map[string]any{
			"time":             t0.Add(time.Duration(i) * 37 * time.Millisecond).Format("2006-01-02T15:04:05.0000000Z"),
			"resourceId":       fmt.Sprintf("/SUBSCRIPTIONS/%s/RESOURCEGROUPS/%s/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/%s", bytes.ToUpper([]byte(v.sub)), v.rg, v.name),
			"operationName":    op,
			"operationVersion": "7.4",
			"category":         "AuditEvent",
			"resultType":       "Success",
			"resultSignature":  "OK",
			"durationMs":       fmt.Sprint(3 + rng.IntN(200)),
			"callerIpAddress":  ips[rng.IntN(len(ips))],
			"correlationId":    guid(),
			"identity":         map[string]any{"claim": claim},
			"properties": map[string]any{
				"id":                  fmt.Sprintf("https://%s.vault.azure.net/%s", lv, secrets[rng.IntN(len(secrets))]),
				"clientInfo":          clients[rng.IntN(len(clients))],
				"httpStatusCode":      200,
				"requestUri":          fmt.Sprintf("https://%s.vault.azure.net/secrets/app-secret?api-version=7.4", lv),
				"isAccessPolicyMatch": true,
				"tlsVersion":          "TLS1_2",
			},
		}
		b, err := json.Marshal(rec)
		if err != nil {
			panic(err)
		}
		recs[i] = b
	}
	return recs
}

func benchRead(b *testing.B, data []byte, n int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var op event.Op
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), "bench.json", Options{})
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			err := r.Next(&op)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("%d records, want %d", got, n)
		}
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	runtime.ReadMemStats(&ms1)
	records := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/records, "allocs/record")
	if cpu > 0 {
		// CPU time of the whole process (GC included): meaningful with -cpu 1.
		b.ReportMetric(float64(cpu.Nanoseconds())/records, "cpu-ns/record")
	}
}

const benchRecords = 20000

func BenchmarkKeyVaultJSONLines(b *testing.B) {
	recs := genKeyVault(benchRecords)
	benchRead(b, lines(recs...), benchRecords)
}

func BenchmarkKeyVaultEnvelope(b *testing.B) {
	recs := genKeyVault(benchRecords)
	benchRead(b, envelope(recs...), benchRecords)
}

func BenchmarkKeyVaultEnvelopeGzip(b *testing.B) {
	recs := genKeyVault(benchRecords)
	var buf bytes.Buffer
	buf.Write(gz(b, envelope(recs...)))
	benchRead(b, buf.Bytes(), benchRecords)
}

func BenchmarkActivityJSONLines(b *testing.B) {
	var recs [][]byte
	base := activityBase(b)
	rest := restBase(b)
	for i := range benchRecords {
		if i%2 == 0 {
			recs = append(recs, variant(b, base, func(m map[string]any) { m["correlationId"] = fmt.Sprint(i) }))
		} else {
			recs = append(recs, variant(b, rest, func(m map[string]any) { m["correlationId"] = fmt.Sprint(i) }))
		}
	}
	benchRead(b, lines(recs...), benchRecords)
}
