package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/pipeline"
	"github.com/vigil-security/vigil/simulate"
	"github.com/vigil-security/vigil/store"
)

const (
	torList   = "../../examples/intel/tor-exit-nodes.lst"
	ipsumList = "../../examples/intel/ipsum.txt"
)

// simulated writes Key Vault records with Tor accesses injected and returns
// the file's path.
func simulated(t *testing.T, records int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kv.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := simulate.KeyVaultLoad(f, simulate.KeyVaultOptions{Records: records, Seed: 3, TorAddresses: []string{"185.220.101.1"}}); err != nil {
		t.Fatal(err)
	}
	return path
}

func vigil(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestDetectPrintsGraphShapedAlerts(t *testing.T) {
	in := simulated(t, 120000)
	code, out, errs := vigil(t, "", "detect", "--progress", "0", "--tor", torList, "--blocklist", ipsumList, in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var n int
	types := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a map[string]any
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		for _, k := range []string{"id", "alertType", "displayName", "description", "severity", "status",
			"detectedDateTime", "firstObservedDateTime", "lastObservedDateTime", "subscriptionId", "customerTenantId",
			"affectedResources", "additionalDetails", "entities", "tactics", "remediationSteps", "evidence", "count"} {
			if _, ok := a[k]; !ok {
				t.Fatalf("alert lacks %q: %s", k, line)
			}
		}
		types[a["alertType"].(string)]++
		n++
	}
	// Two Tor accesses were injected (records 49,999 and 99,999); the address
	// is on ipsum too, so each also raises the suspicious-IP alert.
	if types["KV_TORAccess"] != 2 || types["KV_SuspiciousIPAccess"] != 2 || n != 4 {
		t.Fatalf("alerts by type %v, want 2 Tor and 2 suspicious IP", types)
	}
	if !strings.Contains(errs, "120000 records read, 0 skipped, 4 alerts") {
		t.Errorf("summary line missing from stderr: %q", errs)
	}
}

func TestDetectTableJapaneseAndStore(t *testing.T) {
	in := simulated(t, 60000)
	db := filepath.Join(t.TempDir(), "vigil.db")
	code, out, errs := vigil(t, "", "detect", "--progress", "0", "--format", "table", "--lang", "ja", "--db", db, "--tor", torList, in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "KV_TORAccess") || !strings.Contains(out, "TOR") || !strings.Contains(out, "キー コンテナー") {
		t.Errorf("table lacks the Tor alert in Japanese:\n%s", out)
	}
	st, err := store.OpenSQLite(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alerts, err := st.ListAlerts(context.Background(), store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Type != "KV_TORAccess" || len(alerts[0].Evidence) == 0 {
		t.Fatalf("stored %d alerts, want the one Tor alert with evidence", len(alerts))
	}
}

func TestDetectReadsStdinAndTheSamples(t *testing.T) {
	sample, err := os.ReadFile("../../examples/azure/keyvault-logging.md.auditevent-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := vigil(t, string(sample), "detect", "--progress", "0", "-",
		"../../examples/azure/activity-log-schema.md.administrative-sample.json",
		"../../examples/azure/activity-log-schema.md.eventhub-storage-records-sample.json")
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q: %s", code, out, errs)
	}
	if !strings.Contains(errs, "3 records read, 0 skipped, 0 alerts") {
		t.Errorf("stderr %q", errs)
	}
}

func TestDetectErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no files", []string{"detect"}, 2, "no input files"},
		{"bad flag", []string{"detect", "--nope", "x"}, 2, "flag provided but not defined"},
		{"bad format", []string{"detect", "--format", "xml", "x"}, 2, "--format"},
		{"bad language", []string{"detect", "--lang", "fr", "x"}, 2, "alerts.language"},
		{"missing file", []string{"detect", "/nonexistent/file.json"}, 1, "no such file"},
		{"missing intel", []string{"detect", "--tor", "/nonexistent/tor.lst", "../../examples/azure/keyvault-logging.md.auditevent-sample.json"}, 1, "tor.lst"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := vigil(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tt.code, errs, tt.msg)
			}
		})
	}
}

func TestDetectBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(cfg, []byte("alerts:\n  evidenceCapp: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := vigil(t, "", "detect", "--config", cfg, "-")
	if code != 1 || !strings.Contains(errs, "evidenceCapp") || !strings.Contains(errs, "2:") {
		t.Fatalf("exit %d, stderr %q: want the unknown key named with its line", code, errs)
	}
}

// TestDetectStateCarriesOverBetweenRuns: two runs over consecutive halves of
// a file, with --state, give the alerts of one run over the whole file.
func TestDetectStateCarriesOverBetweenRuns(t *testing.T) {
	whole := simulated(t, 120000)
	data, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	if err := os.WriteFile(first, []byte(strings.Join(lines[:70000], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, []byte(strings.Join(lines[70000:], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	ids := func(out string) []string {
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var a struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatal(err)
			}
			got = append(got, a.ID)
		}
		return got
	}
	args := []string{"detect", "--progress", "0", "--tor", torList, "--blocklist", ipsumList}
	_, out, _ := vigil(t, "", append(args, whole)...)
	want := ids(out)

	state := filepath.Join(dir, "state")
	code, out1, errs := vigil(t, "", append(args, "--state", state, first)...)
	if code != 0 {
		t.Fatalf("first run: %s", errs)
	}
	if _, err := os.Stat(filepath.Join(state, "engine.snapshot")); err != nil {
		t.Fatalf("no snapshot after the first run: %v", err)
	}
	code, out2, errs := vigil(t, "", append(args, "--state", state, second)...)
	if code != 0 || !strings.Contains(errs, "restored state of") {
		t.Fatalf("second run did not restore: exit %d, %s", code, errs)
	}
	got := append(ids(out1), ids(out2)...)
	if len(want) == 0 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("split runs gave %v, the whole file %v", got, want)
	}
}

// TestProgressCountsFlows: the progress line counts flows read from a
// capture, not only log records.
func TestProgressCountsFlows(t *testing.T) {
	var c pipeline.Counters
	c.Flows.Add(4096)
	c.Records.Add(5)
	out := &syncBuffer{}
	stop := startProgress(out, time.Millisecond, &c, time.Now())
	waitUntil(t, "a progress line", func() bool { return strings.Contains(out.String(), "records") })
	stop()
	if !strings.Contains(out.String(), "vigil detect: 4101 records") {
		t.Errorf("progress: %q", out.String())
	}
}
