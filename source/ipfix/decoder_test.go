package ipfix

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// TestInvalidFiles decodes the invalid captures of the sample set.
func TestInvalidFiles(t *testing.T) {
	tests := []struct {
		file    string
		wantErr error  // nil: decodes
		msg     string // in the error
		flows   int
	}{
		{"netflow5_test_invalid01.dat", ErrMalformed, "record count 55582, allowed 1 to 30", 0},
		{"netflow5_test_invalid02.dat", ErrMalformed, "record count 163, allowed 1 to 30", 0},
		// Its header counts 2 records where 6 follow, and one flowset is
		// not padded to 4 bytes; both are common in valid exports (Palo
		// Alto, NBAR, streamcore), so its records are decoded.
		{"netflow9_test_invalid01.dat", nil, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := newCollector(t, Options{})
			st, err := c.feedFrom(testExporter, testdata(t, tt.file))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to say %q", err, tt.msg)
			}
			if err != nil && !strings.Contains(err.Error(), testExporter.String()) {
				t.Errorf("err = %q does not name the exporter", err)
			}
			if got := len(c.take()); got != tt.flows || int(st.Flows) != tt.flows {
				t.Errorf("flows = %d (stats %d), want %d", got, st.Flows, tt.flows)
			}
			if wantMalformed := uint64(0); err != nil && st.Malformed != 1 || err == nil && st.Malformed != wantMalformed {
				t.Errorf("Malformed = %d", st.Malformed)
			}
		})
	}
}

// TestMalformed feeds datagrams broken in each way the decoder checks.
func TestMalformed(t *testing.T) {
	tpl := set(2, u16(300), u16(2), u16(8), u16(4), u16(12), u16(4)) // 300: src, dst IPv4
	tests := []struct {
		name string
		p    []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrTruncated, "datagram of 0 bytes"},
		{"version 7", cat(u16(7), make([]byte, 30)), ErrVersion, "version 7"},
		{"v5 short header", cat(u16(5), u16(1), make([]byte, 10)), ErrTruncated, "netflow v5 header"},
		{"v5 records cut", cat(u16(5), u16(2), make([]byte, 20+48)), ErrTruncated, "2 records need 120 bytes"},
		{"v9 short header", cat(u16(9), make([]byte, 10)), ErrTruncated, "netflow v9 header"},
		{"v9 flowset length 2", v9Packet(0, 0, 0, 0, cat(u16(0), u16(2), u32(1))), ErrMalformed, "length 2"},
		{"v9 flowset past the end", v9Packet(0, 0, 0, 0, cat(u16(300), u16(400), u32(1))), ErrTruncated, "length 400"},
		{"v9 template ID 5", v9Packet(0, 0, 0, 0, set(0, u16(5), u16(1), u16(8), u16(4))), ErrMalformed, "template ID 5"},
		{"v9 template cut", v9Packet(0, 0, 0, 0, set(0, u16(300), u16(3), u16(8), u16(4))), ErrTruncated, "template 300"},
		{"v9 options scope length 3", v9Packet(0, 0, 0, 0, set(1, u16(300), u16(3), u16(4), u16(1), u16(4), u16(34), u16(4))), ErrMalformed, "not multiples of 4"},
		{"v9 template of length 0", v9Packet(0, 0, 0, 0, set(0, u16(300), u16(1), u16(8), u16(0))), ErrMalformed, "records of length 0"},
		{"ipfix short", cat(u16(10), u16(16), u32(0)), ErrTruncated, "need 16"},
		{"ipfix length past the end", cat(u16(10), u16(100), make([]byte, 12)), ErrTruncated, "length 100"},
		{"ipfix second message version 9", cat(ipfixMessage(0, 0, 0), u16(9), make([]byte, 18)), ErrMalformed, "version 9"},
		{"ipfix template ID 255", ipfixMessage(0, 0, 0, set(2, u16(255), u16(1), u16(8), u16(4))), ErrMalformed, "template ID 255"},
		{"ipfix enterprise number cut", ipfixMessage(0, 0, 0, set(2, u16(300), u16(1), u16(0x8001), u16(4))), ErrTruncated, "enterprise number"},
		{"ipfix options scope count 0", ipfixMessage(0, 0, 0, set(3, u16(300), u16(1), u16(0), u16(8), u16(4))), ErrMalformed, "scope field count 0"},
		{"ipfix withdrawal of ID 7", ipfixMessage(0, 0, 0, set(2, u16(7), u16(0))), ErrMalformed, "withdrawal of template ID 7"},
		{"ipfix variable-length record cut", ipfixMessage(0, 0, 0,
			set(2, u16(301), u16(1), u16(96), u16(0xffff)), set(301, []byte{200, 'a'})), ErrTruncated, "record runs past"},
		{"ipfix 3-byte length cut", ipfixMessage(0, 0, 0,
			set(2, u16(301), u16(1), u16(96), u16(0xffff)), set(301, []byte{255, 1})), ErrTruncated, "record runs past"},
		{"ipfix too many fields", ipfixMessage(0, 0, 0, set(2, u16(300), u16(600))), ErrMalformed, "600 fields"},
		{"ipfix template then broken set", ipfixMessage(0, 0, 0, tpl, cat(u16(300), u16(1))), ErrMalformed, "length 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, Options{})
			st, err := c.feedFrom(testExporter, tt.p)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to say %q", err, tt.msg)
			}
			if st.Malformed != 1 || c.d.Totals().Malformed != 1 {
				t.Errorf("Malformed = %d, totals %d", st.Malformed, c.d.Totals().Malformed)
			}
		})
	}
}

