package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"
)

// DefaultMaxPollRecords is the default Config.MaxPollRecords.
const DefaultMaxPollRecords = 500

// Consumer is one member of a consumer group reading Azure logs. Poll and
// Commit are called from one goroutine; Close from any.
type Consumer struct {
	cl  *kgo.Client
	log *slog.Logger
	max int
	dec decoder
	err error // sticky: a batch was given up half-way
}

// New joins the consumer group. It does not wait for the brokers: the
// first Poll does.
func New(cfg Config) (*Consumer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = "vigil"
	}
	start := kgo.NewOffset().AtStart()
	if cfg.FromEnd {
		start = kgo.NewOffset().AtEnd()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(clientID),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.ConsumeResetOffset(start),
		// Offsets move only through Commit, after durability.
		kgo.DisableAutoCommit(),
	}
	if cfg.SASL != nil {
		opts = append(opts, kgo.SASL(plain.Auth{User: cfg.SASL.User, Pass: cfg.SASL.Password}.AsMechanism()))
	}
	if cfg.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg.TLS.Clone()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &Consumer{cl: cl, log: log, max: cfg.MaxPollRecords}
	if c.max == 0 {
		c.max = DefaultMaxPollRecords
	}
	if err := c.dec.init(cfg.Decoder, log); err != nil {
		cl.Close()
		return nil, err
	}
	return c, nil
}

// Batch is what one Poll read, and the position to commit once everything
// made from it is durable.
type Batch struct {
	// Messages is the number of Kafka messages read.
	Messages int
	// Records is the number of log records decoded and handed on.
	Records int64
	// Skipped is the number of malformed records skipped.
	Skipped int64
	// Broken is the number of messages whose input ended in error
	// (truncated or not JSON) after the records before the error.
	Broken int

	last []*kgo.Record // the last message read per partition
}

// Poll waits for messages (until ctx ends), decodes each and calls fn with
// every record, in order per partition. op and its Raw are valid during
// the call only. Messages fetched before ctx ended are still handed on; a
// ctx that ends with none returns its error.
//
// An error from fn stops Poll and is returned; the messages of the batch
// are then neither committable nor read again by this Consumer, so every
// later Poll returns the same error: Close it and start a new one, which
// resumes from the last commit.
func (c *Consumer) Poll(ctx context.Context, fn func(op *event.Op) error) (*Batch, error) {
	if c.err != nil {
		return nil, c.err
	}
	fetches := c.cl.PollRecords(ctx, c.max)
	if fetches.IsClientClosed() {
		return nil, errors.New("kafka: consumer closed")
	}
	var errs []error
	fetches.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("%s/%d: %w", topic, p, err))
		}
	})
	if fetches.NumRecords() == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("kafka: fetch: %w", errors.Join(errs...))
		}
		return &Batch{}, nil
	}
	for _, err := range errs { // the records fetched are still good
		c.log.Warn("kafka fetch", "err", err)
	}
	b := &Batch{}
	last := map[string]map[int32]*kgo.Record{}
	var ferr error
	fetches.EachRecord(func(r *kgo.Record) {
		if ferr != nil {
			return
		}
		b.Messages++
		st, err := c.dec.message(r.Value, messageName(r), fn)
		b.Records += st.Records
		b.Skipped += st.Skipped
		if err != nil {
			var re *azurelog.RecordError
			if !errors.As(err, &re) {
				ferr = err // from fn
				return
			}
			b.Broken++
			c.log.Warn("kafka message unreadable after its leading records", "err", err)
		}
		if last[r.Topic] == nil {
			last[r.Topic] = map[int32]*kgo.Record{}
		}
		last[r.Topic][r.Partition] = r
	})
	if ferr != nil {
		c.err = fmt.Errorf("kafka: a batch was given up (close this consumer and start another): %w", ferr)
		return nil, ferr
	}
	for _, ps := range last {
		for _, r := range ps {
			b.last = append(b.last, r)
		}
	}
	return b, nil
}

// messageName is a message's position, the "file" of its records' errors.
func messageName(r *kgo.Record) string {
	return "kafka:" + r.Topic + "/" + strconv.Itoa(int(r.Partition)) + "@" + strconv.FormatInt(r.Offset, 10)
}

// Commit commits the batch's offsets for the group: its messages are not
// read again by this group. Call it once what was made from the batch is
// durable, and for batches in the order Poll returned them.
func (c *Consumer) Commit(ctx context.Context, b *Batch) error {
	if b == nil || len(b.last) == 0 {
		return nil
	}
	if err := c.cl.CommitRecords(ctx, b.last...); err != nil {
		return fmt.Errorf("kafka: commit: %w", err)
	}
	return nil
}

// Close leaves the group without committing anything.
func (c *Consumer) Close() {
	c.cl.Close()
}

// decoder decodes messages with one reused azurelog.Reader.
type decoder struct {
	r   *azurelog.Reader
	src bytes.Reader
	op  event.Op
}

func (d *decoder) init(opts azurelog.Options, log *slog.Logger) error {
	user := opts.OnError
	opts.OnError = func(e *azurelog.RecordError) {
		log.Warn("malformed record skipped", "at", e.File, "line", e.Line, "record", e.Index, "err", e.Err)
		if user != nil {
			user(e)
		}
	}
	r, err := azurelog.NewReader(bytes.NewReader(nil), "kafka", opts)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	d.r = r
	return nil
}

// message decodes one message's value and calls fn for each record. It
// returns the Reader's counts, and either fn's error or the
// *azurelog.RecordError that ended the message early.
func (d *decoder) message(value []byte, name string, fn func(op *event.Op) error) (azurelog.Stats, error) {
	d.src.Reset(value)
	if err := d.r.Reset(&d.src, name); err != nil {
		return azurelog.Stats{}, &azurelog.RecordError{File: name, Line: 1, Err: err}
	}
	for {
		err := d.r.Next(&d.op)
		if err == io.EOF {
			return d.r.Stats(), nil
		}
		if err != nil {
			var re *azurelog.RecordError
			if !errors.As(err, &re) {
				err = &azurelog.RecordError{File: name, Line: 1, Err: err}
			}
			return d.r.Stats(), err
		}
		if err := fn(&d.op); err != nil {
			return d.r.Stats(), err
		}
	}
}
