package odata

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func mustValues(t *testing.T, raw string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseQueryValid(t *testing.T) {
	s := alertSchema()
	cases := []struct {
		raw     string
		filter  string
		order   []Order
		top     int
		skip    int
		count   bool
		sel     []string
		orderPG string
	}{
		{
			raw:   "",
			order: []Order{{Prop: "id"}}, top: 100, orderPG: "id ASC",
		},
		{ // the List securityAlerts page's options: $count, $filter, $select
			raw:    "$count=true&$filter=status%20eq%20'active'&$select=id,displayName,severity,detectedDateTime",
			filter: "(eq status 'active')", order: []Order{{Prop: "id"}}, top: 100, count: true,
			sel: []string{"id", "displayName", "severity", "detectedDateTime"}, orderPG: "id ASC",
		},
		{
			raw:   "$orderby=detectedDateTime desc,severity&$top=25&$skip=50",
			order: []Order{{Prop: "detectedDateTime", Desc: true}, {Prop: "severity"}, {Prop: "id"}},
			top:   25, skip: 50,
			orderPG: "detected_at DESC, severity ASC, id ASC",
		},
		{ // the key in $orderby is not repeated; nullable columns sort nulls first ascending
			raw:     "$orderby=resolvedOnDateTime asc, ID DESC,confidenceLevel desc",
			order:   []Order{{Prop: "resolvedOnDateTime"}, {Prop: "id", Desc: true}, {Prop: "confidenceLevel", Desc: true}},
			top:     100,
			orderPG: "resolved_on ASC NULLS FIRST, id DESC, confidence DESC NULLS LAST",
		},
		{ // OData 4.01: option names case-insensitive, $ optional; other parameters ignored
			raw:    "$TOP=0&filter=isTest&Count=false&lang=ja",
			filter: "isTest", order: []Order{{Prop: "id"}}, top: 0, orderPG: "id ASC",
		},
		{
			raw:   "$top=1000&$select=*",
			order: []Order{{Prop: "id"}}, top: 1000, orderPG: "id ASC",
		},
		{ // duplicates in $select collapse; JSON-only properties can be selected
			raw:   "$select=activityLogs,ActivityLogs,id",
			order: []Order{{Prop: "id"}}, top: 100, sel: []string{"activityLogs", "id"}, orderPG: "id ASC",
		},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			q, err := ParseQuery(s, mustValues(t, c.raw))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if q.Filter != nil {
				got = q.Filter.String()
			}
			if got != c.filter {
				t.Errorf("filter %q, want %q", got, c.filter)
			}
			if !reflect.DeepEqual(q.OrderBy, c.order) {
				t.Errorf("order %+v, want %+v", q.OrderBy, c.order)
			}
			if q.Top != c.top || q.Skip != c.skip || q.Count != c.count {
				t.Errorf("top %d skip %d count %v", q.Top, q.Skip, q.Count)
			}
			if !reflect.DeepEqual(q.Select, c.sel) {
				t.Errorf("select %q, want %q", q.Select, c.sel)
			}
			sql := q.SQL(s, Postgres, 1)
			if sql.OrderBy != c.orderPG || sql.Limit != c.top || sql.Offset != c.skip {
				t.Errorf("SQL %+v", sql)
			}
		})
	}
}

func TestParseQueryInvalid(t *testing.T) {
	s := alertSchema()
	s.MaxTop = 500
	cases := []struct {
		raw    string
		option string
		reason Reason
		pos    int
		msg    string
	}{
		{"$top=501", "$top", ReasonSyntax, 0, "from 0 to 500"},
		{"$top=-1", "$top", ReasonSyntax, 0, "whole number"},
		{"$top=%2B5", "$top", ReasonSyntax, 0, "whole number"},
		{"$top=ten", "$top", ReasonSyntax, 0, "whole number"},
		{"$skip=1.5", "$skip", ReasonSyntax, 0, "whole number"},
		{"$count=yes", "$count", ReasonSyntax, 0, "true or false"},
		{"$top=1&top=2", "$top", ReasonSyntax, -1, "more than once"},
		{"$filter=isTest&$filter=isTest", "$filter", ReasonSyntax, -1, "more than once"},
		{"$expand=activityLogs", "$expand", ReasonUnsupported, -1, "not supported"},
		{"$search=mining", "$search", ReasonUnsupported, -1, "not supported"},
		{"$bogus=1", "$bogus", ReasonUnsupported, -1, "unknown query option"},
		{"$orderby=colour", "$orderby", ReasonUnknownProperty, 0, `unknown property "colour"`},
		{"$orderby=severity,%20activityLogs", "$orderby", ReasonUnknownProperty, 10, "cannot order by property activityLogs"},
		{"$orderby=severity%20up", "$orderby", ReasonSyntax, 9, "expected asc or desc after severity"},
		{"$orderby=severity%20desc%20x", "$orderby", ReasonSyntax, 0, "optionally followed by asc or desc"},
		{"$orderby=severity,,id", "$orderby", ReasonSyntax, 9, "optionally followed"},
		{"$orderby=severity,Severity%20desc", "$orderby", ReasonSyntax, 9, "listed twice"},
		{"$orderby=a,b,c,d,e,f,g,h,i", "$orderby", ReasonLimit, -1, "more than 8"},
		{"$select=id,,severity", "$select", ReasonSyntax, 3, "empty item"},
		{"$select=id,colour", "$select", ReasonUnknownProperty, 3, `unknown property "colour"`},
		{"$select=*,id", "$select", ReasonSyntax, 0, "* cannot be combined"},
		{"$skiptoken=abc", "$skiptoken", ReasonSkipToken, -1, "malformed"},
		{"$skiptoken=!!", "$skiptoken", ReasonSkipToken, -1, "malformed"},
		{"$filter=status%20eq%20'x'", "$filter", ReasonType, 10, "not a value of status"},
	}
	for _, c := range cases {
		t.Run(c.raw, func(t *testing.T) {
			q, err := ParseQuery(s, mustValues(t, c.raw))
			if err == nil {
				t.Fatalf("accepted: %+v", q)
			}
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("%T %v", err, err)
			}
			if oe.Option != c.option || oe.Reason != c.reason || oe.Pos != c.pos || !strings.Contains(oe.Error(), c.msg) {
				t.Errorf("got option %s reason %v pos %d %q; want %s %v %d %q", oe.Option, oe.Reason, oe.Pos, oe.Error(), c.option, c.reason, c.pos, c.msg)
			}
		})
	}
}

