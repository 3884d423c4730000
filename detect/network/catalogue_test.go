package network

import (
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
)

// TestCandidatesRenderInTheCatalogue: every candidate the estate stream
// raises (first and summary) carries the details its catalogue entry
// requires, and its description renders in every language, as the manager
// will render it (count, first and last added).
func TestCandidatesRenderInTheCatalogue(t *testing.T) {
	for _, typ := range Types {
		if _, ok := alert.Lookup(typ); !ok {
			t.Errorf("%s is not in the catalogue", typ)
		}
	}
	e := detect.New(estateDetectors(t), detect.Options{Workers: 1, Lateness: detect.DefaultLateness})
	defer e.Close()
	// and a web server answering a blocklisted client (unrecommended address)
	got := runEngine(e, merge(estateStream(4), replies(t0, time.Hour, 3, vm(3), 443, attacker)), 1000)
	seen := map[string]bool{}
	for _, c := range got {
		entry, ok := alert.Lookup(c.Type)
		if !ok {
			t.Fatalf("%s is not in the catalogue", c.Type)
		}
		d := maps.Clone(c.Details)
		d[alert.DetailCount] = strconv.Itoa(c.Count)
		d[alert.DetailFirst] = c.First.UTC().Format(time.RFC3339)
		d[alert.DetailLast] = c.Last.UTC().Format(time.RFC3339)
		for _, lang := range alert.Languages {
			s, err := entry.Describe(lang, d)
			if err != nil {
				t.Errorf("%s (summary %q): %v", c.Type, c.Details["summary"], err)
				continue
			}
			if strings.Contains(s, "<no value>") {
				t.Errorf("%s %s: %s", c.Type, lang, s)
			}
		}
		seen[c.Type+c.Details["summary"]] = true
	}
	if !seen[TypeUnrecommendedIP] {
		t.Errorf("no %s candidate rendered", TypeUnrecommendedIP)
	}
	if len(seen) < 8 {
		t.Errorf("only %d kinds of candidate rendered: %v", len(seen), seen)
	}
}
