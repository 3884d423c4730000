package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
)

// The flow estate's model: virtual machines by role, the internet's
// address pools, NSG rules, and fconn, the compact connection every writer
// renders from.

type vmRole uint8

const (
	roleWeb     vmRole = iota // HTTPS from the internet
	roleApp                   // behind the web servers; polls a queue every minute
	roleSQL                   // databases of the app servers
	roleDNS                   // the VNets' resolvers, forwarding to public ones
	roleBastion               // SSH jump host for the office
	roleWindows               // Windows servers, RDP open to the internet
	roleDev                   // Linux development VMs, SSH open to the internet
	roleBuild                 // build agents: git over SSH, package mirrors
	roleScanner               // the weekly vulnerability scan of the VNets
	nRoles
)

var (
	roleNames  = [nRoles]string{"web", "app", "sql", "dns", "bastion", "windows", "dev", "build", "scanner"}
	roleCounts = [nRoles]int{6, 6, 2, 2, 1, 3, 5, 2, 1} // at scale 1 (dev: one of them is replaced mid-run)
	// roleProd says which roles live in the production subscriptions (the
	// others in the development ones).
	roleProd = [nRoles]bool{true, true, true, true, true, false, false, false, true}
)

// noVM marks an fconn without a second VM of ours.
const noVM = 0xffff

// flowSub is a subscription with its virtual network.
type flowSub struct {
	id, name, rg string
	vnetRID      string // as flow logs' targetResourceID carries it
	flowLogRID   string // the VNet flow log's resource ID (upper case)
	flowLogGUID  string
}

// flowVM is one virtual machine with one network interface.
type flowVM struct {
	name, rid        string
	nsgRID, nsgGUID  string
	mac              string
	role             vmRole
	sub              int
	priv, pub        uint32
	from, to         int64 // alive in [from, to), ms since the epoch
	offset           int64 // ms: spreads its periodic traffic over the minute / night
	privText, pubTxt string
}

func (v *flowVM) alive(t int64) bool { return t >= v.from && t < v.to }

// NSG rules that log a flow (indices in flowRules).
const (
	ruleInternetOut uint8 = iota
	ruleVnetOut
	ruleVnetIn
	ruleDenyIn
	ruleHTTPSIn
	ruleSSHIn
	ruleRDPIn
	ruleSSHCorp
	nRules
)

// flowRules are the rule names as flow logs carry them: Azure's default
// rules and the estate's own.
var flowRules = [nRules]string{
	"DefaultRule_AllowInternetOutBound", "DefaultRule_AllowVnetOutBound", "DefaultRule_AllowVnetInBound",
	"DefaultRule_DenyAllInBound", "UserRule_allow-https-inbound", "UserRule_allow-ssh-inbound",
	"UserRule_allow-rdp-inbound", "UserRule_allow-ssh-from-corp",
}

// TCP flags (tcpControlBits).
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	// tcpSession is a whole exchange: SYN, data, FIN, all acknowledged.
	tcpSession = tcpFIN | tcpSYN | tcpPSH | tcpACK
)

const (
	protoTCP = 6
	protoUDP = 17
)

// fconn is one connection: what every writer renders, as IPFIX records of
// each direction or flow-log tuples at each of our network interfaces.
type fconn struct {
	t0     int64  // start, ms since the Unix epoch
	dur    int32  // ms
	vm     uint16 // our VM: the initiator when out, else the responder
	peer   uint16 // our VM at the other end (east-west, vm initiates), or noVM
	remote uint32 // the other end's address when peer is noVM
	lport  uint16 // vm's port
	rport  uint16 // the other end's port
	proto  uint8
	out    bool // vm initiated it
	deny   bool // the NSG denied it: no reply
	rule   uint8
	flags  uint8 // TCP flags the initiator sent
	rflags uint8 // TCP flags the responder sent
	pkts   uint32
	rpkts  uint32
	bytes  uint64
	rbytes uint64
}

// Built-in addresses, checked against examples/intel by
// TestFlowAddressesAgainstIntel.
var (
	// builtinC2 is an ipsum.txt address with score 10, not a Tor exit.
	builtinC2 = "77.90.185.20"
	// builtinMiningPools are documentation addresses (RFC 5737): the
	// simulator names no real host a mining pool.
	builtinMiningPools = []string{"203.0.113.10", "203.0.113.11", "203.0.113.12"}
	// unlistedStratum is the host of the mining attack that is on no list:
	// only its stratum port gives it away.
	unlistedStratum = netip.MustParseAddr("198.51.100.77")
	// rdpAttacker is a hosting address on no list, like attackerVPS.
	rdpAttacker = "95.216.40.187"
)

