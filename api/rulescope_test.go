package api_test

import (
	"bytes"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// TestOtherTenantsRuleAnswersAsMissing: a rule outside the token's scope
// answers byte for byte as one that does not exist (status, headers but
// Date, body), for every method, so IDs cannot be probed.
func TestOtherTenantsRuleAnswersAsMissing(t *testing.T) {
	e := newEnv(t)
	created := e.do("POST", rulesPath, "aRW", torRule).want(t, http.StatusCreated)
	id, _ := created.body["id"].(string)
	if id == "" {
		t.Fatalf("no id: %s", created.raw)
	}
	missing := []string{"9d3f1c2b-0000-4000-8000-000000000000", "x", id + "0"}
	for _, role := range []string{"bRW", "qRW"} {
		for _, m := range []struct{ method, body string }{
			{"GET", ""},
			{"PATCH", `{"state": "Disabled"}`},
			{"DELETE", ""},
		} {
			var body any
			if m.body != "" {
				body = m.body
			}
			other := e.do(m.method, rulesPath+"/"+id, role, body)
			if other.status != http.StatusNotFound {
				t.Fatalf("%s %s of another tenant's rule: %d %s", role, m.method, other.status, other.raw)
			}
			for _, miss := range missing {
				none := e.do(m.method, "/v1.0"+rulesPath+"/"+miss, role, body)
				if none.status != other.status || !bytes.Equal(none.raw, other.raw) || !sameHeaders(none.header, other.header) {
					t.Errorf("%s %s: another tenant's rule answers\n%d %v %s\nbut a missing one (%s)\n%d %v %s",
						role, m.method, other.status, other.header, other.raw, miss, none.status, none.header, none.raw)
				}
			}
		}
	}
	// The rule is untouched.
	got := e.do("GET", rulesPath+"/"+id, "aRO", nil).want(t, http.StatusOK)
	if got.body["state"] != "Enabled" {
		t.Errorf("another tenant changed the rule: %s", got.raw)
	}
}

// sameHeaders compares headers but Date.
func sameHeaders(a, b http.Header) bool {
	a, b = a.Clone(), b.Clone()
	a.Del("Date")
	b.Del("Date")
	return maps.EqualFunc(a, b, slices.Equal)
}
