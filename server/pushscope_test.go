package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// TestPushStaysInItsTenant: a customer's write token can push only records
// of its own subscriptions; those of another customer's are refused,
// counted, and raise nothing there, and each body is recorded with the
// token that pushed it. A partner's token brings its customers' records.
func TestPushStaysInItsTenant(t *testing.T) {
	const (
		partner = "4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01"
		tenantA = "11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
		tenantB = "22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
		subB    = "bbbb0b0b-bb1b-cc2c-dd3d-eeeeee4e4e4e"
	)
	cfg := baseConfig(t)
	yes := true
	cfg.Server.Push.RequireToken = &yes
	cfg.Directory = tenancy.Directory{
		Partners: []tenancy.Partner{{ID: partner, Name: "CSP", Customers: []string{tenantA, tenantB}}},
		Customers: []tenancy.Customer{
			{TenantID: tenantA, Subscriptions: []tenancy.Subscription{{ID: sampleSub}}},
			{TenantID: tenantB, Subscriptions: []tenancy.Subscription{{ID: subB}}},
		},
	}
	ts := start(t, cfg)
	ctx := context.Background()
	by := store.Actor{Name: "test", At: time.Now()}
	customerA, _, err := api.IssueToken(ctx, ts.Store(), api.TokenRequest{TenantID: tenantA, Write: true, Name: "forwarder-a"}, by, nil)
	if err != nil {
		t.Fatal(err)
	}
	partnerTok, _, err := api.IssueToken(ctx, ts.Store(), api.TokenRequest{PartnerID: partner, Write: true, Name: "forwarder-csp"}, by, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	ownRecord := kvRecord(t, now, "d9da5048-2737-4770-bd64-00000000000a", torAddress)
	otherRecord := bytes.ReplaceAll(kvRecord(t, now, "d9da5048-2737-4770-bd64-00000000000b", torAddress),
		[]byte(sampleSub), []byte(subB))
	if bytes.Equal(otherRecord, kvRecord(t, now, "d9da5048-2737-4770-bd64-00000000000b", torAddress)) {
		t.Fatal("the record's subscription was not replaced")
	}
	push := func(token string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.url+PushPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("push: %s", resp.Status)
		}
	}
	push(customerA, append(append([]byte{}, ownRecord...), otherRecord...))
	waitFor(t, "the body to be processed", func() bool { return ts.spool.Bytes() == 0 && len(ts.queue) == 0 })
	waitFor(t, "tenant A's alert", func() bool { return len(listAlerts(t, ts.Store(), "KV_TORAccess")) == 1 })
	if as := listAlerts(t, ts.Store(), "KV_TORAccess"); as[0].TenantID != tenantA {
		t.Fatalf("the one alert is in tenant %q, want %q", as[0].TenantID, tenantA)
	}
	_, metrics := ts.get(t, "/metrics", "")
	if !strings.Contains(metrics, `vigil_input_drops_total{reason="out_of_scope",source="push"} 1`) {
		t.Errorf("/metrics does not count the refused record")
	}
	waitFor(t, "the push's activity record", func() bool {
		acts, err := ts.Store().ListActivity(ctx, store.ActivityQuery{OperationTypes: []string{store.OpLogsPushed}})
		return err == nil && len(acts) == 1 && acts[0].Actor == "forwarder-a" && acts[0].Details["records"] == "1" &&
			acts[0].Details["refusedOutOfScope"] == "1"
	})

	// The partner's token brings both customers' records.
	push(partnerTok, kvRecord(t, now.Add(time.Second), "d9da5048-2737-4770-bd64-00000000000c", torAddress))
	push(partnerTok, bytes.ReplaceAll(kvRecord(t, now.Add(time.Second), "d9da5048-2737-4770-bd64-00000000000d", torAddress),
		[]byte(sampleSub), []byte(subB)))
	waitFor(t, "the partner's alerts", func() bool { return len(listAlerts(t, ts.Store(), "KV_TORAccess")) == 3 })
	tenants := map[string]int{}
	for _, a := range listAlerts(t, ts.Store(), "KV_TORAccess") {
		tenants[a.TenantID]++
	}
	if tenants[tenantA] != 2 || tenants[tenantB] != 1 {
		t.Errorf("alerts by tenant %v", tenants)
	}
}

// TestSlowClientsDoNotBlockPushes: eight connections that declare 64 MiB
// and send a byte now and then are cut off once they fall below the
// minimum rate, so a normal push still gets through, and a slow client's
// body is never stored.
func TestSlowClientsDoNotBlockPushes(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Server.Push.ReadGrace = 500 * time.Millisecond
	cfg.Server.Push.MinBytesPerSecond = 1 << 20
	ts := start(t, cfg)
	host := strings.TrimPrefix(ts.url, "http://")
	closed := make(chan error, 8)
	for range 8 {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", PushPath, host, 64<<20)
		go func() {
			for {
				time.Sleep(200 * time.Millisecond)
				if _, err := conn.Write([]byte(" ")); err != nil {
					closed <- err
					return
				}
				conn.SetReadDeadline(time.Now().Add(time.Millisecond))
				var b [512]byte
				if n, _ := conn.Read(b[:]); n > 0 {
					closed <- fmt.Errorf("answered: %s", b[:n])
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // the slow ones hold every slot
	start := time.Now()
	ts.push(t, kvRecord(t, time.Now(), "d9da5048-2737-4770-bd64-00000000000e", "104.40.82.76"), false)
	t.Logf("a push behind eight slow clients took %s", time.Since(start).Round(time.Millisecond))
	for range 8 {
		select {
		case err := <-closed:
			t.Logf("slow client: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("a slow client is still connected after a minute")
		}
	}
	ts.processed(t, 1)
	if n := ts.spool.Retained(); n > 4096 {
		t.Errorf("%d bytes in the spool: a slow body was stored", n)
	}
}
