package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/notify/webhook"
	"github.com/vigil-security/vigil/store"
)

var secret = []byte("dispatch-test-secret")

// receiver is a real HTTP server on a fixed loopback address that can go
// down (its listener closed: connections refused) and come back.
type receiver struct {
	t      testing.TB
	addr   string
	mu     sync.Mutex
	srv    *http.Server
	keys   map[string]int       // idempotency key -> requests
	first  map[string]time.Time // idempotency key -> first arrival
	delay  time.Duration
	status int
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t, keys: map[string]int{}, first: map[string]time.Time{}, status: http.StatusOK}
	r.up()
	t.Cleanup(r.down)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	at := time.Now()
	if err := webhook.Verify(secret, req.Header.Get(webhook.HeaderSignature), body, at, 24*time.Hour); err != nil {
		r.t.Errorf("receiver: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	key := req.Header.Get(webhook.HeaderIdempotencyKey)
	r.keys[key]++
	if _, ok := r.first[key]; !ok {
		r.first[key] = at
	}
	delay, status := r.delay, r.status
	r.mu.Unlock()
	time.Sleep(delay)
	w.WriteHeader(status)
}

// up starts serving on the receiver's address (a new one the first time).
func (r *receiver) up() {
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatalf("receiver listen: %v", err)
	}
	r.addr = ln.Addr().String()
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (r *receiver) counts() (keys, requests int, dup []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range r.keys {
		keys++
		requests += n
		if n > 1 {
			dup = append(dup, k)
		}
	}
	return
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

func openStore(t testing.TB, path string) *store.SQLite {
	if path == "" {
		path = filepath.Join(t.TempDir(), "vigil.db")
	}
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func addWebhook(t testing.TB, s store.Outbox, id, url string) {
	c, _ := json.Marshal(webhook.Config{URL: url, Events: []string{webhook.EventFraudDetected, webhook.EventStatusChanged}, Secret: string(secret)})
	if err := s.PutTarget(context.Background(), store.Target{ID: id, Kind: webhook.Kind, Source: "config", Config: c}); err != nil {
		t.Fatal(err)
	}
}

func newWebhook(t testing.TB) *webhook.Notifier {
	n, err := loopbackWebhook()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// loopbackWebhook is a webhook notifier allowed to reach loopback
// receivers.
func loopbackWebhook() (*webhook.Notifier, error) {
	g, err := webhook.NewGuard([]string{"127.0.0.0/8"})
	if err != nil {
		return nil, err
	}
	return webhook.New(webhook.Options{BaseURL: "https://vigil.test", Guard: g, Timeout: 2 * time.Second})
}

func alerts(prefix string, n int, at time.Time) []*alert.Alert {
	var out []*alert.Alert
	for i := range n {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		out = append(out, &alert.Alert{ID: id, Type: "KV_TORAccess", Fingerprint: "fp-" + id, Severity: alert.SeverityHigh,
			Status: alert.StatusActive, TenantID: "t1", SubscriptionID: "s1", Detected: at, Count: 1})
	}
	return out
}

// clock is a time the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Minute, Factor: 2, Jitter: 0.5}
	for _, tc := range []struct {
		attempt  int
		r        float64
		min, max time.Duration
	}{
		{1, 0, 500 * time.Millisecond, 500 * time.Millisecond},
		{1, 0.999, 999 * time.Millisecond, time.Second},
		{3, 0, 2 * time.Second, 2 * time.Second},
		{7, 0.5, 45 * time.Second, 45 * time.Second}, // capped at 60 s, 3/4 of it
		{1000, 1, time.Minute, time.Minute},
	} {
		d := b.Delay(tc.attempt, tc.r)
		if d < tc.min || d > tc.max {
			t.Errorf("Delay(%d, %v) = %v, want in [%v, %v]", tc.attempt, tc.r, d, tc.min, tc.max)
		}
	}
}

// TestReceiverDownTenMinutes: a receiver down for ten minutes (on a clock
// the test moves) gets every notification once it is back, each once.
func TestReceiverDownTenMinutes(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	rc := newReceiver(t)
	addWebhook(t, s, "webhook:partner", rc.url())
	clk := &clock{now: time.Now()}
	reg := prometheus.NewRegistry()
	d, err := New(Options{Outbox: s, Notifiers: []notify.Notifier{newWebhook(t)}, Now: clk.Now, Registerer: reg, Batch: 64})
	if err != nil {
		t.Fatal(err)
	}
	rc.down()
	start := clk.Now()
	const perMinute = 20
	total := 0
	// Ten minutes of outage, alerts arriving all along, a step every 5 s.
	for clk.Now().Sub(start) < 10*time.Minute {
		if clk.Now().Sub(start)%time.Minute == 0 {
			if err := s.SaveAlerts(ctx, alerts(fmt.Sprintf("m%02d", total/perMinute), perMinute, clk.Now())); err != nil {
				t.Fatal(err)
			}
			total += perMinute
		}
		if _, err := d.Step(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Add(5 * time.Second)
	}
	if k, _, _ := rc.counts(); k != 0 {
		t.Fatalf("receiver down but got %d", k)
	}
	rc.up()
	back := clk.Now()
	for {
		if _, err := d.Step(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := s.OutboxCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n[store.OutboxPending] == 0 {
			if n[store.OutboxDone] != total || n[store.OutboxFailed] != 0 {
				t.Fatalf("counts %v, want %d done", n, total)
			}
			break
		}
		if clk.Now().Sub(back) > 20*time.Minute {
			t.Fatalf("still pending 20 minutes after the receiver came back: %v", n)
		}
		clk.Add(5 * time.Second)
	}
	keys, requests, dup := rc.counts()
	if keys != total || requests != total || len(dup) != 0 {
		t.Fatalf("receiver got %d keys in %d requests (dups %v), want %d once each", keys, requests, dup, total)
	}
	t.Logf("%d alerts over a 10-minute outage: all delivered %v after the receiver came back", total, clk.Now().Sub(back))
	if v := testutil.ToFloat64(d.attempts.WithLabelValues("webhook", "retry")); v == 0 {
		t.Error("no retries counted")
	}
}

// TestFailureKeptAfterLastAttempt: a receiver that never accepts leaves
// the entry failed, counted and listed, after MaxAttempts.
func TestFailureKeptAfterLastAttempt(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	rc := newReceiver(t)
	rc.status = http.StatusServiceUnavailable
	addWebhook(t, s, "webhook:partner", rc.url())
	clk := &clock{now: time.Now()}
	reg := prometheus.NewRegistry()
	d, err := New(Options{Outbox: s, Notifiers: []notify.Notifier{newWebhook(t)}, Now: clk.Now, Registerer: reg, MaxAttempts: 4,
		Backoff: Backoff{Base: time.Second, Max: time.Minute, Factor: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAlerts(ctx, alerts("f", 2, clk.Now())); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if _, err := d.Step(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Second)
	}
	failed, err := s.ListOutbox(ctx, store.OutboxQuery{States: []string{store.OutboxFailed}})
	if err != nil || len(failed) != 2 {
		t.Fatalf("failed entries %v, %v", failed, err)
	}
	if failed[0].Attempts != 4 || !strings.Contains(failed[0].LastError, "503") || !strings.Contains(failed[0].LastError, "gave up after 4") {
		t.Errorf("failed entry %+v", failed[0])
	}
	if _, req, _ := rc.counts(); req != 8 {
		t.Errorf("receiver got %d requests, want 4 attempts x 2", req)
	}
	if v := testutil.ToFloat64(d.attempts.WithLabelValues("webhook", "failed")); v != 2 {
		t.Errorf("failed counter %v", v)
	}
	if v := testutil.ToFloat64(d.attempts.WithLabelValues("webhook", "retry")); v != 6 {
		t.Errorf("retry counter %v", v)
	}
}

// TestUnknownKindAndDeletedTarget: entries nobody can deliver fail
// visibly.
func TestUnknownKindAndDeletedTarget(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "")
	if err := s.PutTarget(ctx, store.Target{ID: "pager:1", Kind: "pager", Source: "config"}); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{Outbox: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAlerts(ctx, alerts("u", 1, time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Step(ctx); err != nil {
		t.Fatal(err)
	}
	failed, err := s.ListOutbox(ctx, store.OutboxQuery{States: []string{store.OutboxFailed}})
	if err != nil || len(failed) != 1 || !strings.Contains(failed[0].LastError, `no notifier for kind "pager"`) {
		t.Fatalf("failed %+v, %v", failed, err)
	}
}

// TestRunDeliversOnSignal: Run wakes on the store's signal, not the poll.
func TestRunDeliversOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := openStore(t, "")
	rc := newReceiver(t)
	addWebhook(t, s, "webhook:partner", rc.url())
	d, err := New(Options{Outbox: s, Notifiers: []notify.Notifier{newWebhook(t)}, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // let the workers reach their wait
	if err := s.SaveAlerts(context.Background(), alerts("r", 3, time.Now())); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if k, _, _ := rc.counts(); k == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not delivered within 10 s with an hour's poll")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
