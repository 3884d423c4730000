package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerExportsSeries(t *testing.T) {
	m := New()
	m.Source("push")
	m.EventsIn.WithLabelValues("push").Add(3)
	m.Alerts.WithLabelValues("KV_TORAccess").Inc()
	m.Drops.WithLabelValues("push", DropSpoolFull).Inc()
	m.BatchSeconds.Observe(0.002)
	depth := 7.0
	m.Queue("pipeline", func() float64 { return depth })
	m.Gauge("vigil_spool_bytes", "Bytes in the spool.", func() float64 { return 1234 })

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`vigil_events_in_total{source="push"} 3`,
		`vigil_events_out_total{source="push"} 0`,
		`vigil_events_skipped_total{source="push"} 0`,
		`vigil_alerts_total{type="KV_TORAccess"} 1`,
		`vigil_input_drops_total{reason="spool_full",source="push"} 1`,
		`vigil_detector_batch_seconds_count 1`,
		`vigil_queue_depth{queue="pipeline"} 7`,
		`vigil_spool_bytes 1234`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
	if strings.Contains(text, `source="file"`) {
		t.Error("a source never initialised is exported")
	}
}

func TestRegistriesArePrivate(t *testing.T) {
	// Two servers in one process (tests) must not collide.
	a, b := New(), New()
	a.PushBytes.Add(10)
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), "vigil_push_bytes_total 10") {
		t.Error("metrics of one registry leak into another")
	}
}
