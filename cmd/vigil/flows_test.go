package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlowsPrintsFlowLogs: `vigil flows` prints the tuples of Azure's NSG
// and VNet flow log samples (told by content, gzip or not) next to NetFlow
// datagrams, and reports the malformed record of the version 1 sample.
func TestFlowsPrintsFlowLogs(t *testing.T) {
	samples := "../../source/flowlog/testdata/samples/"
	vnet := samples + "vnet-flow-logs-overview.md.sample.json"
	nsg2 := samples + "nsg-flow-logs-overview.md.version-2-sample.json"
	nsg1 := samples + "nsg-flow-logs-overview.md.version-1-sample.json"
	datagram := "../../source/ipfix/testdata/netflow/netflow5.dat"
	raw, err := os.ReadFile(vnet)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	gzPath := filepath.Join(t.TempDir(), "PT1H.json.gz")
	if err := os.WriteFile(gzPath, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		bySource map[string]int
		stderr   string
	}{
		{"VNet flow log", []string{vnet}, 0, map[string]int{"vnet": 19}, ""},
		{"gzip VNet flow log", []string{gzPath}, 0, map[string]int{"vnet": 19}, ""},
		{"NSG v2 next to a NetFlow v5 datagram", []string{nsg2, datagram}, 0, map[string]int{"nsg": 0, "netflow5": 0}, ""},
		{"NSG v1 with its malformed record", []string{nsg1}, 1, map[string]int{"nsg": 9}, "nsg-flow-logs-overview.md.version-1-sample.json:76: record 2: not a flow log record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"flows", "--format", "json"}, tc.args...), nil, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, stderr.String())
			}
			got := map[string]int{}
			for line := range strings.Lines(stdout.String()) {
				var f struct {
					Source, Decision, State, Rule, Resource string
				}
				if err := json.Unmarshal([]byte(line), &f); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				if (f.Source == "nsg" || f.Source == "vnet") && (f.Decision == "" || f.Resource == "") {
					t.Errorf("flow-log tuple without its verdict or resource (version 1 has no state): %s", line)
				}
				got[f.Source]++
			}
			for src, n := range tc.bySource {
				if got[src] == 0 || (n > 0 && got[src] != n) {
					t.Errorf("%s: %d flows, want %d (0: some)", src, got[src], n)
				}
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
		})
	}
}
