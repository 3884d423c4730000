package assets

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sub = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"

func TestLoad(t *testing.T) {
	csv := Header + "\r\n" +
		"10.1.0.4,/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/vm1-nic,," + "2024-05-01T10:00:00Z,2024-05-01T12:30:00Z\r\n" +
		"10.1.0.4,/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/vm2-nic,AAAA0A0A-BB1B-CC2C-DD3D-EEEEEE4E4E4E,2024-05-01T16:00:00+02:00,\r\n" +
		"\r\n" +
		`"20.30.40.50","/subscriptions/` + sub + `/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/pip,with,commas",other-sub,,2024-05-01T18:00:00.5Z` + "\r\n" +
		"2001:db8::7,/x/vm3,s3,,\r\n"
	x := New()
	if err := x.Load(strings.NewReader("\xef\xbb\xbf"+csv), "inv.csv"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr, at, id, sub string
	}{
		{"10.1.0.4", "2024-05-01T11:00:00Z", "vm1-nic", sub},
		{"10.1.0.4", "2024-05-01T13:00:00Z", "", ""},
		{"10.1.0.4", "2024-05-01T14:00:00Z", "vm2-nic", sub}, // 16:00+02:00
		{"20.30.40.50", "2000-01-01T00:00:00Z", "pip,with,commas", "other-sub"},
		{"20.30.40.50", "2024-05-01T18:00:00.4Z", "pip,with,commas", "other-sub"},
		{"20.30.40.50", "2024-05-01T18:00:00.5Z", "", ""},
		{"2001:db8::7", "2030-01-01T00:00:00Z", "/x/vm3", "s3"},
	}
	for _, tc := range tests {
		r, ok := x.At(netip.MustParseAddr(tc.addr), mustTime(t, tc.at))
		if ok != (tc.id != "") || !strings.HasSuffix(r.ID, tc.id) || r.Subscription != tc.sub {
			t.Errorf("At(%s, %s) = %+v %v, want %q %q", tc.addr, tc.at, r, ok, tc.id, tc.sub)
		}
	}
	if st := x.Stats(); st.Addresses != 3 || st.Intervals != 4 || st.Resources != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestLoadErrors(t *testing.T) {
	row := func(s string) string { return Header + "\n10.0.0.1,/subscriptions/s/r,,,\n" + s + "\n" }
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "inv.csv:1:1: empty file"},
		{"wrong header", "ip,resource,subscription_id,valid_from,valid_to\n", `inv.csv:1:1: header "ip,resource,subscription_id,valid_from,valid_to", want "ip,resource_id,subscription_id,valid_from,valid_to"`},
		{"header case", strings.ToUpper(Header) + "\n", "inv.csv:1:1: header"},
		{"header extra column", Header + ",owner\n", "inv.csv:1:1: header"},
		{"too few fields", row("10.0.0.2,/r,s"), "inv.csv:3:1: 3 fields, want 5"},
		{"too many fields", row("10.0.0.2,/r,s,,,"), "inv.csv:3:1: 6 fields, want 5"},
		{"bad address", row("10.0.0.256,/r,s,,"), `inv.csv:3:1: ip "10.0.0.256": not an IP address`},
		{"prefix", row("10.0.0.0/24,/r,s,,"), `inv.csv:3:1: ip "10.0.0.0/24": want one address, not a prefix`},
		{"zone", row("fe80::1%eth0,/r,s,,"), `inv.csv:3:1: ip "fe80::1%eth0": not an IP address`},
		{"no resource", row("10.0.0.2,,s,,"), "inv.csv:3:10: resource_id is empty"},
		{"no subscription anywhere", row("10.0.0.2,/r,,,"), `inv.csv:3:13: subscription_id is empty and resource_id "/r" names none`},
		{"bad from", row("10.0.0.2,/r,s,2024-05-01 10:00:00,"), `inv.csv:3:15: valid_from "2024-05-01 10:00:00": not an RFC 3339 time`},
		{"bad to", row("10.0.0.2,/r,s,,yesterday"), `inv.csv:3:16: valid_to "yesterday": not an RFC 3339 time`},
		{"no zone in time", row("10.0.0.2,/r,s,2024-05-01T10:00:00,"), "inv.csv:3:15: valid_from"},
		{"to before from", row("10.0.0.2,/r,s,2024-05-01T10:00:00Z,2024-05-01T09:00:00Z"), `inv.csv:3:36: valid_to "2024-05-01T09:00:00Z" is not after valid_from "2024-05-01T10:00:00Z"`},
		{"to equals from", row("10.0.0.2,/r,s,2024-05-01T10:00:00Z,2024-05-01T10:00:00Z"), "inv.csv:3:36: valid_to"},
		{"bare quote", row(`10.0.0.2,/r"x,s,,`), `inv.csv:3:12: bare " in non-quoted-field`},
		{"unterminated quote", row(`10.0.0.2,"/r,s,,`), "inv.csv:3:"},
		{"error after a quoted newline", row("10.0.0.2,\"/r\nr\",s,,\n10.0.0.3,/r,s,x,"), `inv.csv:5:15: valid_from "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := New().Load(strings.NewReader(tc.in), "inv.csv")
			var ie *InventoryError
			if err == nil || !errors.As(err, &ie) || !errors.Is(err, ErrInventory) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "assets.csv")
	must(t, os.WriteFile(p, []byte(Header+"\n10.0.0.1,/subscriptions/S1/r,,,\n"), 0o644))
	x, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := x.At(netip.MustParseAddr("10.0.0.1"), mustTime(t, "2024-01-01T00:00:00Z")); !ok || r.Subscription != "s1" {
		t.Errorf("At = %+v %v", r, ok)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}
