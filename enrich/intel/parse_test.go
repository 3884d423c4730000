package intel

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

type parsed struct {
	entries []Entry
	errs    []*LineError
	header  Header
}

func parseString(t testing.TB, s string) parsed {
	t.Helper()
	var p parsed
	h, err := Parse("list.txt", strings.NewReader(s), func(e Entry) { p.entries = append(p.entries, e) },
		func(le *LineError) { p.errs = append(p.errs, le) })
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	p.header = h
	return p
}

func TestParse(t *testing.T) {
	type ent struct {
		pfx   string
		score int
		has   bool
		line  int
	}
	tests := []struct {
		name    string
		in      string
		want    []ent
		wantErr []string // LineError texts, in order
	}{
		{
			name: "tor exit list",
			in:   "101.99.92.179\n2001:0470:0001:0908:0000:0000:0000:9001\n96.66.15.152\n",
			want: []ent{{"101.99.92.179/32", 0, false, 1}, {"2001:470:1:908::9001/128", 0, false, 2}, {"96.66.15.152/32", 0, false, 3}},
		},
		{
			name: "ipsum",
			in:   "# IPsum Threat Intelligence Feed\n#\n# IP\tnumber of (black)lists\n#\n77.90.185.20\t10\n2.57.122.53\t9\n",
			want: []ent{{"77.90.185.20/32", 10, true, 5}, {"2.57.122.53/32", 9, true, 6}},
		},
		{
			name: "plain CIDR list with comments, blanks, CRLF and a BOM",
			in:   "\xef\xbb\xbf# c2 ranges\r\n\r\n198.51.100.0/24\r\n  203.0.113.7  # trailing comment\r\n2001:db8::/32\r\n",
			want: []ent{{"198.51.100.0/24", 0, false, 3}, {"203.0.113.7/32", 0, false, 4}, {"2001:db8::/32", 0, false, 5}},
		},
		{
			name: "unmasked CIDR, IPv4-mapped forms, no final newline",
			in:   "198.51.100.77/24\n::ffff:192.0.2.1\n::ffff:203.0.113.0/120\n192.0.2.9/32",
			want: []ent{{"198.51.100.0/24", 0, false, 1}, {"192.0.2.1/32", 0, false, 2}, {"203.0.113.0/24", 0, false, 3}, {"192.0.2.9/32", 0, false, 4}},
		},
		{
			name: "malformed lines are reported and skipped",
			in:   "192.0.2.1\t3\nnot-an-ip\n192.0.2.256\n010.0.0.1\n192.0.2.2\t-1\n192.0.2.3\tmany\n192.0.2.4\t2\textra\nfe80::1%eth0\n::ffff:0:0/90\n192.0.2.0/33\n192.0.2.5\t4 # ok\n",
			want: []ent{{"192.0.2.1/32", 3, true, 1}, {"192.0.2.5/32", 4, true, 11}},
			wantErr: []string{
				`list.txt:2: ParseAddr("not-an-ip"): unable to parse IP: "not-an-ip"`,
				`list.txt:3: ParseAddr("192.0.2.256"): IPv4 field has value >255: "192.0.2.256"`,
				`list.txt:4: ParseAddr("010.0.0.1"): IPv4 field has octet with leading zero: "010.0.0.1"`,
				`list.txt:5: score is not a non-negative integer: "192.0.2.2\t-1"`,
				`list.txt:6: score is not a non-negative integer: "192.0.2.3\tmany"`,
				`list.txt:7: unexpected text after the score: "192.0.2.4\t2\textra"`,
				`list.txt:8: address "fe80::1%eth0" has a zone: "fe80::1%eth0"`,
				`list.txt:9: IPv4-mapped prefix "::ffff:0:0/90" is wider than ::ffff:0:0/96: "::ffff:0:0/90"`,
				`list.txt:10: netip.ParsePrefix("192.0.2.0/33"): prefix length out of range: "192.0.2.0/33"`,
			},
		},
		{
			name:    "line too long",
			in:      "192.0.2.1\n" + strings.Repeat("9", MaxLineLength+10) + "\n192.0.2.2\n",
			want:    []ent{{"192.0.2.1/32", 0, false, 1}, {"192.0.2.2/32", 0, false, 3}},
			wantErr: []string{`list.txt:2: line too long: "` + strings.Repeat("9", 80) + `"`},
		},
		{
			name:    "bad header date",
			in:      "# Last update: someday\n192.0.2.1\n",
			want:    []ent{{"192.0.2.1/32", 0, false, 2}},
			wantErr: []string{`list.txt:1: header date: unrecognised date "someday": "# Last update: someday"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseString(t, tt.in)
			if len(p.entries) != len(tt.want) {
				t.Fatalf("got %d entries %+v, want %d", len(p.entries), p.entries, len(tt.want))
			}
			for i, w := range tt.want {
				e := p.entries[i]
				if e.Prefix != netip.MustParsePrefix(w.pfx) || e.Score != w.score || e.HasScore != w.has || e.Line != w.line {
					t.Errorf("entry %d = %+v, want %+v", i, e, w)
				}
			}
			if len(p.errs) != len(tt.wantErr) {
				t.Fatalf("got %d errors %v, want %d", len(p.errs), p.errs, len(tt.wantErr))
			}
			for i, w := range tt.wantErr {
				if got := p.errs[i].Error(); got != w {
					t.Errorf("error %d = %s\n                want %s", i, got, w)
				}
			}
		})
	}
}

func TestParseHeaderDate(t *testing.T) {
	p := parseString(t, "# IPsum Threat Intelligence Feed\n# (https://github.com/stamparm/ipsum)\n#\n# Last update: Sat, 22 Aug 2026 03:00:29 +0200\n#\n")
	if !p.header.Updated.Equal(ipsumDate) || len(p.entries) != 0 || len(p.errs) != 0 {
		t.Errorf("header = %+v, entries %v, errors %v", p.header, p.entries, p.errs)
	}
}

// headLines returns the first n lines of a testdata file.
func headLines(tb testing.TB, name string, n int) string {
	tb.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for i := 0; i < n && sc.Scan(); i++ {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String()
}

func FuzzParse(f *testing.F) {
	f.Add(headLines(f, "ipsum.txt", 12))
	f.Add(headLines(f, "tor-exit-nodes.lst", 6))
	f.Add("2001:0620:20d0:0000:0000:0000:0000:0019\n2001:0620:20d0:0000:0000:0000:0000:0020\n")
	f.Add(headLines(f, "Last-Checked-At.txt", 1))
	f.Add("# Last update: Tue Feb 27 09:27:52 IST 2024\n198.51.100.0/24 # c2\n::ffff:203.0.113.0/120\t3\r\n")
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, in string) {
		lines := strings.Count(in, "\n") + 1
		var entries, bad int
		_, err := Parse("fuzz", strings.NewReader(in), func(e Entry) {
			entries++
			p := e.Prefix
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("bad prefix %v from %q", p, in)
			}
			if e.Score < 0 || (!e.HasScore && e.Score != 0) || e.Line < 1 || e.Line > lines {
				t.Fatalf("bad entry %+v", e)
			}
		}, func(le *LineError) {
			bad++
			if le.File != "fuzz" || le.Line < 1 || le.Line > lines || le.Err == nil || len(le.Text) > 80 {
				t.Fatalf("bad LineError %+v", le)
			}
		})
		if err != nil {
			t.Fatalf("Parse of a string failed: %v", err)
		}
		if entries+bad > lines {
			t.Fatalf("%d entries and %d errors from %d lines", entries, bad, lines)
		}
		// A Builder accepts whatever Parse accepts.
		b := NewBuilder()
		if _, err := b.AddReader(Source{Name: "fuzz", Category: CategoryMalicious}, bytes.NewReader([]byte(in))); err != nil && entries > 0 {
			t.Fatalf("AddReader: %v", err)
		}
		_ = b.Build()
	})
}
