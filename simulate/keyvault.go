package simulate

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// KeyVaultOptions configure KeyVaultLoad, the simple load generator: a
// fixed 40-vault estate's Key Vault records at an even pace, for throughput
// benchmarks. NewEstate writes the realistic, labelled telemetry.
type KeyVaultOptions struct {
	Records int       // how many records to write
	Start   time.Time // time of the first record; zero means 2026-11-01T00:00:00Z
	// Span is the event time the records cover; zero means one day.
	Span time.Duration
	Seed uint64
	// Envelope writes one {"records":[...]} document instead of JSON lines.
	Envelope bool
	// TorAddresses, when given, makes every 50,000th record come from one
	// of these addresses (a Tor-access attack to find in a benchmark).
	TorAddresses []string
}

// estate is the set of vaults and principals the generator draws from.
type estate struct {
	subscriptions []string
	vaults        []loadVault
	principals    []loadPrincipal
}

type loadVault struct{ subscription, group, name, resourceID string }

type loadPrincipal struct {
	oid, upn, appid, ip, client string
}

var (
	readOps = []string{"SecretGet", "SecretGet", "SecretGet", "SecretGet", "KeyGet", "SecretList", "VaultGet", "CertificateGet", "KeyUnwrap", "KeySign"}
	// adminOps are what the few deployment identities do: writes and vault
	// changes, never reads of secret values.
	adminOps = []string{"SecretSet", "KeyCreate", "VaultPatch", "CertificateCreate", "VaultGet"}
	clients  = []string{
		"FxVersion/4.8.4700.0 OSName/Windows OSVersion/6.2.9200.0 Microsoft.Azure.KeyVault.KeyVaultClient/3.0.5.1",
		"azsdk-net-Security.KeyVault.Secrets/4.5.0 (.NET 8.0.1; Microsoft Windows 10.0.20348)",
		"azsdk-python-keyvault-secrets/4.7.0 Python/3.11.4 (Linux-5.15.0-1049-azure-x86_64-with-glibc2.35)",
		"azure-resource-manager/2.0",
	}
)

func guid(r *rand.Rand) string { return string(appendGUID(nil, r)) }

// admins is how many of the estate's principals are deployment identities.
const admins = 4

// appendGUID appends a random version-4 GUID without allocating.
func appendGUID(b []byte, r *rand.Rand) []byte {
	const hex = "0123456789abcdef"
	hi, lo := r.Uint64(), r.Uint64()
	hi = hi&^(0xf<<12) | 4<<12 // version 4
	lo = lo&^(0x3<<62) | 2<<62 // RFC 4122 variant
	for i := range 32 {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b = append(b, '-')
		}
		var nib uint64
		if i < 16 {
			nib = hi >> (60 - 4*i) & 0xf
		} else {
			nib = lo >> (60 - 4*(i-16)) & 0xf
		}
		b = append(b, hex[nib])
	}
	return b
}

func newEstate(r *rand.Rand) *estate {
	e := &estate{}
	for range 3 {
		e.subscriptions = append(e.subscriptions, guid(r))
	}
	for i := range 40 {
		sub := e.subscriptions[i%len(e.subscriptions)]
		v := loadVault{subscription: sub, group: "rg-app" + strconv.Itoa(i%7), name: "kv-app" + strconv.Itoa(i)}
		v.resourceID = "/SUBSCRIPTIONS/" + upper(v.subscription) + "/RESOURCEGROUPS/" + upper(v.group) + "/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/" + upper(v.name)
		e.vaults = append(e.vaults, v)
	}
	for i := range 200 {
		p := loadPrincipal{oid: guid(r), appid: guid(r), client: clients[r.IntN(len(clients))]}
		if i%4 == 0 { // a quarter are people, the rest applications and managed identities
			p.upn = "user" + strconv.Itoa(i) + "@contoso.com"
		}
		p.ip = fmt.Sprintf("%d.%d.%d.%d", []int{20, 40, 52, 104, 13}[r.IntN(5)], r.IntN(256), r.IntN(256), 1+r.IntN(254))
		e.principals = append(e.principals, p)
	}
	return e
}