// TestTruncatedRealDatagrams cuts every real datagram at every length:
// errors or fewer flows, never a panic, and every flow keeps End >= Start.
func TestTruncatedRealDatagrams(t *testing.T) {
	for _, s := range loadSessions(t) {
		var datagrams [][]byte
		for _, f := range s.files {
			datagrams = append(datagrams, testdata(t, strings.TrimPrefix(f, "testdata/netflow/")))
		}
		last := datagrams[len(datagrams)-1]
		for n := 0; n < len(last); n += 7 {
			d := NewDecoder(Options{})
			for _, p := range datagrams[:len(datagrams)-1] {
				d.Decode(testExporter, p, time.Unix(0, 0), func(*event.Flow) {})
			}
			_, err := d.Decode(testExporter, last[:n], time.Unix(0, 0), func(f *event.Flow) {
				if f.End.Before(f.Start) {
					t.Fatalf("%s cut at %d: End %v before Start %v", s.slug, n, f.End, f.Start)
				}
			})
			if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("%s cut at %d: error %v wraps no sentinel", s.slug, n, err)
			}
		}
	}
}

// TestMultipleMessages: ipfix.dat holds three IPFIX messages.
func TestMultipleMessages(t *testing.T) {
	c := newCollector(t, Options{})
	st := c.feed(testdata(t, "ipfix.dat"))
	if st.Messages != 3 || st.Flows != 12 {
		t.Errorf("messages %d flows %d, want 3 and 12", st.Messages, st.Flows)
	}
}

// TestSessionsAreSeparate: templates belong to one exporter address and
// one observation domain.
func TestSessionsAreSeparate(t *testing.T) {
	tpl, data := testdata(t, "ipfix_test_mikrotik_tpl.dat"), testdata(t, "ipfix_test_mikrotik_data258.dat")
	other := netip.MustParseAddrPort("192.0.2.8:40000")
	otherDomain := append([]byte(nil), data...)
	otherDomain[15] = 9 // observation domain 9
	c := newCollector(t, Options{})
	c.feed(tpl)
	if st, _ := c.feedFrom(other, data); st.Flows != 0 || st.Held != 1 {
		t.Errorf("other exporter: %+v, want the set held", st)
	}
	if st := c.feed(otherDomain); st.Flows != 0 || st.Held != 1 {
		t.Errorf("other domain: %+v, want the set held", st)
	}
	if st := c.feed(data); st.Flows != 28 {
		t.Errorf("same session: %d flows, want 28", st.Flows)
	}
	if n := c.d.Exporters(); n != 3 {
		t.Errorf("Exporters() = %d, want 3", n)
	}
	// An IPv4-mapped IPv6 source (dual-stack socket) is the IPv4 exporter.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(testExporter.Addr().As16()), 1)
	if st, _ := c.feedFrom(mapped, data); st.Flows != 28 {
		t.Errorf("IPv4-mapped exporter: %d flows, want 28", st.Flows)
	}
	for _, f := range c.take() {
		if f.Exporter != testExporter.Addr() {
			t.Fatalf("Exporter = %v, want %v", f.Exporter, testExporter.Addr())
		}
	}
}

// TestZeroAllocations: steady-state decoding (data, and templates resent
// unchanged) allocates nothing.
func TestZeroAllocations(t *testing.T) {
	for _, dev := range []struct{ tpl, data string }{
		{"ipfix_test_mikrotik_tpl.dat", "ipfix_test_mikrotik_data258.dat"},
		{"ipfix_test_barracuda_tpl.dat", "ipfix_test_barracuda_data256.dat"},
		{"ipfix_test_openbsd_pflow_tpl.dat", "ipfix_test_openbsd_pflow_data.dat"},
		{"ipfix_test_yaf_tpl45841.dat", "ipfix_test_yaf_data45841.dat"}, // variable-length fields
		{"netflow9_test_cisco_asa_1_tpl.dat", "netflow9_test_cisco_asa_1_data.dat"},
		{"netflow9_test_fortigate_fortios_542_appid_tpl258-269.dat", "netflow9_test_fortigate_fortios_542_appid_data258_262.dat"},
		{"netflow5_test_microtik.dat", "netflow5_test_juniper_mx80.dat"},
	} {
		tpl, data := testdata(t, dev.tpl), testdata(t, dev.data)
		d := NewDecoder(Options{})
		now := time.Unix(1700000000, 0)
		n := 0
		emit := func(*event.Flow) { n++ }
		d.Decode(testExporter, tpl, now, emit)
		d.Decode(testExporter, data, now, emit)
		if n == 0 {
			t.Fatalf("%s: no flows", dev.data)
		}
		if a := testing.AllocsPerRun(50, func() { d.Decode(testExporter, data, now, emit) }); a != 0 {
			t.Errorf("%s: %v allocations per datagram", dev.data, a)
		}
		if a := testing.AllocsPerRun(50, func() { d.Decode(testExporter, tpl, now, emit) }); a != 0 {
			t.Errorf("%s resent: %v allocations per datagram", dev.tpl, a)
		}
	}
}
