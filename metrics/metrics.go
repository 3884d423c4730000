// Package metrics holds the Prometheus metrics of `vigil serve` in a private
// registry (nothing is registered globally), and serves them at /metrics.
//
// Names follow Prometheus conventions: vigil_ prefix, _total for counters,
// _seconds and _bytes for units. Labels have small, bounded value sets:
// source is the input kind ("push", "file"), type an alert type of the
// catalogue, reason a fixed word per kind of drop, queue a fixed queue name.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the server's collectors. Create them with New; every field is
// ready to use and safe for concurrent use.
type Metrics struct {
	// Registry holds every collector below plus the Go runtime and process
	// collectors.
	Registry *prometheus.Registry

	// EventsIn counts records decoded, by source.
	EventsIn *prometheus.CounterVec
	// EventsOut counts records handed to the detection engine, by source.
	EventsOut *prometheus.CounterVec
	// EventsSkipped counts malformed records skipped, by source.
	EventsSkipped *prometheus.CounterVec
	// BatchSeconds is the time the detection engine takes per batch.
	BatchSeconds prometheus.Histogram
	// BatchEvents is the number of events per engine batch.
	BatchEvents prometheus.Histogram
	// Alerts counts alerts created, by type.
	Alerts *prometheus.CounterVec
	// AlertUpdates counts repeats merged into an open alert, by type.
	AlertUpdates *prometheus.CounterVec
	// Suppressed counts new alerts resolved by a suppression rule, by type.
	Suppressed *prometheus.CounterVec
	// Drops counts input rejected or lost, by source and reason.
	Drops *prometheus.CounterVec
	// PushRequests counts push requests by HTTP status code.
	PushRequests *prometheus.CounterVec
	// PushBytes counts body bytes accepted by the push endpoint (as sent,
	// compressed or not).
	PushBytes prometheus.Counter
	// Snapshots counts engine state snapshots written; SnapshotErrors
	// those that failed.
	Snapshots, SnapshotErrors prometheus.Counter
	// Watermark is the engine's event-time watermark, in Unix seconds.
	Watermark prometheus.Gauge
	// AlertLatency is, for each stored batch of alert changes, the wall time
	// from the acceptance of the oldest input of the batch that made them
	// (push acknowledged, file chunk read, datagram received) to the alerts
	// being stored, where the API lists them.
	AlertLatency prometheus.Histogram
}

// Drop reasons used with Metrics.Drops.
const (
	DropSpoolFull = "spool_full" // push refused: the spool is over its size limit
	DropTooLarge  = "too_large"  // push refused: body over the size limit
	DropBadBody   = "bad_body"   // push refused: not JSON or gzip, or unreadable
	DropCorrupt   = "corrupt"    // spooled data that failed its checksum
	DropUnread    = "unreadable" // an input that could not be read to its end
	DropQueueFull = "queue_full" // flows dropped: the pipeline was behind and its queue full
	// DropOutOfScope counts pushed records of subscriptions outside the
	// push token's scope, refused.
	DropOutOfScope = "out_of_scope"
)

// New returns the metrics, registered in a new private registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		EventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_in_total", Help: "Records decoded, by source.",
		}, []string{"source"}),
		EventsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_out_total", Help: "Records handed to the detection engine, by source.",
		}, []string{"source"}),
		EventsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_events_skipped_total", Help: "Malformed records counted and skipped, by source.",
		}, []string{"source"}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_detector_batch_seconds",
			Help:    "Time the detection engine takes to process one batch of events.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100µs .. 6.5s
		}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_detector_batch_events",
			Help:    "Events per detection batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7), // 1 .. 4096
		}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_total", Help: "Alerts created, by type.",
		}, []string{"type"}),
		AlertUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alert_updates_total", Help: "Repeats merged into an open alert, by type.",
		}, []string{"type"}),
		Suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_suppressed_total", Help: "New alerts resolved at once by a suppression rule, by type.",
		}, []string{"type"}),
		Drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_input_drops_total", Help: "Input refused or lost, by source and reason.",
		}, []string{"source", "reason"}),
		PushRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_push_requests_total", Help: "Requests to the push endpoint, by HTTP status code.",
		}, []string{"code"}),
		PushBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_push_bytes_total", Help: "Body bytes accepted by the push endpoint, as sent.",
		}),
		Snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_snapshots_total", Help: "Engine state snapshots written.",
		}),
		SnapshotErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_snapshot_errors_total", Help: "Engine state snapshots that failed.",
		}),
		Watermark: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_engine_watermark_seconds", Help: "Event-time watermark of the detection engine, Unix seconds.",
		}),
		AlertLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_alert_latency_seconds",
			Help:    "Wall time from accepting the oldest input of a batch to storing the alerts it made or changed.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300},
		}),
	}
	for _, c := range []prometheus.Collector{
		m.EventsIn, m.EventsOut, m.EventsSkipped, m.BatchSeconds, m.BatchEvents, m.Alerts, m.AlertUpdates,
		m.Suppressed, m.Drops, m.PushRequests, m.PushBytes, m.Snapshots, m.SnapshotErrors, m.Watermark, m.AlertLatency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		r.MustRegister(c)
	}
	return m
}

// Source initialises the per-source series at zero, so they are exported
// before the first event arrives.
func (m *Metrics) Source(source string) {
	m.EventsIn.WithLabelValues(source)
	m.EventsOut.WithLabelValues(source)
	m.EventsSkipped.WithLabelValues(source)
}

// Queue exports the depth of one queue, read by depth at every scrape, as
// vigil_queue_depth{queue="name"}.
func (m *Metrics) Queue(name string, depth func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "vigil_queue_depth",
		Help:        "Items waiting in a queue.",
		ConstLabels: prometheus.Labels{"queue": name},
	}, depth))
}

// Gauge exports a value read by fn at every scrape (for example
// vigil_spool_bytes).
func (m *Metrics) Gauge(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