// Address ranges (first three octets; hosts 1-254) of the estate and of
// the internet it talks to, none on the intel lists (checked by
// TestFlowRangesAreClean).
var (
	// flowPublicRanges hold the VMs' public addresses (Azure West Europe).
	flowPublicRanges = []string{"20.73.45", "20.103.76", "51.105.211", "52.157.134"}
	// clientRanges are the internet: web clients and background scanners.
	clientRanges = []string{
		"121.31.203", "31.113.23", "110.68.148", "91.73.60", "112.157.92", "62.96.190", "62.32.30", "118.105.254",
		"126.218.160", "94.232.185", "84.127.92", "151.124.41", "112.153.253", "212.175.229", "83.37.60", "99.214.84",
		"183.175.77", "218.250.215", "24.39.160", "86.179.254", "114.233.35", "191.47.138", "95.33.31", "178.158.228",
		"83.197.177", "5.236.181", "71.59.252", "31.111.147", "67.126.203", "90.254.41", "71.229.205", "110.142.70",
		"190.220.142", "176.212.183", "126.194.118", "68.42.90", "68.118.119", "2.248.93", "81.144.2", "68.214.189",
		"118.163.64", "151.27.233", "213.200.203", "90.201.53", "95.205.31", "77.34.106", "93.83.56", "86.26.52",
	}
	// botRanges are the compromised home routers of the botnet.
	botRanges = []string{
		"1.77.51", "179.13.36", "106.192.76", "115.177.186", "197.62.59", "202.238.245", "197.159.43", "60.52.175",
		"115.245.82", "210.11.105", "210.185.75", "211.13.152", "42.133.187", "61.182.114", "211.168.114", "103.122.205",
		"111.102.252", "177.14.14", "117.241.132", "103.176.228", "177.186.41", "111.52.116", "197.100.172", "106.247.0",
	}
	// victimRanges are the hosts a compromised VM attacks.
	victimRanges = []string{
		"192.176.43", "65.198.102", "192.91.222", "152.44.202", "174.205.43", "75.87.65", "15.77.238", "72.242.179",
		"74.67.10", "8.52.71", "167.99.108", "15.128.108", "143.123.166", "138.214.67", "34.181.234", "206.215.66",
	}
	// cdnRanges serve the build agents' packages.
	cdnRanges = []string{"151.101.1", "104.16.24", "185.199.108"}
	// Single services of the normal traffic.
	githubSSH      = []string{"140.82.121.3", "140.82.121.4"}
	publicDNS      = []string{"1.1.1.1", "8.8.8.8"}
	storageRange   = "20.60.222" // the nightly backups' storage accounts
	monitorRange   = "20.50.65"  // Azure Monitor ingestion, every 5 minutes
	queueRange     = "52.236.186"
	updateRange    = "20.126.5"
	flowOfficeSite = []string{officeRanges[0], officeRanges[2]}
)

// flowOfficeTZ is the office's offset from UTC, in hours.
const flowOfficeTZ = 1

// host returns address h of a range ("a.b.c").
func host(rng string, h int) uint32 {
	return v4(netip.MustParseAddr(rng + "." + strconv.Itoa(h)))
}

// pool returns every host 1-254 of the ranges.
func pool(ranges []string) []uint32 {
	out := make([]uint32, 0, len(ranges)*254)
	for _, r := range ranges {
		base := host(r, 0)
		for h := uint32(1); h < 255; h++ {
			out = append(out, base+h)
		}
	}
	return out
}

func hosts(list []string) []uint32 {
	out := make([]uint32, len(list))
	for i, s := range list {
		out[i] = v4(netip.MustParseAddr(s))
	}
	return out
}

// Services of the normal traffic, resolved once.
var (
	svcGitHub    = hosts(githubSSH)
	svcDNS       = hosts(publicDNS)
	svcStorage   = host(storageRange, 0)
	svcMonitor   = host(monitorRange, 0)
	svcQueue     = host(queueRange, 38)
	svcUpdate    = host(updateRange, 0)
	svcUnlisted  = v4(unlistedStratum)
	svcAttackSSH = v4(netip.MustParseAddr(attackerVPS))
	svcAttackRDP = v4(netip.MustParseAddr(rdpAttacker))
	svcBlocked   = v4(netip.MustParseAddr(builtinBlocklisted[0]))
)

// flowBuilder builds a FlowEstate.
type flowBuilder struct {
	e   *FlowEstate
	r   *rand.Rand
	pub int      // public addresses handed out
	g   *flowGen // the scenarios' generator
}

