package ipfix

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// Test-only capture writers (classic pcap and pcapng) that wrap datagrams
// in the link layers the reader accepts, with noise packets around them.

func ipv4Packet(src, dst netip.Addr, proto byte, fragment uint16, payload []byte) []byte {
	h := make([]byte, 20)
	h[0], h[8], h[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[6:], fragment)
	copy(h[12:], src.AsSlice())
	copy(h[16:], dst.AsSlice())
	return cat(h, payload)
}

func ipv6Packet(src, dst netip.Addr, payload []byte) []byte {
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, 0, 64 // next header: hop-by-hop options
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	copy(h[8:], src.AsSlice())
	copy(h[24:], dst.AsSlice())
	hop := []byte{17, 0, 1, 4, 0, 0, 0, 0} // next: UDP; PadN
	return cat(h, hop, payload)
}

func udpPacket(sport, dport uint16, payload []byte) []byte {
	return cat(u16(sport), u16(dport), u16(uint16(8+len(payload))), u16(0), payload)
}

type linkCase struct {
	name string
	link uint32
	wrap func(ip []byte, v6 bool) []byte
}

var linkCases = []linkCase{
	{"ethernet+vlan", linkEthernet, func(ip []byte, v6 bool) []byte {
		et := uint16(0x0800)
		if v6 {
			et = 0x86dd
		}
		return cat(make([]byte, 12), u16(0x8100), u16(7), u16(et), ip)
	}},
	{"linux-sll", linkSLL, func(ip []byte, v6 bool) []byte {
		et := uint16(0x0800)
		if v6 {
			et = 0x86dd
		}
		return cat(make([]byte, 14), u16(et), ip)
	}},
	{"linux-sll2", linkSLL2, func(ip []byte, v6 bool) []byte {
		et := uint16(0x0800)
		if v6 {
			et = 0x86dd
		}
		return cat(u16(et), make([]byte, 18), ip)
	}},
	{"bsd-loopback", linkNull, func(ip []byte, v6 bool) []byte {
		fam := uint32(2)
		if v6 {
			fam = 30
		}
		return cat(binary.LittleEndian.AppendUint32(nil, fam), ip)
	}},
	{"raw-ip", linkRaw, func(ip []byte, _ bool) []byte { return ip }},
}

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type capPacket struct {
	at   time.Time
	data []byte
	orig int // original length, when cut
}

// capturePackets wraps the datagrams from exporter (IPv4 or IPv6) and adds
// three packets the reader must skip: TCP, an IPv4 fragment, one cut short.
func capturePackets(lc linkCase, exporter netip.Addr, datagrams [][]byte, t0 time.Time) []capPacket {
	collector := netip.MustParseAddr("192.0.2.100")
	if exporter.Is6() {
		collector = netip.MustParseAddr("2001:db8::100")
	}
	ip := func(payload []byte) []byte {
		if exporter.Is6() {
			return ipv6Packet(exporter, collector, payload)
		}
		return ipv4Packet(exporter, collector, 17, 0, payload)
	}
	v4 := netip.MustParseAddr("198.51.100.1")
	pkts := []capPacket{
		{at: t0, data: lc.wrap(ipv4Packet(v4, v4, 6, 0, make([]byte, 40)), false)},
		{at: t0, data: lc.wrap(ipv4Packet(v4, v4, 17, 0x2000, udpPacket(1, 2, make([]byte, 30))), false)},
	}
	for i, d := range datagrams {
		pkts = append(pkts, capPacket{at: t0.Add(time.Duration(i) * time.Millisecond), data: lc.wrap(ip(udpPacket(50000, 4739, d)), exporter.Is6())})
	}
	cut := lc.wrap(ip(udpPacket(50000, 4739, datagrams[0])), exporter.Is6())
	return append(pkts, capPacket{at: t0, data: cut[:min(60, len(cut)-1)], orig: len(cut)})
}

func writePcap(order byteOrder, nanos bool, link uint32, pkts []capPacket) []byte {
	magic := uint32(pcapMagicMicros)
	if nanos {
		magic = pcapMagicNanos
	}
	b := order.AppendUint32(nil, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 65535)
	b = order.AppendUint32(b, link)
	for _, p := range pkts {
		frac := uint32(p.at.Nanosecond() / 1000)
		if nanos {
			frac = uint32(p.at.Nanosecond())
		}
		orig := max(p.orig, len(p.data))
		b = order.AppendUint32(b, uint32(p.at.Unix()))
		b = order.AppendUint32(b, frac)
		b = order.AppendUint32(b, uint32(len(p.data)))
		b = order.AppendUint32(b, uint32(orig))
		b = append(b, p.data...)
	}
	return b
}

func ngBlock(order byteOrder, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(12 + len(body))
	b := order.AppendUint32(nil, typ)
	b = order.AppendUint32(b, n)
	b = append(b, body...)
	return order.AppendUint32(b, n)
}

