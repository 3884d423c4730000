package simulate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// FlowEstateOptions configure NewFlowEstate. The zero value is the default
// flow estate: two subscriptions with 30 virtual machines over 21 days from
// Monday 2026-11-02, a 7-day learning period, every attack injected,
// unsampled IPFIX, seed 0.
type FlowEstateOptions struct {
	// Seed makes the estate and everything written from it reproducible.
	Seed uint64
	// Start is the event time of the first hour; zero means
	// 2026-11-02T00:00:00Z (a Monday). It is truncated to the hour, in UTC.
	Start time.Time
	// Days is how many days of traffic to write; 0 means 21. It must leave
	// at least two days after the learning period.
	Days int
	// LearningDays is the learning period: no attack or labelled look-alike
	// happens in it. 0 means 7.
	LearningDays int
	// Scale multiplies the virtual machines of every role (and so the
	// volume); 0 means 1, at most 30.
	Scale float64
	// SamplingRate is the IPFIX exporter's 1-in-N packet sampling: 0 or 1
	// exports every packet; N > 1 exports about one packet in N of each
	// flow (flows none of whose packets were sampled are not exported) and
	// announces N in an options record. Flow logs are never sampled.
	SamplingRate uint32
	// C2 is the command-and-control server the beacons go to; "" means the
	// built-in one (on examples/intel/ipsum.txt with score 10, not a Tor
	// exit). IPv4 only.
	C2 string
	// MiningPools are the mining pools' addresses (the list MiningPools and
	// WriteMiningPools give for the detections' intel); nil means the
	// built-in ones, in 203.0.113.0/24 (TEST-NET-3). IPv4 only.
	MiningPools []string
	// NoScenarios writes only the normal traffic: no attacks and no
	// labelled look-alikes (Labels then holds only the learning periods).
	NoScenarios bool
}

// FlowVM describes one virtual machine of a flow estate.
type FlowVM struct {
	Name string
	// Role is what the machine does: web, app, sql, dns, bastion, windows
	// (servers administered over RDP), dev (Linux development machines
	// with SSH open to the internet), build or scanner.
	Role           string
	ResourceID     string
	SubscriptionID string
	// PrivateIP is the address in flow logs and east-west IPFIX records;
	// PublicIP the one internet traffic carries in IPFIX records.
	PrivateIP, PublicIP netip.Addr
	// Created and Deleted bound the machine's life: zero Created means
	// before the estate's start, zero Deleted after its end.
	Created, Deleted time.Time
	// NSG is the resource ID of its network security group as flow logs
	// carry it (upper case); MAC its network interface's address.
	NSG, MAC string
}

// FlowStats counts what a flow writer wrote.
type FlowStats struct {
	// Connections are the simulated connections, each written as one or
	// more records.
	Connections int64
	// Records are the IPFIX data records (one a direction of a connection
	// and active-timeout interval) or the flow-log tuples written.
	Records int64
	// Messages are the IPFIX messages (one a datagram) or flow-log JSON
	// records written.
	Messages int64
	// Bytes is what went to the writer (pcap or JSON), 0 for Flows and
	// IPFIXDatagrams.
	Bytes int64
}

