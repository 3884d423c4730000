package odata

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sqliteCases are filters whose compiled SQL is run against alertRows; the
// expected ids are written out so the evaluator is checked too.
var sqliteCases = []struct {
	filter string
	ids    []string
}{
	{"status eq 'active'", []string{"a2", "d8b202fc-a216-3404-69ef-bdffa445eff6"}},
	{"resolvedReason ne 'fraud'", []string{"5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "a1", "a2", "a3"}},
	{"not (resolvedReason eq 'fraud')", []string{"5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "a1", "a2", "a3"}},
	{"not (resolvedReason ne 'fraud')", []string{"d8b202fc-a216-3404-69ef-bdffa445eff6"}},
	{"not (resolvedOnDateTime gt 2026-01-01T00:00:00Z)", []string{"5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "a2", "a3", "d8b202fc-a216-3404-69ef-bdffa445eff6"}},
	{"resolvedOnDateTime ge 2026-11-02T07:00:00Z", []string{"a1"}},
	{"not(resolvedReason in ('ignore','fraud'))", []string{"5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "a1", "a2"}},
	{"not(resolvedReason in (null,'fraud'))", []string{"a1", "a3"}},
	{"resolvedReason in (null,'fraud')", []string{"5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "a2", "d8b202fc-a216-3404-69ef-bdffa445eff6"}},
	{"contains(displayName,'50%')", []string{"a1"}},
	{"contains(displayName,'f_d')", []string{"a1"}},
	{"contains(displayName,'\\')", []string{"a1"}},
	{"contains(displayName,'''quoted''')", []string{"a1"}},
	{"contains(displayName,'action')", []string{"5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "a1", "d8b202fc-a216-3404-69ef-bdffa445eff6"}},
	{"startswith(displayName,'café')", []string{"a2"}},
	{"not contains(resolvedBy,'contoso')", []string{"5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "a2", "d8b202fc-a216-3404-69ef-bdffa445eff6"}},
	{"contains(description,'_%')", []string{"a3"}},
	{"isTest", []string{"a2", "a3"}},
	{"not isTest", []string{"5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "d8b202fc-a216-3404-69ef-bdffa445eff6"}},
	{"isTest ne true", []string{"5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4", "a1", "d8b202fc-a216-3404-69ef-bdffa445eff6"}},
	{"count lt 0 or count ge 9223372036854775807", []string{"a2", "a3"}},
	{"detectedDateTime lt 2000-01-01", []string{"a2"}},
	{"lastObservedDateTime gt 2026-11-01T00:00:00Z", []string{"a1", "a3"}},
	{"firstObservedDateTime ge 2026-10-31T23:59:59.9999999999Z", []string{"a1"}},
	{"customerTenantId eq 72F988BF-86F1-41AF-91AB-2D7CD011DB47", []string{"a2"}},
	{"subscriptionId ne " + sub, []string{"a1", "a2", "a3"}},
	{"false or status eq 'resolved'", []string{"a1"}},
	{"not (true and status ne 'resolved')", []string{"a1"}},
	{"confidenceLevel eq null and subscriptionId eq null", []string{"a1"}},
}

func TestSQLiteExecution(t *testing.T) {
	s := alertSchemaNanos()
	db := openAlertsDB(t, s)
	for _, c := range sqliteCases {
		t.Run(c.filter, func(t *testing.T) {
			e, err := ParseFilter(s, c.filter)
			if err != nil {
				t.Fatal(err)
			}
			where, args := Where(s, e, SQLite, 1)
			got, err := queryIDs(db, where, args)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if !slices.Equal(got, c.ids) {
				t.Errorf("SQL %s %v\n got %q\nwant %q", where, args, got, c.ids)
			}
			if ev := evalIDs(s, e); !slices.Equal(ev, c.ids) {
				t.Errorf("evaluator got %q", ev)
			}
		})
	}
}

// TestSQLiteGoldenFilters runs every accepted filter of the testdata files
// and of TestFilterValid's kind through SQLite and the evaluator.
func TestSQLiteGoldenFilters(t *testing.T) {
	s := alertSchemaNanos()
	db := openAlertsDB(t, s)
	f, err := os.Open(filepath.Join("testdata", "partner-alert-filters.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := ParseFilter(s, line)
		if err != nil {
			continue
		}
		n++
		where, args := Where(s, e, SQLite, 1)
		got, err := queryIDs(db, where, args)
		if err != nil {
			t.Fatalf("%s -> %s: %v", line, where, err)
		}
		if want := evalIDs(s, e); !slices.Equal(got, want) {
			t.Errorf("%s -> %s\n SQLite %q\n eval   %q", line, where, got, want)
		}
	}
	if n < 15 {
		t.Fatalf("only %d filters accepted", n)
	}
}

func TestSQLiteOrderAndPaging(t *testing.T) {
	s := alertSchemaNanos()
	db := openAlertsDB(t, s)
	first := mustValues(t, "$filter=severity ne 'low'&$orderby=severity,resolvedOnDateTime desc&$top=2")
	q, err := ParseQuery(s, first)
	if err != nil {
		t.Fatal(err)
	}
	var pages [][]string
	for range 3 {
		c := q.SQL(s, SQLite, 1)
		rows, err := db.Query("SELECT id FROM alerts WHERE "+c.Where+" ORDER BY "+c.OrderBy+" LIMIT ? OFFSET ?", append(c.Args, c.Limit, c.Offset)...)
		if err != nil {
			t.Fatal(err)
		}
		var page []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			page = append(page, id)
		}
		rows.Close()
		pages = append(pages, page)
		next := q.NextPage(first)
		if q, err = ParseQuery(s, next); err != nil {
			t.Fatal(err)
		}
	}
	// severity ascending (text order): high, high, informational, medium;
	// the two high ones by resolvedOnDateTime desc with nulls last.
	want := [][]string{
		{"d8b202fc-a216-3404-69ef-bdffa445eff6", "5f6e6521-6e5f-4b0b-80aa-bd44fad7a398-758e2259-f00b-4dec-8087-0950afe6d6a4"},
		{"a2", "a3"},
		nil,
	}
	if !slices.EqualFunc(pages, want, slices.Equal) {
		t.Errorf("pages %q, want %q", pages, want)
	}
}
