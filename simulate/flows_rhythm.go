package simulate

import (
	"math"
	"math/rand/v2"
)

// The flow estate's normal traffic: each VM's hour is drawn from its own
// random stream seeded by (seed, VM, hour), so any hour can be generated
// alone and the same options always give the same connections.

// flowGen generates the connections of one hour at a time.
type flowGen struct {
	e      *FlowEstate
	pcg    rand.PCG
	r      *rand.Rand
	h      int
	t0, t1 int64 // the hour, ms since the epoch
	conns  []fconn
	next   int // next scripted connection
	linux  []int
}

func newFlowGen(e *FlowEstate) *flowGen {
	g := &flowGen{e: e}
	g.r = rand.New(&g.pcg)
	for _, role := range []vmRole{roleWeb, roleApp, roleDNS, roleDev, roleBuild, roleSQL} {
		g.linux = append(g.linux, e.byRole[role]...)
	}
	return g
}

// webRhythm is the share of the peak web traffic by local hour.
var webRhythm = [24]float64{
	0.25, 0.18, 0.14, 0.12, 0.12, 0.15, 0.25, 0.45, 0.7, 0.85, 0.95, 1,
	1, 0.95, 0.95, 0.9, 0.9, 0.95, 1, 1, 0.95, 0.8, 0.6, 0.4,
}

// Rates of the normal traffic, per VM and hour unless said otherwise.
const (
	rateWebPeak    = 420 // HTTPS connections to a web server at the peak hour
	rateDNS        = 12  // queries to the VNet's resolvers
	rateProbes     = 10  // internet background: probes of a public address
	rateBastion    = 25  // SSH sessions to the bastion in office hours
	rateRDPAdmin   = 0.4 // RDP sessions to a Windows server in office hours
	rateSSHAdmin   = 0.8 // SSH sessions to a dev VM in office hours
	rateGit        = 30  // git fetches over SSH from a build agent in office hours
	rateCDN        = 40  // package downloads of a build agent in office hours
	rateCache      = 20  // artefact cache requests of a build agent (port 4444)
	rateSQL        = 3   // pooled connections of an app server to its databases
	cacheMissShare = 0.4 // share of queries a resolver forwards
	webToApp       = 0.5 // share of web requests that call an app server
	scanMinutes    = 40  // the weekly scan's length
	scanHourUTC    = 2   // it starts on Sunday at 02:00 UTC
	queuePeriodMs  = 60_000
	agentPeriodMs  = 5 * msPerMinute
	activeTimeout  = 60_000  // IPFIX active timeout, ms
	flowLogPeriod  = 300_000 // flow logs' interval of C tuples, ms
	cdnMirrors     = 24      // distinct mirror addresses the build agents use
	officeStart    = 8
	officeEnd      = 18
	nightlyBuild   = 2 // local hour
)

// scanPorts are the ports of the weekly vulnerability scan.
var scanPorts = []uint16{
	21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 389, 443, 445, 465, 587, 636, 993, 995, 1433, 1521, 2049,
	2375, 3306, 3389, 4444, 5432, 5601, 5900, 5985, 5986, 6379, 8000, 8080, 8443, 8888, 9000, 9090, 9200, 11211, 27017,
}

// probePorts are what the internet's background scanners knock on.
var probePorts = []uint16{22, 22, 22, 22, 22, 22, 22, 3389, 3389, 3389, 23, 23, 445, 445, 80, 8080, 5900, 1433, 3306, 6379}

// hour generates the connections that start in hour h: every VM's normal
// traffic and the scripted scenarios, in no particular order.
func (g *flowGen) hour(h int) []fconn {
	e := g.e
	g.h, g.t0 = h, e.start+int64(h)*msPerHour
	g.t1 = g.t0 + msPerHour
	g.conns = g.conns[:0]
	for v := range e.vms {
		if vm := &e.vms[v]; vm.to > g.t0 && vm.from < g.t1 {
			g.vmHour(v)
		}
	}
	for g.next < len(e.scripted) && e.scripted[g.next].t0 < g.t1 {
		g.conns = append(g.conns, e.scripted[g.next])
		g.next++
	}
	return g.conns
}

