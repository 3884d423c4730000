package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/simulate"
	"github.com/vigil-security/vigil/store"
)

const chainPartner = "4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01"

// chainInput writes a small simulated estate (attacks of the Key Vault and
// Resource Manager types after a two-day learning period) as JSON lines,
// ending with a benign record three days later that moves event time past
// every window, and a configuration whose directory gives each subscription
// its tenant, all managed by one partner.
func chainInput(t *testing.T) (logPath, cfgPath string) {
	t.Helper()
	est, err := simulate.NewEstate(simulate.EstateOptions{Seed: 3, Days: 4, LearningDays: 2, Scale: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := est.Write(&buf, simulate.JSONLines); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	last := data[bytes.LastIndexByte(data[:len(data)-1], '\n')+1:]
	end := est.End().UTC()
	later := end.Add(72 * time.Hour).Format("2006-01-02T15:04:05.0000000Z")
	i := bytes.Index(last, []byte(`"time":"`))
	if i < 0 {
		t.Fatal("no time in the last record")
	}
	j := bytes.IndexByte(last[i+8:], '"')
	sentinel := slices.Concat(last[:i+8], []byte(later), last[i+8+j:])
	data = append(data, sentinel...)
	dir := t.TempDir()
	logPath = filepath.Join(dir, "estate.json")
	if err := os.WriteFile(logPath, data, 0o600); err != nil {
		t.Fatal(err)
	}

	tenants := map[string][]string{}
	for _, v := range est.Vaults() {
		if !slices.Contains(tenants[v.TenantID], v.SubscriptionID) {
			tenants[v.TenantID] = append(tenants[v.TenantID], v.SubscriptionID)
		}
	}
	var y strings.Builder
	fmt.Fprintf(&y, "directory:\n  partners:\n    - id: %s\n      name: CSP\n      customers: [", chainPartner)
	ids := make([]string, 0, len(tenants))
	for id := range tenants {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fmt.Fprintf(&y, "%s]\n  customers:\n", strings.Join(ids, ", "))
	for _, id := range ids {
		fmt.Fprintf(&y, "    - tenantId: %s\n      subscriptions:\n", id)
		for _, sub := range tenants[id] {
			fmt.Fprintf(&y, "        - id: %s\n", sub)
		}
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	fmt.Fprintf(&y, "intel:\n  tor: [%s]\n  blocklists:\n    - path: %s\n      category: malicious\n      source: ipsum\n",
		abs("../../examples/intel/tor-exit-nodes.lst"), abs("../../examples/intel/ipsum.txt"))
	cfgPath = filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(cfgPath, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return logPath, cfgPath
}

// chainDB is a database holding one suppression rule of the partner
// (suspicious-address Key Vault alerts are a known scanner); newChainDB
// copies it, so every door applies the same rule, ID included.
var chainDB []byte

func newChainDB(t *testing.T, path string) {
	t.Helper()
	if chainDB == nil {
		tmpl := filepath.Join(t.TempDir(), "rules.db")
		st, err := store.OpenSQLite(context.Background(), tmpl)
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.CreateRule(context.Background(), silence.Rule{
			AlertType: "KV_SuspiciousIPAccess", Reason: "FalsePositive", Comment: "our scanner", Enabled: true,
			ResolvedReason: alert.ReasonLegitimate, PartnerID: chainPartner,
		}, store.Actor{Name: "test", PartnerID: chainPartner, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if chainDB, err = os.ReadFile(tmpl); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, chainDB, 0o600); err != nil {
		t.Fatal(err)
	}
}

func storedAlerts(t *testing.T, path string) []*alert.Alert {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	as, err := st.ListAlerts(context.Background(), store.ListQuery{OrderBy: []store.Order{{Column: "id"}}})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// serveUntil runs vigil serve on a data directory holding the rule,
// feeds it with feed, waits until it has read n records, and stops it as
// SIGTERM does; it returns the stored alerts.
func serveUntil(t *testing.T, cfgPath string, n int, extra []string, feed func(url string)) []*alert.Alert {
	t.Helper()
	data := t.TempDir()
	newChainDB(t, filepath.Join(data, store.DefaultFile))
	url, stderr, done := serveInBackground(t, append([]string{"--config", cfgPath, "--listen", "127.0.0.1:0",
		"--data", data, "--log-level", "warn"}, extra...)...)
	feed(url)
	waitUntil(t, fmt.Sprintf("%d records read", n), func() bool { return healthOf(t, url)["records"] == float64(n) })
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("vigil serve exited with %d: %s", code, stderr)
	}
	return storedAlerts(t, filepath.Join(data, store.DefaultFile))
}

// TestSameAlertsFromEveryDoor: the same input and configuration give the
// same alerts — IDs, tenants, counts, evidence, suppression — from `vigil
// detect --db`, from `vigil serve`'s push endpoint, and from a directory
// `vigil serve` follows, because all three run the one stage chain.
func TestSameAlertsFromEveryDoor(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a simulated estate three times")
	}
	logPath, cfgPath := chainInput(t)
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	records := bytes.Count(data, []byte("\n"))

	db := filepath.Join(t.TempDir(), "detect.db")
	newChainDB(t, db)
	var stderr bytes.Buffer
	if code := run([]string{"detect", "--config", cfgPath, "--db", db, "--progress", "0", logPath}, nil, io.Discard, &stderr); code != 0 {
		t.Fatalf("vigil detect: %d: %s", code, stderr.String())
	}
	want := storedAlerts(t, db)

	pushed := serveUntil(t, cfgPath, records, nil, func(url string) {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		var body []byte
		n := 0
		send := func() {
			resp, err := http.Post(url+"/ingest/azure", "application/x-ndjson", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("push: %s", resp.Status)
			}
			body, n = body[:0], 0
		}
		for sc.Scan() {
			body = append(append(body, sc.Bytes()...), '\n')
			if n++; n == 700 {
				send()
			}
		}
		if n > 0 {
			send()
		}
	})

	inDir := t.TempDir()
	dirCfg := filepath.Join(t.TempDir(), "vigil.yaml")
	cfgText, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfgText = append(cfgText, fmt.Sprintf("server:\n  inputs:\n    - path: %s\n      pattern: \"*.json\"\n      poll: 50ms\n", inDir)...)
	if err := os.WriteFile(dirCfg, cfgText, 0o600); err != nil {
		t.Fatal(err)
	}
	followed := serveUntil(t, dirCfg, records, nil, func(string) {
		// Written whole, then renamed into the pattern, as a sync tool
		// lands a blob.
		tmp := filepath.Join(inDir, "PT1H.json.part")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inDir, "PT1H.json")); err != nil {
			t.Fatal(err)
		}
	})

	if len(want) < 5 {
		t.Fatalf("vigil detect stored %d alerts; the estate should give more", len(want))
	}
	suppressed := 0
	for _, a := range want {
		if a.TenantID == "" {
			t.Errorf("%s %s has no tenant", a.Type, a.ID)
		}
		if a.SuppressedBy != "" {
			suppressed++
		}
	}
	if suppressed == 0 {
		t.Error("the rule suppressed nothing")
	}
	for door, got := range map[string][]*alert.Alert{"push": pushed, "followed directory": followed} {
		if len(got) != len(want) {
			t.Errorf("%s: %d alerts, vigil detect %d", door, len(got), len(want))
			continue
		}
		for i := range want {
			w, g := comparable(want[i]), comparable(got[i])
			if !reflect.DeepEqual(w, g) {
				t.Errorf("%s: alert differs from vigil detect's:\n got  %+v\n want %+v", door, g, w)
			}
		}
	}
}

// comparable is what must agree between doors: everything but wall-clock
// times and where the evidence was read (a file's line or a push position).
func comparable(a *alert.Alert) *alert.Alert {
	c := a.Clone()
	c.Updated, c.ResolvedOn = time.Time{}, time.Time{}
	for i := range c.Evidence {
		c.Evidence[i].Source = ""
	}
	for i := range c.ActivityLogs {
		c.ActivityLogs[i].UpdatedTime = time.Time{}
	}
	return c
}
