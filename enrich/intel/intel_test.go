package intel

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/event"
)

// Facts of testdata (see testdata/PROVENANCE.md), checked with grep/awk:
//   - tor-exit-nodes.lst has 1746 lines, 619 of them IPv6, no duplicates;
//   - ipsum.txt has 120430 entries, 1413 of them with a count of 5 or more;
//     77.90.185.20 has count 10 and is not a Tor exit;
//   - 192.42.116.17 is a Tor exit and has ipsum count 7;
//   - 101.99.92.179 is a Tor exit and not in ipsum; 101.99.92.180 is on neither.
var (
	torDate   = time.Date(2024, 2, 27, 3, 57, 52, 0, time.UTC) // 09:27:52 IST
	ipsumDate = time.Date(2026, 8, 22, 1, 0, 29, 0, time.UTC)  // 03:00:29 +0200
)

func realSources() []Source {
	return []Source{
		{Path: "testdata/tor-exit-nodes.lst", Category: CategoryTor},
		{Path: "testdata/ipsum.txt", Category: CategoryMalicious},
	}
}

func loadReal(tb testing.TB, minScore int) (*Index, []Report) {
	tb.Helper()
	srcs := realSources()
	srcs[1].MinScore = minScore
	ix, reps, err := Load(srcs...)
	if err != nil {
		tb.Fatal(err)
	}
	return ix, reps
}

func TestLoadRealLists(t *testing.T) {
	ix, reps := loadReal(t, 0)
	tor, ipsum := reps[0], reps[1]
	if tor.Source != "tor-exit-nodes" || tor.Entries != 1746 || tor.Malformed != 0 ||
		!tor.Date.Equal(torDate) || tor.DateFrom != DateFromLastChecked {
		t.Errorf("tor report = %+v", tor)
	}
	if ipsum.Source != "ipsum" || ipsum.Entries != 120430 || ipsum.Malformed != 0 ||
		!ipsum.Date.Equal(ipsumDate) || ipsum.DateFrom != DateFromHeader {
		t.Errorf("ipsum report = %+v", ipsum)
	}
	if addrs, nets := ix.Len(); addrs != 1746+120430-485 || nets != 0 {
		t.Errorf("Len = %d, %d; want %d distinct addresses (485 on both lists), 0 networks", addrs, nets, 1746+120430-485)
	}
	torHit := event.IntelHit{Source: "tor-exit-nodes", Category: CategoryTor, Date: torDate}
	ipsumHit := func(n int) event.IntelHit {
		return event.IntelHit{Source: "ipsum", Category: CategoryMalicious, Date: ipsumDate, Score: n}
	}
	tests := []struct {
		addr string
		want []event.IntelHit
	}{
		{"101.99.92.179", []event.IntelHit{torHit}},
		{"77.90.185.20", []event.IntelHit{ipsumHit(10)}},
		{"192.42.116.17", []event.IntelHit{torHit, ipsumHit(7)}},
		{"102.130.113.9", []event.IntelHit{torHit, ipsumHit(1)}},
		{"::ffff:192.42.116.17", []event.IntelHit{torHit, ipsumHit(7)}},
		// Written 2001:0470:0001:0908:0000:0000:0000:9001 in the file.
		{"2001:470:1:908::9001", []event.IntelHit{torHit}},
		{"96.66.15.152", []event.IntelHit{torHit}}, // the last line, no trailing text
		{"8.8.8.8", nil},
		{"101.99.92.180", nil}, // between two listed exits
		{"2001:470:1:908::9002", nil},
		{"127.0.0.1", nil},
	}
	for _, tt := range tests {
		got := ix.Lookup(netip.MustParseAddr(tt.addr))
		if !hitsEqual(got, tt.want) {
			t.Errorf("Lookup(%s) = %+v, want %+v", tt.addr, got, tt.want)
		}
	}
	if got := ix.Lookup(netip.Addr{}); got != nil {
		t.Errorf("Lookup(invalid) = %v", got)
	}
	// Lookups share the slice built at load time.
	a := ix.Lookup(netip.MustParseAddr("77.90.185.20"))
	b := ix.Lookup(netip.MustParseAddr("77.239.124.102")) // also count 10
	if &a[0] != &b[0] {
		t.Error("addresses with the same hits do not share one slice")
	}
}

func TestMinScore(t *testing.T) {
	ix, reps := loadReal(t, 5)
	if reps[1].Entries != 1413 || reps[1].Skipped != 120430-1413 {
		t.Errorf("ipsum report with MinScore 5 = entries %d skipped %d", reps[1].Entries, reps[1].Skipped)
	}
	if got := ix.Lookup(netip.MustParseAddr("77.90.185.20")); len(got) != 1 || got[0].Score != 10 {
		t.Errorf("count-10 address: %+v", got)
	}
	// Count 1 in ipsum: dropped there, still a Tor exit.
	if got := ix.Lookup(netip.MustParseAddr("102.130.113.9")); len(got) != 1 || got[0].Category != CategoryTor {
		t.Errorf("count-1 Tor exit: %+v", got)
	}
	if got := ix.Lookup(netip.MustParseAddr("91.199.45.108")); got != nil {
		t.Errorf("count-1 address kept: %+v", got)
	}
}

