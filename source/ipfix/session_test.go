package ipfix

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// TestDataBeforeTemplate: data that comes before its template is held and
// decoded when the template arrives, exactly as in the right order.
func TestDataBeforeTemplate(t *testing.T) {
	tpl := testdata(t, "ipfix_test_mikrotik_tpl.dat")
	d258, d259 := testdata(t, "ipfix_test_mikrotik_data258.dat"), testdata(t, "ipfix_test_mikrotik_data259.dat")

	inOrder := newCollector(t, Options{})
	inOrder.feed(tpl)
	inOrder.feed(d258)
	inOrder.feed(d259)
	want := inOrder.take()

	c := newCollector(t, Options{})
	if st := c.feed(d258); st.Held != 1 || st.Flows != 0 {
		t.Fatalf("data first: %+v, want it held", st)
	}
	if st := c.feed(d259); st.Held != 1 || st.Flows != 0 {
		t.Fatalf("data first: %+v, want it held", st)
	}
	st := c.feed(tpl)
	if st.Released != 2 || st.Flows != 46 || st.Templates != 2 {
		t.Fatalf("template: %+v, want 2 sets released, 46 flows", st)
	}
	got := c.take()
	if len(got) != len(want) {
		t.Fatalf("%d flows, want %d", len(got), len(want))
	}
	for i := range want {
		if string(AppendJSON(nil, &got[i])) != string(AppendJSON(nil, &want[i])) {
			t.Fatalf("flow %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if tot := c.d.Totals(); tot.DroppedSets != 0 || tot.Held != 2 || tot.Released != 2 {
		t.Errorf("totals %+v", tot)
	}
}

// TestPendingLimits: held data is bounded by count, bytes and age, and
// what the bounds refuse is counted.
func TestPendingLimits(t *testing.T) {
	tpl, data := testdata(t, "ipfix_test_mikrotik_tpl.dat"), testdata(t, "ipfix_test_mikrotik_data258.dat")
	tests := []struct {
		name          string
		opts          Options
		sends         int
		wait          time.Duration // before the template
		held, dropped uint64
		flows         uint64
	}{
		{"count", Options{MaxPendingSets: 2}, 5, 0, 2, 3, 56},
		{"bytes", Options{MaxPendingBytes: 3000}, 3, 0, 2, 1, 56},
		{"age", Options{PendingTimeout: time.Minute}, 2, 2 * time.Minute, 2, 2, 0},
		{"fresh", Options{PendingTimeout: time.Minute}, 2, 30 * time.Second, 2, 0, 56},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, tt.opts)
			for range tt.sends {
				c.feed(data)
			}
			c.now = c.now.Add(tt.wait)
			st := c.feed(tpl)
			tot := c.d.Totals()
			if tot.Held != tt.held || tot.DroppedSets != tt.dropped || st.Flows != tt.flows {
				t.Errorf("held %d dropped %d flows %d, want %d %d %d", tot.Held, tot.DroppedSets, st.Flows, tt.held, tt.dropped, tt.flows)
			}
			if c.d.pendingSize != 0 {
				t.Errorf("pendingSize = %d after release", c.d.pendingSize)
			}
		})
	}
}