// local returns the office's local hour of day and whether it is a
// weekday, for the hour being generated.
func (g *flowGen) local() (hour int, weekday bool) {
	lh := g.t0/msPerHour + flowOfficeTZ
	day := floorDiv(lh, 24)
	wd := weekdayOf(day)
	return int(lh - day*24), wd != 0 && wd != 6
}

// officeHours reports whether the hour is a working hour at the office.
func (g *flowGen) officeHours() bool {
	h, wd := g.local()
	return wd && h >= officeStart && h < officeEnd
}

// add appends c when its VMs are alive at its start, cut at their end.
func (g *flowGen) add(c fconn) {
	vm := &g.e.vms[c.vm]
	if !vm.alive(c.t0) || c.t0 >= g.e.end {
		return
	}
	end := min(vm.to, g.e.end)
	if c.peer != noVM {
		if !g.e.vms[c.peer].alive(c.t0) {
			return
		}
		end = min(end, g.e.vms[c.peer].to)
	}
	if c.t0+int64(c.dur) > end {
		c.dur = int32(end - c.t0)
	}
	g.conns = append(g.conns, c)
}

func (g *flowGen) at() int64            { return g.t0 + g.r.Int64N(msPerHour) }
func (g *flowGen) eph() uint16          { return uint16(32768 + g.r.IntN(28232)) }
func (g *flowGen) between(a, b int) int { return a + g.r.IntN(b-a+1) }
func (g *flowGen) pick(p []uint32) uint32 {
	return p[g.r.IntN(len(p))]
}

// vmHour generates one VM's hour.
func (g *flowGen) vmHour(v int) {
	e, vm := g.e, &g.e.vms[v]
	g.pcg.Seed(e.opts.Seed^mix(uint64(v)<<8|0xf1), uint64(g.h))
	if vm.role != roleDNS {
		g.dns(v)
	}
	g.agent(v)
	g.nightly(v)
	g.probes(v)
	switch vm.role {
	case roleWeb:
		g.web(v)
	case roleApp:
		g.app(v)
	case roleDNS:
		g.resolver(v)
	case roleBastion:
		g.bastion(v)
	case roleWindows:
		g.admin(v, 3389, ruleRDPIn, rateRDPAdmin)
	case roleDev:
		g.admin(v, 22, ruleSSHIn, rateSSHAdmin)
	case roleBuild:
		g.build(v)
	case roleScanner:
		g.scan(v)
	}
}

// dns: queries to the VNet's resolvers.
func (g *flowGen) dns(v int) {
	res := g.e.byRole[roleDNS]
	for range poisson(g.r, rateDNS) {
		g.add(g.udp(g.at(), v, uint16(res[g.r.IntN(len(res))]), 0, 53))
	}
}

// resolver: a resolver forwards cache misses to public resolvers.
func (g *flowGen) resolver(v int) {
	lambda := rateDNS * cacheMissShare * float64(len(g.e.vms)) / float64(len(g.e.byRole[roleDNS]))
	for range poisson(g.r, lambda) {
		g.add(g.udp(g.at(), v, noVM, g.pick(svcDNS), 53))
	}
}

// udp returns a DNS exchange from v to a peer VM or a remote address.
func (g *flowGen) udp(t int64, v int, peer uint16, remote uint32, port uint16) fconn {
	return fconn{
		t0: t, dur: int32(g.between(1, 25)), vm: uint16(v), peer: peer, remote: remote,
		lport: g.eph(), rport: port, proto: protoUDP, out: true, rule: ruleInternetOut,
		pkts: 1, bytes: uint64(g.between(60, 90)), rpkts: 1, rbytes: uint64(g.between(90, 420)),
	}
}

// out returns a TCP connection from v to a remote address.
func (g *flowGen) out(t int64, v int, remote uint32, port uint16) fconn {
	return fconn{t0: t, vm: uint16(v), peer: noVM, remote: remote, lport: g.eph(), rport: port, proto: protoTCP,
		out: true, rule: ruleInternetOut, flags: tcpSession, rflags: tcpSession}
}