func TestMergeNetworksAndAddresses(t *testing.T) {
	d := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
	b := NewBuilder()
	add := func(name, cat, text string) {
		t.Helper()
		if _, err := b.AddReader(Source{Name: name, Category: cat, Date: d}, strings.NewReader(text)); err != nil {
			t.Fatal(err)
		}
	}
	add("pools", CategoryMiningPool, "198.51.100.0/24\n198.51.100.7\n")
	add("c2", CategoryC2, "198.51.0.0/16\n198.51.100.128/25 # nested\n2001:db8::/32\n")
	add("bad", CategoryMalicious, "198.51.100.7\t3\n198.51.100.7\t5\n::ffff:203.0.113.0/120\n")
	ix := b.Build()

	hit := func(src, cat string, score int) event.IntelHit {
		return event.IntelHit{Source: src, Category: cat, Date: d, Score: score}
	}
	tests := []struct {
		addr string
		want []event.IntelHit
	}{
		// Exact address on two lists and inside networks of two lists; the
		// duplicate in "bad" keeps its higher count.
		{"198.51.100.7", []event.IntelHit{hit("pools", CategoryMiningPool, 0), hit("bad", CategoryMalicious, 5), hit("c2", CategoryC2, 0)}},
		{"198.51.100.200", []event.IntelHit{hit("c2", CategoryC2, 0), hit("pools", CategoryMiningPool, 0)}},
		{"198.51.100.8", []event.IntelHit{hit("pools", CategoryMiningPool, 0), hit("c2", CategoryC2, 0)}},
		{"198.51.7.1", []event.IntelHit{hit("c2", CategoryC2, 0)}},
		{"203.0.113.9", []event.IntelHit{hit("bad", CategoryMalicious, 0)}},
		{"2001:db8::5", []event.IntelHit{hit("c2", CategoryC2, 0)}},
		{"fe80::1%eth0", nil},
		{"198.52.0.1", nil},
	}
	for _, tt := range tests {
		got := ix.Lookup(netip.MustParseAddr(tt.addr))
		if !hitsEqual(got, tt.want) {
			t.Errorf("Lookup(%s) = %+v, want %+v", tt.addr, got, tt.want)
		}
	}
	if addrs, nets := ix.Len(); addrs != 1 || nets != 5 {
		t.Errorf("Len = %d, %d; want 1, 5", addrs, nets)
	}
}

func TestDates(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mtime := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	plain := write("plain.txt", "# no date here\n192.0.2.1\n")
	if err := os.Chtimes(plain, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	dated := write("dated.txt", "# Last update: Sat, 22 Aug 2026 03:00:29 +0200\n192.0.2.2\t2\n")

	// No Last-Checked-At.txt yet: the modification time.
	rep := mustAdd(t, Source{Path: plain, Category: CategoryProxy})
	if !rep.Date.Equal(mtime) || rep.DateFrom != DateFromModTime || rep.Source != "plain" {
		t.Errorf("mtime: %+v", rep)
	}
	// An explicit date wins over everything.
	explicit := time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))
	rep = mustAdd(t, Source{Path: dated, Category: CategoryProxy, Date: explicit, Name: "mine"})
	if !rep.Date.Equal(explicit) || rep.Date.Location() != time.UTC || rep.DateFrom != DateFromSource || rep.Source != "mine" {
		t.Errorf("explicit: %+v", rep)
	}

	write(LastCheckedFile, "Tue Feb 27 09:27:52 IST 2024\n")
	rep = mustAdd(t, Source{Path: plain, Category: CategoryProxy})
	if !rep.Date.Equal(torDate) || rep.DateFrom != DateFromLastChecked {
		t.Errorf("Last-Checked-At: %+v", rep)
	}
	// The list's own header wins over Last-Checked-At.txt.
	rep = mustAdd(t, Source{Path: dated, Category: CategoryProxy})
	if !rep.Date.Equal(ipsumDate) || rep.DateFrom != DateFromHeader {
		t.Errorf("header: %+v", rep)
	}
	// An unreadable Last-Checked-At.txt falls back to mtime and says why.
	write(LastCheckedFile, "yesterday\n")
	rep = mustAdd(t, Source{Path: plain, Category: CategoryProxy})
	if !rep.Date.Equal(mtime) || !strings.Contains(rep.DateNote, "yesterday") {
		t.Errorf("bad Last-Checked-At: %+v", rep)
	}
}

