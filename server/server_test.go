package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/simulate"
	"github.com/vigil-security/vigil/source/azurelog"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// torAddress is the first address of testdata/tor-exit-nodes.lst.
const torAddress = "101.99.92.179"

// testServer is a server running in-process on a real port.
type testServer struct {
	*Server
	url    string
	cancel context.CancelFunc
	done   chan error
}

// testLogger sends the server's logs to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func start(t testing.TB, cfg config.Config, tweak ...func(*Server)) *testServer {
	t.Helper()
	s, err := New(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tweak {
		f(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { ts.stop() })
	return ts
}

// stop shuts the server down as SIGTERM does and returns Serve's result.
func (ts *testServer) stop() error {
	ts.cancel()
	err, ok := <-ts.done
	if !ok {
		return nil
	}
	close(ts.done)
	return err
}

func (ts *testServer) push(t testing.TB, body []byte, gz bool) {
	t.Helper()
	if gz {
		body = gzipBytes(t, body)
	}
	req, _ := http.NewRequest("POST", ts.url+PushPath, bytes.NewReader(body))
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("push: %s: %s", resp.Status, msg)
	}
}

func (ts *testServer) get(t testing.TB, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// processed waits until n records have been read and everything pushed is
// processed and acknowledged (alerts stored, spool position committed).
func (ts *testServer) processed(t testing.TB, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d records processed", n), func() bool {
		return ts.Counters().Records.Load() == n && ts.spool.Bytes() == 0 && len(ts.queue) == 0
	})
}

// waitFor polls cond; the deadline only guards against a hung test.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countRecords reads data as the pipeline does and counts its records.
func countRecords(t testing.TB, data []byte) int64 {
	t.Helper()
	rd, err := azurelog.NewReader(bytes.NewReader(data), "count", azurelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		op event.Op
		n  int64
	)
	for {
		switch err := rd.Next(&op); err {
		case nil:
			n++
		case io.EOF:
			return n
		default:
			t.Fatal(err)
		}
	}
}

// kvLoad is simulated Key Vault traffic as JSON lines, split in bodies of
// per lines; the 50,000th record comes from torAddress.
func kvLoad(t testing.TB, records, per int, start time.Time) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := simulate.KeyVaultLoad(&buf, simulate.KeyVaultOptions{
		Records: records, Start: start, Seed: 7, TorAddresses: []string{torAddress},
	}); err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	var cur []byte
	n := 0
	for sc.Scan() {
		cur = append(append(cur, sc.Bytes()...), '\n')
		if n++; n == per {
			bodies, cur, n = append(bodies, cur), nil, 0
		}
	}
	if len(cur) > 0 {
		bodies = append(bodies, cur)
	}
	return bodies
}

