package ipfix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// oracleSkip lists the sessions tshark (4.0) cannot judge, and why.
var oracleSkip = map[string]string{
	"nf9-invalid01":               "tshark stops after the header's record count (2); the flowsets after it are well formed",
	"nf9-h3c":                     "tshark marks the H3C records malformed after IE 43 and stops decoding them",
	"nf9-h3c-varstring":           "as nf9-h3c",
	"ipfix-netscaler-no-template": "tshark has no template (nor does the decoder): both give nothing",
}

// TestOracleTshark re-derives every golden session's flows from Debian's
// tshark and compares them with testdata/golden (which the decoder must
// match, TestGolden). Opt-in: VIGIL_TSHARK=1, needs text2pcap and
// tshark. The datagrams are wrapped into a pcap as the exporter 10.1.1.1
// sent them, one IPFIX message a packet (tshark reads one a datagram); tshark's fields become flows by the rules of the package
// documentation, implemented here a second time over tshark's values.
func TestOracleTshark(t *testing.T) {
	if os.Getenv("VIGIL_TSHARK") == "" {
		t.Skip("set VIGIL_TSHARK=1 to compare the golden files with tshark")
	}
	for _, tool := range []string{"text2pcap", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
	}
	for _, s := range loadSessions(t) {
		t.Run(s.slug, func(t *testing.T) {
			if why := oracleSkip[s.slug]; why != "" {
				t.Skip(why)
			}
			want := tsharkFlows(t, s)
			g := readGolden(t, s.slug)
			var got []map[string]any
			for _, raw := range g.Flows {
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				got = append(got, m)
			}
			if len(got) != len(want) {
				t.Fatalf("golden has %d flows, tshark %d", len(got), len(want))
			}
			for i := range want {
				w, _ := json.Marshal(want[i])
				gm := got[i]
				gm["exporter"] = "" // the pcap has an exporter, the raw files none
				gb, _ := json.Marshal(gm)
				if !bytes.Equal(w, gb) {
					t.Errorf("flow %d:\ntshark %s\ngolden %s", i+1, w, gb)
				}
			}
		})
	}
}