// in returns a TCP connection from a remote address to v.
func (g *flowGen) in(t int64, v int, remote uint32, port uint16, rule uint8) fconn {
	return fconn{t0: t, vm: uint16(v), peer: noVM, remote: remote, lport: port, rport: g.eph(), proto: protoTCP,
		rule: rule, flags: tcpSession, rflags: tcpSession}
}

// east returns a TCP connection from v to another VM of ours.
func (g *flowGen) east(t int64, v, peer int, port uint16) fconn {
	return fconn{t0: t, vm: uint16(v), peer: uint16(peer), lport: g.eph(), rport: port, proto: protoTCP,
		out: true, rule: ruleVnetOut, flags: tcpSession, rflags: tcpSession}
}

// size sets a connection's duration and counts: pkts packets of avg bytes
// each way (the reply's own count and size).
func (c *fconn) size(dur int, pkts, avg, rpkts, ravg int) {
	c.dur, c.pkts, c.bytes = int32(dur), uint32(pkts), uint64(pkts)*uint64(avg)
	c.rpkts, c.rbytes = uint32(rpkts), uint64(rpkts)*uint64(ravg)
}

// short sets the shape of a small HTTPS request.
func (g *flowGen) short(c *fconn) {
	p := g.between(6, 30)
	c.size(g.between(80, 1500), p, g.between(60, 560), p+g.r.IntN(p/2+1), g.between(400, 1400))
}

// agent: the monitoring agent reports every 5 minutes.
func (g *flowGen) agent(v int) {
	vm := &g.e.vms[v]
	for t := g.t0 + vm.offset%agentPeriodMs; t < g.t1; t += agentPeriodMs {
		c := g.out(t+g.r.Int64N(2000), v, svcMonitor+uint32(10+v%20), 443)
		p := g.between(8, 14)
		c.size(g.between(80, 400), p, g.between(150, 450), p-2, g.between(100, 160))
		g.add(c)
	}
}

// nightly: a daily update check and the nightly backup to storage.
func (g *flowGen) nightly(v int) {
	vm := &g.e.vms[v]
	hod := int(g.t0 / msPerHour % 24)
	if hod == int(vm.offset/1000)%24 {
		for range 3 {
			c := g.out(g.at(), v, svcUpdate+uint32(1+g.r.IntN(8)), 443)
			b := g.between(50_000, 20_000_000)
			c.size(g.between(500, 30_000), 20+b/40_000, 90, b/1400+2, 1400)
			g.add(c)
		}
	}
	if hod == 1+v%2 {
		t := g.t0 + vm.offset%(40*msPerMinute)
		for range g.between(2, 3) {
			c := g.out(t, v, svcStorage+uint32(10+v%50), 443)
			b := g.between(200, 3000) * 1_000_000
			c.size(g.between(2, 20)*msPerMinute, b/1400, 1400, b/2800, 52)
			g.add(c)
			t += int64(c.dur) + g.r.Int64N(30_000)
		}
	}
}

// probes: the internet's background scanners knock on a public address;
// the NSG denies all but the ports the VM's role opens.
func (g *flowGen) probes(v int) {
	vm := &g.e.vms[v]
	for range poisson(g.r, rateProbes) {
		port := probePorts[g.r.IntN(len(probePorts))]
		if g.r.IntN(6) == 0 {
			port = uint16(1 + g.r.IntN(65535))
		}
		c := g.in(g.at(), v, g.pick(g.e.clients), port, ruleDenyIn)
		switch {
		case port == 443 && vm.role == roleWeb:
			c.rule = ruleHTTPSIn
			g.short(&c)
		case port == 22 && vm.role == roleDev:
			c.rule = ruleSSHIn
			g.login(&c, 22)
		case port == 3389 && vm.role == roleWindows:
			c.rule = ruleRDPIn
			g.login(&c, 3389)
		default:
			g.denied(&c)
		}
		g.add(c)
	}
}

