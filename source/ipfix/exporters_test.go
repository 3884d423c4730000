package ipfix

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-security/vigil/event"
)

func TestParseExporters(t *testing.T) {
	got, err := ParseExporters([]string{"192.0.2.1", " 198.51.100.0/24 ", "2001:db8::/32", "::ffff:192.0.2.9", "10.1.2.3/8"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.0.2.9/32"), netip.MustParsePrefix("10.0.0.0/8")}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "router-1", "192.0.2.300", "fe80::1%eth0", "192.0.2.0/33"} {
		if _, err := ParseExporters([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestAllowedExporters: a table filled by spoofed exporters refuses new
// ones, counted per source, but always has room for the allow-list's.
func TestAllowedExporters(t *testing.T) {
	tpl := testdata(t, "ipfix_test_mikrotik_tpl.dat")
	allow, err := ParseExporters([]string{"198.51.100.0/30", "203.0.113.7"})
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(t, Options{MaxExporters: 3, SessionTimeout: time.Hour, AllowedExporters: allow})
	spoofed := func(i byte) netip.AddrPort { return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, i}), 2055) }
	for i := range byte(6) { // 192.0.2.0-5: three get a session, three are refused
		c.feedFrom(spoofed(i), tpl)
	}
	c.feedFrom(spoofed(4), tpl) // refused again
	for _, a := range []string{"198.51.100.1:2055", "198.51.100.2:2055", "203.0.113.7:4739"} {
		if st, err := c.feedFrom(netip.MustParseAddrPort(a), tpl); err != nil || st.DroppedExporters != 0 || st.Templates == 0 {
			t.Errorf("allowed %s: %+v %v", a, st, err)
		}
	}
	if st, _ := c.feedFrom(netip.MustParseAddrPort("203.0.113.8:4739"), tpl); st.DroppedExporters != 1 {
		t.Errorf("203.0.113.8 is not on the list: %+v", st)
	}
	if n, tot := c.d.Exporters(), c.d.Totals(); n != 6 || tot.DroppedExporters != 5 {
		t.Errorf("Exporters() %d DroppedExporters %d, want 6 and 5", n, tot.DroppedExporters)
	}
	by, other := c.d.Refusals()
	want := []Refusal{{netip.MustParseAddr("192.0.2.4"), 2}, {netip.MustParseAddr("192.0.2.3"), 1},
		{netip.MustParseAddr("192.0.2.5"), 1}, {netip.MustParseAddr("203.0.113.8"), 1}}
	if !slices.Equal(by, want) || other != 0 {
		t.Errorf("refusals %v other %d, want %v", by, other, want)
	}
	// A fourth allowed exporter finds the allow-list's own pool full.
	if st, _ := c.feedFrom(netip.MustParseAddrPort("198.51.100.3:2055"), tpl); st.DroppedExporters != 1 {
		t.Errorf("a fourth allowed exporter: %+v", st)
	}
	c.now = c.now.Add(2 * time.Hour)
	c.d.Expire(c.now)
	if st, _ := c.feedFrom(spoofed(9), tpl); st.DroppedExporters != 0 {
		t.Errorf("after expiry: %+v", st)
	}
}

func TestRefusalSourcesBounded(t *testing.T) {
	d := NewDecoder(Options{})
	var st Stats
	for i := range maxRefusalSources + 10 {
		d.refuse(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), &st)
	}
	by, other := d.Refusals()
	if len(by) != maxRefusalSources || other != 10 || st.DroppedExporters != maxRefusalSources+10 {
		t.Errorf("%d sources, other %d, dropped %d", len(by), other, st.DroppedExporters)
	}
}

// sendFrom sends datagrams to a listener from a local address (127.0.0.x:
// Linux's loopback answers the whole 127/8).
func sendFrom(t *testing.T, from string, to net.Addr, datagrams ...[]byte) {
	t.Helper()
	conn, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)), to.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, d := range datagrams {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
}

// TestListenerRefusals: over real UDP sockets, a full table refuses a new
// exporter (counted per source, exported as a metric) but not an allowed
// one.
func TestListenerRefusals(t *testing.T) {
	allow, err := ParseExporters([]string{"127.0.0.3"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen(ListenerOptions{Addr: "127.0.0.1:0", ExpireEvery: 10 * time.Millisecond,
		Decoder: Options{MaxExporters: 1, AllowedExporters: allow}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, func(*event.Flow) {}) }()
	tpl := testdata(t, "ipfix_test_mikrotik_tpl.dat")
	sendFrom(t, "127.0.0.1:0", l.Addr(), tpl)
	sendFrom(t, "127.0.0.2:0", l.Addr(), tpl, tpl)
	sendFrom(t, "127.0.0.3:0", l.Addr(), tpl)
	deadline := time.Now().Add(guard)
	var st ListenerStats
	for {
		st = l.Stats()
		if st.Decoder.Datagrams == 4 && len(st.Refusals) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := []Refusal{{netip.MustParseAddr("127.0.0.2"), 2}}
	if st.Exporters != 2 || st.Decoder.DroppedExporters != 2 || !slices.Equal(st.Refusals, want) {
		t.Fatalf("exporters %d dropped %d refusals %v, want 2, 2, %v", st.Exporters, st.Decoder.DroppedExporters, st.Refusals, want)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(l)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "vigil_flow_exporter_refusals_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "127.0.0.2" && m.GetCounter().GetValue() == 2 {
				found = true
			}
		}
	}
	if !found {
		t.Error("no vigil_flow_exporter_refusals_total{source=\"127.0.0.2\"} 2")
	}
}
