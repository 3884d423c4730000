package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/internal/pgtest"
	"github.com/vigil-security/vigil/store"
)

// TestMain lets the crash test run the real command in a child process
// (the test binary, re-executed), so it can be killed with SIGKILL; and
// stops the throwaway PostgreSQL cluster of the tests that used one.
func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_TEST_RUN_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	pgtest.Main(m)
}

// serveProcess is `vigil serve` in a child process.
type serveProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

func startServe(t *testing.T, args ...string) *serveProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), "VIGIL_TEST_RUN_MAIN=1")
	p := &serveProcess{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	return p
}

func (p *serveProcess) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Fatalf("vigil serve after SIGTERM: %v\n%s", err, p.stderr)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// health reads /healthz, or reports the server down.
func health(url string) (map[string]any, bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url + "/healthz")
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var h map[string]any
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return nil, false
	}
	return h, true
}

// splitBodies cuts JSON lines into bodies of per lines.
func splitBodies(data []byte, per int) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	var cur []byte
	n := 0
	for sc.Scan() {
		cur = append(append(cur, sc.Bytes()...), '\n')
		if n++; n == per {
			out, cur, n = append(out, cur), nil, 0
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// pushAll pushes every body in order as an at-least-once sender does: each
// with its idempotency key, retried until the server answers 202, however
// often it goes away meanwhile. pushed counts the bodies acknowledged.
func pushAll(t *testing.T, url string, bodies [][]byte, pushed *atomic.Int64) error {
	client := &http.Client{Timeout: 30 * time.Second}
	for i, b := range bodies {
		for attempt := 0; ; attempt++ {
			if attempt > 2000 {
				return fmt.Errorf("body %d never accepted", i)
			}
			req, _ := http.NewRequest("POST", url+"/ingest/azure", bytes.NewReader(b))
			req.Header.Set("Idempotency-Key", fmt.Sprintf("estate-body-%d", i))
			resp, err := client.Do(req)
			if err != nil {
				time.Sleep(20 * time.Millisecond) // down: try again
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				break
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				return fmt.Errorf("body %d: %s", i, resp.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
		pushed.Add(1)
	}
	return nil
}

// TestKill9LosesNothingCountsNothingTwice pushes a labelled estate into
// `vigil serve` as an at-least-once sender does, kills the server with
// SIGKILL at random points — mid-stream with requests in flight, with a
// backlog in the spool, and idle once everything was processed — restarts
// it each time, and compares what it stored with a clean run on the same
// input: the same alerts, with the same IDs, counts, times and evidence,
// and each detection recorded once in the system activity log.
func TestKill9LosesNothingCountsNothingTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server several times")
	}
	logPath, cfgPath := chainInput(t)
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	bodies := splitBodies(data, 500)
	cfgText, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// Checkpoints every second, so kills fall between them and the
	// replay after a restart is real.
	cfgText = append(cfgText, "server:\n  snapshotInterval: 1s\n  idleAdvance: 0s\n"...)
	if err := os.WriteFile(cfgPath, cfgText, 0o600); err != nil {
		t.Fatal(err)
	}
	// The last record (three days after the rest) moves the watermark to
	// here once everything before it is processed.
	var lastRec struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(data[bytes.LastIndexByte(data[:len(data)-1], '\n')+1:]), &lastRec); err != nil {
		t.Fatal(err)
	}
	done := lastRec.Time.Add(-5 * time.Minute).UTC().Format(time.RFC3339)

	runServer := func(data string, kills int, r *rand.Rand) []*alert.Alert {
		addr := freePort(t)
		url := "http://" + addr
		args := []string{"--config", cfgPath, "--listen", addr, "--data", data, "--log-level", "warn"}
		srv := startServe(t, args...)
		var pushed atomic.Int64
		pushErr := make(chan error, 1)
		go func() { pushErr <- pushAll(t, url, bodies, &pushed) }()
		for k := range kills {
			// Kill when a random share of the bodies has been pushed;
			// the last kill waits until everything is processed (idle).
			idle := k == kills-1
			// A target past what was pushed before this kill, so the
			// kills spread over the stream.
			from := pushed.Load()
			target := from + int64(r.IntN(max(1, len(bodies)-int(from))))
			deadline := time.Now().Add(2 * time.Minute)
			for {
				if time.Now().After(deadline) {
					t.Fatalf("kill %d: waited too long (pushed %d of %d)\n%s", k, pushed.Load(), len(bodies), srv.stderr)
				}
				if !idle && pushed.Load() >= target {
					break
				}
				if idle && pushed.Load() == int64(len(bodies)) {
					if h, ok := health(url); ok && h["watermark"] == done && h["queue"] == 0.0 {
						break
					}
				}
				time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
			}
			srv.kill(t)
			t.Logf("kill %d (idle %v) after %d of %d bodies", k, idle, pushed.Load(), len(bodies))
			srv = startServe(t, args...)
		}
		if err := <-pushErr; err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if h, ok := health(url); ok && h["watermark"] == done && h["queue"] == 0.0 && h["spoolBytes"] == 0.0 {
				break
			}
			if time.Now().After(deadline) {
				h, _ := health(url)
				t.Fatalf("the server did not finish: %v\n%s", h, srv.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		srv.stop(t)
		return storedAlerts(t, filepath.Join(data, store.DefaultFile))
	}

	clean := runServer(t.TempDir(), 0, rand.New(rand.NewPCG(1, 1)))
	if len(clean) < 5 {
		t.Fatalf("the clean run stored %d alerts", len(clean))
	}
	for round := range 2 {
		dir := t.TempDir()
		crashed := runServer(dir, 3, rand.New(rand.NewPCG(uint64(round)+7, 3)))
		if len(crashed) != len(clean) {
			t.Errorf("round %d: %d alerts after kills, %d in the clean run", round, len(crashed), len(clean))
		}
		for i := range min(len(clean), len(crashed)) {
			if w, g := comparable(clean[i]), comparable(crashed[i]); !reflect.DeepEqual(w, g) {
				t.Errorf("round %d: alert differs from the clean run's:\n got  %s %s count %d\n want %s %s count %d",
					round, g.Type, g.ID, g.Count, w.Type, w.ID, w.Count)
			}
		}
		st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, store.DefaultFile))
		if err != nil {
			t.Fatal(err)
		}
		acts, err := st.ListActivity(context.Background(), store.ActivityQuery{OperationTypes: []string{store.OpAlertDetected}})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(acts) != len(crashed) {
			t.Errorf("round %d: %d detection records for %d alerts", round, len(acts), len(crashed))
		}
	}
}
