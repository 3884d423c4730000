package web

import (
	"net/url"
	"testing"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  filter
	}{
		{"", filter{Status: "open", Sort: "newest", Size: 50, Page: 1}},
		{"status=resolved&severity=high&type=KV_TORAccess&sort=severity&size=25&page=3",
			filter{Status: "resolved", Severity: "high", Type: "KV_TORAccess", Sort: "severity", Size: 25, Page: 3}},
		{"status=bogus&severity=extreme&sort=random&size=7&page=-2&range=1y",
			filter{Status: "open", Sort: "newest", Size: 50, Page: 1}},
		{"tenant=%20AAAA-BB%20&sub=CC&from=2026-11-01&to=2026-13-01&q=%20185.220.%20",
			filter{Status: "open", Sort: "newest", Size: 50, Page: 1, Tenant: "aaaa-bb", Sub: "cc", From: "2026-11-01", Q: "185.220."}},
		{"range=7d&page=1000001", filter{Status: "open", Sort: "newest", Size: 50, Page: 1, Range: "7d"}},
	} {
		v, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := parseFilter(v); got != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.query, got, tc.want)
		}
	}
}

// FuzzParseFilter checks that any query string gives a filter whose own
// URL reads back as the same filter.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "status=all&q=ana%40contoso.example", "severity=high&page=2&size=100",
		"from=2026-11-01&to=2026-11-30&sort=oldest", "q=%ff%fe&tenant=%00", "type=*&sub=x&range=90d"} {
		f.Add(s)
	}
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, query string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		a := parseFilter(v)
		u, err := url.Parse(a.url())
		if err != nil {
			t.Fatalf("filter URL %q: %v", a.url(), err)
		}
		if b := parseFilter(u.Query()); b != a {
			t.Errorf("round trip of %q:\n%+v\n%+v", query, a, b)
		}
	})
}
