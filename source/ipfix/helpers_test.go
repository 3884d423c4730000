package ipfix

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// Builders of export datagrams for the cases the real captures lack
// (withdrawals, sampler options data), laid out as RFC 7011 / RFC 3954 say.

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// set is a set (flowset) header and its body.
func set(id uint16, body ...[]byte) []byte {
	b := cat(body...)
	return cat(u16(id), u16(uint16(4+len(b))), b)
}

// ipfixMessage is an IPFIX message header (RFC 7011 section 3.1) and sets.
func ipfixMessage(exportSecs, seq, domain uint32, sets ...[]byte) []byte {
	b := cat(sets...)
	return cat(u16(10), u16(uint16(16+len(b))), u32(exportSecs), u32(seq), u32(domain), b)
}

// v9Packet is a NetFlow v9 header (RFC 3954 section 5.1) and flowsets.
func v9Packet(uptimeMs, secs, seq, sourceID uint32, sets ...[]byte) []byte {
	b := cat(sets...)
	return cat(u16(9), u16(uint16(len(sets))), u32(uptimeMs), u32(secs), u32(seq), u32(sourceID), b)
}

// testdata reads one real datagram.
func testdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "netflow", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// collector decodes datagrams with one decoder and keeps copies of flows.
type collector struct {
	t     testing.TB
	d     *Decoder
	now   time.Time
	flows []event.Flow
}

func newCollector(t testing.TB, opts Options) *collector {
	return &collector{t: t, d: NewDecoder(opts), now: time.Unix(1700000000, 0)}
}

var testExporter = netip.MustParseAddrPort("192.0.2.7:40000")

// feed decodes one datagram from testExporter, failing on errors.
func (c *collector) feed(p []byte) Stats {
	c.t.Helper()
	st, err := c.feedFrom(testExporter, p)
	if err != nil {
		c.t.Fatal(err)
	}
	return st
}

func (c *collector) feedFrom(from netip.AddrPort, p []byte) (Stats, error) {
	return c.d.Decode(from, p, c.now, func(f *event.Flow) { c.flows = append(c.flows, *f) })
}

// take returns the flows collected since the last take.
func (c *collector) take() []event.Flow {
	f := c.flows
	c.flows = nil
	return f
}
