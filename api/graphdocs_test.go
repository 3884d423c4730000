package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// docRequest reads a request of testdata/graphdocs and points it at the
// server: only the base URL changes, and the token is added.
func (e *env) docRequest(name, role string) *http.Request {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "graphdocs", name))
	if err != nil {
		e.t.Fatal(err)
	}
	head, body, _ := bytes.Cut(data, []byte("\n\n"))
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Scan()
	method, url, ok := strings.Cut(sc.Text(), " ")
	if !ok || !strings.HasPrefix(url, "https://graph.microsoft.com/") {
		e.t.Fatalf("%s: bad request line %q", name, sc.Text())
	}
	url = e.srv.URL + strings.TrimPrefix(url, "https://graph.microsoft.com")
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	req.Header.Set("Authorization", "Bearer "+e.tok[role])
	return req
}

// docKeys are the properties of the documented get response.
func docKeys(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "graphdocs", "get-response.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sameShape fails unless got has every documented property, with a value
// of the same JSON type (or null where the documentation shows a value that
// the alert does not have).
func sameShape(t *testing.T, what string, got map[string]any, doc map[string]any, nullable ...string) {
	t.Helper()
	var keys []string
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := got[k]
		if !ok {
			t.Errorf("%s: property %s missing", what, k)
			continue
		}
		if v == nil && contains(nullable, k) {
			continue
		}
		if jsonType(v) != jsonType(doc[k]) {
			t.Errorf("%s: property %s is %s (%v), the documentation shows %s", what, k, jsonType(v), v, jsonType(doc[k]))
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "?"
}

// TestGraphDocumentationRequests sends the requests of Graph's partner
// security alert pages, unchanged but for the base URL and token, and
// checks the answers have the documented shape.
func TestGraphDocumentationRequests(t *testing.T) {
	e := newEnv(t)
	e.seed()
	doc := docKeys(t)
	unresolved := []string{"resolvedReason", "resolvedOnDateTime", "resolvedBy"}

	list := e.send(e.docRequest("list.http", "partnerRO")).want(t, http.StatusOK)
	if ctx, _ := list.body["@odata.context"].(string); ctx != e.srv.URL+"/beta/$metadata#security/partner/securityAlerts" {
		t.Errorf("@odata.context = %q", ctx)
	}
	if n := len(list.values()); n != 10 {
		t.Errorf("list: %d alerts, want 10 (partner P's tenants A and B)", n)
	}
	for _, v := range list.values() {
		sameShape(t, "list item "+v["id"].(string), v, doc, append(unresolved, "valueAddedResellerTenantId", "catalogOfferId")...)
	}

	get := e.send(e.docRequest("get.http", "partnerRO")).want(t, http.StatusOK)
	sameShape(t, "get", get.body, doc, unresolved...)
	for k, want := range map[string]any{
		"id": docsAlertID, "customerTenantId": docsTenant, "subscriptionId": docsSub,
		"valueAddedResellerTenantId": docsVAR, "catalogOfferId": "MS-AZR-0017G", "status": "active",
		"severity": "high", "detectedDateTime": "2024-01-23T16:03:33.05Z", "isTest": false,
	} {
		if get.body[k] != want {
			t.Errorf("get: %s = %v, want %v", k, get.body[k], want)
		}
	}
	if d, _ := get.body["additionalDetails"].(map[string]any); d["CryptoCurrencyMiningPoolDomainName"] != "pool-name.com" {
		t.Errorf("get: additionalDetails = %v", get.body["additionalDetails"])
	}

	// The update example needs write access: a read-only token is refused.
	e.send(e.docRequest("update.http", "partnerRO")).want(t, http.StatusForbidden)
	upd := e.send(e.docRequest("update.http", "partnerRW")).want(t, http.StatusOK)
	sameShape(t, "update", upd.body, doc)
	if upd.body["status"] != "resolved" || upd.body["resolvedReason"] != "fraud" || upd.body["resolvedBy"] != "samanthab@contoso.com" {
		t.Errorf("update: status %v, reason %v, by %v", upd.body["status"], upd.body["resolvedReason"], upd.body["resolvedBy"])
	}
	logs, _ := upd.body["activityLogs"].([]any)
	if len(logs) != 1 {
		t.Fatalf("update: activityLogs = %v", upd.body["activityLogs"])
	}
	l := logs[0].(map[string]any)
	if l["statusFrom"] != "active" || l["statusTo"] != "resolved" || l["updatedBy"] != "samanthab@contoso.com" || l["updatedDateTime"] != "2026-11-20T12:00:00Z" {
		t.Errorf("update: activity log = %v", l)
	}

	// The later revision's example is a template with "String" for each
	// value: Graph's enums reject it, and so does Vigil, with Graph's error
	// body.
	tmpl := e.send(e.docRequest("update-template.http", "partnerRW")).want(t, http.StatusBadRequest)
	if tmpl.errCode() != "BadRequest" {
		t.Errorf("template: error %s", tmpl.raw)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestDocsAlertGolden pins the whole JSON of the documentation alert as
// served (go test -run TestDocsAlertGolden -update rewrites it).
func TestDocsAlertGolden(t *testing.T) {
	e := newEnv(t, func(o *apiOptions) { o.BaseURL = "https://vigil.example.com/" })
	e.seed()
	r := e.do("GET", "/beta/security/partner/securityAlerts/"+docsAlertID, "aRO", nil).want(t, http.StatusOK)
	var buf bytes.Buffer
	if err := json.Indent(&buf, r.raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "docs-alert.golden.json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("GET %s differs from %s (-update rewrites it):\n%s", docsAlertID, path, buf.Bytes())
	}
}