// FlowEstate is a simulated Azure network estate: virtual machines in
// subscriptions with their normal traffic, and labelled attacks and benign
// look-alikes, for the network-layer detections. It is immutable once
// built: every writer may be called any number of times, also
// concurrently, and writes the same bytes.
//
// # Estate
//
// Pairs of subscriptions (production and development), each with a VNet;
// every VM has a private and a public address and its own NSG. The
// default (Scale 1) has 6 web servers, 6 app servers, 2 databases, 2 DNS
// resolvers, a bastion, 3 Windows servers, 5 Linux development VMs, 2
// build agents and a vulnerability scanner. A third of the way after the
// learning period one development VM is deleted and a new one gets its
// public address minutes later: WriteAssets names each for its time.
//
// # Normal traffic
//
// Web servers receive HTTPS from internet clients (by the hour of day in
// the office's time zone, less at weekends) and half of the requests call
// an app server; app servers poll a queue every minute and keep pooled
// connections to the databases; every VM resolves names through the
// VNet's resolvers (which forward a share to public resolvers), reports to
// Azure Monitor every five minutes, checks for updates once a day and
// backs up to storage nightly. The office (UTC+1) reaches the bastion by
// SSH dozens of times a working hour, each session jumping on to Linux
// VMs, and administers Windows servers (RDP) and development VMs (SSH);
// build agents fetch from GitHub over SSH, download packages and use an
// artefact cache on an app server's port 4444, in working hours and a
// nightly build. The scanner sweeps every VM's private address on 41
// ports every Sunday at 02:00 UTC. The internet's background scanners
// knock on every public address, mostly on denied ports; development VMs
// (SSH) and Windows servers (RDP) are open to the internet and see a
// failed login or two an hour.
//
// # Scenarios
//
// After the learning period, each on its own slot: SSH and RDP brute force
// from one address (400 failed logins), from a botnet of 150 addresses
// (the SSH one on the address that moved, after the move), from a
// compromised VM to one outside host and sweeping 400 (labelled Also
// PortScanning), a SYN scan of 1,039 ports, a beacon every minute for 8
// hours to a C2 server, and mining for up to 20 hours with a listed pool
// on port 3333 and with an unlisted host on port 14444. Benign look-alikes
// (MustFire false): the bastion's SSH volume, the weekly scan, build
// agents' git over SSH and port 4444, app servers' minute-by-minute
// polling, an administrator's flapping RDP and mistyped SSH password, and a
// blocklisted address probing the web servers.
//
// # Output
//
// One exporter on the path of all traffic writes IPFIX: each direction of
// a connection a record, split at a 60-second active timeout (internet
// traffic with the VMs' public addresses, east-west with private ones).
// Flow logs are written at each VM's interface with private addresses: B,
// C every five minutes and E tuples, D (NSG: B with decision D) for
// denied flows. Every writer streams an hour at a time and writes millions
// of records a second (BenchmarkFlowIPFIXPcap, BenchmarkFlowLog).
type FlowEstate struct {
	opts                 FlowEstateOptions
	start, end, learnEnd int64 // ms since the Unix epoch
	hours                int
	subs                 []flowSub
	vms                  []flowVM
	byRole               [nRoles][]int
	clients, bots        []uint32 // internet address pools
	victims, cdn         []uint32
	offices              []uint32
	c2                   uint32
	pools                []uint32
	replaced, successor  int // the VM whose public IP is reassigned, and the one that gets it
	scripted             []fconn
	labels               []Label
}

// Defaults and limits of a flow estate.
const (
	maxFlowScale = 30
	maxSampling  = 1 << 20
	msPerMinute  = 60_000
	msPerHour    = 60 * msPerMinute
	msPerDay     = 24 * msPerHour
)

// NewFlowEstate builds the flow estate the options describe. It fails on
// options out of range (too few days for the learning period and the
// attacks, a scale out of (0, 30], an address that is not IPv4).
func NewFlowEstate(opts FlowEstateOptions) (*FlowEstate, error) {
	if err := normalisePeriod(&opts.Start, &opts.Days, &opts.LearningDays, &opts.Scale); err != nil {
		return nil, err
	}
	switch {
	case opts.Scale < 0 || math.IsNaN(opts.Scale) || opts.Scale > maxFlowScale:
		return nil, fmt.Errorf("simulate: scale %v out of range (0, %d]", opts.Scale, maxFlowScale)
	case opts.SamplingRate > maxSampling:
		return nil, fmt.Errorf("simulate: sampling rate %d out of range [0, %d]", opts.SamplingRate, maxSampling)
	}
	if opts.C2 == "" {
		opts.C2 = builtinC2
	}
	if opts.MiningPools == nil {
		opts.MiningPools = builtinMiningPools
	}
	e := &FlowEstate{
		opts:  opts,
		start: opts.Start.UnixMilli(),
		hours: opts.Days * 24,
	}
	e.end = e.start + int64(e.hours)*msPerHour
	e.learnEnd = e.start + int64(opts.LearningDays)*msPerDay
	c2, err := parseIPv4s("C2 address", []string{opts.C2})
	if err != nil {
		return nil, err
	}
	e.c2 = c2[0]
	if e.pools, err = parseIPv4s("mining pool", opts.MiningPools); err != nil {
		return nil, err
	}
	b := newFlowBuilder(e)
	b.entities()
	if !opts.NoScenarios {
		b.scenarios()
	}
	b.finish()
	return e, nil
}

// parseIPv4s parses a list of IPv4 addresses; it must not be empty.
func parseIPv4s(what string, list []string) ([]uint32, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("simulate: need at least one %s", what)
	}
	out := make([]uint32, 0, len(list))
	for _, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("simulate: %s: %w", what, err)
		}
		if !a.Is4() {
			return nil, fmt.Errorf("simulate: %s %s: only IPv4 addresses are simulated", what, s)
		}
		out = append(out, v4(a))
	}
	return out, nil
}

// Start is the event time of the first hour written.
func (e *FlowEstate) Start() time.Time { return e.opts.Start }

// End is the event time just after the last flow written.
func (e *FlowEstate) End() time.Time { return msTime(e.end) }

// LearningEnd is when the learning period ends; no scenario happens before.
func (e *FlowEstate) LearningEnd() time.Time { return msTime(e.learnEnd) }