// denied sets the shape of a connection the NSG dropped: a SYN or two.
func (g *flowGen) denied(c *fconn) {
	c.deny, c.rule, c.flags, c.rflags = true, ruleDenyIn, tcpSYN, 0
	n := g.between(1, 2)
	c.size(1000*(n-1)+g.r.IntN(5), n, 44, 0, 0)
}

// login sets the shape of one failed login over SSH (key exchange, a few
// passwords refused) or RDP. The SSH shape is a real tool's: the failed
// logins of Zeek's testing trace ssh/sshguess.pcap carry 22-26 packets of
// about 170 bytes from the client, 15-19 of about 205 from the server, over
// 3.5-10 s.
func (g *flowGen) login(c *fconn, port uint16) {
	if port == 3389 { // X.224, TLS with the server's certificate, CredSSP, refused
		c.size(g.between(800, 3000), g.between(10, 16), g.between(120, 220), g.between(8, 12), g.between(250, 400))
		return
	}
	p := g.between(22, 26)
	c.size(g.between(3500, 10000), p, g.between(165, 175), p-7, g.between(200, 210))
}

// session sets the shape of an interactive session of about minutes.
func (g *flowGen) session(c *fconn, minutes int) {
	d := minutes*msPerMinute + g.r.IntN(msPerMinute)
	p := d / 1000 * g.between(2, 6)
	c.size(d, p, g.between(70, 130), p+p/5, g.between(150, 450))
}

// web: HTTPS from the internet, half of which calls an app server.
func (g *flowGen) web(v int) {
	e := g.e
	hod, wd := g.local()
	lambda := rateWebPeak * webRhythm[hod]
	if !wd {
		lambda *= 0.7
	}
	apps := e.byRole[roleApp]
	for range poisson(g.r, lambda) {
		c := g.in(g.at(), v, g.pick(e.clients), 443, ruleHTTPSIn)
		g.short(&c)
		g.add(c)
		if g.r.Float64() < webToApp {
			a := g.east(c.t0+2, v, apps[g.r.IntN(len(apps))], 8080)
			p := g.between(4, 12)
			a.size(max(1, int(c.dur)/2), p, g.between(100, 400), p, g.between(300, 1200))
			g.add(a)
		}
	}
}

// app: polls the queue every minute; pooled connections to the databases.
func (g *flowGen) app(v int) {
	e, vm := g.e, &g.e.vms[v]
	for t := g.t0 + vm.offset%queuePeriodMs; t < g.t1; t += queuePeriodMs {
		c := g.out(t+g.r.Int64N(500), v, svcQueue, 443)
		p := g.between(7, 11)
		c.size(g.between(60, 300), p, g.between(90, 200), p-1, g.between(120, 700))
		g.add(c)
	}
	sqls := e.byRole[roleSQL]
	for range poisson(g.r, rateSQL) {
		c := g.east(g.at(), v, sqls[g.r.IntN(len(sqls))], 1433)
		g.session(&c, g.between(10, 40))
		g.add(c)
	}
}

// bastion: the office's SSH sessions, each jumping on to one to three
// Linux VMs; now and then an on-call session at night.
func (g *flowGen) bastion(v int) {
	e := g.e
	lambda := 0.5
	if g.officeHours() {
		lambda = rateBastion
	}
	for range poisson(g.r, lambda) {
		c := g.in(g.at(), v, g.pick(e.offices), 22, ruleSSHCorp)
		g.session(&c, g.between(5, 90))
		g.add(c)
		t := c.t0 + 5000
		for range g.between(1, 3) {
			j := g.east(t, v, g.linux[g.r.IntN(len(g.linux))], 22)
			g.session(&j, g.between(1, max(1, int(c.dur)/msPerMinute/2)))
			g.add(j)
			t += int64(j.dur) + 3000
		}
	}
}

// admin: administrators' sessions from the office (SSH or RDP).
func (g *flowGen) admin(v int, port uint16, rule uint8, rate float64) {
	if !g.officeHours() {
		return
	}
	for range poisson(g.r, rate) {
		c := g.in(g.at(), v, g.pick(g.e.offices), port, rule)
		g.session(&c, g.between(10, 120))
		g.add(c)
	}
}

