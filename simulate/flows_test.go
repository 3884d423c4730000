package simulate

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// TestFlowEstateDeterministic: the same options write the same bytes, a
// different seed different ones.
func TestFlowEstateDeterministic(t *testing.T) {
	a := smallFlows()
	a.check(t)
	b := writeAllFlows(smallFlowOpts)
	b.check(t)
	opts := smallFlowOpts
	opts.Seed++
	c := writeAllFlows(opts)
	c.check(t)
	for _, x := range []struct {
		name    string
		a, b, c []byte
	}{
		{"pcap", a.pcap, b.pcap, c.pcap},
		{"nsg", a.nsg, b.nsg, c.nsg},
		{"vnet", a.vnet, b.vnet, c.vnet},
		{"labels", a.labels, b.labels, c.labels},
		{"assets", a.assets, b.assets, c.assets},
	} {
		if sha256.Sum256(x.a) != sha256.Sum256(x.b) {
			t.Errorf("%s: two runs of the same options differ", x.name)
		}
		if bytes.Equal(x.a, x.c) {
			t.Errorf("%s: seeds %d and %d write the same bytes", x.name, smallFlowOpts.Seed, opts.Seed)
		}
	}
}

// TestFlowEstateOptionErrors: options out of range fail with a clear error.
func TestFlowEstateOptionErrors(t *testing.T) {
	for _, c := range []struct {
		opts FlowEstateOptions
		want string
	}{
		{FlowEstateOptions{Days: 3, LearningDays: 2}, "no room for attacks"},
		{FlowEstateOptions{Days: -1}, "must be positive"},
		{FlowEstateOptions{Days: 4000}, "too long"},
		{FlowEstateOptions{Scale: 31}, "scale"},
		{FlowEstateOptions{Scale: -1}, "scale"},
		{FlowEstateOptions{SamplingRate: 1<<20 + 1}, "sampling rate"},
		{FlowEstateOptions{Start: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, "out of range"},
		{FlowEstateOptions{C2: "2001:db8::1"}, "only IPv4"},
		{FlowEstateOptions{MiningPools: []string{}}, "at least one mining pool"},
		{FlowEstateOptions{MiningPools: []string{"pool.example"}}, "mining pool"},
	} {
		if _, err := NewFlowEstate(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opts, err, c.want)
		}
	}
}