// VMs describes every virtual machine, in a stable order.
func (e *FlowEstate) VMs() []FlowVM {
	out := make([]FlowVM, len(e.vms))
	for i := range e.vms {
		v := &e.vms[i]
		out[i] = FlowVM{
			Name: v.name, Role: roleNames[v.role], ResourceID: v.rid, SubscriptionID: e.subs[v.sub].id,
			PrivateIP: addr4(v.priv), PublicIP: addr4(v.pub), NSG: v.nsgRID, MAC: v.mac,
		}
		if v.from > e.start {
			out[i].Created = msTime(v.from)
		}
		if v.to < e.end {
			out[i].Deleted = msTime(v.to)
		}
	}
	return out
}

// Labels returns what must and must not be detected, in time order: every
// injected attack (MustFire true, Resource the VM, IP the remote address
// when there is one), every benign look-alike (MustFire false) and the
// learning periods of the behavioural alert types (Kind "learning").
func (e *FlowEstate) Labels() []Label { return slices.Clone(e.labels) }

// WriteLabels writes the labels to w as JSON lines.
func (e *FlowEstate) WriteLabels(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range e.labels {
		if err := enc.Encode(&e.labels[i]); err != nil {
			return fmt.Errorf("simulate: write labels: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("simulate: write labels: %w", err)
	}
	return nil
}

// AssetsHeader is the header line of the assets inventory WriteAssets writes.
const AssetsHeader = "ip,resource_id,subscription_id,valid_from,valid_to"

// WriteAssets writes the inventory detections attribute addresses with: a
// CSV with the header AssetsHeader and a row for each private and public
// address of each VM, valid_from and valid_to in RFC 3339 (empty: open),
// so an address that moved from one VM to another names each for its time.
func (e *FlowEstate) WriteAssets(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(AssetsHeader + "\n")
	row := func(a uint32, v *flowVM) {
		var b [64]byte
		bw.Write(addr4(a).AppendTo(b[:0]))
		bw.WriteString("," + v.rid + "," + e.subs[v.sub].id + ",")
		if v.from > e.start {
			bw.WriteString(msTime(v.from).Format(time.RFC3339))
		}
		bw.WriteByte(',')
		if v.to < e.end {
			bw.WriteString(msTime(v.to).Format(time.RFC3339))
		}
		bw.WriteByte('\n')
	}
	for i := range e.vms {
		row(e.vms[i].priv, &e.vms[i])
		row(e.vms[i].pub, &e.vms[i])
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("simulate: write assets: %w", err)
	}
	return nil
}

// MiningPools returns the mining pools' addresses: give them to the
// detections as intel of category mining-pool (WriteMiningPools). One
// mining attack goes to a pool on this list; the other to an address that
// is not on it, on a stratum port.
func (e *FlowEstate) MiningPools() []string { return strs(e.pools) }

// WriteMiningPools writes MiningPools one address a line, as an intel list.
func (e *FlowEstate) WriteMiningPools(w io.Writer) error {
	_, err := io.WriteString(w, "# mining pools of the simulated flow estate\n"+strings.Join(e.MiningPools(), "\n")+"\n")
	if err != nil {
		return fmt.Errorf("simulate: write mining pools: %w", err)
	}
	return nil
}

// C2Addresses returns the command-and-control addresses the beacons go to
// (on examples/intel/ipsum.txt with a high score unless the options gave
// another).
func (e *FlowEstate) C2Addresses() []string { return strs([]uint32{e.c2}) }

// WriteC2Addresses writes C2Addresses one a line, as an intel list of
// category c2.
func (e *FlowEstate) WriteC2Addresses(w io.Writer) error {
	_, err := io.WriteString(w, "# command-and-control servers of the simulated flow estate\n"+strings.Join(e.C2Addresses(), "\n")+"\n")
	if err != nil {
		return fmt.Errorf("simulate: write C2 addresses: %w", err)
	}
	return nil
}

// BenignResourceDays is the VM-days of traffic after the learning period
// (each VM counted while it exists): the span over which a false-positive
// rate per resource-day is fair.
func (e *FlowEstate) BenignResourceDays() float64 {
	var ms int64
	for i := range e.vms {
		from, to := max(e.vms[i].from, e.learnEnd), min(e.vms[i].to, e.end)
		if to > from {
			ms += to - from
		}
	}
	return float64(ms) / msPerDay
}

func strs(a []uint32) []string {
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = addr4(x).String()
	}
	return out
}

// msTime converts milliseconds since the Unix epoch to a UTC time.
func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// v4 returns an IPv4 address as a big-endian integer.
func v4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// addr4 is the inverse of v4.
func addr4(x uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
}
