package network

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/event"
)

// tracePacket is one TCP packet of a capture.
type tracePacket struct {
	t            time.Time
	src, dst     netip.Addr
	sport, dport uint16
	flags        uint8
	bytes        uint64 // IP total length
}

// readTrace reads the IPv4 TCP packets of a classic libpcap capture
// (Ethernet or raw IP), in order.
func readTrace(tb testing.TB, path string) []tracePacket {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		tb.Fatalf("%s: not a little-endian microsecond pcap", path)
	}
	link := binary.LittleEndian.Uint32(b[20:])
	var out []tracePacket
	for off := 24; off+16 <= len(b); {
		le := binary.LittleEndian
		sec, usec, incl := le.Uint32(b[off:]), le.Uint32(b[off+4:]), int(le.Uint32(b[off+8:]))
		if off+16+incl > len(b) {
			tb.Fatalf("%s: truncated record at byte %d", path, off)
		}
		p := b[off+16 : off+16+incl]
		off += 16 + incl
		if link == 1 { // Ethernet
			if len(p) < 14 || binary.BigEndian.Uint16(p[12:]) != 0x0800 {
				continue
			}
			p = p[14:]
		}
		if len(p) < 20 || p[0]>>4 != 4 || p[9] != protoTCP {
			continue
		}
		ihl := int(p[0]&15) * 4
		if len(p) < ihl+14 {
			continue
		}
		src, _ := netip.AddrFromSlice(p[12:16])
		dst, _ := netip.AddrFromSlice(p[16:20])
		tcp := p[ihl:]
		out = append(out, tracePacket{
			t: time.Unix(int64(sec), int64(usec)*1000).UTC(), src: src, dst: dst,
			sport: binary.BigEndian.Uint16(tcp), dport: binary.BigEndian.Uint16(tcp[2:]),
			flags: tcp[13], bytes: uint64(binary.BigEndian.Uint16(p[2:])),
		})
	}
	return out
}

// traceFlows turns packets into flow records as an exporter does with
// timeouts longer than the capture: one record per direction of each
// connection, packets 1-in-rate sampled with a fixed seed (1: every
// packet), the addresses mapped by addrs and times moved to start at at.
func traceFlows(pkts []tracePacket, rate uint32, seed uint64, addrs map[netip.Addr]netip.Addr, at time.Time) []event.Flow {
	type key struct {
		src, dst     netip.Addr
		sport, dport uint16
	}
	r := rand.New(rand.NewPCG(seed, 13))
	shift := at.Sub(pkts[0].t)
	idx := map[key]int{}
	var out []event.Flow
	for _, p := range pkts {
		if rate > 1 && r.Uint32N(rate) != 0 {
			continue
		}
		k := key{p.src, p.dst, p.sport, p.dport}
		i, ok := idx[k]
		if !ok {
			src, dst := p.src, p.dst
			if a, ok := addrs[src]; ok {
				src = a
			}
			if a, ok := addrs[dst]; ok {
				dst = a
			}
			out = append(out, event.Flow{Start: p.t.Add(shift), SrcAddr: src, DstAddr: dst, SrcPort: p.sport, DstPort: p.dport,
				Protocol: protoTCP, SamplingRate: max(rate, 1), Source: event.FlowIPFIX, Exporter: netip.MustParseAddr("192.0.2.254")})
			i = len(out) - 1
			idx[k] = i
		}
		f := &out[i]
		f.End = p.t.Add(shift)
		f.Packets++
		f.Bytes += p.bytes
		f.TCPFlags |= p.flags
	}
	sortFlows(out)
	return out
}

// The failed logins of a real password-guessing tool (Zeek's testing trace
// ssh/sshguess.pcap: 11 connections of 22-26 packets, up to 10 s, from
// 192.168.56.1 to 192.168.56.103:22), and a real answered login
// (ssh/single-conn.pcap: 52 packets and 5.9 KB from the client in 8.6 s).
var (
	guessClient  = netip.MustParseAddr("192.168.56.1")
	guessServer  = netip.MustParseAddr("192.168.56.103")
	singleClient = netip.MustParseAddr("192.150.186.169")
	singleServer = netip.MustParseAddr("131.159.14.23")
)

