package odata

import (
	"net/url"
	"testing"
)

// typicalFilter is what the dashboard sends: open alerts of a tenant, by
// severity, in a time range, optionally searching the title.
const typicalFilter = "status in ('active','investigating') and severity ne 'informational' and " +
	"customerTenantId eq 1889e718-414b-4bad-8bbe-c1135bd39a41 and " +
	"detectedDateTime ge 2026-11-01T00:00:00Z and detectedDateTime lt 2026-11-08T00:00:00Z and " +
	"contains(displayName,'mining')"

func BenchmarkParseCompile(b *testing.B) {
	s := alertSchema()
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalFilter)))
	for b.Loop() {
		e, err := ParseFilter(s, typicalFilter)
		if err != nil {
			b.Fatal(err)
		}
		if sql, args := Where(s, e, Postgres, 1); sql == "" || len(args) != 7 {
			b.Fatal(sql, args)
		}
	}
}

func BenchmarkParseQuery(b *testing.B) {
	s := alertSchema()
	v := url.Values{
		"$filter":  {typicalFilter},
		"$orderby": {"detectedDateTime desc,severity"},
		"$top":     {"50"},
		"$count":   {"true"},
		"$select":  {"id,displayName,status,severity,detectedDateTime"},
	}
	b.ReportAllocs()
	for b.Loop() {
		q, err := ParseQuery(s, v)
		if err != nil {
			b.Fatal(err)
		}
		if c := q.SQL(s, SQLite, 1); c.Where == "" {
			b.Fatal("no where")
		}
	}
}
