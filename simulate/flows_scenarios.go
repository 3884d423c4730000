package simulate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// The flow estate's scenarios: an attack of every network alert type after
// the learning period, each on its own slot and VM where the estate has
// enough, and the benign look-alikes a detection engineer knows.

// Network alert types (Defender for Cloud's ids).
const (
	alertSSHInOne   = "SSH_Incoming_BF_OneToOne"
	alertRDPInOne   = "RDP_Incoming_BF_OneToOne"
	alertSSHInMany  = "SSH_Incoming_BF_ManyToOne"
	alertRDPInMany  = "RDP_Incoming_BF_ManyToOne"
	alertSSHOutOne  = "SSH_Outgoing_BF_OneToOne"
	alertRDPOutOne  = "RDP_Outgoing_BF_OneToOne"
	alertSSHOutMany = "SSH_Outgoing_BF_OneToMany"
	alertRDPOutMany = "RDP_Outgoing_BF_OneToMany"
	alertPortScan   = "PortScanning"
	alertC2         = "Network_CommunicationWithC2"
	alertMining     = "CryptoMining"
	alertUnrec      = "Network_TrafficFromUnrecommendedIP"
)

// flowBehavioural are the network alert types that compare with what is
// normal for the estate: alerts of these types in the learning period are
// false positives.
var flowBehavioural = []string{
	alertSSHInOne, alertRDPInOne, alertSSHInMany, alertRDPInMany,
	alertSSHOutOne, alertRDPOutOne, alertSSHOutMany, alertRDPOutMany, alertPortScan,
}

// Sizes of the attacks.
const (
	bfAttempts      = 400 // one-to-one brute force: login attempts
	botnetSize      = 150 // many-to-one: distinct attackers
	botnetMinutes   = 90
	sweepVictims    = 400 // one-to-many: distinct victims
	sweepMinutes    = 60
	portScanMinutes = 8
	beaconHours     = 8
	beaconPeriodMs  = 60_000
	miningHours     = 20
	stratumPort     = 3333
	stratumTLSPort  = 14444
)

// scenarios injects the attacks and the look-alikes.
func (b *flowBuilder) scenarios() {
	e := b.e
	attacks := []func(g *flowGen, id string, t int64){
		b.sshInOne, b.rdpInOne, b.sshInMany, b.rdpInMany, b.sshOutOne, b.rdpOutOne,
		b.sshOutMany, b.rdpOutMany, b.portScan, b.beacon, b.miningListed, b.miningStratum,
	}
	span := max(e.end-e.learnEnd-msPerDay, 12*msPerHour)
	for i, attack := range attacks {
		t := e.learnEnd + msPerHour + int64(i)*span/int64(len(attacks)) + b.r.Int64N(20*msPerMinute)
		attack(b.scenario(i), fmt.Sprintf("NA%02d", i+1), t)
	}
	b.lookAlikes()
}

// scenario returns the generator of scenario i, on its own random stream.
func (b *flowBuilder) scenario(i int) *flowGen {
	if b.g == nil {
		b.g = newFlowGen(b.e)
	}
	b.g.pcg.Seed(b.e.opts.Seed^mix(0x5ce7a210+uint64(i)), 0x5ce)
	b.g.conns = b.g.conns[:0]
	return b.g
}

// commit moves the scenario's connections to the scripted ones and labels
// them: the label's time range is theirs. A scenario without connections
// (its VM gone) gets no label.
func (b *flowBuilder) commit(g *flowGen, l Label, v int) {
	if len(g.conns) == 0 {
		return
	}
	from, to := g.conns[0].t0, int64(0)
	for i := range g.conns {
		from = min(from, g.conns[i].t0)
		to = max(to, g.conns[i].t0+int64(g.conns[i].dur))
	}
	b.e.scripted = append(b.e.scripted, g.conns...)
	b.label(l, v, from, to)
}

// label adds a label about VM v (-1: several) over [from, to].
func (b *flowBuilder) label(l Label, v int, from, to int64) {
	if v >= 0 {
		l.Resource, l.SubscriptionID = b.e.vms[v].rid, b.e.subs[b.e.vms[v].sub].id
	}
	l.From, l.To = msTime(from), msTime(to)
	if l.Kind == "" {
		l.Kind = LabelAttack
	}
	l.MustFire = l.Kind == LabelAttack
	b.e.labels = append(b.e.labels, l)
}