// KeyVaultLoad writes opts.Records Key Vault AuditEvent records to w, as JSON
// lines or one records envelope. It returns the number of bytes written.
func KeyVaultLoad(w io.Writer, opts KeyVaultOptions) (int64, error) {
	r := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	if opts.Span <= 0 {
		opts.Span = 24 * time.Hour
	}
	e := newEstate(r)
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countingWriter{w: bw}
	if opts.Envelope {
		cw.WriteString("{\"records\":[\n")
	}
	step := opts.Span / time.Duration(max(opts.Records, 1))
	buf := make([]byte, 0, 2048)
	for i := range opts.Records {
		t := opts.Start.Add(time.Duration(i) * step)
		var p *loadPrincipal
		v := &e.vaults[r.IntN(len(e.vaults))]
		op := readOps[r.IntN(len(readOps))]
		if r.IntN(200) == 0 {
			p = &e.principals[r.IntN(admins)]
			op = adminOps[r.IntN(len(adminOps))]
		} else {
			p = &e.principals[admins+r.IntN(len(e.principals)-admins)]
		}
		ip := p.ip
		if len(opts.TorAddresses) > 0 && i%50000 == 49999 {
			ip = opts.TorAddresses[(i/50000)%len(opts.TorAddresses)]
		}
		status := 200
		if r.IntN(200) == 0 {
			status = 403
		}
		buf = appendKeyVaultRecord(buf[:0], t, v, p, op, ip, status, r)
		if opts.Envelope && i > 0 {
			cw.WriteString(",\n")
		}
		cw.Write(buf)
		if !opts.Envelope {
			cw.WriteString("\n")
		}
	}
	if opts.Envelope {
		cw.WriteString("\n]}\n")
	}
	if cw.err == nil {
		cw.err = bw.Flush()
	}
	return cw.n, cw.err
}

// appendKeyVaultRecord appends one record in the shape of the AuditEvent
// sample in Microsoft's Key Vault logging documentation.
func appendKeyVaultRecord(b []byte, t time.Time, v *loadVault, p *loadPrincipal, op, ip string, status int, r *rand.Rand) []byte {
	result, signature := "Success", "OK"
	if status == 403 {
		result, signature = "Success", "Forbidden"
	}
	b = append(b, `{"time":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.0000000Z")
	b = append(b, `","resourceId":"`...)
	b = append(b, v.resourceID...)
	b = append(b, `","operationName":"`...)
	b = append(b, op...)
	b = append(b, `","operationVersion":"7.4","category":"AuditEvent","resultType":"`...)
	b = append(b, result...)
	b = append(b, `","resultSignature":"`...)
	b = append(b, signature...)
	b = append(b, `","resultDescription":"","durationMs":"`...)
	b = strconv.AppendInt(b, int64(5+r.IntN(120)), 10)
	b = append(b, `","callerIpAddress":"`...)
	b = append(b, ip...)
	b = append(b, `","correlationId":"`...)
	b = appendGUID(b, r)
	b = append(b, `","identity":{"claim":{"http://schemas.microsoft.com/identity/claims/objectidentifier":"`...)
	b = append(b, p.oid...)
	if p.upn != "" {
		b = append(b, `","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"`...)
		b = append(b, p.upn...)
	}
	b = append(b, `","appid":"`...)
	b = append(b, p.appid...)
	b = append(b, `"}},"properties":{"clientInfo":"`...)
	b = append(b, p.client...)
	b = append(b, `","requestUri":"https://`...)
	b = append(b, v.name...)
	b = append(b, `.vault.azure.net/secrets/app-secret?api-version=7.4","id":"https://`...)
	b = append(b, v.name...)
	b = append(b, `.vault.azure.net/secrets/app-secret","httpStatusCode":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `}}`...)
	return b
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// countingWriter remembers the first error and counts bytes, so the writing
// loop stays readable.
type countingWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
}

func (c *countingWriter) WriteString(s string) {
	if c.err != nil {
		return
	}
	n, err := c.w.WriteString(s)
	c.n += int64(n)
	c.err = err
}
