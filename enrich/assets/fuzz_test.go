package assets

import (
	"encoding/csv"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// FuzzLoad loads arbitrary inventories: Load must not panic, must fail
// only with an *InventoryError at a real position, and when it succeeds
// every row's address must be held at the row's start.
func FuzzLoad(f *testing.F) {
	f.Add(Header + "\n10.1.0.4,/subscriptions/s/r,,2024-05-01T10:00:00Z,2024-05-01T12:30:00Z\n2001:db8::7,/x,s,,\n")
	f.Add(Header + "\r\n\"10.0.0.1\",\"/r\nx\",s,,2024-05-01T18:00:00.5+01:00\r\n")
	f.Add(Header + "\n10.0.0.1,/r,s,2024-05-01T10:00:00Z,2024-05-01T09:00:00Z\n")
	f.Add("ip,resource_id\n")
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, in string) {
		x := New()
		err := x.Load(strings.NewReader(in), "f.csv")
		if err != nil {
			var ie *InventoryError
			if !errors.As(err, &ie) || ie.Line < 1 || ie.Column < 1 {
				t.Fatalf("error %v (%T)", err, err)
			}
			return
		}
		r := csv.NewReader(strings.NewReader(strings.TrimPrefix(in, "\xef\xbb\xbf")))
		r.FieldsPerRecord = -1
		rows, err := r.ReadAll()
		if err != nil || len(rows) == 0 {
			t.Fatalf("Load accepted what encoding/csv rejects: %v", err)
		}
		for _, row := range rows[1:] {
			a, err := netip.ParseAddr(row[0])
			if err != nil {
				t.Fatalf("Load accepted address %q", row[0])
			}
			at := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
			if row[3] != "" {
				at, _ = time.Parse(time.RFC3339Nano, row[3])
			} else if row[4] != "" {
				to, _ := time.Parse(time.RFC3339Nano, row[4])
				at = to.Add(-time.Nanosecond)
			}
			if _, ok := x.At(a, at); !ok {
				t.Fatalf("row %q: %v not held at %v", row, a, at)
			}
		}
	})
}

// FuzzObserve feeds arbitrary response bodies to Observe: it must not
// panic, the same operation observed twice must change nothing the second
// time, and a later delete must release every address.
func FuzzObserve(f *testing.F) {
	body, err := os.ReadFile("testdata/activity-network-writes.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`{"id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n","properties":{"ipConfigurations":[{"properties":{"privateIPAddress":"10.0.0.1"}},{"properties":{"privateIPAddress":"fd00::1"}}]}}`, true)
	f.Add(`{"properties":{"ipAddress":"20.30.40.50","ipConfiguration":{"id":"x"}}}`, false)
	f.Add(string(body[:200]), true)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, responseBody string, nic bool) {
		x := New()
		name, del := "microsoft.network/publicipaddresses/write", "microsoft.network/publicipaddresses/delete"
		if nic {
			name, del = "microsoft.network/networkinterfaces/write", "microsoft.network/networkinterfaces/delete"
		}
		t1 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
		op := event.Op{Kind: event.KindActivity, Time: t1, Operation: name, Result: "Succeeded",
			ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/x/n", ResponseBody: responseBody}
		x.Observe(&op)
		if x.Observe(&op) {
			t.Fatal("the same operation changed the index twice")
		}
		held := x.Stats().Addresses
		d := op
		d.Operation, d.ResponseBody, d.Time = del, "", t1.Add(time.Hour)
		applied := x.Observe(&d)
		if applied != (held > 0) {
			t.Fatalf("delete applied %v with %d addresses held", applied, held)
		}
		for k := range x.addrs {
			if _, ok := x.At(netip.AddrFrom16(k).Unmap(), d.Time); ok {
				t.Fatalf("%v still held after the delete", netip.AddrFrom16(k))
			}
		}
	})
}
