package flowlog

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// The tuples of the documentation's "Log tuple and bandwidth calculation"
// sections: one TCP conversation as B, C and E tuples, which the
// documentation sums to 9,125 packets and 5,256,000 bytes.
var (
	docNSGConversation = []string{
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,B,,,,",
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,C,1021,588096,8005,4610880",
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,E,52,29952,47,27072",
	}
	docVNetConversation = []string{
		"1493763938,185.170.185.105,10.2.0.4,35370,23,6,I,B,NX,,,,",
		"1493695838,185.170.185.105,10.2.0.4,35370,23,6,I,C,NX,1021,588096,8005,4610880",
		"1493696138,185.170.185.105,10.2.0.4,35370,23,6,I,E,NX,52,29952,47,27072",
	}
)

// TestDocConversationTotals checks the documented bandwidth calculation:
// summing every tuple's counts (B, C and E) gives the conversation's
// totals, with nothing counted twice.
func TestDocConversationTotals(t *testing.T) {
	for name, c := range map[string]struct {
		tuples []string
		vnet   bool
	}{"nsg": {docNSGConversation, false}, "vnet": {docVNetConversation, true}} {
		t.Run(name, func(t *testing.T) {
			var pk, by uint64
			var states string
			for _, s := range c.tuples {
				var tp tuple
				var err error
				if c.vnet {
					err = tp.parseVNet([]byte(s))
				} else {
					err = tp.parseNSG([]byte(s))
				}
				if err != nil {
					t.Fatalf("%s: %v", s, err)
				}
				pk += tp.pktsSD + tp.pktsDS
				by += tp.bytesSD + tp.bytesDS
				states += string(tp.state)
			}
			if pk != 9125 || by != 5256000 || states != "BCE" {
				t.Errorf("packets %d bytes %d states %s, want 9125 5256000 BCE", pk, by, states)
			}
		})
	}
}

