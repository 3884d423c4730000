package network

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/gaissmai/bart"

	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// Alert types (catalogue ids: Defender's, and Partner Center's CryptoMining).
const (
	TypeSSHIncomingOneToOne  = "SSH_Incoming_BF_OneToOne"
	TypeSSHIncomingManyToOne = "SSH_Incoming_BF_ManyToOne"
	TypeRDPIncomingOneToOne  = "RDP_Incoming_BF_OneToOne"
	TypeRDPIncomingManyToOne = "RDP_Incoming_BF_ManyToOne"
	TypeSSHOutgoingOneToOne  = "SSH_Outgoing_BF_OneToOne"
	TypeSSHOutgoingOneToMany = "SSH_Outgoing_BF_OneToMany"
	TypeRDPOutgoingOneToOne  = "RDP_Outgoing_BF_OneToOne"
	TypeRDPOutgoingOneToMany = "RDP_Outgoing_BF_OneToMany"
	TypePortScanning         = "PortScanning"
	TypeCommunicationWithC2  = "Network_CommunicationWithC2"
	TypeCryptoMining         = "CryptoMining"
	TypeUnrecommendedIP      = "Network_TrafficFromUnrecommendedIP"
)

// Types lists every alert type the package emits.
var Types = []string{
	TypeSSHIncomingOneToOne, TypeSSHIncomingManyToOne, TypeRDPIncomingOneToOne, TypeRDPIncomingManyToOne,
	TypeSSHOutgoingOneToOne, TypeSSHOutgoingOneToMany, TypeRDPOutgoingOneToOne, TypeRDPOutgoingOneToMany,
	TypePortScanning, TypeCommunicationWithC2, TypeCryptoMining, TypeUnrecommendedIP,
}

// Detector names (detect.Detector.Name, used in snapshots and metrics).
const (
	NameInbound  = "network-inbound"
	NameOutbound = "network-outbound"
	NameIntel    = "network-intel"
)

// Attributor says which of our resources held an address at a time. Network
// alerts fire only for an address one of our resources held during the hour
// of the traffic (seed 004), and name that resource. It must be safe for
// concurrent use: every engine worker calls it.
type Attributor interface {
	Attribute(addr netip.Addr, t time.Time) (resourceID, subscriptionID string, ok bool)
}

// Intel is a threat-intelligence index (enrich/intel.Index satisfies it):
// the lists naming an address, as a shared read-only slice, without
// allocating. It must be safe for concurrent use.
type Intel interface {
	Lookup(addr netip.Addr) []event.IntelHit
}

// Config holds the settings of every network detection. The zero value is
// not useful: start from DefaultConfig (the YAML file is decoded over it).
type Config struct {
	// MaxEvidence is the most flow records one candidate carries. Default 20.
	MaxEvidence int `yaml:"maxEvidence"`
	// SSHPorts and RDPPorts are the TCP destination ports of the two
	// services the brute-force detections watch. Defaults [22] and [3389].
	SSHPorts []uint16 `yaml:"sshPorts"`
	RDPPorts []uint16 `yaml:"rdpPorts"`
	// TrustedNetworks are addresses or CIDRs whose traffic never counts as
	// an attack: administrators' ranges, scanners you run. Default
	// [168.63.129.16/32], Azure's platform address from which load balancer
	// health probes come ("What is IP address 168.63.129.16?", Microsoft
	// Learn): a probe every 5 s on port 22 looks like a failed connection
	// a time.
	TrustedNetworks []string `yaml:"trustedNetworks"`
	// IncludeInternal also counts flows whose remote side is one of our
	// addresses (east-west traffic). Default false: the network-layer
	// alerts are about traffic with the outside.
	IncludeInternal bool `yaml:"includeInternal"`
	// Attempt says when a full (unsampled) connection counts as a failed
	// attempt rather than a session.
	Attempt Attempt `yaml:"attempt"`
	// SamplingConfidence is z of the one-sided lower confidence bound used
	// on counts estimated from sampled flows; 0 uses the point estimate.
	// Default 1.645 (95%).
	SamplingConfidence float64 `yaml:"samplingConfidence"`
	// Sampling configures the decisions on sampled records.
	Sampling Sampling `yaml:"sampling"`
	// Baseline makes thresholds relative to what each address usually sees.
	Baseline Baseline `yaml:"baseline"`
	// Mute is how long after a candidate the same resource and peer (or, for
	// the many-peers detections, the same resource) raises no new one: the
	// rest of the activity within Mute becomes one summary candidate when it
	// ends. Default 1h ("once per resource and peer per hour").
	Mute time.Duration `yaml:"mute"`
	// MaxPeers bounds the remote addresses (targets, for port scanning)
	// followed per address of ours and service, about 400 bytes each.
	// Default 4096.
	MaxPeers int `yaml:"maxPeers"`

	Incoming     Incoming     `yaml:"incoming"`
	Outgoing     Outgoing     `yaml:"outgoing"`
	PortScanning PortScanning `yaml:"portScanning"`
	C2           C2           `yaml:"c2"`
	CryptoMining CryptoMining `yaml:"cryptoMining"`
	// UnrecommendedIP configures Network_TrafficFromUnrecommendedIP.
	UnrecommendedIP UnrecommendedIP `yaml:"unrecommendedIp"`
}

