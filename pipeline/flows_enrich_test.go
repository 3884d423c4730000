package pipeline

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/enrich/geo/geotest"
	"github.com/vigil-security/vigil/event"
)

// TestFlowsAreEnriched: flows entering the pipeline carry the country and
// network of their remote end, so network alerts name them.
func TestFlowsAreEnriched(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Intel.GeoIP = []string{
		geotest.WriteFile(t, dir, "city.mmdb", 6, "GeoLite2-City", []geotest.Network{
			{CIDR: "192.0.2.0/24", Record: geotest.City("GB", "London", 51.5142, -0.0931)}}),
		geotest.WriteFile(t, dir, "asn.mmdb", 6, "GeoLite2-ASN", []geotest.Network{
			{CIDR: "192.0.2.0/24", Record: geotest.ASN(64496, "Example Transit")}}),
	}
	inv := filepath.Join(dir, "assets.csv")
	rid := "/subscriptions/5f6e6521-6e5f-4b0b-80aa-bd44fad7a398/resourceGroups/web/providers/Microsoft.Compute/virtualMachines/vm-web-1"
	if err := os.WriteFile(inv, []byte("ip,resource_id,subscription_id,valid_from,valid_to\n198.51.100.4,"+rid+",5f6e6521-6e5f-4b0b-80aa-bd44fad7a398,,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Intel.Assets = []string{inv}
	var alerts []*alert.Alert
	p, err := Build(cfg, BuildOptions{Sinks: []Sink{SinkFunc(func(a *alert.Alert) error { alerts = append(alerts, a); return nil })}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t0 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	for i := range 30 { // refused SSH connections from London
		at := t0.Add(time.Duration(i) * 3 * time.Second)
		f := event.Flow{Source: event.FlowIPFIX, Start: at, End: at, SrcAddr: netip.MustParseAddr("192.0.2.7"), DstAddr: netip.MustParseAddr("198.51.100.4"),
			SrcPort: uint16(40000 + i), DstPort: 22, Protocol: 6, TCPFlags: 0x02, Packets: 1, Bytes: 60, SamplingRate: 1}
		if err := p.AddFlow(&f); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	if len(alerts) == 0 {
		t.Fatal("no alert")
	}
	a := alerts[0]
	if a.Type != "SSH_Incoming_BF_OneToOne" || a.Details["country"] != "GB" {
		t.Fatalf("%s country %q", a.Type, a.Details["country"])
	}
	for _, e := range a.Entities {
		if e.Type == alert.EntityIP && (e.Country != "GB" || e.ASN != 64496 || e.ASOrg != "Example Transit") {
			t.Errorf("attacker entity %+v", e)
		}
	}
}
