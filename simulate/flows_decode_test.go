package simulate

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/enrich/assets"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/flowlog"
	"github.com/vigil-security/vigil/source/ipfix"
)

// TestIPFIXDecodesWithTheCollector: the product's collector reads the pcap
// without an error or a dropped set, and gives exactly the flows Flows
// gives, unsampled and sampled.
func TestIPFIXDecodesWithTheCollector(t *testing.T) {
	o := smallFlows()
	o.check(t)
	opts := smallFlowOpts
	opts.SamplingRate = 10
	sampled, err := NewFlowEstate(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		e    *FlowEstate
		rate uint32
	}{{"unsampled", o.e, 1}, {"sampled", sampled, 10}} {
		var pcap bytes.Buffer
		st, err := c.e.WriteIPFIXPcap(&pcap)
		if err != nil {
			t.Fatal(err)
		}
		var want []event.Flow
		if _, err := c.e.Flows(func(f *event.Flow) error { want = append(want, *f); return nil }); err != nil {
			t.Fatal(err)
		}
		r := ipfix.NewFileReader(ipfix.ReadOptions{})
		i := 0
		err = r.Read(c.name+".pcap", &pcap, func(f *event.Flow) {
			if i < len(want) && (flowKey(f) != flowKey(&want[i]) || f.Exporter != IPFIXExporter ||
				f.ObservationDomain != IPFIXObservationDomain || f.SamplingRate != c.rate) {
				t.Fatalf("%s flow %d: collector %+v, Flows %+v", c.name, i, f, want[i])
			}
			i++
		})
		ds, cerr := r.Close()
		if err != nil || cerr != nil {
			t.Fatalf("%s: %v, %v", c.name, err, cerr)
		}
		if i != len(want) || int64(ds.Flows) != st.Records || int64(ds.Datagrams) != st.Messages ||
			ds.Malformed+ds.DroppedSets+ds.DroppedTemplates+ds.Held > 0 {
			t.Errorf("%s: decoded %d flows (%+v); wrote %+v", c.name, i, ds, st)
		}
	}
}

// TestFlowLogsDecodeWithTheReader: the product's flow log reader reads
// both kinds without skipping a record or tuple, every tuple there.
func TestFlowLogsDecodeWithTheReader(t *testing.T) {
	o := smallFlows()
	o.check(t)
	for _, c := range []struct {
		name    string
		data    []byte
		st      FlowStats
		version int
	}{{"nsg", o.nsg, o.nsgSt, 2}, {"vnet", o.vnet, o.vnetSt, 4}} {
		r, err := flowlog.NewReader(bytes.NewReader(c.data), c.name+".json", flowlog.Options{
			OnError: func(e *flowlog.RecordError) { t.Errorf("%s: %v", c.name, e) },
		})
		if err != nil {
			t.Fatal(err)
		}
		var f event.Flow
		states := map[byte]int{}
		for {
			err := r.Next(&f)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			d := r.Detail()
			if d.Version != c.version || f.Resource == "" || d.MAC == "" {
				t.Fatalf("%s: tuple %+v detail %+v", c.name, f, d)
			}
			states[d.State]++
			if east := f.SrcAddr.IsPrivate() && f.DstAddr.IsPrivate(); east != strings.Contains(f.Rule, "Vnet") {
				t.Fatalf("%s: %s -> %s logged by rule %s", c.name, f.SrcAddr, f.DstAddr, f.Rule)
			}
		}
		rs := r.Stats()
		if rs.Tuples != c.st.Records || rs.Records != c.st.Messages || rs.SkippedRecords+rs.SkippedTuples > 0 {
			t.Errorf("%s: read %+v; wrote %+v", c.name, rs, c.st)
		}
		if states['B'] == 0 || states['C'] == 0 || states['E'] == 0 {
			t.Errorf("%s: states %v", c.name, states)
		}
	}
}

// TestAssetsAttributeTheAttacks: the inventory loads into the product's
// index, which names each attack label's VM as the holder of our end of the
// attack's flows (the hour rule of Defender's network alerts).
func TestAssetsAttributeTheAttacks(t *testing.T) {
	o := smallFlows()
	o.check(t)
	idx := assets.New()
	if err := idx.Load(bytes.NewReader(o.assets), "assets.csv"); err != nil {
		t.Fatal(err)
	}
	vms := map[string]FlowVM{}
	for _, v := range o.e.VMs() {
		vms[v.ResourceID] = v
	}
	for _, l := range o.e.Labels() {
		if l.Kind != LabelAttack {
			continue
		}
		fs := flowsOf(o, vms[l.Resource], l.IP, l.From, l.To)
		if len(fs) == 0 {
			t.Fatalf("%s: no flows", l.ID)
		}
		for _, f := range []event.Flow{fs[0], fs[len(fs)-1]} {
			_, res, ok := idx.Ours(&f)
			if !ok || res.ID != l.Resource || res.Subscription != l.SubscriptionID {
				t.Errorf("%s %s: flow %s -> %s at %s attributed to %+v (%v), want %s", l.ID, l.AlertType, f.SrcAddr, f.DstAddr, f.Start, res, ok, l.Resource)
			}
		}
	}
}
