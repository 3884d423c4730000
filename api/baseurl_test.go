package api_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// spoofed is a Host header an attacker sends, hoping to see it in links.
const spoofed = "spoofed-q7z.example:8443"

// hostRequest sends a request with the role's token and the given Host
// header.
func (e *env) hostRequest(method, path, role, host, body string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = host
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+e.tok[role])
	}
	return e.send(req)
}

// TestSpoofedHostNeverAnswered sends every kind of request with a Host
// header of the attacker's and checks that no response body or header
// carries it, and that the links use the configured base instead.
func TestSpoofedHostNeverAnswered(t *testing.T) {
	name, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*apiOptions)
		base string // the scheme and host links must start with
	}{
		{"external URL", func(o *apiOptions) { o.BaseURL = "https://vigil.example.com/" }, "https://vigil.example.com"},
		{"external URL with a path", func(o *apiOptions) { o.BaseURL = "https://example.com/vigil" }, "https://example.com/vigil"},
		{"listen address", func(o *apiOptions) { o.ListenAddr = "10.1.2.3:8080" }, "http://10.1.2.3:8080"},
		{"allow-list without the host", func(o *apiOptions) {
			o.ListenAddr = "10.1.2.3:8080"
			o.AllowedHosts = []string{"vigil.example.net", "spoofed-q7z.example:80"}
		}, "http://10.1.2.3:8080"},
		{"unspecified listen address", func(o *apiOptions) { o.ListenAddr = ":8080" }, "http://" + net.JoinHostPort(strings.ToLower(name), "8080")},
		{"nothing configured", func(o *apiOptions) {}, "http://" + strings.ToLower(name)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.edit)
			e.seed()
			ruleID := ""
			requests := []struct {
				method, path, role, body string
				status                   int
				link                     string // a property or header that must start with the base
			}{
				{"GET", alertsPath + "?$top=2&$orderby=id", "partnerRO", "", 200, "@odata.nextLink"},
				{"GET", "/v1.0" + alertsPath + "?$top=2&$select=id", "partnerRO", "", 200, "@odata.context"},
				{"GET", "/beta" + alertsPath + "/a00", "aRO", "", 200, "@odata.context"},
				{"PATCH", alertsPath + "/a01", "aRW", `{"status":"investigating"}`, 200, "@odata.context"},
				{"POST", "/beta" + alertsPath + "/resolveStale", "aRW", `{"olderThanDays": 1}`, 200, "@odata.context"},
				{"POST", "/v1.0" + rulesPath, "aRW", torRule, 201, "Location"},
				{"GET", rulesPath, "aRO", "", 200, "@odata.context"},
				{"GET", "/v1.0/security/partner/activityLogs?$top=1", "partnerRO", "", 200, "@odata.nextLink"},
				{"GET", alertsPath + "/nope", "aRO", "", 404, ""},
				{"GET", alertsPath, "", "", 401, ""},
				{"GET", "/openapi.json", "", "", 200, ""},
				{"GET", "/v1.0/security/partner/none", "aRO", "", 404, ""},
			}
			for _, rq := range requests {
				r := e.hostRequest(rq.method, rq.path, rq.role, spoofed, rq.body)
				if r.status != rq.status {
					t.Fatalf("%s %s: status %d, want %d: %s", rq.method, rq.path, r.status, rq.status, r.raw)
				}
				checkNoHost(t, rq.method+" "+rq.path, r, "spoofed-q7z")
				if rq.link == "" {
					continue
				}
				link := r.header.Get(rq.link)
				if link == "" {
					link, _ = r.body[rq.link].(string)
				}
				if !strings.HasPrefix(link, tc.base+"/") {
					t.Errorf("%s %s: %s %q does not start with %s/", rq.method, rq.path, rq.link, link, tc.base)
				}
				if rq.link == "Location" {
					ruleID = link[strings.LastIndex(link, "/")+1:]
				}
			}
			if ruleID == "" {
				t.Fatal("no rule was created")
			}
			r := e.hostRequest("GET", rulesPath+"/"+ruleID, "aRO", spoofed, "").want(t, 200)
			checkNoHost(t, "GET rule", r, "spoofed-q7z")
		})
	}
}

// checkNoHost fails when the response's body or any header contains s.
func checkNoHost(t *testing.T, what string, r resp, s string) {
	t.Helper()
	if i := bytes.Index(bytes.ToLower(r.raw), []byte(s)); i >= 0 {
		t.Errorf("%s: body carries %q: ...%s...", what, s, r.raw[max(0, i-80):min(len(r.raw), i+40)])
	}
	for k, vs := range r.header {
		for _, v := range vs {
			if strings.Contains(strings.ToLower(v), s) {
				t.Errorf("%s: header %s carries %q: %s", what, k, s, v)
			}
		}
	}
}

// TestAllowedHostsAreUsed: with no external URL, a loopback Host or one on
// the allow-list is what links are built on.
func TestAllowedHostsAreUsed(t *testing.T) {
	e := newEnv(t, func(o *apiOptions) {
		o.ListenAddr = "10.1.2.3:8080"
		o.AllowedHosts = []string{"Vigil.Example.NET", "vigil.internal:9443"}
	})
	e.seed()
	for _, tc := range []struct{ host, base string }{
		{"localhost:8080", "http://localhost:8080"},
		{"127.0.0.1:1234", "http://127.0.0.1:1234"},
		{"[::1]:8080", "http://[::1]:8080"},
		{"vigil.example.net", "http://vigil.example.net"},
		{"VIGIL.example.net:8443", "http://vigil.example.net:8443"},
		{"vigil.internal:9443", "http://vigil.internal:9443"},
		{"vigil.internal:9444", "http://10.1.2.3:8080"},
		{"vigil.example.net.attacker.example", "http://10.1.2.3:8080"},
		{"localhost.attacker.example", "http://10.1.2.3:8080"},
		{"127.0.0.2.attacker.example", "http://10.1.2.3:8080"},
	} {
		r := e.hostRequest("GET", "/v1.0"+alertsPath+"?$top=1", "aRO", tc.host, "").want(t, 200)
		ctx, _ := r.body["@odata.context"].(string)
		if want := tc.base + "/v1.0/$metadata#"; !strings.HasPrefix(ctx, want) {
			t.Errorf("Host %s: @odata.context %q, want it to start with %s", tc.host, ctx, want)
		}
	}
}
