package kafka

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/vigil-security/vigil/event"
)

const topic = "insights-activity-logs"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// records returns the records of a {"records":[...]} sample, each as one
// compact JSON line.
func records(t testing.TB, name string) [][]byte {
	t.Helper()
	var env struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := json.Unmarshal(sample(t, name), &env); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, r := range env.Records {
		var b bytes.Buffer
		if err := json.Compact(&b, r); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// message is one test message and what it holds.
type message struct {
	value            []byte
	records, skipped int64
	broken           bool
}

// messages returns the test messages: the two documented envelopes as
// Event Hubs delivers them, one gzipped, JSON lines, a malformed record
// between good ones, and a message that is not JSON.
func messages(t testing.TB) []message {
	t.Helper()
	activity := sample(t, "activity-log-schema.md.eventhub-storage-records-sample.json")
	kv := sample(t, "keyvault-logging.md.auditevent-sample.json")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(kv)
	zw.Close()
	a, k := records(t, "activity-log-schema.md.eventhub-storage-records-sample.json")[0], records(t, "keyvault-logging.md.auditevent-sample.json")[0]
	lines := bytes.Join([][]byte{a, k, a}, []byte("\n"))
	bad := bytes.Replace(k, []byte(`"time":"2016-01-05T01:32:01.2691226Z"`), []byte(`"time":"yesterday"`), 1)
	if bytes.Equal(bad, k) {
		t.Fatal("the Key Vault sample's time changed; update the test")
	}
	mixed := bytes.Join([][]byte{a, bad, k}, []byte("\n"))
	return []message{
		{value: activity, records: 1},
		{value: kv, records: 1},
		{value: gz.Bytes(), records: 1},
		{value: lines, records: 3},
		{value: mixed, records: 2, skipped: 1},
		{value: []byte("this is not JSON\n"), broken: true},
	}
}

// produce writes n messages, cycling through messages(), keyed so that
// they spread over the partitions.
func produce(t *testing.T, addrs []string, n int) (records, skipped int64, broken int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ms := messages(t)
	var recs []*kgo.Record
	for i := range n {
		m := ms[i%len(ms)]
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: m.value})
		records += m.records
		skipped += m.skipped
		if m.broken {
			broken++
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return records, skipped, broken
}

// total sums batches.
type total struct {
	Batch
	ops []string
}

// drain polls until want messages were read or the time is up.
func drain(t *testing.T, c *Consumer, want int, commit bool) total {
	t.Helper()
	var tot total
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for tot.Messages < want {
		b, err := c.Poll(ctx, func(op *event.Op) error {
			if op.Time.IsZero() || op.Operation == "" || !strings.HasPrefix(op.Pos.File, "kafka:"+topic+"/") {
				return fmt.Errorf("bad op %+v", op)
			}
			tot.ops = append(tot.ops, op.Operation)
			return nil
		})
		if err != nil {
			t.Fatalf("Poll after %d of %d messages: %v", tot.Messages, want, err)
		}
		tot.Messages += b.Messages
		tot.Records += b.Records
		tot.Skipped += b.Skipped
		tot.Broken += b.Broken
		if commit {
			if err := c.Commit(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if tot.Messages != want {
		t.Fatalf("read %d messages, want %d", tot.Messages, want)
	}
	return tot
}

func newConsumer(t *testing.T, cfg Config) *Consumer {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestCommitOnlyWhenAsked: a member that read batches and committed only the
// first, then died, leaves the rest to the next member, which reads exactly
// the uncommitted messages (none lost, the committed ones not again); after
// its commits a third member reads only new messages.
func TestCommitOnlyWhenAsked(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	addrs := cluster.ListenAddrs()
	const n = 60
	records, skipped, broken := produce(t, addrs, n)
	cfg := Config{Brokers: addrs, Topics: []string{topic}, Group: "vigil", MaxPollRecords: 7, Logger: quiet}

	first := newConsumer(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var kept Batch
	b1, err := first.Poll(ctx, func(*event.Op) error { return nil })
	if err != nil || b1.Messages == 0 || b1.Messages > 7 {
		t.Fatalf("first Poll: %+v, %v", b1, err)
	}
	if err := first.Commit(ctx, b1); err != nil {
		t.Fatal(err)
	}
	kept = *b1
	if _, err := first.Poll(ctx, func(*event.Op) error { return nil }); err != nil {
		t.Fatal(err)
	}
	first.Close() // dies without committing its second batch

	second := newConsumer(t, cfg)
	got := drain(t, second, n-kept.Messages, true)
	if got.Records+kept.Records != records || got.Skipped+kept.Skipped != skipped || got.Broken+kept.Broken != broken {
		t.Errorf("records %d+%d skipped %d+%d broken %d+%d; want %d, %d, %d",
			got.Records, kept.Records, got.Skipped, kept.Skipped, got.Broken, kept.Broken, records, skipped, broken)
	}
	second.Close()

	more, _, _ := produce(t, addrs, 6)
	third := newConsumer(t, cfg)
	got = drain(t, third, 6, true)
	if got.Records != more {
		t.Errorf("after the commits: %d records, want only the %d new ones", got.Records, more)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if b, err := third.Poll(ctx2, func(*event.Op) error { return nil }); err == nil && b.Messages > 0 {
		t.Errorf("read %d messages again", b.Messages)
	}
}

// TestPollStopsOnHandlerError: an error from the handler is returned and
// the batch is not committable.
func TestPollStopsOnHandlerError(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	records, _, _ := produce(t, cluster.ListenAddrs(), 4)
	c := newConsumer(t, Config{Brokers: cluster.ListenAddrs(), Topics: []string{topic}, Group: "g", Logger: quiet})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := fmt.Errorf("store full")
	b, err := c.Poll(ctx, func(*event.Op) error { return full })
	if err != full || b != nil {
		t.Fatalf("Poll = %v, %v; want the handler's error", b, err)
	}
	if _, err := c.Poll(ctx, func(*event.Op) error { return nil }); !errors.Is(err, full) {
		t.Errorf("Poll after a given-up batch = %v, want its error again", err)
	}
	c.Close()
	// A new member resumes from the last commit (none): nothing was lost.
	c2 := newConsumer(t, Config{Brokers: cluster.ListenAddrs(), Topics: []string{topic}, Group: "g", Logger: quiet})
	if got := drain(t, c2, 4, false); got.Records != records {
		t.Errorf("the new member read %d records, want %d", got.Records, records)
	}
}

// selfSigned returns a server certificate for localhost and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestEventHubsSASLPlainTLS reads through a broker that, like Event Hubs'
// Kafka endpoint, takes TLS and SASL PLAIN with the user $ConnectionString
// and the connection string as password, with the Config EventHubs builds
// (its broker pointed at the test broker); a wrong key reads nothing.
func TestEventHubsSASLPlainTLS(t *testing.T) {
	const conn = "Endpoint=sb://localhost/;SharedAccessKeyName=vigil-listen;SharedAccessKey=c2VjcmV0LWtleS1mb3ItdGVzdHM=;EntityPath=" + topic
	cert, pool := selfSigned(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic),
		kfake.EnableSASL(), kfake.Superuser("PLAIN", "$ConnectionString", conn),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg, err := EventHubs(conn, "", "vigil")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Brokers[0] != "localhost:9093" || cfg.Topics[0] != topic || cfg.SASL.User != "$ConnectionString" || cfg.TLS == nil {
		t.Fatalf("EventHubs config: %+v", cfg)
	}
	cfg.Brokers, cfg.Logger = cluster.ListenAddrs(), quiet
	cfg.TLS.RootCAs = pool

	pcl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(topic),
		kgo.SASL(plainMechanism(cfg.SASL)), kgo.DialTLSConfig(cfg.TLS.Clone()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pcl.ProduceSync(ctx, &kgo.Record{Value: sample(t, "activity-log-schema.md.eventhub-storage-records-sample.json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pcl.Close()

	got := drain(t, newConsumer(t, cfg), 1, true)
	if got.Records != 1 || got.ops[0] != "microsoft.support/supporttickets/write" {
		t.Errorf("read %+v", got)
	}

	wrong := cfg
	wrong.Group = "other"
	wrong.SASL = &Plain{User: "$ConnectionString", Password: strings.Replace(conn, "c2Vj", "AAAA", 1)}
	c := newConsumer(t, wrong)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if b, err := c.Poll(ctx2, func(*event.Op) error { return nil }); err == nil && b.Messages > 0 {
		t.Errorf("a wrong key read %d messages", b.Messages)
	}
}

func TestEventHubsConfig(t *testing.T) {
	tests := []struct {
		conn, topic, broker, wantTopic, err string
	}{
		{"Endpoint=sb://contoso-logs.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=abc=", "insights-logs-auditevent",
			"contoso-logs.servicebus.windows.net:9093", "insights-logs-auditevent", ""},
		{"Endpoint=sb://contoso-logs.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=abc=;EntityPath=insights-activity-logs", "",
			"contoso-logs.servicebus.windows.net:9093", "insights-activity-logs", ""},
		{"SharedAccessKeyName=listen;SharedAccessKey=abc=", "t", "", "", "no Endpoint"},
		{"Endpoint=sb://contoso-logs.servicebus.windows.net/;SharedAccessKey=abc=", "", "", "", "no event hub"},
		{"Endpoint=::bad;SharedAccessKey=abc=", "t", "", "", "not a URL"},
	}
	for _, tc := range tests {
		cfg, err := EventHubs(tc.conn, tc.topic, "vigil")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("EventHubs(%q) = %v, want an error with %q", tc.conn, err, tc.err)
			}
			continue
		}
		if err != nil || cfg.Brokers[0] != tc.broker || cfg.Topics[0] != tc.wantTopic || cfg.SASL.Password != tc.conn ||
			cfg.TLS.ServerName != strings.TrimSuffix(tc.broker, ":9093") {
			t.Errorf("EventHubs(%q) = %+v, %v", tc.conn, cfg, err)
		}
		if err := cfg.check(); err != nil {
			t.Errorf("EventHubs config does not check: %v", err)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	good := Config{Brokers: []string{"b:9092"}, Topics: []string{"t"}, Group: "g"}
	for name, mod := range map[string]func(*Config){
		"no brokers":     func(c *Config) { c.Brokers = nil },
		"broker no port": func(c *Config) { c.Brokers = []string{"b"} },
		"no topics":      func(c *Config) { c.Topics = nil },
		"no group":       func(c *Config) { c.Group = "" },
		"sasl no pass":   func(c *Config) { c.SASL = &Plain{User: "u"} },
		"negative max":   func(c *Config) { c.MaxPollRecords = -1 },
	} {
		c := good
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestDecodeMessages checks each test message's counts and the positions
// of skipped records.
func TestDecodeMessages(t *testing.T) {
	var d decoder
	var errs []string
	if err := d.init(optsRecording(&errs), quiet); err != nil {
		t.Fatal(err)
	}
	for i, m := range messages(t) {
		errs = errs[:0]
		n := int64(0)
		st, err := d.message(m.value, fmt.Sprintf("kafka:t/0@%d", i), func(*event.Op) error { n++; return nil })
		if (err != nil) != m.broken || st.Records != m.records || n != m.records || st.Skipped != m.skipped {
			t.Errorf("message %d: %+v, %v, %d records; want %d records, %d skipped, broken %v", i, st, err, n, m.records, m.skipped, m.broken)
		}
		if m.skipped > 0 && (len(errs) != 1 || errs[0] != fmt.Sprintf("kafka:t/0@%d:2", i)) {
			t.Errorf("message %d: skipped records reported at %v, want line 2", i, errs)
		}
	}
}