// build: git over SSH to GitHub, packages from mirrors, the artefact
// cache; in working hours, and the nightly build at 02:00 every day.
func (g *flowGen) build(v int) {
	e := g.e
	hod, wd := g.local()
	share := 1.0
	switch {
	case hod == nightlyBuild:
		share = 0.3
	case !wd || hod < 7 || hod >= 19:
		return
	}
	for range poisson(g.r, rateGit*share) {
		c := g.out(g.at(), v, g.pick(svcGitHub), 22)
		p := g.between(25, 400)
		c.size(g.between(500, 8000), p, g.between(80, 200), p+p/2, g.between(300, 1400))
		g.add(c)
	}
	for range poisson(g.r, rateCDN*share) {
		c := g.out(g.at(), v, e.cdn[g.r.IntN(cdnMirrors)], 443)
		b := g.between(20_000, 5_000_000)
		c.size(g.between(200, 20_000), 20+b/20_000, 80, b/1400+3, 1400)
		g.add(c)
	}
	cache := e.cacheServer()
	for range poisson(g.r, rateCache*share) {
		c := g.east(g.at(), v, cache, 4444)
		b := g.between(10_000, 2_000_000)
		c.size(g.between(50, 5000), 10+b/20_000, 90, b/1400+2, 1400)
		g.add(c)
	}
}

// cacheServer is the app server that holds the build agents' artefact cache.
func (e *FlowEstate) cacheServer() int {
	apps := e.byRole[roleApp]
	return apps[len(apps)-1]
}

// scanStarts reports whether the weekly scan starts at t0 (an hour).
func scanStarts(t0 int64) bool {
	day := floorDiv(t0, msPerDay)
	return weekdayOf(day) == 0 && t0-day*msPerDay == scanHourUTC*msPerHour
}

// scan: the weekly vulnerability scan of every VM's private address.
func (g *flowGen) scan(v int) {
	e := g.e
	if !scanStarts(g.t0) {
		return
	}
	t := g.t0
	total := int64(len(e.vms) * len(scanPorts))
	i := int64(0)
	for target := range e.vms {
		if target == v {
			continue
		}
		for _, port := range scanPorts {
			c := g.east(t+i*scanMinutes*msPerMinute/total+g.r.Int64N(50), v, target, port)
			i++
			g.probe(&c, e.vms[target].listens(port))
			g.add(c)
		}
	}
}

// probe sets the shape of a SYN probe: an open port answers SYN-ACK and
// the prober resets; a closed one resets.
func (g *flowGen) probe(c *fconn, open bool) {
	if open {
		c.flags, c.rflags = tcpSYN|tcpRST, tcpSYN|tcpACK
		c.size(g.between(1, 3), 2, 42, 1, 44)
		return
	}
	c.flags, c.rflags = tcpSYN, tcpRST|tcpACK
	c.size(g.between(1, 3), 1, 44, 1, 40)
}

// listens reports whether the VM has a service on port.
func (v *flowVM) listens(port uint16) bool {
	switch port {
	case 22:
		return v.role != roleWindows
	case 3389:
		return v.role == roleWindows
	case 443:
		return v.role == roleWeb
	case 8080, 4444:
		return v.role == roleApp
	case 1433:
		return v.role == roleSQL
	case 53:
		return v.role == roleDNS
	}
	return false
}

// sampleCount draws how many of n packets 1-in-rate sampling selects:
// exactly for a few packets, else from the binomial's Poisson or normal
// approximation.
func sampleCount(r *rand.Rand, n uint64, rate uint32) uint64 {
	if n <= 64 {
		k := uint64(0)
		for range n {
			if r.Uint32N(rate) == 0 {
				k++
			}
		}
		return k
	}
	mean := float64(n) / float64(rate)
	if mean <= 30 {
		return min(n, uint64(poisson(r, mean)))
	}
	sd := math.Sqrt(mean * (1 - 1/float64(rate)))
	return min(n, uint64(max(0, math.Round(mean+sd*r.NormFloat64()))))
}