func TestParseTuple(t *testing.T) {
	sec := func(s int64) time.Time { return time.Unix(s, 0).UTC() }
	tests := []struct {
		name, in string
		vnet     bool
		want     tuple // compared: time, src, dst, ports, proto, dir, decision, state, counts, version
		err      string
	}{
		{name: "nsg v1", in: "1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D",
			want: tuple{time: sec(1487282421), src: ip("192.0.2.95"), dst: ip("10.1.0.4"), sport: 51529, dport: 5358, proto: 6, dir: 'I', decision: 'D', version: 1}},
		{name: "nsg v1 udp out allow", in: "1487282481,10.1.0.4,198.51.100.194,1732,53,U,O,A",
			want: tuple{time: sec(1487282481), src: ip("10.1.0.4"), dst: ip("198.51.100.194"), sport: 1732, dport: 53, proto: 17, dir: 'O', decision: 'A', version: 1}},
		{name: "nsg v2 end", in: "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66",
			want: tuple{time: sec(1542110379), src: ip("10.5.16.4"), dst: ip("203.0.113.117"), sport: 59932, dport: 443, proto: 6, dir: 'O', decision: 'A', state: 'E', pktsSD: 1, bytesSD: 66, pktsDS: 1, bytesDS: 66, version: 2}},
		{name: "nsg v2 begin empty counts", in: "1542110402,192.0.2.190,10.5.16.4,28746,443,U,I,D,B,,,,",
			want: tuple{time: sec(1542110402), src: ip("192.0.2.190"), dst: ip("10.5.16.4"), sport: 28746, dport: 443, proto: 17, dir: 'I', decision: 'D', state: 'B', version: 2}},
		{name: "nsg ipv6", in: "1542110402,2001:db8::1,2001:db8::2,1,2,T,I,A",
			want: tuple{time: sec(1542110402), src: ip("2001:db8::1"), dst: ip("2001:db8::2"), sport: 1, dport: 2, proto: 6, dir: 'I', decision: 'A', version: 1}},
		{name: "nsg mapped ipv4 unmapped", in: "1542110402,::ffff:10.0.0.1,10.0.0.2,1,2,T,I,A",
			want: tuple{time: sec(1542110402), src: ip("10.0.0.1"), dst: ip("10.0.0.2"), sport: 1, dport: 2, proto: 6, dir: 'I', decision: 'A', version: 1}},
		{name: "vnet ms", in: "1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580", vnet: true,
			want: tuple{time: time.UnixMilli(1663146003606).UTC(), src: ip("10.0.0.6"), dst: ip("52.239.184.180"), sport: 23956, dport: 443, proto: 6, dir: 'O', decision: 'A', state: 'E', pktsSD: 3, bytesSD: 767, pktsDS: 2, bytesDS: 1580, version: 4}},
		{name: "vnet seconds", in: "1493763938,185.170.185.105,10.2.0.4,35370,23,6,I,B,NX,,,,", vnet: true,
			want: tuple{time: sec(1493763938), src: ip("185.170.185.105"), dst: ip("10.2.0.4"), sport: 35370, dport: 23, proto: 6, dir: 'I', decision: 'A', state: 'B', version: 4}},
		{name: "vnet deny", in: "1663145998065,101.33.218.153,10.0.0.6,55188,22,6,I,D,NX,0,0,0,0", vnet: true,
			want: tuple{time: time.UnixMilli(1663145998065).UTC(), src: ip("101.33.218.153"), dst: ip("10.0.0.6"), sport: 55188, dport: 22, proto: 6, dir: 'I', decision: 'D', state: 'D', version: 4}},
		{name: "vnet icmp encrypted", in: "1663146003606,10.0.0.6,10.0.0.7,0,0,1,O,C,X,1,2,3,4", vnet: true,
			want: tuple{time: time.UnixMilli(1663146003606).UTC(), src: ip("10.0.0.6"), dst: ip("10.0.0.7"), proto: 1, dir: 'O', decision: 'A', state: 'C', pktsSD: 1, bytesSD: 2, pktsDS: 3, bytesDS: 4, version: 4}},

		{name: "empty", in: "", err: "1 fields"},
		{name: "nine fields", in: "1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D,B", err: "9 fields"},
		{name: "fourteen fields", in: "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,1,66,1", err: "14 fields"},
		{name: "vnet v1 length", in: "1487282421,192.0.2.95,10.1.0.4,51529,5358,6,I,D", vnet: true, err: "8 fields"},
		{name: "time sign", in: "-1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D", err: "time"},
		{name: "time empty", in: ",192.0.2.95,10.1.0.4,51529,5358,T,I,D", err: "time"},
		{name: "bad src", in: "1487282421,192.0.2.256,10.1.0.4,51529,5358,T,I,D", err: "source IP"},
		{name: "leading zero", in: "1487282421,192.0.2.05,10.1.0.4,51529,5358,T,I,D", err: "source IP"},
		{name: "zone", in: "1487282421,fe80::1%eth0,10.1.0.4,51529,5358,T,I,D", err: "source IP"},
		{name: "bad dst", in: "1487282421,192.0.2.5,10.1.0,51529,5358,T,I,D", err: "destination IP"},
		{name: "port range", in: "1487282421,192.0.2.5,10.1.0.4,65536,5358,T,I,D", err: "source port"},
		{name: "port text", in: "1487282421,192.0.2.5,10.1.0.4,1,x,T,I,D", err: "destination port"},
		{name: "protocol letter", in: "1487282421,192.0.2.5,10.1.0.4,1,2,6,I,D", err: "protocol"},
		{name: "vnet protocol range", in: "1663146003606,10.0.0.6,10.0.0.7,0,0,256,O,C,X,1,2,3,4", vnet: true, err: "protocol"},
		{name: "direction", in: "1487282421,192.0.2.5,10.1.0.4,1,2,T,X,D", err: "direction"},
		{name: "decision", in: "1487282421,192.0.2.5,10.1.0.4,1,2,T,I,d", err: "decision"},
		{name: "nsg state D", in: "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,D,1,66,1,66", err: "flow state"},
		{name: "vnet state", in: "1663146003606,10.0.0.6,10.0.0.7,0,0,6,O,A,NX,1,2,3,4", vnet: true, err: "flow state"},
		{name: "vnet encryption", in: "1663146003606,10.0.0.6,10.0.0.7,0,0,6,O,B,nx,1,2,3,4", vnet: true, err: "encryption"},
		{name: "count text", in: "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,6x6,1,66", err: "bytes sent"},
		{name: "count overflow", in: "1542110379,10.5.16.4,203.0.113.117,59932,443,T,O,A,E,1,66,99999999999999999999,66", err: "packets received"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got tuple
			var err error
			if tc.vnet {
				err = got.parseVNet([]byte(tc.in))
			} else {
				err = got.parseNSG([]byte(tc.in))
			}
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrTuple) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want ErrTuple mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if !got.time.Equal(w.time) || got.src != w.src || got.dst != w.dst || got.sport != w.sport || got.dport != w.dport ||
				got.proto != w.proto || got.dir != w.dir || got.decision != w.decision || got.state != w.state ||
				got.pktsSD != w.pktsSD || got.bytesSD != w.bytesSD || got.pktsDS != w.pktsDS || got.bytesDS != w.bytesDS || got.version != w.version {
				t.Errorf("got  %+v\nwant %+v", summary(&got), summary(&w))
			}
		})
	}
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// summary is a tuple without its scratch fields, for messages.
func summary(t *tuple) string {
	return strings.Join([]string{t.time.Format(time.RFC3339Nano), t.src.String(), t.dst.String(),
		strconv.Itoa(int(t.sport)), strconv.Itoa(int(t.dport)), strconv.Itoa(int(t.proto)), string(t.dir),
		string(t.decision), letter(t.state), strconv.FormatUint(t.pktsSD, 10), strconv.FormatUint(t.bytesSD, 10),
		strconv.FormatUint(t.pktsDS, 10), strconv.FormatUint(t.bytesDS, 10), strconv.Itoa(t.version)}, ",")
}