// TestFlushCountsHeld: at the end of a capture, data still waiting for a
// template is counted as dropped.
func TestFlushCountsHeld(t *testing.T) {
	st, err := ReadFiles([]string{"testdata/netflow/ipfix_test_netscaler_data.dat"}, ReadOptions{}, func(*event.Flow) {
		t.Fatal("no template: no flow expected")
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Held != 4 || st.DroppedSets != 4 || st.Flows != 0 {
		t.Errorf("%+v, want 4 held and dropped", st)
	}
}

// TestTemplateWithdrawal: an IPFIX template record with field count 0
// withdraws one template; template ID 2 with count 0 withdraws all.
func TestTemplateWithdrawal(t *testing.T) {
	tpl := testdata(t, "ipfix_test_mikrotik_tpl.dat")
	d258, d259 := testdata(t, "ipfix_test_mikrotik_data258.dat"), testdata(t, "ipfix_test_mikrotik_data259.dat")
	c := newCollector(t, Options{})
	c.feed(tpl)
	if st := c.feed(ipfixMessage(1500481090, 1, 0, set(2, u16(258), u16(0)))); st.Withdrawn != 1 {
		t.Fatalf("withdraw 258: %+v", st)
	}
	if st := c.feed(d258); st.Flows != 0 || st.Held != 1 {
		t.Errorf("data of a withdrawn template: %+v, want it held", st)
	}
	if st := c.feed(d259); st.Flows != 18 {
		t.Errorf("data of the other template: %d flows, want 18", st.Flows)
	}
	if c.d.Templates() != 1 {
		t.Errorf("Templates() = %d, want 1", c.d.Templates())
	}
	// Withdraw all data templates; options templates (set 3) would stay.
	if st := c.feed(ipfixMessage(1500481090, 2, 0, set(2, u16(2), u16(0)))); st.Withdrawn != 1 {
		t.Fatalf("withdraw all: %+v", st)
	}
	if st := c.feed(d259); st.Flows != 0 {
		t.Errorf("after withdrawing all: %d flows", st.Flows)
	}
	if c.d.Templates() != 0 || c.d.tplMemory != 0 {
		t.Errorf("Templates() = %d, memory %d, want 0", c.d.Templates(), c.d.tplMemory)
	}
}

// TestTemplateExpiry: a template not refreshed within TemplateTimeout is
// forgotten; a refresh keeps it.
func TestTemplateExpiry(t *testing.T) {
	tpl, data := testdata(t, "ipfix_test_mikrotik_tpl.dat"), testdata(t, "ipfix_test_mikrotik_data258.dat")
	c := newCollector(t, Options{TemplateTimeout: time.Minute})
	c.feed(tpl)
	c.now = c.now.Add(50 * time.Second)
	c.feed(tpl) // refresh
	c.now = c.now.Add(50 * time.Second)
	if st := c.feed(data); st.Flows != 28 {
		t.Fatalf("refreshed template: %d flows, want 28", st.Flows)
	}
	c.now = c.now.Add(2 * time.Minute)
	if st := c.feed(data); st.Flows != 0 || st.Expired != 1 || st.Held != 1 {
		t.Errorf("expired template: %+v", st)
	}
	if st := c.d.Expire(c.now); st.Expired != 1 { // the other template (259)
		t.Errorf("Expire: %+v, want the other template expired", st)
	}
	if c.d.Templates() != 0 {
		t.Errorf("Templates() = %d", c.d.Templates())
	}
}

// TestTemplateChange: a template ID redefined replaces the old plan.
func TestTemplateChange(t *testing.T) {
	c := newCollector(t, Options{})
	v4 := ipfixMessage(100, 0, 0, set(2, u16(300), u16(1), u16(8), u16(4)))
	v6 := ipfixMessage(100, 0, 0, set(2, u16(300), u16(1), u16(27), u16(16)))
	c.feed(v4)
	c.feed(ipfixMessage(100, 0, 0, set(300, []byte{10, 0, 0, 1})))
	c.feed(v6)
	c.feed(ipfixMessage(100, 0, 0, set(300, netip.MustParseAddr("2001:db8::1").AsSlice())))
	got := c.take()
	if len(got) != 2 || got[0].SrcAddr.String() != "10.0.0.1" || got[1].SrcAddr.String() != "2001:db8::1" {
		t.Errorf("flows %+v", got)
	}
	if c.d.Templates() != 1 {
		t.Errorf("Templates() = %d, want 1", c.d.Templates())
	}
}

// TestLimits: sessions and templates are capped and the refusals counted.
func TestLimits(t *testing.T) {
	tpl, data := testdata(t, "ipfix_test_mikrotik_tpl.dat"), testdata(t, "ipfix_test_mikrotik_data258.dat")
	t.Run("exporters", func(t *testing.T) {
		c := newCollector(t, Options{MaxExporters: 2, SessionTimeout: time.Hour})
		for i := range 4 {
			from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 2055)
			c.feedFrom(from, tpl)
		}
		if tot := c.d.Totals(); tot.DroppedExporters != 2 || c.d.Exporters() != 2 {
			t.Errorf("DroppedExporters %d, Exporters() %d, want 2 and 2", tot.DroppedExporters, c.d.Exporters())
		}
		// Idle sessions expire and make room.
		c.now = c.now.Add(2 * time.Hour)
		if st := c.d.Expire(c.now); st.Expired != 2 || c.d.Exporters() != 0 || c.d.Templates() != 0 {
			t.Errorf("Expire: %+v, Exporters() %d, Templates() %d", st, c.d.Exporters(), c.d.Templates())
		}
		if st, _ := c.feedFrom(netip.MustParseAddrPort("192.0.2.9:1"), tpl); st.DroppedExporters != 0 {
			t.Errorf("after expiry: %+v", st)
		}
	})
	t.Run("templates", func(t *testing.T) {
		c := newCollector(t, Options{MaxTemplates: 1})
		if st := c.feed(tpl); st.Templates != 1 || st.DroppedTemplates != 1 {
			t.Errorf("%+v, want 1 learnt and 1 refused", st)
		}
		if st := c.feed(data); st.Flows != 28 {
			t.Errorf("the learnt template decodes: %d flows", st.Flows)
		}
	})
	t.Run("template memory", func(t *testing.T) {
		c := newCollector(t, Options{MaxTemplateMemory: 200})
		if st := c.feed(tpl); st.Templates != 0 || st.DroppedTemplates != 2 {
			t.Errorf("%+v, want both refused", st)
		}
	})
}

// TestSamplingFromOptions: sampling comes from options records in the
// ways exporters send it, from the v5 header, or from configuration.
func TestSamplingFromOptions(t *testing.T) {
	// Cisco-style: options template 257 (System scope; FLOW_SAMPLER_ID,
	// FLOW_SAMPLER_MODE, FLOW_SAMPLER_RANDOM_INTERVAL) in the real
	// datagram; its data record built here (sampler 1: 1 in 100).
	ie150 := testdata(t, "netflow9_test_unknown_tpl266_292_data.dat")
	samplerData := v9Packet(592000, 1512147880, 7, 0, set(257, u32(0), []byte{1, 2}, u32(100), []byte{0, 0}))
	// Juniper MX240 options (samplingInterval 1000) for domain 524288, and
	// Mikrotik's real templates and data moved to that domain.
	mx240 := [][]byte{testdata(t, "ipfix_test_juniper_mx240_junos151r6s3_opttpl512.dat"), testdata(t, "ipfix_test_juniper_mx240_junos151r6s3_data512.dat")}
	inDomain := func(p []byte) []byte {
		p = append([]byte(nil), p...)
		copy(p[12:16], u32(524288))
		return p
	}
	mikrotik := [][]byte{inDomain(testdata(t, "ipfix_test_mikrotik_tpl.dat")), inDomain(testdata(t, "ipfix_test_mikrotik_data258.dat"))}

	tests := []struct {
		name  string
		opts  Options
		steps [][]byte
		rate  uint32
		flows int
	}{
		{"v9 without the sampler's record", Options{}, [][]byte{ie150}, 1, 2},
		{"v9 sampler id", Options{}, [][]byte{ie150, samplerData, ie150}, 100, 4},
		{"ipfix samplingInterval", Options{}, append(append([][]byte{}, mx240...), mikrotik...), 1000, 28},
		{"exporter's rate wins over configuration", Options{Sampling: map[netip.Addr]uint32{testExporter.Addr(): 64}},
			append(append([][]byte{}, mx240...), mikrotik...), 1000, 28},
		{"configured rate", Options{Sampling: map[netip.Addr]uint32{testExporter.Addr(): 64}}, mikrotik, 64, 28},
		{"default rate", Options{DefaultSampling: 10}, mikrotik, 10, 28},
		{"v5 header", Options{DefaultSampling: 10}, [][]byte{testdata(t, "netflow5_test_juniper_mx80.dat")}, 1000, 29},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, tt.opts)
			for _, p := range tt.steps {
				c.feed(p)
			}
			flows := c.take()
			if len(flows) != tt.flows {
				t.Fatalf("%d flows, want %d", len(flows), tt.flows)
			}
			last := flows[len(flows)-1]
			if last.SamplingRate != tt.rate {
				t.Errorf("SamplingRate = %d, want %d", last.SamplingRate, tt.rate)
			}
			if last.ScaledBytes() != last.Bytes*uint64(tt.rate) {
				t.Errorf("ScaledBytes = %d, Bytes %d", last.ScaledBytes(), last.Bytes)
			}
		})
	}
}

