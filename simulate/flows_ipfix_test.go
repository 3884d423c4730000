package simulate

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// TestIPFIXPcapStructure reads the small estate's pcap back with a strict
// decoder: headers, lengths, templates first and again every five minutes,
// sequence numbers, times; the records are exactly what Flows gives.
func TestIPFIXPcapStructure(t *testing.T) {
	o := smallFlows()
	o.check(t)
	msgs, stamps := decodePcap(t, o.pcap)
	if int64(len(msgs)) != o.pcapSt.Messages {
		t.Fatalf("%d messages, stats say %d", len(msgs), o.pcapSt.Messages)
	}
	if msgs[0].templates != 1 || msgs[0].options != 0 {
		t.Errorf("first message: %d templates, %d options templates (want 1, 0)", msgs[0].templates, msgs[0].options)
	}
	var recs []event.Flow
	seq, lastTmpl, sinceTmpl := uint32(0), time.Time{}, 0
	for i, m := range msgs {
		if m.seq != seq || m.domain != IPFIXObservationDomain {
			t.Fatalf("message %d: sequence %d domain %d, want %d and %d", i, m.seq, m.domain, seq, IPFIXObservationDomain)
		}
		seq += uint32(len(m.recs))
		if len(m.recs) == 0 {
			t.Fatalf("message %d has no records", i)
		}
		if exp := time.Unix(int64(m.exportTime), 0); !exp.Equal(stamps[i].Truncate(time.Second)) {
			t.Fatalf("message %d: export time %s, sent %s", i, exp, stamps[i])
		}
		if i > 0 && stamps[i].Before(stamps[i-1]) {
			t.Fatalf("message %d sent at %s, before the one before (%s)", i, stamps[i], stamps[i-1])
		}
		if m.templates > 0 {
			lastTmpl, sinceTmpl = stamps[i], 0
		} else if sinceTmpl++; stamps[i].Sub(lastTmpl) > templateRefreshMs*time.Millisecond+2*time.Second || sinceTmpl > templateRefreshMsg {
			t.Fatalf("message %d: no templates for %s and %d messages", i, stamps[i].Sub(lastTmpl), sinceTmpl)
		}
		for _, r := range m.recs {
			if r.End.Before(r.Start) || r.End.After(stamps[i]) || r.Packets == 0 || r.Bytes < 28*r.Packets {
				t.Fatalf("message %d: bad record %+v", i, r)
			}
		}
		recs = append(recs, m.recs...)
	}
	if int64(len(recs)) != o.pcapSt.Records || len(recs) != len(o.flows) || o.flowsSt.Records != o.pcapSt.Records {
		t.Fatalf("%d records decoded, pcap stats %d, Flows %d (stats %d)", len(recs), o.pcapSt.Records, len(o.flows), o.flowsSt.Records)
	}
	for i := range recs {
		if got, want := flowKey(&recs[i]), flowKey(&o.flows[i]); got != want {
			t.Fatalf("record %d: pcap %+v, Flows %+v", i, got, want)
		}
	}
	if f := o.flows[0]; f.Source != event.FlowIPFIX || f.SamplingRate != 1 || f.Exporter != IPFIXExporter || f.ObservationDomain != IPFIXObservationDomain {
		t.Errorf("Flows: %+v", f)
	}
	if int64(len(o.pcap)) != o.pcapSt.Bytes {
		t.Fatalf("pcap of %d bytes, stats say %d", len(o.pcap), o.pcapSt.Bytes)
	}
}

// flowFields are the fields of a flow an IPFIX record carries.
type flowFields struct {
	start, end      time.Time
	src, dst        netip.Addr
	sport, dport    uint16
	proto, flags    uint8
	packets, octets uint64
}

func flowKey(f *event.Flow) flowFields {
	return flowFields{f.Start, f.End, f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Protocol, f.TCPFlags, f.Packets, f.Bytes}
}

// TestIPFIXSampling: with sampling the options template and record announce
// the rate, and about one packet in N is exported.
func TestIPFIXSampling(t *testing.T) {
	o := smallFlows()
	o.check(t)
	opts := smallFlowOpts
	opts.SamplingRate = 10
	e, err := NewFlowEstate(opts)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	st, err := e.WriteIPFIXPcap(&b)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := decodePcap(t, b.Bytes())
	if msgs[0].options != 1 || len(msgs[0].optionData) != 1 || !slices.Equal(msgs[0].optionData[0], []uint32{IPFIXObservationDomain, 10, 1, 9}) {
		t.Fatalf("first message: %d options templates, option data %v", msgs[0].options, msgs[0].optionData)
	}
	var sampled, all uint64
	seq := uint32(0)
	for i, m := range msgs {
		if m.seq != seq {
			t.Fatalf("message %d: sequence %d, want %d (options records count too)", i, m.seq, seq)
		}
		seq += uint32(len(m.recs) + len(m.optionData))
		for _, r := range m.recs {
			sampled += r.Packets
		}
	}
	for _, f := range o.flows {
		all += f.Packets
	}
	if ratio := float64(sampled) / float64(all); ratio < 0.09 || ratio > 0.11 {
		t.Errorf("sampled %d of %d packets (%.3f), want about 1 in 10", sampled, all, ratio)
	}
	if st.Records >= o.pcapSt.Records || st.Connections != o.pcapSt.Connections {
		t.Errorf("sampled: %+v; unsampled: %+v", st, o.pcapSt)
	}
	n := 0
	if _, err := e.Flows(func(f *event.Flow) error {
		if n++; f.SamplingRate != 10 {
			return errors.New("sampling rate not 10")
		}
		return nil
	}); err != nil || int64(n) != st.Records {
		t.Errorf("Flows: %d records, %v", n, err)
	}
}

// TestIPFIXDatagramsStopAtError: an emit error ends the run and comes back.
func TestIPFIXDatagramsStopAtError(t *testing.T) {
	o := smallFlows()
	o.check(t)
	boom := errors.New("boom")
	n := 0
	st, err := o.e.IPFIXDatagrams(func([]byte, time.Time) error {
		if n++; n == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 3 || st.Messages != 3 {
		t.Fatalf("err %v after %d datagrams (stats %+v)", err, n, st)
	}
}

// TestIPFIXWithTshark decodes the pcap with Wireshark's dissector: no
// malformed packet or expert warning, checksums valid, every record there.
// Opt-in (VIGIL_TSHARK=1): it needs tshark.
func TestIPFIXWithTshark(t *testing.T) {
	if os.Getenv("VIGIL_TSHARK") == "" {
		t.Skip("set VIGIL_TSHARK=1 to decode the pcap with tshark")
	}
	o := smallFlows()
	o.check(t)
	path := filepath.Join(t.TempDir(), "flows.pcap")
	if err := os.WriteFile(path, o.pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-r", path, "-d", "udp.port==4739,cflow", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"}
	bad, err := exec.Command("tshark", append(args, "-Y", "_ws.malformed || _ws.expert.severity >= warning || ip.checksum.status == 0 || udp.checksum.status == 0")...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if len(bytes.TrimSpace(bad)) > 0 {
		t.Fatalf("tshark flags packets:\n%.2000s", bad)
	}
	out, err := exec.Command("tshark", append(args, "-T", "fields", "-e", "cflow.srcaddr")...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	n := 0
	for _, l := range lines {
		n += strings.Count(l, ",") + 1
	}
	if int64(len(lines)) != o.pcapSt.Messages || int64(n) != o.pcapSt.Records {
		t.Fatalf("tshark: %d packets, %d records; wrote %d messages, %d records", len(lines), n, o.pcapSt.Messages, o.pcapSt.Records)
	}
}