func TestRealPasswordGuessing(t *testing.T) {
	guess := readTrace(t, "testdata/sshguess.pcap")
	single := readTrace(t, "testdata/single-conn.pcap")
	if len(guess) < 400 || len(single) < 90 {
		t.Fatalf("traces: %d and %d packets", len(guess), len(single))
	}
	ours := netip.MustParseAddr(vmIP)
	// rounds replays a trace n times, one round every gap, from one client.
	rounds := func(pkts []tracePacket, client, server netip.Addr, n int, gap time.Duration, rate uint32) []event.Flow {
		var fs []event.Flow
		for i := range n {
			m := map[netip.Addr]netip.Addr{client: netip.MustParseAddr(attacker), server: ours}
			for _, f := range traceFlows(pkts, rate, uint64(i), m, t0.Add(time.Duration(i)*gap)) {
				// each round from new client ports, as the tool's next connections
				if f.DstAddr == ours {
					f.SrcPort += uint16(16 * i)
				} else {
					f.DstPort += uint16(16 * i)
				}
				fs = append(fs, f)
			}
		}
		sortFlows(fs)
		return fs
	}
	tests := []struct {
		name  string
		flows []event.Flow
		want  []string
		check func(t *testing.T, cs []alert.Candidate)
	}{
		{
			name:  "the tool's 11 connections, three rounds in 3 minutes: every one is an attempt",
			flows: rounds(guess, guessClient, guessServer, 3, time.Minute, 1),
			want:  []string{TypeSSHIncomingOneToOne, TypeSSHIncomingOneToOne + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				c := cs[0]
				if c.Count != 25 || c.Details["attackerIp"] != attacker || c.Evidence[0].Result != "repeated exchange" {
					t.Errorf("count %d details %v result %q", c.Count, c.Details, c.Evidence[0].Result)
				}
				if s := cs[1]; s.Count != 8 {
					t.Errorf("summary count %d, want the 8 attempts after the 25th", s.Count)
				}
			},
		},
		{
			name: "a botnet replaying them, three connections from each of 30 addresses in 30 minutes",
			flows: func() []event.Flow {
				var fs []event.Flow
				for i := range 30 {
					m := map[netip.Addr]netip.Addr{guessClient: netip.MustParseAddr("203.0.113." + strconv.Itoa(i+1)), guessServer: ours}
					all := traceFlows(guess, 1, 0, m, t0.Add(time.Duration(i)*time.Minute))
					var three []event.Flow
					for _, f := range all { // the first three connections, both directions
						if f.SrcPort < 55473 && f.DstPort < 55473 {
							three = append(three, f)
						}
					}
					fs = append(fs, three...)
				}
				sortFlows(fs)
				return fs
			}(),
			want: []string{TypeSSHIncomingManyToOne, TypeSSHIncomingManyToOne + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				if cs[0].Details["attackers"] != "25" {
					t.Errorf("details %v", cs[0].Details)
				}
			},
		},
		{
			name:  "sampled 1-in-10 from the trace's own packets, six rounds in 6 minutes",
			flows: rounds(guess, guessClient, guessServer, 6, time.Minute, 10),
			want:  []string{TypeSSHIncomingOneToOne, TypeSSHIncomingOneToOne + "+"},
		},
		{
			name:  "sampled 1-in-100: 36 rounds (396 failed logins) in 42 minutes",
			flows: rounds(guess, guessClient, guessServer, 36, 70*time.Second, 100),
			want:  []string{TypeSSHIncomingOneToOne, TypeSSHIncomingOneToOne + "+"},
			check: func(t *testing.T, cs []alert.Candidate) {
				if d := cs[0].Details; d["window"] != "30m" || d["sampling"] != "1-in-100" {
					t.Errorf("details %v", d)
				}
			},
		},
		{
			name:  "a real answered login, 30 times in 30 minutes from one address, is never an attempt",
			flows: rounds(single, singleClient, singleServer, 30, time.Minute, 1),
		},
		{
			name:  "nor sampled 1-in-10",
			flows: rounds(single, singleClient, singleServer, 30, time.Minute, 10),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, testConfig(), NameInbound, tc.flows)
			if !slices.Equal(types(got), tc.want) {
				t.Fatalf("got %v, want %v", types(got), tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestRealTraceShapes(t *testing.T) {
	// With only the tight bounds (Stream4Flow's), the real tool's failed
	// logins would all be sessions; with Repeated they are candidates.
	a := DefaultConfig().Attempt
	m := map[netip.Addr]netip.Addr{}
	n := 0
	for _, f := range traceFlows(readTrace(t, "testdata/sshguess.pcap"), 1, 0, m, t0) {
		if f.DstAddr != guessServer {
			continue
		}
		n++
		if cls, _ := a.classify(&f); cls != classRepeat {
			t.Errorf("%d packets, %d bytes, %s: class %d, want a repeat candidate", f.Packets, f.Bytes, f.End.Sub(f.Start), cls)
		}
	}
	if n != 11 {
		t.Errorf("%d client connections in the trace, want 11", n)
	}
}