// splitMessages splits a datagram holding several IPFIX messages.
func splitMessages(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 4 && b[0] == 0 && b[1] == 10 {
		n := int(b[2])<<8 | int(b[3])
		if n < 16 || n > len(b) {
			break
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	if len(b) > 0 && !zero(b) {
		out = append(out, b)
	}
	return out
}

// hexdump writes b as text2pcap reads it (od -Ax -tx1 style): a packet
// starts at offset 0.
func hexdump(w *bytes.Buffer, b []byte) {
	for off := 0; off < len(b); off += 16 {
		fmt.Fprintf(w, "%06x", off)
		for _, c := range b[off:min(off+16, len(b))] {
			fmt.Fprintf(w, " %02x", c)
		}
		w.WriteByte('\n')
	}
	fmt.Fprintf(w, "%06x\n", len(b))
}

// tsharkFlows wraps the session's datagrams into a pcap, decodes it with
// tshark and returns the expected flows in AppendJSON's shape.
func tsharkFlows(t *testing.T, s testSession) []map[string]any {
	t.Helper()
	dir := t.TempDir()
	var text bytes.Buffer
	for _, f := range s.files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range splitMessages(b) {
			hexdump(&text, p)
		}
	}
	pcap := filepath.Join(dir, "s.pcap")
	cmd := exec.Command("text2pcap", "-q", "-u", "2055,2055", "-", pcap)
	cmd.Stdin = &text
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("text2pcap: %v\n%s", err, out)
	}
	out, err := exec.Command("tshark", "-r", pcap, "-d", "udp.port==2055,cflow", "-T", "json", "--no-duplicate-keys").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var packets []struct {
		Source struct {
			Layers map[string]any `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(out, &packets); err != nil {
		t.Fatal(err)
	}
	o := &oracle{domains: map[string]*oracleDomain{}}
	for _, p := range packets {
		for _, c := range list(p.Source.Layers["cflow"]) {
			if m, ok := c.(map[string]any); ok {
				o.message(t, m)
			}
		}
	}
	return o.flows
}

type oracleDomain struct {
	options  map[string]bool // template IDs of options templates
	sysInit  int64           // ms, 0 unknown
	rate     uint64
	samplers map[string]uint64
}

type oracle struct {
	domains map[string]*oracleDomain
	flows   []map[string]any
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// str returns the first value of key in m, searching nested trees.
func str(m map[string]any, key string) string {
	if v, ok := m[key]; ok {
		for _, x := range list(v) {
			if s, ok := x.(string); ok {
				return s
			}
		}
	}
	for k, v := range m {
		if strings.HasSuffix(k, "_tree") {
			for _, x := range list(v) {
				if sub, ok := x.(map[string]any); ok {
					if s := str(sub, key); s != "" {
						return s
					}
				}
			}
		}
	}
	return ""
}

func num(m map[string]any, key string) (uint64, bool) {
	s := str(m, key)
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 0, 64)
	return v, err == nil
}

// millis parses tshark's "seconds.nanoseconds" relative times to ms.
func millis(s string) uint64 {
	sec, frac, _ := strings.Cut(s, ".")
	v, _ := strconv.ParseUint(sec, 10, 64)
	frac = (frac + "000")[:3]
	f, _ := strconv.ParseUint(frac, 10, 64)
	return v*1000 + f
}

// absTime parses tshark's absolute times, truncated to microseconds (the
// decoder reads dateTimeMicroseconds to the microsecond; no sample has
// nanosecond times).
func absTime(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	tm, err := time.Parse("Jan _2, 2006 15:04:05.000000000 MST", s)
	if err != nil {
		return 0, false
	}
	return tm.UnixNano() / 1e3 * 1e3, true
}

func (o *oracle) message(t *testing.T, c map[string]any) {
	version := str(c, "cflow.version")
	var exportNs int64
	var uptime uint64
	var domain uint64
	switch version {
	case "5":
		s, _ := num(c, "cflow.unix_secs")
		ns, _ := num(c, "cflow.unix_nsecs")
		exportNs = int64(s)*1e9 + int64(ns)
		uptime = millis(str(c, "cflow.sysuptime"))
		et, _ := num(c, "cflow.engine_type")
		ei, _ := num(c, "cflow.engine_id")
		domain = et<<8 | ei
	case "9":
		s, _ := num(c, "cflow.unix_secs")
		exportNs = int64(s) * 1e9
		uptime = millis(str(c, "cflow.sysuptime"))
		domain, _ = num(c, "cflow.source_id")
	case "10":
		s, _ := num(c, "cflow.exporttime")
		exportNs = int64(s) * 1e9
		domain, _ = num(c, "cflow.od_id")
	default:
		t.Fatalf("tshark: version %q", version)
	}
	key := version + "/" + strconv.FormatUint(domain, 10)
	d := o.domains[key]
	if d == nil {
		d = &oracleDomain{options: map[string]bool{}, samplers: map[string]uint64{}}
		o.domains[key] = d
	}
	src := map[string]string{"5": "netflow5", "9": "netflow9", "10": "ipfix"}[version]
	headerRate, _ := num(c, "cflow.samplerate")
	rec := func(f map[string]any) {
		o.flows = append(o.flows, o.flow(f, d, src, version, exportNs, uptime, domain, headerRate))
	}
	if version == "5" {
		for i := 1; ; i++ {
			pdu, ok := c[fmt.Sprintf("pdu %d/%s", i, str(c, "cflow.count"))].(map[string]any)
			if !ok {
				break
			}
			rec(pdu)
		}
		return
	}
	for i := 1; ; i++ {
		set := findPrefix(c, fmt.Sprintf("Set %d ", i), fmt.Sprintf("FlowSet %d ", i))
		if set == nil {
			break
		}
		for k := range set {
			if id, ok := strings.CutPrefix(k, "Options Template (Id = "); ok {
				id, _, _ = strings.Cut(id, ")")
				d.options[id] = true
			} else if id, ok := strings.CutPrefix(k, "Template (Id = "); ok {
				id, _, _ = strings.Cut(id, ",")
				delete(d.options, id)
			}
		}
		id := str(set, "cflow.flowset_id")
		for j := 1; ; j++ {
			f := findPrefix(set, fmt.Sprintf("Flow %d (", j))
			if g, ok := set[fmt.Sprintf("Flow %d", j)].(map[string]any); ok {
				f = g
			}
			if f == nil {
				break
			}
			if d.options[id] {
				o.optionsRecord(f, d)
				continue
			}
			rec(f)
		}
	}
}

func findPrefix(m map[string]any, prefixes ...string) map[string]any {
	for k, v := range m {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				if sub, ok := v.(map[string]any); ok {
					return sub
				}
			}
		}
	}
	return nil
}

// rateOf is the sampling a record or options record states.
func rateOf(f map[string]any) uint64 {
	if v, _ := num(f, "cflow.sampling_interval"); v != 0 {
		return v
	}
	if v, _ := num(f, "cflow.sampler_random_interval"); v != 0 {
		return v
	}
	if iv, _ := num(f, "cflow.sampling_packet_interval"); iv != 0 {
		sp, _ := num(f, "cflow.sampling_packet_space")
		return (iv + sp) / iv
	}
	size, _ := num(f, "cflow.sampling_size")
	pop, _ := num(f, "cflow.sampling_population")
	if size != 0 && pop != 0 {
		return pop / size
	}
	return 0
}

func samplerOf(f map[string]any) string {
	if s := str(f, "cflow.sampler_id"); s != "" {
		return s
	}
	return str(f, "cflow.selector_id")
}

func (o *oracle) optionsRecord(f map[string]any, d *oracleDomain) {
	if ns, ok := absTime(str(f, "cflow.sys_init_time")); ok {
		d.sysInit = ns / 1e6
	}
	if r := rateOf(f); r != 0 {
		d.rate = r
		if id := samplerOf(f); id != "" {
			d.samplers[id] = r
		}
	}
}

func (o *oracle) flow(f map[string]any, d *oracleDomain, src, version string, exportNs int64, uptime, domain, headerRate uint64) map[string]any {
	// Times.
	rel := func(key string) (int64, bool, uint64) {
		s := str(f, key)
		if s == "" {
			return 0, false, 0
		}
		ms := millis(s)
		if version != "10" {
			return exportNs - int64(int32(uint32(uptime)-uint32(ms)))*1e6, true, ms
		}
		if d.sysInit != 0 {
			return (d.sysInit + int64(ms)) * 1e6, true, ms
		}
		return 0, false, ms
	}
	sNs, okS := absTime(str(f, "cflow.abstimestart"))
	eNs, okE := absTime(str(f, "cflow.abstimeend"))
	var rs, re uint64
	var hasRS, hasRE bool
	if okS && sNs == 0 && str(f, "cflow.timeend") != "" {
		// tshark 4.0 shows a sysUpTime-based start of 0 as the epoch.
		okS, hasRS = false, true
		if version != "10" {
			sNs, okS = exportNs-int64(int32(uint32(uptime)))*1e6, true
		} else if d.sysInit != 0 {
			sNs, okS = d.sysInit*1e6, true
		}
	}
	if !okS && !hasRS {
		hasRS = str(f, "cflow.timestart") != ""
		sNs, okS, rs = rel("cflow.timestart")
	}
	if !okE {
		hasRE = str(f, "cflow.timeend") != ""
		eNs, okE, re = rel("cflow.timeend")
	}
	if !okS && !okE && hasRS && hasRE {
		eNs, okE = exportNs, true
		sNs, okS = exportNs-int64(int32(uint32(re)-uint32(rs)))*1e6, true
	}
	for _, k := range []string{"cflow.observation_time_milliseconds", "cflow.observation_time_seconds",
		"cflow.observation_time_microseconds", "cflow.observation_time_nanoseconds"} {
		if !okE {
			eNs, okE = absTime(str(f, k))
		}
	}
	if !okE {
		eNs = exportNs
	}
	if !okS {
		sNs = eNs
	}
	if eNs < sNs {
		eNs = sNs
	}
	// Counts.
	count := func(keys ...string) uint64 {
		for _, k := range keys[:2] {
			if v, ok := num(f, k); ok {
				return v
			}
		}
		a, _ := num(f, keys[2])
		b, _ := num(f, keys[3])
		return a + b
	}
	// Sampling.
	rate := rateOf(f)
	if id := samplerOf(f); rate == 0 && id != "" {
		rate = d.samplers[id]
		if rate == 0 {
			rate = d.rate
		}
	}
	if rate == 0 {
		rate = d.rate
	}
	if rate == 0 {
		rate = headerRate
	}
	if rate == 0 {
		rate = 1
	}
	srcAddr, dstAddr := addr(f, "cflow.srcaddr", "cflow.srcaddrv6"), addr(f, "cflow.dstaddr", "cflow.dstaddrv6")
	flags, _ := num(f, "cflow.tcpflags")
	port := func(k string) float64 { v, _ := num(f, k); return float64(v) }
	dir := "unknown"
	switch str(f, "cflow.direction") {
	case "0":
		dir = "in"
	case "1":
		dir = "out"
	}
	return map[string]any{
		"source":            src,
		"start":             time.Unix(0, sNs).UTC().Format(time.RFC3339Nano),
		"end":               time.Unix(0, eNs).UTC().Format(time.RFC3339Nano),
		"srcAddr":           srcAddr,
		"srcPort":           port("cflow.srcport"),
		"dstAddr":           dstAddr,
		"dstPort":           port("cflow.dstport"),
		"protocol":          port("cflow.protocol"),
		"tcpFlags":          float64(flags & 0xff),
		"packets":           float64(count("cflow.packets", "cflow.permanent_packets", "cflow.initiator_packets", "cflow.responder_packets")),
		"bytes":             float64(count("cflow.octets", "cflow.permanent_octets", "cflow.initiator_octets", "cflow.responder_octets")),
		"samplingRate":      float64(rate),
		"direction":         dir,
		"exporter":          "",
		"observationDomain": float64(domain),
	}
}

func addr(f map[string]any, v4, v6 string) string {
	a, b := str(f, v4), str(f, v6)
	if a != "" && (a != "0.0.0.0" || b == "" || b == "::") {
		return a
	}
	return b
}