// TestSamplingRecordElements: the rate from a record's own elements.
func TestSamplingRecordElements(t *testing.T) {
	tests := []struct {
		name   string
		fields []byte // template field specifiers after IE 8
		values []byte
		rate   uint32
	}{
		{"samplingInterval", cat(u16(34), u16(4)), u32(512), 512},
		{"samplingPacketInterval and Space", cat(u16(305), u16(4), u16(306), u16(4)), cat(u32(1), u32(99)), 100},
		{"samplingSize and Population", cat(u16(309), u16(4), u16(310), u16(4)), cat(u32(2), u32(200)), 100},
		{"interval 0 means unknown", cat(u16(34), u16(4)), u32(0), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, Options{})
			count := uint16(1 + len(tt.fields)/4)
			c.feed(ipfixMessage(100, 0, 0, set(2, u16(300), u16(count), u16(8), u16(4), tt.fields)))
			c.feed(ipfixMessage(100, 0, 0, set(300, []byte{10, 0, 0, 1}, tt.values)))
			if f := c.take(); len(f) != 1 || f[0].SamplingRate != tt.rate {
				t.Errorf("flows %+v, want rate %d", f, tt.rate)
			}
		})
	}
}

// ntpBytes encodes t as an NTP timestamp (RFC 5905), rounding the
// fraction up so that decoding it gives t's nanoseconds back.
func ntpBytes(t time.Time) []byte {
	frac := (uint64(t.Nanosecond())<<32 + 1e9 - 1) / 1e9
	return cat(u32(uint32(t.Unix()+2208988800)), u32(uint32(frac)))
}