// letter is c as a string, "" for 0.
func letter(c byte) string {
	if c == 0 {
		return ""
	}
	return string(c)
}

// oracleTuple is a slow, obviously correct reading of a tuple with
// strings.Split, strconv and netip, following the documentation's field
// lists. It returns the same summary as summary, or ok false.
func oracleTuple(s string, vnet bool) (string, bool) {
	f := strings.Split(s, ",")
	if vnet && len(f) != 13 || !vnet && len(f) != 8 && len(f) != 13 {
		return "", false
	}
	num := func(x string, max uint64) (uint64, bool) {
		if x == "" || strings.ContainsAny(x, "+-_") {
			return 0, false
		}
		n, err := strconv.ParseUint(x, 10, 64)
		return n, err == nil && n <= max
	}
	ts, ok := num(f[0], 1<<62)
	if !ok {
		return "", false
	}
	tm := time.Unix(int64(ts), 0).UTC()
	if ts >= 100_000_000_000 {
		tm = time.UnixMilli(int64(ts)).UTC()
	}
	src, err1 := netip.ParseAddr(f[1])
	dst, err2 := netip.ParseAddr(f[2])
	if err1 != nil || err2 != nil || src.Zone() != "" || dst.Zone() != "" {
		return "", false
	}
	sp, ok1 := num(f[3], 65535)
	dp, ok2 := num(f[4], 65535)
	if !ok1 || !ok2 || (f[6] != "I" && f[6] != "O") {
		return "", false
	}
	var proto uint64
	var decision, state string
	version := 1
	countsFrom := -1
	if vnet {
		p, ok := num(f[5], 255)
		if !ok || (f[7] != "B" && f[7] != "C" && f[7] != "E" && f[7] != "D") {
			return "", false
		}
		if f[8] == "" || strings.Trim(f[8], "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "" || len(f[8]) > 64 {
			return "", false
		}
		proto, state, decision, version, countsFrom = p, f[7], "A", 4, 9
		if state == "D" {
			decision = "D"
		}
	} else {
		switch f[5] {
		case "T":
			proto = 6
		case "U":
			proto = 17
		default:
			return "", false
		}
		if f[7] != "A" && f[7] != "D" {
			return "", false
		}
		decision = f[7]
		if len(f) == 13 {
			if f[8] != "B" && f[8] != "C" && f[8] != "E" {
				return "", false
			}
			state, version, countsFrom = f[8], 2, 9
		}
	}
	var c [4]uint64
	if countsFrom > 0 {
		for i := range c {
			if f[countsFrom+i] == "" {
				continue
			}
			n, ok := num(f[countsFrom+i], 1<<63-1)
			if !ok {
				return "", false
			}
			c[i] = n
		}
	}
	return strings.Join([]string{tm.Format(time.RFC3339Nano), src.Unmap().String(), dst.Unmap().String(),
		strconv.FormatUint(sp, 10), strconv.FormatUint(dp, 10), strconv.FormatUint(proto, 10), f[6],
		decision, state, strconv.FormatUint(c[0], 10), strconv.FormatUint(c[1], 10),
		strconv.FormatUint(c[2], 10), strconv.FormatUint(c[3], 10), strconv.Itoa(version)}, ","), true
}

// FuzzTuple checks the hand-written tuple parsers against oracleTuple.
func FuzzTuple(f *testing.F) {
	for _, s := range append(append([]string{}, docNSGConversation...), docVNetConversation...) {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Add("1487282421,192.0.2.95,10.1.0.4,51529,5358,T,I,D", false)
	f.Add("1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX_HW_NOT_SUPPORTED,3,767,2,1580", true)
	f.Add("1542110402,2001:db8::1,::ffff:1.2.3.4,1,2,T,I,A", false)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, s string, vnet bool) {
		var tp tuple
		var err error
		if vnet {
			err = tp.parseVNet([]byte(s))
		} else {
			err = tp.parseNSG([]byte(s))
		}
		want, ok := oracleTuple(s, vnet)
		if (err == nil) != ok {
			t.Fatalf("%q vnet=%v: parser error %v, oracle ok %v", s, vnet, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrTuple) {
				t.Fatalf("error %v does not wrap ErrTuple", err)
			}
			return
		}
		if got := summary(&tp); got != want {
			t.Fatalf("%q:\nparser %s\noracle %s", s, got, want)
		}
	})
}

// TestParseTupleNoAlloc checks that an IPv4 tuple is parsed without
// allocating.
func TestParseTupleNoAlloc(t *testing.T) {
	b := []byte("1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580")
	v6 := []byte("1542110402,2001:db8::1,2001:db8::2,1,2,T,I,A,E,1,2,3,4")
	var tp tuple
	if n := testing.AllocsPerRun(100, func() {
		if tp.parseVNet(b) != nil || tp.parseNSG(v6) != nil {
			t.Fatal("parse failed")
		}
	}); n != 0 {
		t.Errorf("%v allocations per tuple pair", n)
	}
}