// flowsOf returns the flows between VM v's addresses and ip ("": anyone)
// overlapping [from, to].
func flowsOf(o *flowOutput, v FlowVM, ip string, from, to time.Time) []event.Flow {
	var out []event.Flow
	other := netip.Addr{}
	if ip != "" {
		other = netip.MustParseAddr(ip)
	}
	ours := func(a netip.Addr) bool { return a == v.PrivateIP || a == v.PublicIP }
	for _, f := range o.flows {
		if f.End.Before(from) || f.Start.After(to) {
			continue
		}
		switch {
		case ours(f.SrcAddr) && (!other.IsValid() || f.DstAddr == other):
		case ours(f.DstAddr) && (!other.IsValid() || f.SrcAddr == other):
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// TestFlowLabelsReferToFlows: every attack label's VM and address exchange
// the traffic its alert type needs, within the label's time; every benign
// label's VM has traffic then; attacks come after the learning period.
func TestFlowLabelsReferToFlows(t *testing.T) {
	o := smallFlows()
	o.check(t)
	e := o.e
	vms := map[string]FlowVM{}
	for _, v := range e.VMs() {
		vms[v.ResourceID] = v
	}
	types := map[string]int{}
	for _, l := range e.Labels() {
		if l.Kind == LabelLearning {
			if !l.From.Equal(e.Start()) || !l.To.Equal(e.LearningEnd()) {
				t.Errorf("learning label %s: [%s, %s]", l.AlertType, l.From, l.To)
			}
			continue
		}
		if l.From.Before(e.LearningEnd()) || l.To.After(e.End()) || l.To.Before(l.From) {
			t.Errorf("%s %s: [%s, %s] outside [%s, %s]", l.ID, l.AlertType, l.From, l.To, e.LearningEnd(), e.End())
		}
		if l.Resource == "" {
			if l.Kind == LabelAttack {
				t.Errorf("%s %s names no resource", l.ID, l.AlertType)
			}
			continue
		}
		v, ok := vms[l.Resource]
		if !ok || v.SubscriptionID != l.SubscriptionID {
			t.Errorf("%s %s: resource %s (subscription %s) is not a VM of the estate", l.ID, l.AlertType, l.Resource, l.SubscriptionID)
			continue
		}
		fs := flowsOf(o, v, l.IP, l.From, l.To)
		if l.Kind == LabelBenign {
			if len(fs) == 0 {
				t.Errorf("benign %s %s on %s: no flows", l.ID, l.AlertType, v.Name)
			}
			continue
		}
		types[l.AlertType]++
		if got, want := attackEvidence(l.AlertType, v, fs), attackMinimum[l.AlertType]; got < want {
			t.Errorf("attack %s %s on %s from/to %q: evidence %d, want >= %d (%d flows)", l.ID, l.AlertType, v.Name, l.IP, got, want, len(fs))
		}
	}
	for typ := range attackMinimum {
		if types[typ] == 0 {
			t.Errorf("no attack of type %s", typ)
		}
	}
}

// attackMinimum is the least evidence (see attackEvidence) of each type.
var attackMinimum = map[string]int{
	alertSSHInOne: 300, alertRDPInOne: 300, alertSSHOutOne: 300, alertRDPOutOne: 300,
	alertSSHInMany: 100, alertRDPInMany: 100, alertSSHOutMany: 300, alertRDPOutMany: 300,
	alertPortScan: 1000, alertC2: 400, alertMining: 300,
}

// attackEvidence measures an attack in its flows: connections (SYN
// records) for one-to-one, distinct remote addresses for many, distinct
// ports for a scan, flows for C2, stratum records for mining.
func attackEvidence(typ string, v FlowVM, fs []event.Flow) int {
	port := uint16(22)
	if strings.HasPrefix(typ, "RDP") {
		port = 3389
	}
	ours := func(a netip.Addr) bool { return a == v.PrivateIP || a == v.PublicIP }
	distinct := map[any]bool{}
	n := 0
	for _, f := range fs {
		syn := f.TCPFlags&tcpSYN != 0
		switch typ {
		case alertSSHInOne, alertRDPInOne:
			if ours(f.DstAddr) && f.DstPort == port && syn {
				n++
			}
		case alertSSHOutOne, alertRDPOutOne:
			if ours(f.SrcAddr) && f.DstPort == port && syn {
				n++
			}
		case alertSSHInMany, alertRDPInMany:
			if ours(f.DstAddr) && f.DstPort == port && syn {
				distinct[f.SrcAddr] = true
			}
		case alertSSHOutMany, alertRDPOutMany:
			if ours(f.SrcAddr) && f.DstPort == port && syn {
				distinct[f.DstAddr] = true
			}
		case alertPortScan:
			if ours(f.SrcAddr) && syn {
				distinct[f.DstPort] = true
			}
		case alertC2:
			if ours(f.SrcAddr) && f.DstPort == 443 {
				n++
			}
		case alertMining:
			if ours(f.SrcAddr) && (f.DstPort == stratumPort || f.DstPort == stratumTLSPort) {
				n++
			}
		}
	}
	return n + len(distinct)
}

// TestFlowAttackTrafficOnlyInScenarios: before the learning period ends no
// flow touches an attack address, and over the whole run the only
// addresses on the intel lists are the C2 servers and the benign prober.
func TestFlowAttackTrafficOnlyInScenarios(t *testing.T) {
	o := smallFlows()
	o.check(t)
	in := intel(t)
	bad := map[netip.Addr]bool{addr4(svcAttackSSH): true, addr4(svcAttackRDP): true, unlistedStratum: true}
	for _, s := range append(o.e.C2Addresses(), o.e.MiningPools()...) {
		bad[netip.MustParseAddr(s)] = true
	}
	allowed := map[string]bool{addr4(svcBlocked).String(): true}
	for _, s := range o.e.C2Addresses() {
		allowed[s] = true
	}
	seen := map[string]bool{}
	for _, f := range o.flows {
		for _, a := range []netip.Addr{f.SrcAddr, f.DstAddr} {
			if bad[a] && f.Start.Before(o.e.LearningEnd()) {
				t.Fatalf("attack address %s in the learning period: %+v", a, f)
			}
			s := a.String()
			if !seen[s] {
				seen[s] = true
				if (in.tor[s] || in.ipsum[s] > 0) && !allowed[s] {
					t.Errorf("%s is on an intel list", s)
				}
			}
		}
	}
	for s := range allowed {
		if !seen[s] {
			t.Errorf("%s never appears", s)
		}
	}
}

// TestFlowAddressesAgainstIntel: the C2 addresses are high-score ipsum
// entries, the prober a blocklisted one, and no address of any /24 the
// normal traffic, the victims or the attackers' own hosts use is listed.
func TestFlowAddressesAgainstIntel(t *testing.T) {
	const defaultC2Score = 9
	in := intel(t)
	if a := builtinC2; in.tor[a] || in.ipsum[a] < defaultC2Score {
		t.Errorf("C2 %s: Tor %v, ipsum score %d (want not Tor, >= %d)", a, in.tor[a], in.ipsum[a], defaultC2Score)
	}
	if a := addr4(svcBlocked).String(); in.ipsum[a] < 3 {
		t.Errorf("prober %s: ipsum score %d", a, in.ipsum[a])
	}
	var ranges []string
	for _, list := range [][]string{flowPublicRanges, clientRanges, botRanges, victimRanges, cdnRanges, flowOfficeSite,
		{storageRange, monitorRange, queueRange, updateRange}} {
		ranges = append(ranges, list...)
	}
	for _, a := range slices.Concat(githubSSH, publicDNS, builtinMiningPools, []string{rdpAttacker, unlistedStratum.String()}) {
		ranges = append(ranges, a[:strings.LastIndexByte(a, '.')])
	}
	for _, r := range ranges {
		for h := range 256 {
			if a := r + "." + strconv.Itoa(h); in.tor[a] || in.ipsum[a] > 0 {
				t.Errorf("%s (range %s.0/24) is on an intel list", a, r)
			}
		}
	}
}

// TestFlowAssetsAttributeEveryFlow: the inventory has the documented
// header, a row per address of each VM, and names exactly one VM for every
// estate address of every flow at the flow's time, also for the public
// address that moves from one VM to another.
func TestFlowAssetsAttributeEveryFlow(t *testing.T) {
	o := smallFlows()
	o.check(t)
	rows, err := csv.NewReader(bytes.NewReader(o.assets)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != AssetsHeader || len(rows) != 1+2*len(o.e.VMs()) {
		t.Fatalf("header %v, %d rows for %d VMs", rows[0], len(rows)-1, len(o.e.VMs()))
	}
	type span struct {
		rid      string
		from, to time.Time
	}
	byIP := map[netip.Addr][]span{}
	parse := func(s string, open time.Time) time.Time {
		if s == "" {
			return open
		}
		x, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, r := range rows[1:] {
		a := netip.MustParseAddr(r[0])
		byIP[a] = append(byIP[a], span{r[1], parse(r[3], time.Time{}), parse(r[4], time.Unix(1<<40, 0))})
	}
	moved := 0
	for _, s := range byIP {
		if len(s) > 1 {
			moved++
		}
	}
	if moved != 1 {
		t.Errorf("%d addresses with several VMs, want 1", moved)
	}
	ours := func(a netip.Addr) bool {
		return a.Is4() && (a.As4()[0] == 10 || slices.ContainsFunc(flowPublicRanges, func(r string) bool { return strings.HasPrefix(a.String(), r+".") }))
	}
	for _, f := range o.flows {
		for _, a := range []netip.Addr{f.SrcAddr, f.DstAddr} {
			if !ours(a) {
				continue
			}
			n := 0
			for _, s := range byIP[a] {
				if !f.Start.Before(s.from) && f.Start.Before(s.to) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%s at %s: %d VMs hold it (%v)", a, f.Start, n, byIP[a])
			}
		}
	}
}

// TestFlowScenariosFitEveryEstateSize: estates of several sizes, starts
// and seeds hold an attack of every type, and their labels parse as JSON.
func TestFlowScenariosFitEveryEstateSize(t *testing.T) {
	for _, opts := range []FlowEstateOptions{
		{Seed: 1, Scale: 0.01, Days: 3, LearningDays: 1},
		{Seed: 2, Scale: 0.5, Days: 9},
		{Seed: 3},
		{Seed: 4, Scale: 30, Days: 30, LearningDays: 14},
		{Seed: 5, Start: time.Date(2027, 3, 5, 17, 30, 0, 0, time.FixedZone("x", 3600)), NoScenarios: true},
	} {
		e, err := NewFlowEstate(opts)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		types := map[string]bool{}
		attacks := 0
		for _, l := range e.Labels() {
			if l.MustFire {
				attacks++
				types[l.AlertType] = true
			}
			if l.Kind != LabelLearning && (l.From.Before(e.LearningEnd()) || l.To.After(e.End())) {
				t.Errorf("%+v: label %s %s [%s, %s] outside [%s, %s]", opts, l.ID, l.AlertType, l.From, l.To, e.LearningEnd(), e.End())
			}
		}
		want := 12
		if opts.NoScenarios {
			want = 0
		}
		if attacks != want || (want > 0 && len(types) != len(attackMinimum)) {
			t.Errorf("%+v: %d attacks of %d types", opts, attacks, len(types))
		}
		var b bytes.Buffer
		if err := e.WriteLabels(&b); err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(b.Bytes()) {
			var l Label
			if err := json.Unmarshal(line, &l); err != nil {
				t.Fatal(err)
			}
		}
		if d := e.BenignResourceDays(); d <= 0 || d > float64(len(e.VMs()))*e.End().Sub(e.LearningEnd()).Hours()/24 {
			t.Errorf("%+v: %v benign resource-days for %d VMs", opts, d, len(e.VMs()))
		}
	}
}

// TestFlowBenignResourceDays counts VM-days after the learning period.
func TestFlowBenignResourceDays(t *testing.T) {
	o := smallFlows()
	o.check(t)
	e := o.e
	var want float64
	for _, v := range e.VMs() {
		from, to := e.LearningEnd(), e.End()
		if !v.Created.IsZero() && v.Created.After(from) {
			from = v.Created
		}
		if !v.Deleted.IsZero() && v.Deleted.Before(to) {
			to = v.Deleted
		}
		want += to.Sub(from).Hours() / 24
	}
	if got := e.BenignResourceDays(); got != want || got < float64(len(e.VMs())-2)*2 {
		t.Errorf("%v benign resource-days, want %v", got, want)
	}
}

// TestMiningPoolsFile: the pools and C2 files are plain intel lists.
func TestMiningPoolsFile(t *testing.T) {
	o := smallFlows()
	o.check(t)
	var b bytes.Buffer
	if err := o.e.WriteMiningPools(&b); err != nil {
		t.Fatal(err)
	}
	var got []string
	for line := range strings.Lines(b.String()) {
		if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
			got = append(got, line)
		}
	}
	if !slices.Equal(got, builtinMiningPools) || !slices.Equal(o.e.MiningPools(), builtinMiningPools) {
		t.Errorf("pools file %v, MiningPools %v", got, o.e.MiningPools())
	}
	b.Reset()
	if err := o.e.WriteC2Addresses(&b); err != nil {
		t.Fatal(err)
	}
	if c2 := o.e.C2Addresses(); !slices.Equal(c2, []string{builtinC2}) || !strings.HasSuffix(b.String(), "\n"+builtinC2+"\n") {
		t.Errorf("C2Addresses %v, file %q", c2, b.String())
	}
}

// TestFlowWritersRunConcurrently: writers share the estate without
// changing it (run with -race).
func TestFlowWritersRunConcurrently(t *testing.T) {
	o := smallFlows()
	o.check(t)
	done := make(chan []byte, 2)
	for range 2 {
		go func() {
			var b bytes.Buffer
			if _, err := o.e.WriteFlowLog(&b, NSGFlowLog); err != nil {
				b.Reset()
			}
			done <- b.Bytes()
		}()
	}
	for range 2 {
		if got := <-done; !bytes.Equal(got, o.nsg) {
			t.Error("a concurrent writer wrote other bytes")
		}
	}
}