// TestTimes covers the time rules that the real captures do not reach.
func TestTimes(t *testing.T) {
	const export = 1700000000 // 2023-11-14T22:13:20Z
	base := time.Unix(export, 0).UTC()
	msAt := func(d time.Duration) []byte {
		v := uint64(base.Add(d).UnixMilli())
		return cat(u32(uint32(v>>32)), u32(uint32(v)))
	}
	odd := base.Add(-3*time.Second + 123456789)
	tests := []struct {
		name       string
		fields     []byte // field specifiers after IE 8
		values     []byte
		start, end time.Time
	}{
		{"no times: the export time", nil, nil, base, base},
		{"start only: end is the export time", cat(u16(150), u16(4)), u32(export - 10), base.Add(-10 * time.Second), base},
		{"end only: start is end", cat(u16(153), u16(8)), msAt(-5 * time.Second), base.Add(-5 * time.Second), base.Add(-5 * time.Second)},
		{"start and duration", cat(u16(152), u16(8), u16(161), u16(4)), cat(msAt(-9*time.Second), u32(2500)),
			base.Add(-9 * time.Second), base.Add(-6500 * time.Millisecond)},
		{"end and duration", cat(u16(153), u16(8), u16(162), u16(4)), cat(msAt(-time.Second), u32(250000)),
			base.Add(-1250 * time.Millisecond), base.Add(-time.Second)},
		{"microseconds (NTP) truncated to the microsecond", cat(u16(154), u16(8), u16(155), u16(8)), cat(ntpBytes(odd), ntpBytes(odd.Add(time.Second))),
			odd.Truncate(time.Microsecond), odd.Add(time.Second).Truncate(time.Microsecond)},
		{"nanoseconds (NTP)", cat(u16(156), u16(8), u16(157), u16(8)), cat(ntpBytes(odd), ntpBytes(odd.Add(time.Second))),
			odd, odd.Add(time.Second)},
		{"delta microseconds", cat(u16(158), u16(4), u16(159), u16(4)), cat(u32(3000000), u32(1000)),
			base.Add(-3 * time.Second), base.Add(-time.Millisecond)},
		{"observation time (ASA)", cat(u16(323), u16(8)), msAt(-2 * time.Second), base.Add(-2 * time.Second), base.Add(-2 * time.Second)},
		{"end before start: end is start", cat(u16(152), u16(8), u16(153), u16(8)), cat(msAt(-time.Second), msAt(-2*time.Second)),
			base.Add(-time.Second), base.Add(-time.Second)},
		{"sysUpTime without the boot time: ends at export", cat(u16(22), u16(4), u16(21), u16(4)), cat(u32(5000), u32(8000)),
			base.Add(-3 * time.Second), base},
		{"sysUpTime across the 2^32 wrap", cat(u16(22), u16(4), u16(21), u16(4)), cat(u32(0xffffff00), u32(0x100)),
			base.Add(-512 * time.Millisecond), base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, Options{})
			count := uint16(1 + len(tt.fields)/4)
			c.feed(ipfixMessage(export, 0, 0, set(2, u16(300), u16(count), u16(8), u16(4), tt.fields)))
			c.feed(ipfixMessage(export, 0, 0, set(300, []byte{10, 0, 0, 1}, tt.values)))
			f := c.take()
			if len(f) != 1 {
				t.Fatalf("%d flows", len(f))
			}
			if !f[0].Start.Equal(tt.start) || !f[0].End.Equal(tt.end) {
				t.Errorf("start %v end %v, want %v %v", f[0].Start, f[0].End, tt.start, tt.end)
			}
		})
	}
}