func writePcapng(order byteOrder, tsresol byte, link uint32, pkts []capPacket) []byte {
	shb := order.AppendUint32(nil, ngByteOrderMagic)
	shb = order.AppendUint16(shb, 1)
	shb = order.AppendUint16(shb, 0)
	shb = append(shb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	idb := order.AppendUint16(nil, uint16(link))
	idb = order.AppendUint16(idb, 0)
	idb = order.AppendUint32(idb, 0)
	idb = order.AppendUint16(idb, ngOptTSResol)
	idb = order.AppendUint16(idb, 1)
	idb = append(idb, tsresol, 0, 0, 0)
	idb = append(idb, 0, 0, 0, 0) // opt_endofopt
	b := cat(ngBlock(order, ngSectionHeader, shb), ngBlock(order, ngInterface, idb),
		ngBlock(order, 5, make([]byte, 8))) // an interface statistics block, skipped
	unit := int64(1000)
	if tsresol == 9 {
		unit = 1
	}
	for _, p := range pkts {
		ts := uint64(p.at.UnixNano() / unit)
		epb := order.AppendUint32(nil, 0)
		epb = order.AppendUint32(epb, uint32(ts>>32))
		epb = order.AppendUint32(epb, uint32(ts))
		epb = order.AppendUint32(epb, uint32(len(p.data)))
		epb = order.AppendUint32(epb, uint32(max(p.orig, len(p.data))))
		b = append(b, ngBlock(order, ngEnhancedPacket, append(epb, p.data...))...)
	}
	return b
}

// TestCaptures reads the Mikrotik session from every capture layout and
// checks it gives the flows of the raw datagrams, with the exporter.
func TestCaptures(t *testing.T) {
	files := []string{"ipfix_test_mikrotik_tpl.dat", "ipfix_test_mikrotik_data258.dat", "ipfix_test_mikrotik_data259.dat"}
	var datagrams [][]byte
	var paths []string
	for _, f := range files {
		datagrams = append(datagrams, testdata(t, f))
		paths = append(paths, filepath.Join("testdata", "netflow", f))
	}
	var want []string
	if _, err := ReadFiles(paths, ReadOptions{}, func(f *event.Flow) { want = append(want, string(AppendJSON(nil, f))) }); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	type variant struct {
		name   string
		data   []byte
		nanos  bool
		expIP  netip.Addr
		format string
	}
	var variants []variant
	for _, lc := range linkCases {
		for _, exp := range []netip.Addr{netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("2001:db8::5")} {
			if lc.link == linkRaw && exp.Is6() {
				continue
			}
			pkts := capturePackets(lc, exp, datagrams, t0)
			variants = append(variants,
				variant{lc.name + "/pcap-le-us/" + exp.String(), writePcap(binary.LittleEndian, false, lc.link, pkts), false, exp, "pcap"},
				variant{lc.name + "/pcap-be-ns/" + exp.String(), writePcap(binary.BigEndian, true, lc.link, pkts), true, exp, "pcap"},
				variant{lc.name + "/pcapng-le-us/" + exp.String(), writePcapng(binary.LittleEndian, 6, lc.link, pkts), false, exp, "pcapng"},
				variant{lc.name + "/pcapng-be-ns/" + exp.String(), writePcapng(binary.BigEndian, 9, lc.link, pkts), true, exp, "pcapng"},
			)
		}
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			p, err := NewPcapReader(bytes.NewReader(v.data))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				dg, err := p.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				wantT := t0.Add(time.Duration(n) * time.Millisecond)
				if !v.nanos {
					wantT = wantT.Truncate(time.Microsecond)
				}
				if !dg.Time.Equal(wantT) || dg.Src != netip.AddrPortFrom(v.expIP, 50000) || dg.Dst.Port() != 4739 || !bytes.Equal(dg.Payload, datagrams[n]) {
					t.Fatalf("datagram %d: %v from %v to %v, %d bytes", n, dg.Time, dg.Src, dg.Dst, len(dg.Payload))
				}
				n++
			}
			if n != 3 || p.Skipped != 3 {
				t.Errorf("%d datagrams, %d skipped; want 3 and 3", n, p.Skipped)
			}
			r := NewFileReader(ReadOptions{})
			i := 0
			err = r.Read(v.name, bytes.NewReader(v.data), func(f *event.Flow) {
				if f.Exporter != v.expIP {
					t.Fatalf("Exporter = %v", f.Exporter)
				}
				f.Exporter = netip.Addr{}
				if got := string(AppendJSON(nil, f)); i >= len(want) || got != want[i] {
					t.Fatalf("flow %d: %s", i, got)
				}
				i++
			})
			if _, cerr := r.Close(); err != nil || cerr != nil || i != len(want) {
				t.Errorf("%d flows of %d, err %v %v", i, len(want), err, cerr)
			}
		})
	}
}