// vm returns the i-th VM of a role (cycling); dev VMs exclude the pair
// whose public address is reassigned.
func (b *flowBuilder) vm(role vmRole, i int) int {
	vs := b.e.byRole[role]
	if role == roleDev {
		vs = slices.DeleteFunc(slices.Clone(vs), func(v int) bool { return v == b.e.replaced || v == b.e.successor })
	}
	return vs[i%len(vs)]
}

func (b *flowBuilder) name(v int) string { return b.e.vms[v].name }

// bruteIn: one attacker, one of our VMs, attempt after attempt.
func (b *flowBuilder) bruteIn(g *flowGen, l Label, v int, attacker uint32, port uint16, rule uint8, t int64) {
	for range bfAttempts {
		c := g.in(t, v, attacker, port, rule)
		g.login(&c, port)
		g.add(c)
		t += int64(c.dur) + int64(g.between(2000, 8000))
	}
	l.IP = addr4(attacker).String()
	l.Note = fmt.Sprintf("%d failed logins from %s to %s:%d, one every few seconds", bfAttempts, l.IP, b.name(v), port)
	b.commit(g, l, v)
}

func (b *flowBuilder) sshInOne(g *flowGen, id string, t int64) {
	b.bruteIn(g, Label{ID: id, AlertType: alertSSHInOne}, b.vm(roleDev, 0), svcAttackSSH, 22, ruleSSHIn, t)
}

func (b *flowBuilder) rdpInOne(g *flowGen, id string, t int64) {
	b.bruteIn(g, Label{ID: id, AlertType: alertRDPInOne}, b.vm(roleWindows, 0), svcAttackRDP, 3389, ruleRDPIn, t)
}

// botnet: many attackers, a few attempts each, on one of our VMs.
func (b *flowBuilder) botnet(g *flowGen, l Label, v int, port uint16, rule uint8, t int64) {
	e := b.e
	for _, k := range g.r.Perm(len(e.bots))[:botnetSize] {
		for range g.between(2, 4) {
			c := g.in(t+g.r.Int64N(botnetMinutes*msPerMinute), v, e.bots[k], port, rule)
			g.login(&c, port)
			g.add(c)
		}
	}
	l.Note = fmt.Sprintf("a botnet of %d addresses tries logins on %s:%d for %d minutes, 2-4 each", botnetSize, b.name(v), port, botnetMinutes)
	b.commit(g, l, v)
}

// sshInMany targets the public address that moved from one VM to another,
// after the move: the label names the VM that holds it then.
func (b *flowBuilder) sshInMany(g *flowGen, id string, t int64) {
	e := b.e
	if moved := e.vms[e.successor].from; t < moved+msPerHour {
		t = moved + msPerHour + 13*msPerMinute
	}
	b.botnet(g, Label{ID: id, AlertType: alertSSHInMany}, e.successor, 22, ruleSSHIn, t)
}

func (b *flowBuilder) rdpInMany(g *flowGen, id string, t int64) {
	b.botnet(g, Label{ID: id, AlertType: alertRDPInMany}, b.vm(roleWindows, 1), 3389, ruleRDPIn, t)
}

// bruteOut: one of our VMs, compromised, hammers one outside host.
func (b *flowBuilder) bruteOut(g *flowGen, l Label, v int, port uint16, t int64) {
	victim := g.pick(b.e.victims)
	for range bfAttempts {
		c := g.out(t, v, victim, port)
		g.login(&c, port)
		g.add(c)
		t += int64(c.dur) + int64(g.between(1000, 6000))
	}
	l.IP = addr4(victim).String()
	l.Note = fmt.Sprintf("%s, compromised, tries %d logins on %s:%d", b.name(v), bfAttempts, l.IP, port)
	b.commit(g, l, v)
}

func (b *flowBuilder) sshOutOne(g *flowGen, id string, t int64) {
	b.bruteOut(g, Label{ID: id, AlertType: alertSSHOutOne}, b.vm(roleDev, 1), 22, t)
}