// torSubscription is the subscription of the Tor record in the load.
func torSubscription(t testing.TB, bodies [][]byte) string {
	t.Helper()
	for _, b := range bodies {
		for line := range bytes.Lines(b) {
			if !bytes.Contains(line, []byte(torAddress)) {
				continue
			}
			var rec struct {
				ResourceID string `json:"resourceId"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(rec.ResourceID, "/")
			return strings.ToLower(parts[2])
		}
	}
	t.Fatal("no Tor record in the load")
	return ""
}

func baseConfig(t testing.TB) config.Config {
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	cfg.Server.IdleAdvance = 0 // event time moves with the events only
	cfg.Intel.Tor = []string{filepath.Join("testdata", "tor-exit-nodes.lst")}
	return cfg
}

func listAlerts(t testing.TB, st store.Store, typ string) []*alert.Alert {
	t.Helper()
	q := store.ListQuery{}
	if typ != "" {
		q.Types = []string{typ}
	}
	as, err := st.ListAlerts(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func TestServeEndToEnd(t *testing.T) {
	const tenant = "1889e718-414b-4bad-8bbe-c1135bd39a41"
	bodies := kvLoad(t, 60000, 1000, time.Time{})
	cfg := baseConfig(t)
	cfg.Directory = tenancy.Directory{Customers: []tenancy.Customer{{
		TenantID: tenant, Subscriptions: []tenancy.Subscription{{ID: torSubscription(t, bodies)}},
	}}}
	ts := start(t, cfg)

	// The real samples, in the shapes Azure delivers, then the load.
	var want int64
	for i, name := range []string{
		"activity-log-schema.md.eventhub-storage-records-sample.json",
		"activity-log-schema.md.administrative-sample.json",
		"keyvault-logging.md.auditevent-sample.json",
	} {
		data := readFile(t, name)
		want += countRecords(t, data)
		ts.push(t, data, i == 0)
	}
	for i, b := range bodies {
		ts.push(t, b, i%3 == 0)
	}
	want += 60000
	ts.processed(t, want)

	tor := listAlerts(t, ts.Store(), "KV_TORAccess")
	if len(tor) != 1 {
		t.Fatalf("%d KV_TORAccess alerts, want 1", len(tor))
	}
	a := tor[0]
	if a.TenantID != tenant || a.Count != 1 || a.Status != alert.StatusActive {
		t.Errorf("alert tenant %q count %d status %s", a.TenantID, a.Count, a.Status)
	}
	if len(a.Evidence) != 1 || a.Evidence[0].CallerIP != torAddress || !strings.HasPrefix(a.Evidence[0].Source, "push:") {
		t.Errorf("evidence %+v", a.Evidence)
	}
	before := listAlerts(t, ts.Store(), "")

	// The system activity log records the detection.
	acts, err := ts.Store().ListActivity(context.Background(), store.ActivityQuery{OperationTypes: []string{store.OpAlertDetected}})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != len(before) {
		t.Errorf("%d detection records for %d alerts", len(acts), len(before))
	}

	// The API shows the alert to a token of its tenant.
	token, _, err := api.IssueToken(context.Background(), ts.Store(), api.TokenRequest{TenantID: tenant, Name: "test"},
		store.Actor{Name: "test", At: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, body := ts.get(t, "/security/partner/securityAlerts/"+a.ID, token)
	if code != 200 || !strings.Contains(body, `"alertType":"KV_TORAccess"`) {
		t.Errorf("API: %d %s", code, body)
	}

	// Metrics and health.
	code, metrics := ts.get(t, "/metrics", "")
	for _, line := range []string{
		fmt.Sprintf(`vigil_events_in_total{source="push"} %d`, want),
		fmt.Sprintf(`vigil_events_out_total{source="push"} %d`, want),
		`vigil_alerts_total{type="KV_TORAccess"} 1`,
		fmt.Sprintf(`vigil_push_requests_total{code="202"} %d`, len(bodies)+3),
		`vigil_spool_bytes 0`,
		`vigil_queue_depth{queue="pipeline"} 0`,
		`vigil_detector_batch_seconds_count`,
	} {
		if code != 200 || !strings.Contains(metrics, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	code, body = ts.get(t, "/healthz", "")
	var h health
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 || h.Status != "ok" || h.Records != want || h.Watermark == "" {
		t.Errorf("/healthz: %d %s", code, body)
	}

	// Shut down as on SIGTERM: the state is saved.
	if err := ts.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	snap := filepath.Join(cfg.Server.DataDir, "state", checkpointFile)
	if info, err := os.Stat(snap); err != nil || info.Size() < 100 {
		t.Fatalf("snapshot: %v", err)
	}

	// Restart: nothing is read twice, and the next day's Tor access by the
	// same caller merges into the open alert.
	ts2 := start(t, cfg)
	if n := ts2.Counters().Records.Load(); n != 0 {
		t.Errorf("%d records replayed after a clean shutdown", n)
	}
	if ts2.engine.Watermark().IsZero() {
		t.Error("engine state was not restored")
	}
	for i, b := range kvLoad(t, 60000, 1000, time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)) {
		ts2.push(t, b, i%2 == 0)
	}
	ts2.processed(t, 60000)
	tor = listAlerts(t, ts2.Store(), "KV_TORAccess")
	if len(tor) != 1 || tor[0].ID != a.ID || tor[0].Count != 2 {
		for _, x := range tor {
			t.Logf("alert %s first %s count %d", x.ID, x.FirstObserved, x.Count)
		}
		t.Fatalf("after restart: %d KV_TORAccess alerts, want the first one with count 2", len(tor))
	}
	seen := map[string]int{}
	for _, x := range listAlerts(t, ts2.Store(), "") {
		seen[x.ID]++
	}
	for _, x := range before {
		if seen[x.ID] != 1 {
			t.Errorf("alert %s (%s) stored %d times after restart", x.ID, x.Type, seen[x.ID])
		}
	}
	if err := ts2.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestRestartReplaysUnacknowledgedSpool(t *testing.T) {
	cfg := baseConfig(t)
	// Spool a body without a pipeline (as if the server died right after
	// answering 202).
	s, err := New(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	kv := readFile(t, "keyvault-logging.md.auditevent-sample.json")
	if _, err := s.spool.Append(kv, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	ts := start(t, cfg)
	ts.processed(t, 1)
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	ts2 := start(t, cfg)
	ts2.push(t, kv, false)
	ts2.processed(t, 1) // the new push only: the first was acknowledged
}

func TestFileInput(t *testing.T) {
	dir := t.TempDir()
	cfg := baseConfig(t)
	cfg.Server.Inputs = []config.Input{{Path: dir, Poll: 10 * time.Millisecond}}
	bodies := kvLoad(t, 3000, 1000, time.Time{})
	// An append blob: lines arrive in two writes.
	path := filepath.Join(dir, "resourceId=X", "y=2026", "PT1H.json")
	os.MkdirAll(filepath.Dir(path), 0o750)
	os.WriteFile(path, bodies[0], 0o600)
	ts := start(t, cfg)
	waitFor(t, "the first 1000 lines", func() bool { return ts.Counters().Records.Load() == 1000 })
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bodies[1])
	f.Close()
	waitFor(t, "the appended lines", func() bool { return ts.Counters().Records.Load() == 2000 })
	waitFor(t, "the offset to be saved", func() bool { return ts.tails[0].Offsets()[path] == int64(len(bodies[0])+len(bodies[1])) })
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	// After a restart only what was appended meanwhile is read.
	f, _ = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(bodies[2])
	f.Close()
	ts2 := start(t, cfg)
	waitFor(t, "the lines appended while stopped", func() bool { return ts2.Counters().Records.Load() == 1000 })
	if err := ts2.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestIdleAdvanceClosesWindows(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Server.IdleAdvance = time.Millisecond
	// The AuditEvent sample, from a Tor exit node (the address is the only
	// change).
	kv := bytes.Replace(readFile(t, "keyvault-logging.md.auditevent-sample.json"), []byte("104.40.82.76"), []byte(torAddress), 1)
	ts := start(t, cfg, func(s *Server) { s.tick = 5 * time.Millisecond })
	ts.push(t, kv, false)
	// One record moves no watermark; only the wall clock can release it.
	waitFor(t, "the Tor alert", func() bool { return len(listAlerts(t, ts.Store(), "KV_TORAccess")) == 1 })
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPushIngest measures ingest end to end: bodies of 1,000 Key Vault
// records (JSON lines, about 1 MB) pushed over HTTP by 4 clients, spooled
// durably, and run through the pipeline with every detection; the clock
// stops when the last record is processed and acknowledged.
//
// Checkpoints (detector state, open alerts and input positions written
// together) run every snapshotInterval: the sub-benchmarks compare the
// default interval with one a second, which shows their cost.
func BenchmarkPushIngest(b *testing.B) {
	for _, every := range []time.Duration{5 * time.Minute, time.Second} {
		b.Run("checkpoint="+every.String(), func(b *testing.B) { benchPushIngest(b, every) })
	}
}

func benchPushIngest(b *testing.B, checkpointEvery time.Duration) {
	bodies := kvLoad(b, b.N*1000, 1000, time.Time{})
	cfg := baseConfig(b)
	cfg.Server.Push.SpoolBytes = 4 << 30
	cfg.Server.SnapshotInterval = checkpointEvery
	ts := start(b, cfg)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var next sync.Mutex
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				next.Lock()
				if i >= b.N {
					next.Unlock()
					return
				}
				body := bodies[i]
				i++
				next.Unlock()
				resp, err := client.Post(ts.url+PushPath, "application/x-ndjson", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("push: %s", resp.Status)
					return
				}
			}
		})
	}
	wg.Wait()
	ts.processed(b, int64(b.N)*1000)
	b.StopTimer()
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "records/s")
}
