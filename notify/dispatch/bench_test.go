package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/notify/webhook"
	"github.com/vigil-security/vigil/store"
)

// arrivals records when each alert's first webhook arrived.
type arrivals struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	var ev webhook.Event
	_ = json.Unmarshal(body, &ev)
	a.mu.Lock()
	if _, ok := a.at[ev.ResourceName]; !ok {
		a.at[ev.ResourceName] = now
	}
	a.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (a *arrivals) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at)
}

// BenchmarkDetectionToWebhook stores alerts at 1,000 a second, in batches
// of 10 every 10 ms as the pipeline stores them, with a dispatcher running,
// and reports the latency from the start of the store call to the webhook's
// arrival at a real HTTP receiver (p50, p99, max).
//
//	go test ./notify/dispatch -run '^$' -bench DetectionToWebhook -benchtime 5000x
func BenchmarkDetectionToWebhook(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openStore(b, "")
	rc := &arrivals{at: map[string]time.Time{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	addWebhook(b, s, "webhook:bench", srv.URL)
	n, err := loopbackWebhook()
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(Options{Outbox: s, Notifiers: []notify.Notifier{n}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	saved := map[string]time.Time{}
	b.ResetTimer()
	tick := time.NewTicker(10 * time.Millisecond)
	for i := 0; i < b.N; i += 10 {
		<-tick.C
		batch := alerts(fmt.Sprintf("b%07d", i), min(10, b.N-i), time.Now())
		start := time.Now()
		if err := s.SaveAlerts(ctx, batch); err != nil {
			b.Fatal(err)
		}
		for _, a := range batch {
			saved[a.ID] = start
		}
	}
	tick.Stop()
	deadline := time.Now().Add(time.Minute)
	for rc.len() < b.N && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	var lat []time.Duration
	rc.mu.Lock()
	for id, t := range saved {
		if at, ok := rc.at[id]; ok {
			lat = append(lat, at.Sub(t))
		}
	}
	rc.mu.Unlock()
	if len(lat) != b.N {
		b.Fatalf("%d of %d alerts arrived", len(lat), b.N)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// BenchmarkDeliveryThroughput delivers b.N stored notifications to a real
// HTTP receiver as fast as the dispatcher goes and reports entries/s.
//
//	go test ./notify/dispatch -run '^$' -bench DeliveryThroughput -benchtime 20000x
func BenchmarkDeliveryThroughput(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openStore(b, "")
	rc := &arrivals{at: map[string]time.Time{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	addWebhook(b, s, "webhook:bench", srv.URL)
	for i := 0; i < b.N; i += 1000 {
		if err := s.SaveAlerts(ctx, alerts(fmt.Sprintf("t%07d", i), min(1000, b.N-i), time.Now())); err != nil {
			b.Fatal(err)
		}
	}
	n, err := loopbackWebhook()
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(Options{Outbox: s, Notifiers: []notify.Notifier{n}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	for {
		c, err := s.OutboxCounts(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if c[store.OutboxDone] == b.N {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/el.Seconds(), "entries/s")
}