// TestSystemInitTime: IPFIX sysUpTime times use the boot time from an
// options record (systemInitTimeMilliseconds).
func TestSystemInitTime(t *testing.T) {
	const export = 1700000000
	boot := time.Unix(export-3600, 0).UTC()
	v := uint64(boot.UnixMilli())
	c := newCollector(t, Options{})
	c.feed(ipfixMessage(export, 0, 0,
		set(3, u16(400), u16(2), u16(1), u16(143), u16(4), u16(160), u16(8)),
		set(2, u16(300), u16(3), u16(8), u16(4), u16(22), u16(4), u16(21), u16(4))))
	c.feed(ipfixMessage(export, 0, 0, set(400, u32(1), u32(uint32(v>>32)), u32(uint32(v)))))
	c.feed(ipfixMessage(export, 0, 0, set(300, []byte{10, 0, 0, 1}, u32(1000), u32(61000))))
	f := c.take()
	if len(f) != 1 || !f[0].Start.Equal(boot.Add(time.Second)) || !f[0].End.Equal(boot.Add(61*time.Second)) {
		t.Errorf("flows %+v, want %v to %v", f, boot.Add(time.Second), boot.Add(61*time.Second))
	}
}

// TestFieldEncodings: reduced-size integers (RFC 7011 section 6.2) and
// templates that carry both IPv4 and IPv6 addresses, in either order.
func TestFieldEncodings(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::7").AsSlice()
	tests := []struct {
		name     string
		fields   []byte
		values   []byte
		src      string
		bytes    uint64
		packets  uint64
		protocol uint8
	}{
		{"3-byte octets, 6-byte packets", cat(u16(8), u16(4), u16(1), u16(3), u16(2), u16(6)),
			cat([]byte{10, 0, 0, 1}, []byte{1, 0, 0}, []byte{0, 0, 0, 1, 0, 0}), "10.0.0.1", 65536, 65536, 0},
		{"5- and 7-byte counts", cat(u16(8), u16(4), u16(85), u16(5), u16(86), u16(7)),
			cat([]byte{10, 0, 0, 1}, []byte{1, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0, 9}), "10.0.0.1", 1 << 32, 9, 0},
		{"IPv6 first, IPv4 0.0.0.0", cat(u16(27), u16(16), u16(8), u16(4), u16(4), u16(1)),
			cat(v6, []byte{0, 0, 0, 0}, []byte{6}), "2001:db8::7", 0, 0, 6},
		{"IPv6 first, IPv4 set", cat(u16(27), u16(16), u16(8), u16(4)), cat(v6, []byte{10, 0, 0, 2}), "10.0.0.2", 0, 0, 0},
		{"initiator and responder octets", cat(u16(8), u16(4), u16(231), u16(4), u16(232), u16(4), u16(298), u16(2), u16(299), u16(2)),
			cat([]byte{10, 0, 0, 1}, u32(100), u32(23), u16(2), u16(3)), "10.0.0.1", 123, 5, 0},
		{"an address of the wrong size is skipped", cat(u16(8), u16(2), u16(4), u16(1)), cat(u16(7), []byte{17}), "invalid IP", 0, 0, 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, Options{})
			c.feed(ipfixMessage(100, 0, 0, set(2, u16(300), u16(uint16(len(tt.fields)/4)), tt.fields)))
			c.feed(ipfixMessage(100, 0, 0, set(300, tt.values)))
			f := c.take()
			if len(f) != 1 {
				t.Fatalf("%d flows", len(f))
			}
			if f[0].SrcAddr.String() != tt.src || f[0].Bytes != tt.bytes || f[0].Packets != tt.packets || f[0].Protocol != tt.protocol {
				t.Errorf("src %v bytes %d packets %d proto %d", f[0].SrcAddr, f[0].Bytes, f[0].Packets, f[0].Protocol)
			}
		})
	}
}
