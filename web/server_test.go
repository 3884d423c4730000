package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/server"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// TestServeShowsPushedAlerts runs `vigil serve`'s server with its default
// dashboard, pushes Microsoft's Key Vault sample with the caller moved to a
// Tor exit node, and finds the alert on the dashboard, while the API keeps
// its paths.
func TestServeShowsPushedAlerts(t *testing.T) {
	const sub = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e" // the sample's subscription
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	cfg.Server.IdleAdvance = 50 * time.Millisecond
	cfg.Intel.Tor = []string{"../examples/intel/tor-exit-nodes.lst"}
	cfg.Directory = tenancy.Directory{
		Partners:  []tenancy.Partner{{ID: partnerID, Name: "Woodgrove Partners", Customers: []string{tenantA}}},
		Customers: []tenancy.Customer{{TenantID: tenantA, Name: "Contoso", Subscriptions: []tenancy.Subscription{{ID: sub, Name: "contoso-prod"}}}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.New(ctx, server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	sample, err := os.ReadFile("../examples/azure/keyvault-logging.md.auditevent-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.ReplaceAll(string(sample), "104.40.82.76", "185.220.101.1")
	res, err := http.Post(base+server.PushPath, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("push: %d", res.StatusCode)
	}
	text, _, err := api.IssueToken(ctx, s.Store(), api.TokenRequest{PartnerID: partnerID, Write: true, Name: "ana"}, store.Actor{Name: "test", At: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{base: base, hc: &http.Client{}, tokens: map[string]string{rolePartner: text}}
	c := e.client(t)
	if code, loc, _ := c.do("GET", "/", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("signed out: %d %q", code, loc)
	}
	c.login(rolePartner)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, page := c.get("/?status=all")
		if strings.Contains(page, "KV_TORAccess") && strings.Contains(page, "Contoso") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pushed Tor access never showed on the dashboard:\n%.2000s", page)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, body := c.do("GET", "/security/partner/securityAlerts?"+url.Values{"$top": {"1"}}.Encode(), nil); code != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
		t.Errorf("the API without a bearer token: %d %.200s", code, body)
	}
}
