package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-security/vigil/server/tlsreload/tlstest"
)

// graphClientDir holds the Graph client test: package.json, its lock file
// and script.mjs; scripts/test runs `npm ci` there.
const graphClientDir = "../../api/graphclient-test"

const (
	testPartner  = "4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01"
	testCustomer = "ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0"
)

// graphOutput is what script.mjs prints.
type graphOutput struct {
	List struct {
		IDs   []string `json:"ids"`
		Types []string `json:"types"`
	} `json:"list"`
	FilterCount struct {
		Count int `json:"count"`
		N     int `json:"n"`
	} `json:"filterCount"`
	SelectOrderby struct {
		Keys          []string `json:"keys"`
		FirstObserved []string `json:"firstObserved"`
	} `json:"selectOrderby"`
	Pages struct {
		IDs       []string `json:"ids"`
		Pages     int      `json:"pages"`
		NextLinks []any    `json:"nextLinks"`
		Complete  bool     `json:"complete"`
	} `json:"pages"`
	Get struct {
		ID               string `json:"id"`
		AlertType        string `json:"alertType"`
		Status           string `json:"status"`
		CustomerTenantID string `json:"customerTenantId"`
	} `json:"get"`
	Patch struct {
		After struct {
			ID             string `json:"id"`
			Status         string `json:"status"`
			ResolvedReason string `json:"resolvedReason"`
		} `json:"after"`
		Thrown *graphError `json:"thrown"`
	} `json:"patch"`
	NotFound  struct{ Thrown *graphError } `json:"notFound"`
	BadFilter struct{ Thrown *graphError } `json:"badFilter"`
	BadPatch  struct{ Thrown *graphError } `json:"badPatch"`
}

// graphError is a GraphError as the script describes it.
type graphError struct {
	IsGraphError bool   `json:"isGraphError"`
	StatusCode   int    `json:"statusCode"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	// Body is the "error" member of Graph's error body, which the SDK
	// parsed to fill Code and Message.
	Body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"body"`
}

