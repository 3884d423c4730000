package export

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/vigil-security/vigil/notify"
)

// KafkaSink produces records to a Kafka topic, keyed by alert ID (so one
// alert's changes stay in order on one partition), with the idempotency
// key as a header. The producer is idempotent and waits for all in-sync
// replicas.
type KafkaSink struct {
	cl    *kgo.Client
	topic string
}

// NewKafkaSink connects a producer; password is the SASL PLAIN password
// (for Event Hubs, the connection string, with user "$ConnectionString").
func NewKafkaSink(c notify.KafkaExport, password string, extra ...kgo.Opt) (*KafkaSink, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.DefaultProduceTopic(c.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5 * time.Millisecond)}
	if c.TLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if c.Username != "" {
		opts = append(opts, kgo.SASL(plain.Auth{User: c.Username, Pass: password}.AsMechanism()))
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("export: kafka: %w", err)
	}
	return &KafkaSink{cl: cl, topic: c.Topic}, nil
}

// Write implements Sink: every record acknowledged, or an error.
func (k *KafkaSink) Write(ctx context.Context, recs []Record, lines [][]byte) error {
	rs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		rs[i] = &kgo.Record{Key: []byte(r.AlertID), Value: lines[i][:len(lines[i])-1],
			Headers: []kgo.RecordHeader{{Key: "Idempotency-Key", Value: []byte(r.IdempotencyKey)}, {Key: "Vigil-Event", Value: []byte(r.Event)}}}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	for _, res := range k.cl.ProduceSync(ctx, rs...) {
		if res.Err != nil {
			errs = append(errs, res.Err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("export: kafka topic %s: %w", k.topic, errors.Join(errs...))
	}
	return nil
}

// Close flushes and closes the producer.
func (k *KafkaSink) Close() { k.cl.Close() }