// Attempt says which unsampled connections are failed logins. A TCP
// connection that completed its handshake and carried at most MaxPackets
// packets and MaxBytes bytes in at most MaxDuration is one (a password
// tried and refused). A larger one within Repeated's bounds is one when it
// repeats the shape of the same peer's previous such connection (packets
// and bytes within RepeatTolerance of each other), as a tool trying
// password after password does; the first of them counts then too. Anything
// else is a session. Defaults 20 packets, 5000 bytes and 12 s: the upper
// bounds of CSIRT-MU Stream4Flow's ssh_auth_simple (10-20 packets,
// 1800-5000 bytes, under 12 s per flow); Repeated 40 packets, 8000 bytes,
// 25 s, since real tools keep a connection for several tries (the failed
// logins of Zeek's testing trace ssh/sshguess.pcap carry 22-26 packets and
// up to 4.3 KB over up to 10 s, see testdata/PROVENANCE.md; public labelled
// captures show up to about 35 packets and 20 s); RepeatTolerance 0.2.
// Repeated.MaxPackets is also the most packets a failed login is assumed to
// have under sampling (see Sampling).
type Attempt struct {
	MaxPackets      uint64        `yaml:"maxPackets"`
	MaxBytes        uint64        `yaml:"maxBytes"`
	MaxDuration     time.Duration `yaml:"maxDuration"`
	Repeated        Bounds        `yaml:"repeated"`
	RepeatTolerance float64       `yaml:"repeatTolerance"`
}

// Bounds bound a connection's size and length.
type Bounds struct {
	MaxPackets  uint64        `yaml:"maxPackets"`
	MaxBytes    uint64        `yaml:"maxBytes"`
	MaxDuration time.Duration `yaml:"maxDuration"`
}

// Baseline configures the per-address baselines ("abnormal for this
// environment"): for each address of ours, service and direction, the usual
// hourly count of attempts and of distinct peers per hour of the week
// (baseline.Rate, EWMA). Once an hour of the week has MinWeeks weeks of
// history, a threshold over a window W is raised to
// (Expected + MinZ x Spread) x W / 1h when that is higher, so a bastion
// host that always receives many connections does not fire on its usual
// volume.
type Baseline struct {
	// Enabled turns the baselines on. Default true.
	Enabled bool `yaml:"enabled"`
	// MinZ is how many spreads above the usual count a window must be.
	// Default 4 (package baseline: Z >= 4 flags 0.1-0.25% of normal hours).
	MinZ float64 `yaml:"minZ"`
	// MinWeeks is the history an hour of the week needs. Default 3
	// (baseline.DefaultMinWeeks).
	MinWeeks int `yaml:"minWeeks"`
	// Forget drops the state of an address of ours silent for this long.
	// Default 30 days (the look-back of baseline's seen sets).
	Forget time.Duration `yaml:"forget"`
}