func TestTopDefaultsAndCap(t *testing.T) {
	cases := []struct {
		s        *Schema
		def, max int
	}{
		{&Schema{}, 100, 1000},
		{&Schema{DefaultTop: 20, MaxTop: 50}, 20, 50},
		{&Schema{DefaultTop: 5000, MaxTop: 5000}, 1000, 1000},
		{&Schema{DefaultTop: 80, MaxTop: 40}, 40, 40},
	}
	for _, c := range cases {
		if got := c.s.defaultTop(); got != c.def {
			t.Errorf("%+v: default %d, want %d", c.s.DefaultTop, got, c.def)
		}
		if got := c.s.maxTop(); got != c.max {
			t.Errorf("%+v: max %d, want %d", c.s.MaxTop, got, c.max)
		}
	}
}

func TestSkipTokenPaging(t *testing.T) {
	s := alertSchema()
	first := mustValues(t, "$filter=status eq 'active'&$orderby=severity desc&$top=10&$skip=5&$count=true")
	q, err := ParseQuery(s, first)
	if err != nil {
		t.Fatal(err)
	}
	next := q.NextPage(first)
	if next.Get("$skip") != "" || next.Get("$top") != "10" || next.Get("$count") != "true" {
		t.Fatalf("next page params %v", next)
	}
	q2, err := ParseQuery(s, next)
	if err != nil {
		t.Fatal(err)
	}
	if q2.Skip != 15 || q2.Top != 10 {
		t.Fatalf("second page skip %d top %d", q2.Skip, q2.Top)
	}
	q3, err := ParseQuery(s, q2.NextPage(next))
	if err != nil || q3.Skip != 25 {
		t.Fatalf("third page skip %d err %v", q3.Skip, err)
	}

	// The same filter spelt differently keeps the token valid: it is bound to
	// the canonical query, not the text.
	respelt := url.Values{}
	for k, v := range next {
		respelt[k] = v
	}
	respelt.Set("$filter", "(Status  EQ 'ACTIVE')")
	if q4, err := ParseQuery(s, respelt); err != nil || q4.Skip != 15 {
		t.Fatalf("respelt filter: skip %v err %v", q4, err)
	}

	for _, change := range []struct{ key, val string }{
		{"$filter", "status eq 'resolved'"},
		{"$orderby", "severity asc"},
		{"$orderby", ""},
	} {
		bad := url.Values{}
		for k, v := range next {
			bad[k] = v
		}
		if change.val == "" {
			bad.Del(change.key)
		} else {
			bad.Set(change.key, change.val)
		}
		_, err := ParseQuery(s, bad)
		var oe *Error
		if !errors.As(err, &oe) || oe.Reason != ReasonSkipToken || !strings.Contains(oe.Detail, "another query") {
			t.Errorf("%s=%q: got %v", change.key, change.val, err)
		}
	}

	both := url.Values{}
	for k, v := range next {
		both[k] = v
	}
	both.Set("$skip", "3")
	if _, err := ParseQuery(s, both); err == nil || !strings.Contains(err.Error(), "cannot be combined with $skip") {
		t.Errorf("$skip with $skiptoken: %v", err)
	}
}

func TestSkipTokenFormat(t *testing.T) {
	q := &Query{hash: 0x0102030405060708}
	// version 1, hash big-endian, offset 300 as uvarint (0xac 0x02)
	if got, want := q.SkipToken(300), "AQECAwQFBgcIrAI"; got != want {
		t.Errorf("token %s, want %s", got, want)
	}
	if off, err := q.decodeSkipToken("AQECAwQFBgcIrAI"); err != nil || off != 300 {
		t.Errorf("decode %d %v", off, err)
	}
	for _, bad := range []string{"AQECAwQFBgcIrAIA" /* trailing byte */, "AgECAwQFBgcIrAI" /* version 2 */, "AQECAwQFBgcI" /* no offset */, "AQECAwQFBgcI_____w8" /* too large */} {
		if _, err := q.decodeSkipToken(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