func mustAdd(t *testing.T, s Source) Report {
	t.Helper()
	rep, err := NewBuilder().AddFile(s)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"Tue Feb 27 09:27:52 IST 2024", torDate},
		{"Sat, 22 Aug 2026 03:00:29 +0200", ipsumDate},
		{"Tue Feb 27 09:27:52 UTC 2024", time.Date(2024, 2, 27, 9, 27, 52, 0, time.UTC)},
		{"Mon Jan  2 15:04:05 PST 2006", time.Date(2006, 1, 2, 23, 4, 5, 0, time.UTC)},
		{"Wed Mar 6 10:00:00 CEST 2024", time.Date(2024, 3, 6, 8, 0, 0, 0, time.UTC)},
		// Unknown abbreviation: read as UTC, on every machine.
		{"Wed Mar  6 10:00:00 XYZT 2024", time.Date(2024, 3, 6, 10, 0, 0, 0, time.UTC)},
		{"Sat, 22 Aug 2026 03:00:29 GMT", time.Date(2026, 8, 22, 3, 0, 29, 0, time.UTC)},
		{"2026-08-22T03:00:29+02:00", ipsumDate},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2024-02-27", "Tue Feb 30 09:27:52 IST 2024"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) succeeded", bad)
		}
	}
}

func TestSourceErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "page.html")
	if err := os.WriteFile(junk, []byte("<html>\n<body>Not Found</body>\n</html>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src  Source
		want []string
	}{
		{Source{Category: CategoryTor}, []string{"no path"}},
		{Source{Path: "testdata/ipsum.txt", Category: "evil"}, []string{"testdata/ipsum.txt", `unknown category "evil"`}},
		{Source{Path: "testdata/ipsum.txt"}, []string{`unknown category ""`}},
		{Source{Path: filepath.Join(dir, "nope.lst"), Category: CategoryTor}, []string{"nope.lst", "no such file"}},
		{Source{Path: dir, Category: CategoryTor}, []string{dir, "directory"}},
		{Source{Path: junk, Category: CategoryC2}, []string{"page.html", "no valid line, 3 malformed", "page.html:1:"}},
	}
	for _, tt := range tests {
		b := NewBuilder()
		_, err := b.AddFile(tt.src)
		if err == nil {
			t.Errorf("AddFile(%+v) succeeded", tt.src)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("AddFile(%+v) error %q does not mention %q", tt.src, err, w)
			}
		}
		if a, n := b.Build().Len(); a != 0 || n != 0 {
			t.Errorf("a failed source left %d addresses and %d networks", a, n)
		}
	}
	if _, err := NewBuilder().AddReader(Source{Category: CategoryTor}, strings.NewReader("")); err == nil {
		t.Error("AddReader without a name succeeded")
	}
	if _, _, err := Load(Source{Path: "testdata/tor-exit-nodes.lst", Category: CategoryTor}, Source{Path: junk, Category: CategoryTor}); err == nil {
		t.Error("Load with a bad source succeeded")
	}
	var le *LineError
	rep, err := NewBuilder().AddReader(Source{Name: "x", Category: CategoryTor}, errReader{})
	if err == nil || errors.As(err, &le) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error = %v (report %+v)", err, rep)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func hitsEqual(a, b []event.IntelHit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Source != b[i].Source || a[i].Category != b[i].Category || !a[i].Date.Equal(b[i].Date) || a[i].Score != b[i].Score {
			return false
		}
	}
	return true
}

func BenchmarkLookup(b *testing.B) {
	ix, _ := loadReal(b, 0)
	addrs := []netip.Addr{
		netip.MustParseAddr("101.99.92.179"),            // Tor
		netip.MustParseAddr("77.90.185.20"),             // ipsum
		netip.MustParseAddr("192.42.116.17"),            // both
		netip.MustParseAddr("2001:470:1:908::9001"),     // Tor, IPv6
		netip.MustParseAddr("::ffff:192.42.116.17"),     // mapped
		netip.MustParseAddr("8.8.8.8"),                  // none
		netip.MustParseAddr("2a01:111:f400:7c00::1234"), // none, IPv6
	}
	b.ReportAllocs()
	i, n := 0, 0
	for b.Loop() {
		n += len(ix.Lookup(addrs[i%len(addrs)]))
		i++
	}
	if n == 0 {
		b.Fatal("no hits")
	}
}

func BenchmarkLookupNetworks(b *testing.B) {
	bl := NewBuilder()
	if _, err := bl.AddReader(Source{Name: "nets", Category: CategoryC2}, strings.NewReader("10.0.0.0/8\n198.51.100.0/24\n2001:db8::/32\n")); err != nil {
		b.Fatal(err)
	}
	ix := bl.Build()
	addrs := []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = ix.Lookup(addrs[i%len(addrs)])
		i++
	}
}

func BenchmarkLoadReal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		loadReal(b, 0)
	}
}
