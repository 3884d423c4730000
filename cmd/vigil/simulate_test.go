package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-security/vigil/enrich/geo"
)

func TestSimulateEstateWritesRecordsAndLabels(t *testing.T) {
	dir := t.TempDir()
	out, labels, act := filepath.Join(dir, "kv.jsonl"), filepath.Join(dir, "labels.jsonl"), filepath.Join(dir, "activity.jsonl")
	var stderr bytes.Buffer
	code := run([]string{"simulate", "--days", "4", "--learning-days", "2", "--scale", "0.2", "--seed", "5",
		"--format", "records", "-o", out, "--labels", labels, "--activity", act}, nil, &bytes.Buffer{}, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, f := range []string{out, act} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte(`{"records":[`)) {
			t.Errorf("%s does not start with a records envelope", f)
		}
	}
	data, err := os.ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var l struct {
			AlertType string `json:"alertType"`
			MustFire  bool   `json:"mustFire"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatal(err)
		}
		if l.MustFire {
			types[l.AlertType] = true
		}
	}
	if !types["KV_TORAccess"] || !types["ARM_OperationFromSuspiciousIP"] || len(types) < 12 {
		t.Errorf("attack labels for %d types: %v", len(types), types)
	}
	if !strings.Contains(stderr.String(), "learning period until") {
		t.Errorf("summary: %s", stderr.String())
	}
}

func TestSimulateModesDoNotMix(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"simulate", "--records", "10", "--labels", "x"}, nil, &bytes.Buffer{}, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"simulate", "--days", "3"}, nil, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "no room for attacks") {
		t.Fatalf("exit %d, want 2: %s", code, stderr.String())
	}
}

func TestSimulateLoadModeKeepsItsFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"simulate", "--records", "20", "--span", "1h", "--inject-tor", "185.220.101.1", "--start", "2026-01-01T00:00:00Z"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if n := bytes.Count(stdout.Bytes(), []byte("\n")); n != 20 {
		t.Errorf("%d lines, want 20", n)
	}
}

// TestSimulateGeoIPOut: --geoip-out writes a database detect --geoip reads,
// which places the estate's office addresses.
func TestSimulateGeoIPOut(t *testing.T) {
	dir := t.TempDir()
	db, labels := filepath.Join(dir, "estate.mmdb"), filepath.Join(dir, "labels.jsonl")
	var stderr bytes.Buffer
	code := run([]string{"simulate", "--days", "4", "--learning-days", "2", "--scale", "0.2", "-o", filepath.Join(dir, "kv.jsonl"),
		"--labels", labels, "--geoip-out", db}, nil, &bytes.Buffer{}, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	l, err := geo.OpenLocator([]string{db}, geo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g, err := l.Lookup(netip.MustParseAddr("145.53.212.10")) // the first office's first address
	if err != nil || g.Country != "NL" || g.City != "Amsterdam" || !g.HasLocation || g.AccuracyKm != 20 {
		t.Errorf("Lookup = %+v, %v", g, err)
	}
	if code := run([]string{"simulate", "--flows", "ipfix", "--geoip-out", db}, nil, &bytes.Buffer{}, &stderr); code != 2 {
		t.Errorf("--geoip-out with --flows: exit %d, want 2", code)
	}
}
