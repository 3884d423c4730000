package ipfix

import "github.com/prometheus/client_golang/prometheus"

// Metric descriptions of a Listener (a prometheus.Collector: register it
// in the server's registry).
var (
	descDatagrams = prometheus.NewDesc("vigil_flow_datagrams_total",
		"Flow export datagrams read from the UDP socket.", nil, nil)
	descRecords = prometheus.NewDesc("vigil_flow_records_total",
		"Flow records decoded.", nil, nil)
	descTemplatesLearnt = prometheus.NewDesc("vigil_flow_template_records_total",
		"Template records learnt or refreshed.", nil, nil)
	descDrops = prometheus.NewDesc("vigil_flow_drops_total",
		"Flow input dropped, by reason: socket_full (datagrams the kernel dropped: the socket's receive buffer was full), queue_full (datagrams: decoder behind), malformed (datagrams with an error), "+
			"exporter_limit (datagrams of sessions over the cap), template_limit (templates over the caps), "+
			"no_template (data sets whose template never came).", []string{"reason"}, nil)
	descExporters = prometheus.NewDesc("vigil_flow_exporters",
		"Exporter sessions (address, observation domain, version) held.", nil, nil)
	descTemplates = prometheus.NewDesc("vigil_flow_templates",
		"Templates held, all exporters.", nil, nil)
	descRefusals = prometheus.NewDesc("vigil_flow_exporter_refusals_total",
		"Datagrams of new exporter sessions refused because the exporter table was full, by source address "+
			"(up to 256 sources; \"other\" for the rest).", []string{"source"}, nil)
)

// Describe implements prometheus.Collector.
func (l *Listener) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDatagrams, descRecords, descTemplatesLearnt, descDrops, descExporters, descTemplates, descRefusals} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (l *Listener) Collect(ch chan<- prometheus.Metric) {
	s := l.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descDatagrams, s.Received)
	counter(descRecords, s.Decoder.Flows)
	counter(descTemplatesLearnt, s.Decoder.Templates)
	counter(descDrops, s.SocketDrops, "socket_full")
	counter(descDrops, s.QueueDrops, "queue_full")
	counter(descDrops, s.Decoder.Malformed, "malformed")
	counter(descDrops, s.Decoder.DroppedExporters, "exporter_limit")
	counter(descDrops, s.Decoder.DroppedTemplates, "template_limit")
	counter(descDrops, s.Decoder.DroppedSets, "no_template")
	ch <- prometheus.MustNewConstMetric(descExporters, prometheus.GaugeValue, float64(s.Exporters))
	ch <- prometheus.MustNewConstMetric(descTemplates, prometheus.GaugeValue, float64(s.Templates))
	for _, r := range s.Refusals {
		counter(descRefusals, r.Count, r.Source.String())
	}
	if s.RefusedOther > 0 {
		counter(descRefusals, s.RefusedOther, "other")
	}
}