func (b *flowBuilder) rdpOutOne(g *flowGen, id string, t int64) {
	b.bruteOut(g, Label{ID: id, AlertType: alertRDPOutOne}, b.vm(roleWindows, 2), 3389, t)
}

// sweep: one of our VMs tries a login or two on each of many outside
// hosts; most do not answer, some reset, some let it try.
func (b *flowBuilder) sweep(g *flowGen, l Label, v int, port uint16, t int64) {
	e := b.e
	for _, k := range g.r.Perm(len(e.victims))[:sweepVictims] {
		for range g.between(1, 2) {
			c := g.out(t+g.r.Int64N(sweepMinutes*msPerMinute), v, e.victims[k], port)
			switch x := g.r.IntN(20); {
			case x < 11:
				c.flags, c.rflags = tcpSYN, 0
				c.size(g.between(1000, 3000), 2, 60, 0, 0)
			case x < 16:
				c.flags, c.rflags = tcpSYN, tcpRST|tcpACK
				c.size(g.between(1, 200), 1, 60, 1, 40)
			default:
				g.login(&c, port)
			}
			g.add(c)
		}
	}
	l.Also = []string{alertPortScan}
	l.Note = fmt.Sprintf("%s, compromised, sweeps %d outside hosts on port %d in %d minutes", b.name(v), sweepVictims, port, sweepMinutes)
	b.commit(g, l, v)
}

func (b *flowBuilder) sshOutMany(g *flowGen, id string, t int64) {
	b.sweep(g, Label{ID: id, AlertType: alertSSHOutMany}, b.vm(roleWeb, 0), 22, t)
}

func (b *flowBuilder) rdpOutMany(g *flowGen, id string, t int64) {
	b.sweep(g, Label{ID: id, AlertType: alertRDPOutMany}, b.vm(roleWindows, 0), 3389, t)
}

// portScan: a SYN scan of one outside host's first 1024 ports and more.
func (b *flowBuilder) portScan(g *flowGen, id string, t int64) {
	v, target := b.vm(roleDev, 2), g.pick(b.e.victims)
	ports := make([]uint16, 0, 1100)
	for p := range 1024 {
		ports = append(ports, uint16(p+1))
	}
	ports = append(ports, 1433, 1521, 2375, 3306, 3389, 4444, 5432, 5900, 5985, 6379, 8000, 8080, 8443, 9200, 27017)
	g.r.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
	for i, p := range ports {
		c := g.out(t+int64(i)*portScanMinutes*msPerMinute/int64(len(ports))+g.r.Int64N(100), v, target, p)
		g.probe(&c, p == 22 || p == 80 || p == 443)
		g.add(c)
	}
	l := Label{ID: id, AlertType: alertPortScan, IP: addr4(target).String()}
	l.Note = fmt.Sprintf("%s, compromised, SYN-scans %d ports of %s in %d minutes", b.name(v), len(ports), l.IP, portScanMinutes)
	b.commit(g, l, v)
}

// beacon: malware on one of our VMs calls its C2 server every minute.
func (b *flowBuilder) beacon(g *flowGen, id string, t int64) {
	v, c2 := b.vm(roleApp, 0), b.e.c2
	for end := t + beaconHours*msPerHour; t < end; t += beaconPeriodMs + int64(g.between(-6000, 6000)) {
		c := g.out(t, v, c2, 443)
		c.size(g.between(120, 900), g.between(5, 8), g.between(90, 200), g.between(4, 7), g.between(100, 300))
		g.add(c)
	}
	l := Label{ID: id, AlertType: alertC2, IP: addr4(c2).String()}
	l.Note = fmt.Sprintf("%s beacons to %s:443 every minute (±6 s) for %d hours: small TLS exchanges", b.name(v), l.IP, beaconHours)
	b.commit(g, l, v)
}