// torPush is the Key Vault AuditEvent sample, n times, each from another
// Tor exit node on another vault a minute apart: n alerts.
func torPush(t *testing.T, n int) []byte {
	t.Helper()
	sample, err := os.ReadFile("../../examples/azure/keyvault-logging.md.auditevent-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Records []json.RawMessage }
	if err := json.Unmarshal(sample, &env); err != nil || len(env.Records) != 1 {
		t.Fatalf("sample: %v", err)
	}
	tor, err := os.ReadFile(torList)
	if err != nil {
		t.Fatal(err)
	}
	addrs := strings.Fields(string(tor))
	var recs []string
	for i := range n {
		r := string(env.Records[0])
		r = strings.Replace(r, "104.40.82.76", addrs[i], 1)
		r = strings.Replace(r, "VAULTS/CONTOSOKEYVAULT", fmt.Sprintf("VAULTS/CONTOSOKEYVAULT%d", i), 1)
		r = strings.Replace(r, "2016-01-05T01:32:01", fmt.Sprintf("2016-01-05T01:%02d:01", 32+i), 1)
		recs = append(recs, r)
	}
	return []byte(`{"records":[` + strings.Join(recs, ",") + `]}`)
}

// TestGraphClientOverTLS runs `vigil serve --tls-cert --tls-key` with real
// alerts and drives it with Microsoft's Graph JavaScript client
// (@microsoft/microsoft-graph-client, installed by scripts/test with npm
// ci): list, $filter with $count, $select with $orderby, paging with its
// PageIterator, get, PATCH and errors, all over HTTPS.
func TestGraphClientOverTLS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed for the Graph client test (Debian: apt-get install nodejs npm): %v", err)
	}
	if _, err := os.Stat(filepath.Join(graphClientDir, "node_modules/@microsoft/microsoft-graph-client/package.json")); err != nil {
		t.Fatalf("the Graph client is not installed: run npm ci in %s (scripts/test does): %v", graphClientDir, err)
	}
	tmp := t.TempDir()
	certs := tlstest.Write(t, tmp, "127.0.0.1", "127.0.0.1")
	data := filepath.Join(tmp, "data")
	cfgPath := filepath.Join(tmp, "vigil.yaml")
	torAbs, _ := filepath.Abs(torList)
	cfg := fmt.Sprintf(`server:
  idleAdvance: 1ms
intel:
  tor: [%s]
directory:
  partners:
    - id: %s
      customers: [%s]
  customers:
    - tenantId: %s
      subscriptions:
        - id: aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e
`, torAbs, testPartner, testCustomer, testCustomer)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	url, stderr, done := serveInBackground(t, "--config", cfgPath, "--listen", "127.0.0.1:0", "--data", data,
		"--tls-cert", certs.Cert, "--tls-key", certs.Key, "--log-level", "warn")
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("serving at %s, want https", url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool}, ForceAttemptHTTP2: true}}

	const nAlerts = 5
	resp, err := client.Post(url+"/ingest/azure", "application/json", bytes.NewReader(torPush(t, nAlerts)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.ProtoMajor != 2 || !strings.Contains(string(answer), fmt.Sprintf(`"records":%d`, nAlerts)) {
		t.Fatalf("push over %s: %s %s", resp.Proto, resp.Status, answer)
	}

	var tokOut, tokErr bytes.Buffer
	if code := run([]string{"token", "create", "--config", cfgPath, "--data", data, "--partner", testPartner, "--write", "--name", "graph-sdk"},
		nil, &tokOut, &tokErr); code != 0 {
		t.Fatalf("token create: %d %s", code, tokErr.String())
	}
	token := strings.TrimSpace(tokOut.String())
	waitUntil(t, "the alerts", func() bool {
		req, _ := http.NewRequest("GET", url+"/v1.0/security/partner/securityAlerts?$count=true&$top=1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page struct {
			Count int `json:"@odata.count"`
		}
		json.NewDecoder(resp.Body).Decode(&page)
		return page.Count == nAlerts
	})

	cmd := exec.Command(node, "script.mjs")
	cmd.Dir = graphClientDir
	cmd.Env = append(os.Environ(), "VIGIL_URL="+url+"/", "VIGIL_TOKEN="+token, "NODE_EXTRA_CA_CERTS="+certs.CA)
	var nodeErr bytes.Buffer
	cmd.Stderr = &nodeErr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node script.mjs: %v\n%s", err, nodeErr.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("script.mjs printed: %s", out)
		}
	}()
	var g graphOutput
	if err := json.Unmarshal(out, &g); err != nil {
		t.Fatalf("script output: %v: %s", err, out)
	}

	if len(g.List.IDs) != nAlerts || slices.ContainsFunc(g.List.Types, func(s string) bool { return s != "KV_TORAccess" }) {
		t.Errorf("list: %+v", g.List)
	}
	if g.FilterCount.Count != nAlerts || g.FilterCount.N != nAlerts {
		t.Errorf("$filter with $count: %+v", g.FilterCount)
	}
	if !slices.Equal(g.SelectOrderby.Keys, []string{"alertType", "firstObservedDateTime", "id"}) {
		t.Errorf("$select: keys %v", g.SelectOrderby.Keys)
	}
	if fo := g.SelectOrderby.FirstObserved; len(fo) != nAlerts || !slices.IsSortedFunc(fo, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("$orderby firstObservedDateTime desc: %v", fo)
	}
	// Five alerts, two a page: three pages, every alert once.
	ids := slices.Clone(g.Pages.IDs)
	slices.Sort(ids)
	want := slices.Clone(g.List.IDs)
	slices.Sort(want)
	if g.Pages.Pages != 3 || !g.Pages.Complete || !slices.Equal(ids, want) {
		t.Errorf("PageIterator: %+v, want the %d alerts on 3 pages", g.Pages, nAlerts)
	}
	for _, l := range g.Pages.NextLinks {
		if s, ok := l.(string); ok && !strings.HasPrefix(s, url+"/v1.0/security/partner/securityAlerts?") {
			t.Errorf("nextLink %s is not on %s", s, url)
		}
	}
	if g.Get.AlertType != "KV_TORAccess" || g.Get.Status != "active" || g.Get.CustomerTenantID != testCustomer || g.Get.ID == "" {
		t.Errorf("get: %+v", g.Get)
	}
	if g.Patch.Thrown != nil || g.Patch.After.ID != g.Get.ID || g.Patch.After.Status != "resolved" || g.Patch.After.ResolvedReason != "fraud" {
		t.Errorf("patch: %+v %+v", g.Patch.After, g.Patch.Thrown)
	}
	for _, tc := range []struct {
		name   string
		e      *graphError
		status int
		code   string
	}{
		{"get of an unknown id", g.NotFound.Thrown, 404, "itemNotFound"},
		{"$filter on an unknown property", g.BadFilter.Thrown, 400, "BadRequest"},
		{"resolved without resolvedReason", g.BadPatch.Thrown, 400, "BadRequest"},
	} {
		e := tc.e
		if e == nil || !e.IsGraphError || e.StatusCode != tc.status || e.Code != tc.code || e.Body.Code != tc.code ||
			e.Message == "" || e.Body.Message != e.Message {
			t.Errorf("%s: %+v, want a GraphError %d with Graph's error body", tc.name, e, tc.status)
		}
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d: %s", code, stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("vigil serve did not stop")
	}
}

// TestServeTLSFlags checks what serve says about TLS flags and about plain
// HTTP off the loopback.
func TestServeTLSFlags(t *testing.T) {
	certs := tlstest.Write(t, t.TempDir(), "127.0.0.1", "127.0.0.1")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"cert without key", []string{"serve", "--data", t.TempDir(), "--tls-cert", certs.Cert}, 2, "--tls-cert and --tls-key go together"},
		{"key without cert", []string{"serve", "--data", t.TempDir(), "--tls-key", certs.Key}, 2, "--tls-cert and --tls-key go together"},
		{"key for certificate", []string{"serve", "--data", t.TempDir(), "--tls-cert", certs.Key, "--tls-key", certs.Key}, 2, "server.tls: certificate"},
		{"plain HTTP on every address", []string{"serve", "--data", t.TempDir(), "--listen", "0.0.0.0:0"}, 1, "refusing to serve bearer tokens over plain HTTP"},
		{"help", []string{"serve", "-h"}, 0, "--tls-cert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tc.args, nil, io.Discard, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d (want %d), stderr %q lacks %q", code, tc.code, stderr.String(), tc.msg)
			}
		})
	}
}

// TestServeAllowInsecure: --allow-insecure lets serve listen on every
// address without TLS (behind a proxy that terminates it), with a warning.
func TestServeAllowInsecure(t *testing.T) {
	url, stderr, done := serveInBackground(t, "--listen", "0.0.0.0:0", "--allow-insecure", "--data", t.TempDir())
	_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, "http://127.0.0.1:"+port); h["status"] != "ok" {
		t.Errorf("healthz %v", h)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("exit status %d: %s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "bearer tokens cross the network in clear text") {
		t.Errorf("no warning: %s", stderr)
	}
}
