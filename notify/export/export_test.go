package export

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/notify"
	"github.com/vigil-security/vigil/notify/dispatch"
	"github.com/vigil-security/vigil/store"
)

func TestFileWriterRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "export.jsonl")
	w, err := OpenFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := func(i int) []byte {
		return []byte(fmt.Sprintf("{\"n\":%d,\"pad\":\"%s\"}\n", i, strings.Repeat("x", 20)))
	} // 35 bytes
	for i := range 10 {
		if err := w.Write([][]byte{line(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// 2 lines a file (70 bytes; a third would pass 100): lines 8-9 in the
	// file, 6-7 in .1, 4-5 in .2; older ones deleted.
	for _, tc := range []struct {
		name string
		want []int
	}{{"export.jsonl", []int{8, 9}}, {"export.jsonl.1", []int{6, 7}}, {"export.jsonl.2", []int{4, 5}}} {
		b, err := os.ReadFile(filepath.Join(dir, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		var want string
		for _, i := range tc.want {
			want += string(line(i))
		}
		if string(b) != want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.name, b, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "export.jsonl.3")); !os.IsNotExist(err) {
		t.Errorf("export.jsonl.3 kept: %v", err)
	}
	// Reopening appends to the current file.
	w, err = OpenFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([][]byte{[]byte("{}\n")}); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	if b, _ := os.ReadFile(path); !strings.HasSuffix(string(b), "{}\n") || !strings.HasPrefix(string(b), string(line(8))) {
		t.Errorf("after reopen: %s", b)
	}
}

// TestExportFileAndKafka runs alert changes through the outbox and a real
// dispatcher into a rotating file and a kfake Kafka cluster, with filters.
func TestExportFileAndKafka(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "vigil-alerts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ks, err := NewKafkaSink(notify.KafkaExport{Brokers: cluster.ListenAddrs(), Topic: "vigil-alerts"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	path := filepath.Join(t.TempDir(), "out", "alerts.jsonl")
	fw, err := OpenFile(path, 1<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()

	fileTarget, _ := Target("export:file", notify.Filter{MinSeverity: alert.SeverityMedium})
	kafkaTarget, _ := Target("export:kafka", notify.Filter{Tenants: []string{"t1"}, Types: []string{"KV_TORAccess"}})
	for _, tg := range []store.Target{fileTarget, kafkaTarget} {
		if err := st.PutTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	n, err := New(Options{Alerts: st, Sinks: map[string]Sink{"export:file": FileSink{fw}, "export:kafka": ks}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Outbox: st, Notifiers: []notify.Notifier{n}, Now: func() time.Time { return time.Now().Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	mk := func(id, typ, tenant string, sev alert.Severity) *alert.Alert {
		return &alert.Alert{ID: id, Type: typ, Fingerprint: "fp-" + id, Severity: sev, Status: alert.StatusActive,
			TenantID: tenant, SubscriptionID: "s", Detected: at, Count: 1}
	}
	if err := st.SaveAlerts(ctx, []*alert.Alert{
		mk("e1", "KV_TORAccess", "t1", alert.SeverityHigh),
		mk("e2", "KV_TORAccess", "t2", alert.SeverityHigh),
		mk("e3", "KV_SuspiciousIPAccess", "t1", alert.SeverityLow),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateStatus(ctx, "e1", alert.StatusResolved, alert.ReasonFraud, "analyst", at); err != nil {
		t.Fatal(err)
	}
	for {
		k, err := d.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	// File: severity >= medium: e1 created and resolved, e2 created.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if r.Alert == nil || r.Alert.ID != r.AlertID || r.IdempotencyKey == "" {
			t.Errorf("record %+v", r)
		}
		got = append(got, r.AlertID+" "+r.Event+" "+r.NewValue)
	}
	want := "[e1 alertCreated active e2 alertCreated active e1 statusChanged resolved]"
	if fmt.Sprint(got) != want {
		t.Errorf("file records %v\nwant %s", got, want)
	}
	// Kafka: tenant t1 and KV_TORAccess only: e1's two changes.
	cons, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("vigil-alerts"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var recs []*kgo.Record
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(recs) < 2 && cctx.Err() == nil {
		fs := cons.PollFetches(cctx)
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	if len(recs) != 2 {
		t.Fatalf("kafka got %d records", len(recs))
	}
	for i, wantEvent := range []string{"alertCreated", "statusChanged"} {
		var r Record
		if err := json.Unmarshal(recs[i].Value, &r); err != nil {
			t.Fatal(err)
		}
		if string(recs[i].Key) != "e1" || r.Event != wantEvent || recs[i].Headers[0].Key != "Idempotency-Key" ||
			string(recs[i].Headers[0].Value) != r.IdempotencyKey {
			t.Errorf("kafka record %d: key %s %+v", i, recs[i].Key, r)
		}
	}
	c, _ := st.OutboxCounts(ctx)
	if c[store.OutboxPending] != 0 || c[store.OutboxFailed] != 0 {
		t.Errorf("outbox %v", c)
	}
}

// TestKafkaDownRetried: a sink that cannot produce leaves the entries
// pending for a retry.
func TestKafkaDownRetried(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	addrs := cluster.ListenAddrs()
	cluster.Close()
	ks, err := NewKafkaSink(notify.KafkaExport{Brokers: addrs, Topic: "t"}, "", kgo.RecordDeliveryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	tg, _ := Target("export:kafka", notify.Filter{})
	if err := st.PutTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	n, _ := New(Options{Alerts: st, Sinks: map[string]Sink{"export:kafka": ks}})
	d, _ := dispatch.New(dispatch.Options{Outbox: st, Notifiers: []notify.Notifier{n}, Now: func() time.Time { return time.Now().Add(time.Minute) }})
	if err := st.SaveAlert(ctx, &alert.Alert{ID: "x", Type: "T", Fingerprint: "f", Severity: alert.SeverityHigh, Status: alert.StatusActive, Detected: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Step(ctx); err != nil {
		t.Fatal(err)
	}
	es, _ := st.ListOutbox(ctx, store.OutboxQuery{})
	if len(es) != 1 || es[0].State != store.OutboxPending || !strings.Contains(es[0].LastError, "kafka") {
		t.Fatalf("entry %+v", es)
	}
}
