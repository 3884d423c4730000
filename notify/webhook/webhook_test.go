package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/store"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

var secret = []byte("s3cr3t-of-the-registration")

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP server that verifies signatures as a partner's
// code would and records what it got.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := Verify(secret, req.Header.Get(HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func openStore(t *testing.T) *store.SQLite {
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func loopbackGuard(t *testing.T) *Guard {
	g, err := NewGuard([]string{"127.0.0.0/8", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func target(url string, payload string, events ...string) store.Target {
	c, _ := json.Marshal(Config{URL: url, Events: events, Secret: string(secret), Payload: payload, Language: "nl"})
	return store.Target{ID: "webhook:test", Kind: Kind, Source: "config", Config: c}
}

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 800000000, time.UTC)

func entry(id int64, event, alertID string) store.OutboxEntry {
	return store.OutboxEntry{ID: id, Key: "key-" + alertID + "-" + event, Event: event, AlertID: alertID,
		AlertType: "KV_TORAccess", Severity: alert.SeverityHigh, TenantID: "t1", SubscriptionID: "s1", Created: t0}
}

func TestDeliverEventShape(t *testing.T) {
	rc := newReceiver(t)
	n, err := New(Options{BaseURL: "https://vigil.example.com", Guard: loopbackGuard(t)})
	if err != nil {
		t.Fatal(err)
	}
	suppressed := entry(4, store.EventAlertCreated, "a4")
	suppressed.New = "resolved"
	es := []store.OutboxEntry{
		entry(1, store.EventAlertCreated, "a'1"),
		entry(2, store.EventStatusChanged, "a2"), // not registered: skipped
		entry(3, store.EventSeverityRaised, "a3"),
		suppressed, // stored resolved by a suppression rule: skipped
	}
	res := n.Deliver(context.Background(), target(rc.srv.URL, "", EventFraudDetected), es, time.Now())
	want := []notify.Outcome{notify.Delivered, notify.Skipped, notify.Delivered, notify.Skipped}
	for i, r := range res {
		if r.Outcome != want[i] {
			t.Errorf("entry %d: %v (%v), want %v", i, r.Outcome, r.Err, want[i])
		}
	}
	if len(rc.got) != 2 {
		t.Fatalf("receiver got %d requests", len(rc.got))
	}
	var ev map[string]any
	if err := json.Unmarshal(rc.got[0].body, &ev); err != nil {
		t.Fatal(err)
	}
	wantEv := map[string]any{
		"EventName":             "azure-fraud-event-detected",
		"ResourceUri":           "https://vigil.example.com/v1.0/security/partner/securityAlerts/a%271",
		"ResourceName":          "a'1",
		"AuditUri":              "https://vigil.example.com/v1.0/security/partner/activityLogs?%24filter=resourceId+eq+%27a%27%271%27",
		"ResourceChangeUtcDate": "2026-03-04T05:06:07.8000000+00:00",
	}
	for k, v := range wantEv {
		if ev[k] != v {
			t.Errorf("%s = %v, want %v", k, ev[k], v)
		}
	}
	if len(ev) != len(wantEv) {
		t.Errorf("event has members %v", ev)
	}
	h := rc.got[1].header
	if h.Get(HeaderIdempotencyKey) != "key-a3-severityRaised" || h.Get(HeaderEvent) != EventFraudDetected ||
		!strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", h)
	}
}

func TestDeliverFullAlert(t *testing.T) {
	rc := newReceiver(t)
	st := openStore(t)
	a := &alert.Alert{ID: "a1", Type: "KV_TORAccess", Fingerprint: "fp", Severity: alert.SeverityHigh, Status: alert.StatusActive,
		TenantID: "t1", SubscriptionID: "s1", Detected: t0, Count: 1}
	if err := st.SaveAlert(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	n, _ := New(Options{BaseURL: "https://v", Guard: loopbackGuard(t), Alerts: st})
	res := n.Deliver(context.Background(), target(rc.srv.URL, PayloadAlert, EventFraudDetected), []store.OutboxEntry{entry(1, store.EventAlertCreated, "a1")}, time.Now())
	if res[0].Outcome != notify.Delivered {
		t.Fatalf("%v %v", res[0].Outcome, res[0].Err)
	}
	var got AlertEvent
	if err := json.Unmarshal(rc.got[0].body, &got); err != nil {
		t.Fatal(err)
	}
	if got.EventName != EventFraudDetected || got.Alert.ID != "a1" || got.Alert.AlertType != "KV_TORAccess" ||
		got.Change != store.EventAlertCreated || !strings.Contains(got.Alert.DisplayName, "sleutelkluis") {
		t.Errorf("full alert payload %+v", got)
	}
}

func TestDeliverStatuses(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   notify.Outcome
	}{
		{200, notify.Delivered}, {204, notify.Delivered}, {302, notify.Retry}, {401, notify.Retry},
		{410, notify.Permanent}, {429, notify.Retry}, {500, notify.Retry}, {503, notify.Retry},
	} {
		rc := newReceiver(t)
		rc.status = tc.status
		n, _ := New(Options{BaseURL: "https://v", Guard: loopbackGuard(t)})
		res := n.Deliver(context.Background(), target(rc.srv.URL, "", EventFraudDetected), []store.OutboxEntry{entry(1, store.EventAlertCreated, "a")}, time.Now())
		if res[0].Outcome != tc.want {
			t.Errorf("status %d: %v, want %v", tc.status, res[0].Outcome, tc.want)
		}
		if tc.status == 302 && len(rc.got) != 1 {
			t.Errorf("redirect followed: %d requests", len(rc.got))
		}
	}
}

func TestDeliverDownReceiverTriesOnce(t *testing.T) {
	rc := newReceiver(t)
	url := rc.srv.URL
	rc.srv.Close()
	n, _ := New(Options{BaseURL: "https://v", Guard: loopbackGuard(t), Timeout: 2 * time.Second})
	es := []store.OutboxEntry{entry(1, store.EventAlertCreated, "a"), entry(2, store.EventAlertCreated, "b")}
	res := n.Deliver(context.Background(), target(url, "", EventFraudDetected), es, time.Now())
	if res[0].Outcome != notify.Retry || res[1].Outcome != notify.Retry || !strings.Contains(res[1].Err.Error(), "not tried") {
		t.Fatalf("results %+v", res)
	}
}

func TestGuardRefusesInternalTargets(t *testing.T) {
	rc := newReceiver(t)
	n, _ := New(Options{BaseURL: "https://v"}) // default guard: nothing internal allowed
	res := n.Deliver(context.Background(), target(rc.srv.URL, "", EventFraudDetected), []store.OutboxEntry{entry(1, store.EventAlertCreated, "a")}, time.Now())
	if res[0].Outcome != notify.Permanent || !errors.Is(res[0].Err, ErrRefused) {
		t.Fatalf("loopback target: %v %v", res[0].Outcome, res[0].Err)
	}
	if len(rc.got) != 0 {
		t.Fatal("request reached a loopback receiver")
	}
	// A name is checked on the address it resolves to, when dialled.
	_, err := (&Guard{}).Dialer().DialContext(context.Background(), "tcp", strings.Replace(rc.srv.Listener.Addr().String(), "127.0.0.1", "localhost", 1))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("dial localhost: %v", err)
	}
}