// Threshold is a count that must be reached within a sliding window. The
// window is measured in six buckets (it slides by a sixth of its length)
// and covers between five and six sixths of Window.
type Threshold struct {
	Window time.Duration `yaml:"window"`
	Min    int           `yaml:"min"`
}

// OneToOne thresholds connection attempts between one pair of addresses:
// either window fires.
type OneToOne struct {
	Short Threshold `yaml:"short"`
	Long  Threshold `yaml:"long"`
}

// Incoming configures SSH_/RDP_Incoming_BF_OneToOne (attempts from one
// outside address to one of ours) and _ManyToOne (distinct outside addresses
// with failed attempts to one of ours: a botnet).
type Incoming struct {
	// Enabled turns both on. Default true.
	Enabled bool `yaml:"enabled"`
	// OneToOne defaults: >= 25 attempts in 5m or >= 30 in 30m. Peers fire
	// lower on unsampled logs of one service (Stream4Flow: 10 flows per pair
	// in 5 min; Sumo Logic CSE "RDP Brute Force Attempt": 15 in 5m); a flow
	// counts connections, and clients retry, so Vigil starts higher.
	OneToOne OneToOne `yaml:"oneToOne"`
	// ManyToOne default: >= 25 distinct sources in 30m. Bots of a
	// distributed brute force each stay under per-source limits, so the
	// window is the long one.
	ManyToOne Threshold `yaml:"manyToOne"`
}

// Outgoing configures SSH_/RDP_Outgoing_BF_OneToOne (attempts from one of
// ours to one outside address) and _OneToMany (one of ours with failed
// attempts to many outside addresses: a sweep).
type Outgoing struct {
	// Enabled turns both on. Default true.
	Enabled bool `yaml:"enabled"`
	// OneToOne defaults as Incoming's.
	OneToOne OneToOne `yaml:"oneToOne"`
	// OneToMany default: >= 25 distinct destinations in 5m.
	OneToMany Threshold `yaml:"oneToMany"`
}

// PortScanning configures PortScanning: one of ours whose connection
// attempts fail to many distinct targets (host and port: a sweep of one
// port over many hosts, or many ports of one host). Only failed TCP
// initiations count: flows with SYN and no ACK (or, without TCP flags, short
// flows from an ephemeral port, unsampled only). The SSH and RDP ports are
// left to the OneToMany detections when Outgoing is enabled.
type PortScanning struct {
	// Enabled turns it on. Default true.
	Enabled bool `yaml:"enabled"`
	// Targets default: >= 25 distinct targets in 5m.
	Targets Threshold `yaml:"targets"`
}

// C2 configures Network_CommunicationWithC2: one of ours contacting an
// address that threat intelligence lists in Categories (scored lists'
// entries need at least MinScore). Only connections our resource opens
// count (seed 004: "communication from a resource in your deployment with a
// possible C&C server"), failed SYNs included: an incoming packet from a
// listed address says nothing of our machine, and neither do the replies
// of our listening ports to it (see initiated).
type C2 struct {
	// Enabled turns it on. Default true.
	Enabled bool `yaml:"enabled"`
	// Categories default ["c2"]. "malicious" lists (ipsum) mostly name
	// scanners and brute forcers, which every public address talks to
	// when it answers them: add it only with a high MinScore.
	Categories []string `yaml:"categories"`
	// MinScore default 0 (unscored C2 lists match on category alone).
	MinScore int `yaml:"minScore"`
}