func newFlowBuilder(e *FlowEstate) *flowBuilder {
	return &flowBuilder{e: e, r: rand.New(rand.NewPCG(e.opts.Seed, 0xf10e5))}
}

// entities builds the subscriptions, VMs and address pools.
func (b *flowBuilder) entities() {
	e, r := b.e, b.r
	e.clients, e.bots, e.victims, e.cdn = pool(clientRanges), pool(botRanges), pool(victimRanges), pool(cdnRanges)
	for _, rng := range flowOfficeSite {
		for h := 1; h <= 14; h++ {
			e.offices = append(e.offices, host(rng, h))
		}
	}
	nsubs := 2 * max(1, int(math.Round(e.opts.Scale))) // pairs of prod and dev
	for i := range nsubs {
		env := "prod"
		if i%2 == 1 {
			env = "dev"
		}
		s := flowSub{id: guid(r), name: "contoso-" + env + "-" + strconv.Itoa(i/2+1)}
		s.rg = "rg-" + s.name
		vnet := "vnet-" + s.name
		s.vnetRID = "/subscriptions/" + s.id + "/resourceGroups/" + s.rg + "/providers/Microsoft.Network/virtualNetworks/" + vnet
		s.flowLogRID = "/SUBSCRIPTIONS/" + s.id + "/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/" + strings.ToUpper(vnet+"-flowlog")
		s.flowLogGUID = guid(r)
		e.subs = append(e.subs, s)
	}
	perSub := make([][nRoles]int, nsubs)
	for role := range nRoles {
		n := max(1, int(math.Round(float64(roleCounts[role])*e.opts.Scale)))
		if role == roleDev {
			n = max(n, 2)
		}
		for i := range n {
			b.addVM(vmRole(role), i, perSub)
		}
	}
	// The last dev VM is deleted a third of the way after the learning
	// period; a new one gets its public address minutes later.
	old := e.byRole[roleDev][len(e.byRole[roleDev])-1]
	at := e.learnEnd + (e.end-e.learnEnd)/3/msPerHour*msPerHour + 17*msPerMinute
	e.vms[old].to = at
	nv := b.addVM(roleDev, len(e.byRole[roleDev]), perSub)
	e.vms[nv].from, e.vms[nv].pub = at+8*msPerMinute, e.vms[old].pub
	e.vms[nv].pubTxt = e.vms[old].pubTxt
	e.replaced, e.successor = old, nv
}

// addVM adds VM number i of a role and returns its index.
func (b *flowBuilder) addVM(role vmRole, i int, perSub [][nRoles]int) int {
	e, r := b.e, b.r
	si := 2*i%len(e.subs) + 1 // even subscriptions are prod, odd ones dev
	if roleProd[role] {
		si--
	}
	k := perSub[si][role]
	perSub[si][role]++
	s := &e.subs[si]
	name := roleNames[role] + "-" + fmt.Sprintf("%02d", i+1)
	if role == roleWindows {
		name = "win-" + fmt.Sprintf("%02d", i+1)
	}
	v := flowVM{
		name: name, role: role, sub: si,
		rid:     "/subscriptions/" + s.id + "/resourceGroups/" + s.rg + "/providers/Microsoft.Compute/virtualMachines/" + name,
		nsgRID:  "/SUBSCRIPTIONS/" + s.id + "/RESOURCEGROUPS/" + strings.ToUpper(s.rg) + "/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/" + strings.ToUpper(name+"-nsg"),
		nsgGUID: guid(r),
		mac:     "000D3A" + strings.ToUpper(hexN(r, 6)),
		priv:    10<<24 | uint32(si)<<16 | uint32(int(role)*8+k/250)<<8 | uint32(4+k%250),
		pub:     host(flowPublicRanges[b.pub/240%len(flowPublicRanges)], 10+b.pub%240),
		from:    math.MinInt64, to: math.MaxInt64,
		offset: r.Int64N(msPerMinute * 5),
	}
	b.pub++
	v.privText, v.pubTxt = addr4(v.priv).String(), addr4(v.pub).String()
	e.vms = append(e.vms, v)
	n := len(e.vms) - 1
	e.byRole[role] = append(e.byRole[role], n)
	return n
}

// ours returns the address of vm the other end sees: the private one
// east-west, the public one on the internet.
func (e *FlowEstate) ours(c *fconn) uint32 {
	if c.peer != noVM {
		return e.vms[c.vm].priv
	}
	return e.vms[c.vm].pub
}

// other returns the other end's address as the exporter sees it.
func (e *FlowEstate) other(c *fconn) uint32 {
	if c.peer != noVM {
		return e.vms[c.peer].priv
	}
	return c.remote
}