func TestGuardPermitted(t *testing.T) {
	g, err := NewGuard([]string{"10.1.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"8.8.8.8", true}, {"2606:4700::1111", true}, {"10.1.2.3", true},
		{"10.2.0.1", false}, {"127.0.0.1", false}, {"169.254.169.254", false}, {"168.63.129.16", false},
		{"192.168.1.1", false}, {"172.20.0.1", false}, {"100.64.0.1", false}, {"0.0.0.0", false},
		{"::1", false}, {"fe80::1", false}, {"fd00:ec2::254", false}, {"::ffff:127.0.0.1", false}, {"224.0.0.1", false},
	} {
		err := g.Permitted(netip.MustParseAddr(tc.addr))
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
	if _, err := NewGuard([]string{"not a cidr"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}

func TestCheckURL(t *testing.T) {
	g := &Guard{}
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/vigil", true}, {"http://203.0.113.9:8080/x", true},
		{"ftp://example.com/", false}, {"file:///etc/passwd", false}, {"https://", false}, {"/relative", false},
		{"https://user:pw@example.com/", false}, {"http://127.0.0.1/", false}, {"http://[::1]/", false},
		{"http://169.254.169.254/latest/meta-data", false}, {"http://localhost:8080/", false}, {"https://example.com/#frag", false},
	} {
		_, err := g.CheckURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"EventName":"test-created"}`)
	now := time.Unix(1_800_000_000, 0)
	h := Sign(secret, now, body)
	if err := Verify(secret, h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("valid signature: %v", err)
	}
	if err := Verify(secret, h, append(body, ' '), now, 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed body: %v", err)
	}
	if err := Verify([]byte("other"), h, body, now, 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other secret: %v", err)
	}
	if err := Verify(secret, h, body, now.Add(6*time.Minute), 5*time.Minute); !errors.Is(err, ErrStale) {
		t.Errorf("replayed late: %v", err)
	}
	// Rotation: a header with an old and a new MAC verifies with either.
	rot := h + ",v1=" + strings.Repeat("ab", 32)
	if err := Verify(secret, rot, body, now, time.Minute); err != nil {
		t.Errorf("rotation header: %v", err)
	}
	for _, bad := range []string{"", "t=1", "v1=" + strings.Repeat("00", 32), "t=x,v1=00", "t=1,v1=zz", "t=1,t=2,v1=" + strings.Repeat("00", 32), "garbage"} {
		if err := Verify(secret, bad, body, now, time.Minute); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseSignature(f *testing.F) {
	f.Add(Sign(secret, time.Unix(1_800_000_000, 0), []byte("x")))
	f.Add("t=1,v1=" + strings.Repeat("0", 64) + ",v0=abc")
	f.Add("t=-1,v1=")
	f.Add(",,,=")
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, h string) {
		ts, sigs, err := ParseSignature(h)
		if err != nil {
			return
		}
		if ts < 0 || len(sigs) == 0 {
			t.Fatalf("accepted %q as %d %d", h, ts, len(sigs))
		}
		for _, s := range sigs {
			if len(s) != 32 {
				t.Fatalf("signature of %d bytes", len(s))
			}
		}
	})
}

func TestDeliverOutOfTimeDefers(t *testing.T) {
	rc := newReceiver(t)
	n, _ := New(Options{BaseURL: "https://v", Guard: loopbackGuard(t)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	now := time.Now()
	res := n.Deliver(ctx, target(rc.srv.URL, "", EventFraudDetected), []store.OutboxEntry{entry(1, store.EventAlertCreated, "a")}, now)
	if res[0].Outcome != notify.Defer || !res[0].Until.Equal(now) || len(rc.got) != 0 {
		t.Fatalf("%+v, %d requests", res[0], len(rc.got))
	}
}

func TestDeliverConfiguredFilter(t *testing.T) {
	rc := newReceiver(t)
	n, _ := New(Options{BaseURL: "https://v", Guard: loopbackGuard(t)})
	c, _ := json.Marshal(Config{URL: rc.srv.URL, Events: []string{EventFraudDetected}, Secret: string(secret),
		Tenants: []string{"t1"}, Types: []string{"KV_TORAccess"}, MinSeverity: alert.SeverityMedium})
	tg := store.Target{ID: "webhook:config:f", Kind: Kind, Source: "config", Config: c}
	mkE := func(id int64, tenant, typ string, sev alert.Severity) store.OutboxEntry {
		e := entry(id, store.EventAlertCreated, "a")
		e.TenantID, e.AlertType, e.Severity = tenant, typ, sev
		return e
	}
	res := n.Deliver(context.Background(), tg, []store.OutboxEntry{
		mkE(1, "t1", "KV_TORAccess", alert.SeverityHigh),
		mkE(2, "t2", "KV_TORAccess", alert.SeverityHigh),
		mkE(3, "t1", "CryptoMining", alert.SeverityHigh),
		mkE(4, "t1", "KV_TORAccess", alert.SeverityLow),
	}, time.Now())
	for i, want := range []notify.Outcome{notify.Delivered, notify.Skipped, notify.Skipped, notify.Skipped} {
		if res[i].Outcome != want {
			t.Errorf("entry %d: %v, want %v", i+1, res[i].Outcome, want)
		}
	}
}
