package flowlog

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSniff(t *testing.T) {
	flows, _ := filepath.Glob("testdata/samples/*.json")
	others, _ := filepath.Glob("testdata/notflow/*.json")
	if len(flows) == 0 || len(others) == 0 {
		t.Fatal("missing samples")
	}
	check := func(name string, data []byte, want bool) {
		t.Helper()
		for _, n := range []int{512, 4096, len(data)} {
			p := data[:min(n, len(data))]
			if got := Sniff(p); got != want {
				t.Errorf("%s: Sniff(first %d bytes) = %v, want %v", name, len(p), got, want)
			}
		}
		// A gzip prefix cut anywhere after its header is decompressed as
		// far as it goes.
		z := gz(t, data)
		if got := Sniff(z[:min(len(z), 600)]); got != want {
			t.Errorf("%s gzip prefix: Sniff = %v, want %v", name, got, want)
		}
	}
	for _, f := range flows {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(f, data, true)
	}
	for _, f := range others {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(f, data, false)
	}
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"\x1f\x8b", false},
		{`hello "flowTuples"`, false},
		{"\xef\xbb\xbf\n" + `{"records":[{"time":"2022-09-14T09:00:52Z","flowLogVersion":4`, true},
		{`[{"category":"FlowLogFlowEvent"`, true},
		{`{"records":[{"time":"2019-01-21T22:14:26.9792776Z","resourceId":"/x","operationName":"microsoft.support/supporttickets/write"`, false},
	} {
		if got := Sniff([]byte(c.in)); got != c.want {
			t.Errorf("Sniff(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
