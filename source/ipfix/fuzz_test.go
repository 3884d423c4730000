package ipfix

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// fuzzLimits keep the fuzzed decoder's state small, so that growth beyond
// the limits shows.
var fuzzLimits = Options{MaxExporters: 4, MaxTemplates: 8, MaxTemplateMemory: 64 << 10,
	MaxPendingSets: 4, MaxPendingBytes: 16 << 10}

// addSessionSeeds adds (first datagram, last datagram) of every session
// of the given versions.
func addSessionSeeds(f *testing.F, versions ...uint16) {
	for _, s := range loadSessions(f) {
		first := testdata(f, strings.TrimPrefix(s.files[0], "testdata/netflow/"))
		last := testdata(f, strings.TrimPrefix(s.files[len(s.files)-1], "testdata/netflow/"))
		v := binary.BigEndian.Uint16(first)
		for _, want := range versions {
			if v == want {
				f.Add(first, last)
			}
		}
	}
}

// fuzzDecode decodes a then b and checks what must always hold.
func fuzzDecode(t *testing.T, a, b []byte) {
	d := NewDecoder(fuzzLimits)
	now := time.Unix(1700000000, 0)
	for i, p := range [][]byte{a, b, b} {
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 2055)
		if i == 1 {
			from = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 0}), 2055)
		}
		st, err := d.Decode(from, p, now, func(f *event.Flow) {
			if f.End.Before(f.Start) {
				t.Fatalf("End %v before Start %v", f.End, f.Start)
			}
			if f.SamplingRate == 0 {
				t.Fatal("SamplingRate 0")
			}
			if f.Exporter != from.Addr() {
				t.Fatalf("Exporter %v, want %v", f.Exporter, from.Addr())
			}
		})
		if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if (err != nil) != (st.Malformed == 1) {
			t.Fatalf("err %v but Malformed %d", err, st.Malformed)
		}
	}
	if d.Exporters() > fuzzLimits.MaxExporters || d.tplMemory > fuzzLimits.MaxTemplateMemory ||
		d.pendingSize > fuzzLimits.MaxPendingBytes || d.templates < 0 {
		t.Fatalf("state over the limits: %d exporters, %d template bytes, %d pending bytes",
			d.Exporters(), d.tplMemory, d.pendingSize)
	}
	for _, s := range d.sessions {
		if len(s.templates) > fuzzLimits.MaxTemplates || len(s.pending) > fuzzLimits.MaxPendingSets || len(s.samplers) > maxSamplers {
			t.Fatalf("session over the limits: %d templates, %d pending", len(s.templates), len(s.pending))
		}
	}
	d.Expire(now.Add(24 * time.Hour))
	if d.Exporters() != 0 || d.Templates() != 0 || d.tplMemory != 0 || d.pendingSize != 0 {
		t.Fatalf("after expiry: %d exporters, %d templates, %d bytes, %d pending", d.Exporters(), d.Templates(), d.tplMemory, d.pendingSize)
	}
}

// withVersion sets a datagram's version field, keeping fuzzing inside one
// decoder.
func withVersion(p []byte, v uint16) []byte {
	if len(p) < 2 {
		return p
	}
	p = append([]byte(nil), p...)
	binary.BigEndian.PutUint16(p, v)
	return p
}

// FuzzDecode: any two datagrams, any version.
func FuzzDecode(f *testing.F) {
	addSessionSeeds(f, 5, 9, 10)
	f.Add([]byte{}, []byte{0, 10, 0, 16})
	f.Fuzz(fuzzDecode)
}

// FuzzNetFlowV5 keeps the version at 5.
func FuzzNetFlowV5(f *testing.F) {
	addSessionSeeds(f, 5)
	f.Add(testdata(f, "netflow5_test_invalid01.dat"), testdata(f, "netflow5_test_invalid02.dat"))
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, a, b []byte) { fuzzDecode(t, withVersion(a, 5), withVersion(b, 5)) })
}

// FuzzNetFlowV9 keeps the version at 9: templates, options, data.
func FuzzNetFlowV9(f *testing.F) {
	addSessionSeeds(f, 9)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, a, b []byte) { fuzzDecode(t, withVersion(a, 9), withVersion(b, 9)) })
}

// FuzzIPFIX keeps the version at 10: messages, templates, withdrawals,
// variable-length fields, enterprise fields.
func FuzzIPFIX(f *testing.F) {
	addSessionSeeds(f, 10)
	f.Add(testdata(f, "ipfix_test_mikrotik_tpl.dat"), ipfixMessage(1, 1, 0, set(2, u16(258), u16(0)), set(2, u16(2), u16(0))))
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, a, b []byte) { fuzzDecode(t, withVersion(a, 10), withVersion(b, 10)) })
}

// maxFuzzPcapBytes caps the capture FuzzPcap reads: a few packets. Every
// input that widens coverage is minimized (one execution per byte removed,
// up to quadratic in its length) before fuzzing goes on.
const maxFuzzPcapBytes = 4 << 10

// FuzzPcap: any capture file reads to its end or a clear error.
func FuzzPcap(f *testing.F) {
	lc := linkCases[0]
	pkts := capturePackets(lc, netip.MustParseAddr("2001:db8::5"), [][]byte{testdata(f, "netflow5.dat")}, time.Unix(1, 0))
	f.Add(writePcap(binary.LittleEndian, false, lc.link, pkts))
	f.Add(writePcap(binary.BigEndian, true, linkCases[1].link, capturePackets(linkCases[1], netip.MustParseAddr("203.0.113.1"), [][]byte{{0, 5}}, time.Unix(1, 0))))
	f.Add(writePcapng(binary.LittleEndian, 6, lc.link, pkts))
	f.Add(writePcapng(binary.BigEndian, 0x8a, linkCases[3].link, pkts))
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:min(len(data), maxFuzzPcapBytes)]
		p, err := NewPcapReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for range 10000 {
			dg, err := p.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotPcap) {
					t.Fatalf("error %v wraps no sentinel", err)
				}
				return
			}
			if len(dg.Payload) > len(data) {
				t.Fatal("payload larger than the capture")
			}
		}
	})
}

// FuzzParseExporters: any allow-list entry is parsed into a prefix or
// refused with an error, never a panic; what parses contains its address.
func FuzzParseExporters(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "198.51.100.0/24", "2001:db8::/32", "::ffff:192.0.2.9", "fe80::1%eth0", "router-1", "", "10.0.0.0/33"} {
		f.Add(s)
	}
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseExporters([]string{s})
		if err != nil {
			return
		}
		if len(ps) != 1 || !ps[0].IsValid() || ps[0] != ps[0].Masked() {
			t.Fatalf("%q: %v", s, ps)
		}
	})
}