// mine: a miner keeps a stratum connection to a pool, reconnecting every
// hour or three.
func (b *flowBuilder) mine(g *flowGen, l Label, v int, pool uint32, port uint16, t int64) {
	end := min(t+miningHours*msPerHour, b.e.end-msPerHour)
	for t < end {
		c := g.out(t, v, pool, port)
		mins := min(g.between(60, 180), int((end-t)/msPerMinute)+1)
		c.size(mins*msPerMinute, mins*g.between(8, 14), g.between(90, 160), mins*g.between(6, 10), g.between(180, 320))
		g.add(c)
		t += int64(c.dur) + int64(g.between(5000, 30000))
	}
	l.IP = addr4(pool).String()
	b.commit(g, l, v)
}

func (b *flowBuilder) miningListed(g *flowGen, id string, t int64) {
	v := b.vm(roleDev, 3)
	l := Label{ID: id, AlertType: alertMining, Note: fmt.Sprintf("%s mines with a pool on the mining-pool list, stratum on port %d", b.name(v), stratumPort)}
	b.mine(g, l, v, b.e.pools[0], stratumPort, t)
}

func (b *flowBuilder) miningStratum(g *flowGen, id string, t int64) {
	v := b.vm(roleWeb, 1)
	l := Label{ID: id, AlertType: alertMining, Note: fmt.Sprintf("%s mines with a pool on no list: only the stratum port %d tells", b.name(v), stratumTLSPort)}
	b.mine(g, l, v, svcUnlisted, stratumTLSPort, t)
}

// lookAlikes labels the normal traffic that resembles an attack after the
// learning period, and scripts three look-alikes of its own.
func (b *flowBuilder) lookAlikes() {
	e := b.e
	n := 0
	benign := func(typ string, v int, ip string, from, to int64, note string) {
		n++
		b.label(Label{ID: fmt.Sprintf("NB%02d", n), Kind: LabelBenign, AlertType: typ, IP: ip, Note: note}, v, from, to)
	}
	for _, v := range e.byRole[roleBastion] {
		note := "the bastion: dozens of the office's SSH sessions every working hour, each jumping on to internal VMs"
		benign(alertSSHInMany, v, "", e.learnEnd, e.end, note)
		benign(alertSSHInOne, v, "", e.learnEnd, e.end, note)
		benign(alertSSHOutMany, v, "", e.learnEnd, e.end, note)
	}
	for _, v := range e.byRole[roleScanner] {
		for t := e.learnEnd / msPerHour * msPerHour; t < e.end; t += msPerHour {
			if scanStarts(t) && t >= e.learnEnd {
				note := "the weekly vulnerability scan of every VM's private address"
				to := min(t+(scanMinutes+1)*msPerMinute, e.end)
				benign(alertPortScan, v, "", t, to, note)
				benign(alertSSHOutMany, v, "", t, to, note)
				benign(alertRDPOutMany, v, "", t, to, note)
			}
		}
	}
	for _, v := range e.byRole[roleBuild] {
		for _, gh := range githubSSH {
			benign(alertSSHOutOne, v, gh, e.learnEnd, e.end, "a build agent fetches from GitHub over SSH dozens of times an hour")
		}
		benign(alertMining, v, "", e.learnEnd, e.end, "a build agent uses the artefact cache on port 4444 (a stratum port) of an app server")
	}
	for _, v := range e.byRole[roleApp] {
		benign(alertC2, v, addr4(svcQueue).String(), e.learnEnd, e.end, "an app server polls its queue every minute: small, periodic HTTPS")
	}
	b.flakyRDP(b.scenario(100), &n)
	b.typo(b.scenario(101), &n)
	b.prober(b.scenario(102), &n)
}

// workday returns the first moment at local hour:minute of a weekday at
// least a day after the learning period, or a time after the learning
// period when the estate has no such day.
func (b *flowBuilder) workday(hour, minute int) int64 {
	e := b.e
	for day := floorDiv(e.learnEnd+msPerDay+flowOfficeTZ*msPerHour, msPerDay); ; day++ {
		t := day*msPerDay - flowOfficeTZ*msPerHour + int64(hour)*msPerHour + int64(minute)*msPerMinute
		if t >= e.end-2*msPerHour {
			return e.learnEnd + 2*msPerHour
		}
		if wd := weekdayOf(day); wd != 0 && wd != 6 {
			return t
		}
	}
}

