package assets

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"
)

const nicID = "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourceGroups/myResourceGroup/providers/Microsoft.Network/networkInterfaces/"

// TestObserveActivityLog reads realistic Activity Log events (see
// PROVENANCE.md) with the project's Activity Log reader and learns from
// them.
func TestObserveActivityLog(t *testing.T) {
	x := New()
	var applied []bool
	_, err := azurelog.ReadFile("testdata/activity-network-writes.json", azurelog.Options{}, func(op *event.Op) error {
		applied = append(applied, x.Observe(op))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Started (no body), NIC write, PIP write, dynamic PIP without an
	// address, NIC address change, stale NIC write, failed PIP write, NIC
	// delete, new NIC reusing the address, PIP delete, NSG write.
	want := []bool{false, true, true, false, true, false, false, true, true, true, false}
	if len(applied) != len(want) {
		t.Fatalf("%d events, want %d", len(applied), len(want))
	}
	for i := range want {
		if applied[i] != want[i] {
			t.Errorf("event %d: Observe = %v, want %v", i, applied[i], want[i])
		}
	}
	st := x.Stats()
	if st.Observed != 6 || st.Stale != 1 || st.Unusable != 1 || st.Addresses != 3 || st.Intervals != 4 {
		t.Errorf("stats %+v", st)
	}

	at := func(s string) time.Time { return mustTime(t, "2024-05-01T"+s+"Z") }
	vm1, vm2 := nicID+"vm1-nic", nicID+"vm2-nic"
	pip := "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourceGroups/myResourceGroup/providers/Microsoft.Network/publicIPAddresses/vm1-nic-ip"
	tests := []struct {
		addr     string
		t        time.Time
		at, hour string // resource IDs; "" for none
	}{
		{"10.1.0.4", at("10:00:00"), "", vm1},
		{"10.1.0.4", at("10:00:02.123"), vm1, vm1},
		{"10.1.0.4", at("12:29:59.999"), vm1, vm1},
		{"10.1.0.4", at("12:30:00"), "", vm1},
		{"10.1.0.4", at("13:00:00"), "", ""},
		{"10.1.0.4", at("15:59:59"), "", ""},
		{"10.1.0.4", at("16:00:00"), vm2, vm2},
		{"10.1.0.4", at("23:00:00"), vm2, vm2},
		{"10.1.0.5", at("12:00:00"), "", vm1},
		{"10.1.0.5", at("14:59:00"), vm1, vm1},
		{"10.1.0.5", at("15:00:00"), "", ""}, // released at 15:00: not in the hour [15:00, 16:00)
		{"10.1.0.5", at("16:00:00"), "", ""},
		{"20.30.40.50", at("10:00:05"), pip, pip},
		{"20.30.40.50", at("17:59:59"), pip, pip},
		{"20.30.40.50", at("18:00:00"), "", ""},
		{"10.9.9.9", at("11:00:00"), "", ""}, // from the stale event
		{"1.2.3.4", at("19:00:00"), "", ""},  // an NSG write is not an address holder
	}
	for _, tc := range tests {
		a := netip.MustParseAddr(tc.addr)
		r, ok := x.At(a, tc.t)
		if ok != (tc.at != "") || r.ID != tc.at {
			t.Errorf("At(%s, %s) = %q %v, want %q", tc.addr, tc.t.Format(time.TimeOnly), r.ID, ok, tc.at)
		}
		r, ok = x.HeldDuringHour(a, tc.t)
		if ok != (tc.hour != "") || r.ID != tc.hour {
			t.Errorf("HeldDuringHour(%s, %s) = %q %v, want %q", tc.addr, tc.t.Format(time.TimeOnly), r.ID, ok, tc.hour)
		}
		if ok && r.Subscription != "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e" {
			t.Errorf("subscription %q", r.Subscription)
		}
	}
}

// TestObserveIgnores checks the operations Observe must not learn from.
func TestObserveIgnores(t *testing.T) {
	body := `{"id":"` + nicID + `n","properties":{"ipConfigurations":[{"properties":{"privateIPAddress":"10.0.0.1"}}]}}`
	ok := event.Op{Kind: event.KindActivity, Time: mustTime(t, "2024-05-01T10:00:00Z"), Operation: "microsoft.network/networkinterfaces/write",
		Result: "Succeeded", ResourceID: nicID + "n", ResponseBody: body}
	tests := []struct {
		name string
		edit func(op *event.Op)
	}{
		{"key vault", func(op *event.Op) { op.Kind = event.KindKeyVault }},
		{"failed", func(op *event.Op) { op.Result = "Failed" }},
		{"http 409", func(op *event.Op) { op.StatusCode = 409 }},
		{"other operation", func(op *event.Op) { op.Operation = "microsoft.network/virtualnetworks/write" }},
		{"empty body", func(op *event.Op) { op.ResponseBody = "" }},
		{"truncated body", func(op *event.Op) { op.ResponseBody = body[:40] }},
		{"error body", func(op *event.Op) { op.ResponseBody = `{"error":{"code":"x"}}` }},
		{"not an address", func(op *event.Op) { op.ResponseBody = strings.Replace(body, "10.0.0.1", "10.0.0", 1) }},
		{"delete of an unknown resource", func(op *event.Op) { op.Operation = "microsoft.network/networkinterfaces/delete" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := New()
			op := ok
			tc.edit(&op)
			if x.Observe(&op) {
				t.Error("Observe applied it")
			}
			if _, held := x.At(netip.MustParseAddr("10.0.0.1"), op.Time.Add(time.Minute)); held {
				t.Error("address attributed")
			}
		})
	}
	x := New()
	if !x.Observe(&ok) {
		t.Fatal("the unedited operation was not applied")
	}
	// The subscription comes from the resource ID when the op has none, and
	// two IP configurations with one address count once.
	if r, held := x.At(netip.MustParseAddr("10.0.0.1"), ok.Time); !held || r.Subscription != "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e" {
		t.Errorf("At = %+v %v", r, held)
	}
	var nilIndex *Index
	if nilIndex.Observe(&ok) {
		t.Error("nil index applied")
	}
}

// TestObserveMultipleConfigs checks a NIC with several IP configurations,
// IPv6 among them, and a later write dropping one.
func TestObserveMultipleConfigs(t *testing.T) {
	x := New()
	mk := func(ts string, addrs ...string) *event.Op {
		var cfg []string
		for _, a := range addrs {
			cfg = append(cfg, `{"name":"c","properties":{"privateIPAddress":"`+a+`","privateIPAddressVersion":"IPv4"}}`)
		}
		return &event.Op{Kind: event.KindActivity, Time: mustTime(t, ts), Operation: "microsoft.network/networkinterfaces/write",
			Result: "Succeeded", SubscriptionID: "s1", ResourceID: nicID + "m",
			ResponseBody: `{"properties":{"ipConfigurations":[` + strings.Join(cfg, ",") + `]}}`}
	}
	x.Observe(mk("2024-05-01T10:00:00Z", "10.0.0.1", "10.0.0.2", "fd00::1", "10.0.0.1"))
	x.Observe(mk("2024-05-01T11:00:00Z", "10.0.0.2", "fd00::1"))
	check := func(a, ts string, want bool) {
		t.Helper()
		r, ok := x.At(netip.MustParseAddr(a), mustTime(t, ts))
		if ok != want || ok && (r.ID != nicID+"m" || r.Subscription != "s1") {
			t.Errorf("At(%s, %s) = %+v %v, want %v", a, ts, r, ok, want)
		}
	}
	check("10.0.0.1", "2024-05-01T10:30:00Z", true)
	check("10.0.0.1", "2024-05-01T11:00:00Z", false)
	check("10.0.0.2", "2024-05-01T23:00:00Z", true)
	check("fd00::1", "2024-05-01T23:00:00Z", true)
	check("::ffff:10.0.0.2", "2024-05-01T23:00:00Z", true)
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