// TestCaptureFiles reads captures written by Wireshark's text2pcap.
func TestCaptureFiles(t *testing.T) {
	tests := []struct {
		file     string
		flows    uint64
		exporter string
	}{
		{"mikrotik-text2pcap.pcap", 46, "10.1.1.1"},
		{"netflow5-ipv6-text2pcap.pcapng", 30, "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			st, err := ReadFiles([]string{filepath.Join("testdata", "pcap", tt.file)}, ReadOptions{}, func(f *event.Flow) {
				if f.Exporter.String() != tt.exporter {
					t.Fatalf("Exporter = %v", f.Exporter)
				}
			})
			if err != nil || st.Flows != tt.flows {
				t.Errorf("%d flows, err %v; want %d", st.Flows, err, tt.flows)
			}
		})
	}
}

// TestCaptureErrors: broken captures give clear errors.
func TestCaptureErrors(t *testing.T) {
	lc := linkCases[0]
	good := writePcap(binary.LittleEndian, false, lc.link, capturePackets(lc, netip.MustParseAddr("203.0.113.5"), [][]byte{testdata(t, "netflow5.dat")}, time.Unix(0, 0)))
	goodNG := writePcapng(binary.LittleEndian, 6, lc.link, capturePackets(lc, netip.MustParseAddr("203.0.113.5"), [][]byte{testdata(t, "netflow5.dat")}, time.Unix(0, 0)))
	badLink := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(badLink[20:], 147)
	hugeRecord := append([]byte(nil), good[:24]...)
	hugeRecord = append(hugeRecord, cat(u32(0), u32(0), binary.LittleEndian.AppendUint32(nil, 1<<30), u32(0))...)
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"pcap cut in a record", good[:len(good)-10], ErrTruncated, "pcap record"},
		{"pcap cut in a record header", good[:24+8], ErrTruncated, "header"},
		{"pcap link type", badLink, ErrMalformed, "link type 147"},
		{"pcap record too large", hugeRecord, ErrMalformed, "length 1073741824"},
		{"pcapng cut", goodNG[:len(goodNG)-6], ErrTruncated, "pcapng block"},
		{"pcapng bad block length", cat(goodNG[:28], binary.LittleEndian.AppendUint32(nil, 6), binary.LittleEndian.AppendUint32(nil, 13)), ErrMalformed, "length 13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewFileReader(ReadOptions{})
			err := r.Read("x.pcap", bytes.NewReader(tt.data), func(*event.Flow) {})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), "x.pcap: ") {
				t.Errorf("err = %v, want %v saying %q", err, tt.want, tt.msg)
			}
		})
	}
	// Neither a capture nor a datagram: too large for one.
	r := NewFileReader(ReadOptions{})
	if err := r.Read("big", bytes.NewReader(make([]byte, 70000)), func(*event.Flow) {}); err == nil || !strings.Contains(err.Error(), "not a pcap file") {
		t.Errorf("70000 bytes: %v", err)
	}
	// A missing file.
	if _, err := ReadFiles([]string{"testdata/none.pcap"}, ReadOptions{}, func(*event.Flow) {}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestReadFilesErrors: datagrams that fail are reported with the file
// and reading goes on.
func TestReadFilesErrors(t *testing.T) {
	files := []string{"testdata/netflow/netflow5_test_invalid01.dat", "testdata/netflow/netflow5.dat"}
	st, err := ReadFiles(files, ReadOptions{}, func(*event.Flow) {})
	if st.Flows != 2 || st.Malformed != 1 {
		t.Errorf("%+v, want 2 flows, 1 malformed", st)
	}
	if err == nil || !strings.Contains(err.Error(), "netflow5_test_invalid01.dat: netflow v5 header: record count 55582") {
		t.Errorf("err = %v", err)
	}
}

// TestNGTimestampResolution: if_tsresol in powers of 10 and of 2.
func TestNGTimestampResolution(t *testing.T) {
	tests := []struct {
		resol uint8
		ts    uint64
		want  int64
	}{
		{6, 1_500_000, 1_500_000_000},
		{9, 1_500_000_001, 1_500_000_001},
		{3, 1500, 1_500_000_000},
		{12, 1_500_000_000_123, 1_500_000_000},
		{0x8a, 5*1024 + 512, 5_500_000_000}, // 2^-10 s
		{0x80 | 70, 1, 0},
	}
	for _, tt := range tests {
		if got := (ngInterfaceInfo{resol: tt.resol}).nanos(tt.ts); got != tt.want {
			t.Errorf("resol %#x ts %d: %d ns, want %d", tt.resol, tt.ts, got, tt.want)
		}
	}
}