// CryptoMining configures CryptoMining (Partner Center's
// networkConnectionsToCryptoMiningPools): one of ours connecting to a mining
// pool, known by address (intelligence category "mining-pool", e.g. vigil's
// --mining-pools list, or Pools here) or by a sustained connection to a
// stratum port.
type CryptoMining struct {
	// Enabled turns it on. Default true.
	Enabled bool `yaml:"enabled"`
	// Pools are pool addresses or CIDRs, in addition to intelligence lists.
	Pools []string `yaml:"pools"`
	// Categories of intelligence that name pools. Default ["mining-pool"].
	Categories []string `yaml:"categories"`
	// StratumPorts are the pool ports a connection to an unlisted address
	// is judged on. Default [3333, 4444, 5555, 7777, 14433, 14444, 45560,
	// 45700]: the pool ports of Falco's miner_ports list
	// (falcosecurity/rules) and of Maltrail's crypto_mining trail
	// (stamparm/maltrail), without those that are common service ports
	// (25, 80xx, 8333, 8888, 9999...). A port alone is weak evidence: it
	// counts only as an answered connection, sustained (MinStratumFlows
	// flow records or MinStratumDuration of connection within Window), and
	// such a candidate has severity medium instead of the catalogue's high.
	StratumPorts []uint16 `yaml:"stratumPorts"`
	// MinStratumFlows default 4; MinStratumDuration default 15m; Window 1h.
	MinStratumFlows    int           `yaml:"minStratumFlows"`
	MinStratumDuration time.Duration `yaml:"minStratumDuration"`
	Window             time.Duration `yaml:"window"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	oneToOne := OneToOne{Short: Threshold{5 * time.Minute, 25}, Long: Threshold{30 * time.Minute, 30}}
	return Config{
		MaxEvidence:     20,
		SSHPorts:        []uint16{22},
		RDPPorts:        []uint16{3389},
		TrustedNetworks: []string{"168.63.129.16/32"},
		Attempt: Attempt{MaxPackets: 20, MaxBytes: 5000, MaxDuration: 12 * time.Second,
			Repeated: Bounds{MaxPackets: 40, MaxBytes: 8000, MaxDuration: 25 * time.Second}, RepeatTolerance: 0.2},
		SamplingConfidence: 1.645,
		Sampling:           Sampling{MinRecords: 5, PerRate: 18 * time.Second, MaxWindow: time.Hour, ScaleAfter: 30 * time.Minute},
		Baseline:           Baseline{Enabled: true, MinZ: 4, MinWeeks: 3, Forget: 30 * 24 * time.Hour},
		Mute:               time.Hour,
		MaxPeers:           4096,
		Incoming:           Incoming{Enabled: true, OneToOne: oneToOne, ManyToOne: Threshold{30 * time.Minute, 25}},
		Outgoing:           Outgoing{Enabled: true, OneToOne: oneToOne, OneToMany: Threshold{5 * time.Minute, 25}},
		PortScanning:       PortScanning{Enabled: true, Targets: Threshold{5 * time.Minute, 25}},
		C2:                 C2{Enabled: true, Categories: []string{"c2"}},
		UnrecommendedIP: UnrecommendedIP{Enabled: true, Categories: []string{"malicious"}, MinScore: 3,
			Window: 24 * time.Hour, MaxFlows: 100},
		CryptoMining: CryptoMining{
			Enabled:            true,
			Categories:         []string{"mining-pool"},
			StratumPorts:       []uint16{3333, 4444, 5555, 7777, 14433, 14444, 45560, 45700},
			MinStratumFlows:    4,
			MinStratumDuration: 15 * time.Minute,
			Window:             time.Hour,
		},
	}
}

// minWindow is the shortest window: six buckets of at least a second.
const minWindow = 6 * time.Second

// maxPeersLimit bounds MaxPeers (memory: about 400 bytes a peer).
const maxPeersLimit = 1 << 20

// Validate checks values the types alone cannot.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	threshold := func(name string, t Threshold) {
		if t.Window < minWindow {
			add("%s.window must be >= %s, got %s", name, minWindow, t.Window)
		}
		if t.Min < 1 {
			add("%s.min must be >= 1, got %d", name, t.Min)
		}
	}
	ports := func(name string, ps []uint16, required bool) {
		if required && len(ps) == 0 {
			add("%s is empty", name)
		}
		if slices.Contains(ps, 0) {
			add("%s: port 0 is not a port", name)
		}
	}
	categories := func(name string, cs []string, enabled bool) {
		if enabled && len(cs) == 0 {
			add("%s is empty", name)
		}
		for _, cat := range cs {
			switch cat {
			case "tor", "proxy", "malicious", "c2", "mining-pool":
			default:
				add("%s: %q is not a category (tor, proxy, malicious, c2, mining-pool)", name, cat)
			}
		}
	}
	if c.MaxEvidence < 1 {
		add("maxEvidence must be >= 1, got %d", c.MaxEvidence)
	}
	ports("sshPorts", c.SSHPorts, c.Incoming.Enabled || c.Outgoing.Enabled)
	ports("rdpPorts", c.RDPPorts, c.Incoming.Enabled || c.Outgoing.Enabled)
	for _, p := range c.SSHPorts {
		if slices.Contains(c.RDPPorts, p) {
			add("port %d is both an SSH and an RDP port", p)
		}
	}
	if _, err := prefixSet("trustedNetworks", c.TrustedNetworks); err != nil {
		errs = append(errs, err)
	}
	if !c.Attempt.valid() {
		add("attempt: maxPackets, maxBytes and maxDuration must be > 0 and no more than repeated's, repeatTolerance within [0, 1)")
	}
	if !(c.SamplingConfidence >= 0 && c.SamplingConfidence <= 5) {
		add("samplingConfidence must be within [0, 5], got %v", c.SamplingConfidence)
	}
	if s := c.Sampling; s.MinRecords < 1 || s.PerRate < 0 || s.MaxWindow < minWindow || s.ScaleAfter < minWindow {
		add("sampling: minRecords must be >= 1, perRate >= 0, maxWindow and scaleAfter >= %s", minWindow)
	}
	if b := c.Baseline; b.Enabled {
		if !(b.MinZ > 0 && b.MinZ < 100) {
			add("baseline.minZ must be within (0, 100), got %v", b.MinZ)
		}
		if b.MinWeeks < 1 || b.MinWeeks > 16 {
			add("baseline.minWeeks must be within [1, 16], got %d", b.MinWeeks)
		}
	}
	if c.Baseline.Forget < time.Hour {
		add("baseline.forget must be >= 1h, got %s", c.Baseline.Forget)
	}
	if c.Mute < time.Minute {
		add("mute must be >= 1m, got %s", c.Mute)
	}
	if c.MaxPeers < 1 || c.MaxPeers > maxPeersLimit {
		add("maxPeers must be within [1, %d], got %d", maxPeersLimit, c.MaxPeers)
	}
	threshold("incoming.oneToOne.short", c.Incoming.OneToOne.Short)
	threshold("incoming.oneToOne.long", c.Incoming.OneToOne.Long)
	threshold("incoming.manyToOne", c.Incoming.ManyToOne)
	threshold("outgoing.oneToOne.short", c.Outgoing.OneToOne.Short)
	threshold("outgoing.oneToOne.long", c.Outgoing.OneToOne.Long)
	threshold("outgoing.oneToMany", c.Outgoing.OneToMany)
	threshold("portScanning.targets", c.PortScanning.Targets)
	categories("c2.categories", c.C2.Categories, c.C2.Enabled)
	if c.C2.MinScore < 0 {
		add("c2.minScore must be >= 0, got %d", c.C2.MinScore)
	}
	u := &c.UnrecommendedIP
	categories("unrecommendedIp.categories", u.Categories, u.Enabled)
	if u.MinScore < 0 || u.MaxFlows < 0 || u.Window < minWindow {
		add("unrecommendedIp: minScore and maxFlows must be >= 0 and window >= %s", minWindow)
	}
	m := &c.CryptoMining
	categories("cryptoMining.categories", m.Categories, false)
	if _, err := prefixSet("cryptoMining.pools", m.Pools); err != nil {
		errs = append(errs, err)
	}
	ports("cryptoMining.stratumPorts", m.StratumPorts, false)
	if m.MinStratumFlows < 1 {
		add("cryptoMining.minStratumFlows must be >= 1, got %d", m.MinStratumFlows)
	}
	if m.MinStratumDuration <= 0 || m.Window < minWindow {
		add("cryptoMining.minStratumDuration must be > 0 and window >= %s", minWindow)
	}
	return errors.Join(errs...)
}

// prefixSet parses addresses and CIDRs into a set (nil when empty).
func prefixSet(name string, list []string) (*bart.Lite, error) {
	if len(list) == 0 {
		return nil, nil
	}
	set := new(bart.Lite)
	for i, s := range list {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
		}
		set.Insert(p)
	}
	return set, nil
}

// parsePrefix reads "192.0.2.1", "2001:db8::1" or "192.0.2.0/24".
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Detectors returns the network detectors for cfg: network-inbound (SSH and
// RDP incoming brute force) when Incoming is enabled, network-outbound
// (outgoing brute force, port scanning, and the traffic counters of Stats,
// always) and network-intel (C2, crypto mining) when either is enabled.
// attr is required: with a nil Attributor no flow is ours and nothing is
// returned. intel may be nil (C2 then never fires; CryptoMining uses Pools
// and stratum ports). cfg should have passed Validate; out-of-range values
// are clamped or replaced by defaults rather than trusted.
func Detectors(cfg Config, attr Attributor, intel Intel) []detect.Detector {
	if attr == nil {
		return nil
	}
	e := newEnv(cfg, attr, intel)
	out := []detect.Detector{}
	if e.cfg.Incoming.Enabled {
		out = append(out, newBruteForce(e, inbound))
	}
	out = append(out, newBruteForce(e, outbound))
	if e.cfg.C2.Enabled || e.cfg.CryptoMining.Enabled || e.cfg.UnrecommendedIP.Enabled {
		out = append(out, newIntelDetector(e))
	}
	return out
}

// normalise clamps cfg into the ranges Validate demands.
func normalise(cfg Config) Config {
	def := DefaultConfig()
	cfg.MaxEvidence = min(max(cfg.MaxEvidence, 1), 1000)
	cfg.MaxPeers = min(max(cfg.MaxPeers, 1), maxPeersLimit)
	if cfg.Mute < time.Minute {
		cfg.Mute = def.Mute
	}
	if !(cfg.SamplingConfidence >= 0 && cfg.SamplingConfidence <= 5) || math.IsNaN(cfg.SamplingConfidence) {
		cfg.SamplingConfidence = def.SamplingConfidence
	}
	if !cfg.Attempt.valid() {
		cfg.Attempt = def.Attempt
	}
	if s := cfg.Sampling; s.MinRecords < 1 || s.PerRate < 0 || s.MaxWindow < minWindow || s.ScaleAfter < minWindow {
		cfg.Sampling = def.Sampling
	}
	b := &cfg.Baseline
	if !(b.MinZ > 0 && b.MinZ < 100) {
		b.MinZ = def.Baseline.MinZ
	}
	if b.MinWeeks < 1 || b.MinWeeks > 16 {
		b.MinWeeks = def.Baseline.MinWeeks
	}
	if b.Forget < time.Hour {
		b.Forget = def.Baseline.Forget
	}
	fix := func(t *Threshold, d Threshold) {
		if t.Window < minWindow {
			t.Window = d.Window
		}
		t.Min = max(t.Min, 1)
	}
	fix(&cfg.Incoming.OneToOne.Short, def.Incoming.OneToOne.Short)
	fix(&cfg.Incoming.OneToOne.Long, def.Incoming.OneToOne.Long)
	fix(&cfg.Incoming.ManyToOne, def.Incoming.ManyToOne)
	fix(&cfg.Outgoing.OneToOne.Short, def.Outgoing.OneToOne.Short)
	fix(&cfg.Outgoing.OneToOne.Long, def.Outgoing.OneToOne.Long)
	fix(&cfg.Outgoing.OneToMany, def.Outgoing.OneToMany)
	fix(&cfg.PortScanning.Targets, def.PortScanning.Targets)
	if u := &cfg.UnrecommendedIP; u.MinScore < 0 || u.MaxFlows < 0 || u.Window < minWindow {
		cfg.UnrecommendedIP = def.UnrecommendedIP
	}
	m := &cfg.CryptoMining
	m.MinStratumFlows = max(m.MinStratumFlows, 1)
	if m.MinStratumDuration <= 0 {
		m.MinStratumDuration = def.CryptoMining.MinStratumDuration
	}
	if m.Window < minWindow {
		m.Window = def.CryptoMining.Window
	}
	return cfg
}
