// Package kafka reads Azure logs from Kafka topics, or from Azure Event Hubs
// through its Kafka endpoint, as a member of a consumer group (franz-go).
//
// Each message holds what Azure's diagnostic settings send to Event Hubs: a
// {"records":[...]} envelope, or JSON lines, gzip or not; package azurelog
// decodes it, one reused Reader for all messages. A malformed record is
// counted, reported with its position ("kafka:TOPIC/PARTITION@OFFSET",
// line, index in the envelope) and skipped; its neighbours are read.
//
// # Offsets
//
// Offsets are never committed automatically. [Consumer.Poll] hands the
// decoded events to the caller and returns a [Batch]; the caller calls
// [Consumer.Commit] with it only once everything made from the batch
// (alerts, detector state) is durable. A crash before that re-reads the
// batch from the last commit: events are read at least once, never lost,
// and the alerts re-made from them collapse onto the stored ones by
// fingerprint. So do partitions that move to another member of the group
// before their batch was committed.
//
// # Azure Event Hubs
//
// An Event Hubs namespace (Standard tier or above) speaks Kafka on port
// 9093 over TLS, with SASL PLAIN: user "$ConnectionString", password the
// connection string; an event hub is a topic and a consumer group a group.
// [EventHubs] builds that configuration from a connection string:
//
//	cfg, err := kafka.EventHubs(os.Getenv("EVENTHUB_CONNECTION_STRING"), "insights-activity-logs", "vigil")
//	c, err := kafka.New(cfg)
package kafka