// flakyRDP: an administrator's VPN drops; RDP reconnects six times in a
// few minutes before the session holds.
func (b *flowBuilder) flakyRDP(g *flowGen, n *int) {
	v, office := b.vm(roleWindows, 0), g.pick(b.e.offices)
	t := b.workday(9, 12)
	for range 6 {
		c := g.in(t, v, office, 3389, ruleRDPIn)
		g.session(&c, 0)
		c.dur = int32(g.between(15_000, 50_000))
		g.add(c)
		t += int64(c.dur) + int64(g.between(3000, 15000))
	}
	c := g.in(t, v, office, 3389, ruleRDPIn)
	g.session(&c, 50)
	g.add(c)
	*n++
	b.commit(g, Label{ID: fmt.Sprintf("NB%02d", *n), Kind: LabelBenign, AlertType: alertRDPInOne, IP: addr4(office).String(),
		Note: "an administrator's VPN drops: RDP reconnects six times in a few minutes from the office"}, v)
}

// typo: an administrator mistypes the SSH password thrice, then logs in.
func (b *flowBuilder) typo(g *flowGen, n *int) {
	v, office := b.vm(roleDev, 0), g.pick(b.e.offices)
	t := b.workday(10, 41)
	for range 3 {
		c := g.in(t, v, office, 22, ruleSSHIn)
		g.login(&c, 22)
		g.add(c)
		t += int64(c.dur) + int64(g.between(4000, 12000))
	}
	c := g.in(t, v, office, 22, ruleSSHIn)
	g.session(&c, 35)
	g.add(c)
	*n++
	b.commit(g, Label{ID: fmt.Sprintf("NB%02d", *n), Kind: LabelBenign, AlertType: alertSSHInOne, IP: addr4(office).String(),
		Note: "an administrator mistypes the SSH password three times, then logs in"}, v)
}

// prober: a blocklisted address knocks on the web servers; the NSG drops
// all but one HTTPS request. Traffic from a bad address, not to it.
func (b *flowBuilder) prober(g *flowGen, n *int) {
	t := b.e.learnEnd + 30*msPerHour + g.r.Int64N(msPerHour)
	var answered []fconn
	for _, v := range b.e.byRole[roleWeb] {
		for range 15 {
			c := g.in(t+g.r.Int64N(30*msPerMinute), v, svcBlocked, probePorts[g.r.IntN(len(probePorts))], ruleDenyIn)
			g.denied(&c)
			g.add(c)
		}
		c := g.in(t+g.r.Int64N(30*msPerMinute), v, svcBlocked, 443, ruleHTTPSIn)
		g.short(&c)
		g.add(c)
		answered = append(answered, c)
	}
	*n++
	ip := addr4(svcBlocked).String()
	b.commit(g, Label{ID: fmt.Sprintf("NB%02d", *n), Kind: LabelBenign, AlertType: alertC2, IP: ip,
		Note: "a blocklisted address (ipsum score 4) probes the web servers: denied, but for one HTTPS request; no VM calls it"}, -1)
	// The answered requests are what Network_TrafficFromUnrecommendedIP
	// reports when the blocklist is loaded: rightly raised, never required.
	for _, c := range answered {
		b.label(Label{ID: fmt.Sprintf("NB%02d", *n), AlertType: alertUnrec, Also: []string{alertUnrec}, IP: ip,
			Note: "a web server answered the blocklisted prober's HTTPS request"}, int(c.vm), c.t0, c.t0+int64(c.dur))
		b.e.labels[len(b.e.labels)-1].MustFire = false
	}
}

// finish sorts the scripted connections and the labels and adds the
// learning periods.
func (b *flowBuilder) finish() {
	e := b.e
	for _, t := range flowBehavioural {
		b.label(Label{ID: "NL", Kind: LabelLearning, AlertType: t,
			Note: "the estate's learning period: every VM-day before its end is benign"}, -1, e.start, e.learnEnd)
	}
	slices.SortStableFunc(e.scripted, func(x, y fconn) int { return cmp.Compare(x.t0, y.t0) })
	slices.SortStableFunc(e.labels, func(x, y Label) int {
		if c := x.From.Compare(y.From); c != 0 {
			return c
		}
		return strings.Compare(x.ID+x.AlertType, y.ID+y.AlertType)
	})
}
