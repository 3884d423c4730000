package network

import (
	"os"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

func TestReadPools(t *testing.T) {
	f, err := os.Open("testdata/crypto_mining.sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pools, skipped, err := ReadPools(f, "crypto_mining.sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	// 15 address:port lines naming 8 addresses; 15 domain lines.
	want := []string{"107.191.47.239", "176.31.105.53", "45.32.233.191", "51.144.104.161", "51.144.119.120",
		"54.37.7.208", "94.23.251.22", "94.130.143.162"}
	if !slices.Equal(pools, want) || skipped != 15 {
		t.Errorf("pools %v, skipped %d", pools, skipped)
	}
	cfg := DefaultConfig()
	cfg.CryptoMining.Pools = pools
	if err := cfg.Validate(); err != nil {
		t.Errorf("the pools read do not validate: %v", err)
	}

	in := "192.0.2.0/24 # a network\n\n[2001:db8::7]:3333\n::ffff:198.51.100.7\n198.51.100.7:4444\nhttp://185.141.25.35\n/xmrig/\n192.0.2.5/24\n"
	pools, skipped, err = ReadPools(strings.NewReader(in), "inline")
	if err != nil || !slices.Equal(pools, []string{"192.0.2.0/24", "2001:db8::7", "198.51.100.7"}) || skipped != 2 {
		t.Errorf("inline: %v, %d, %v", pools, skipped, err)
	}
	if _, _, err := ReadPools(strings.NewReader(strings.Repeat("x", maxPoolLine+1)), "long"); err == nil || !strings.Contains(err.Error(), "long") {
		t.Errorf("an over-long line: %v", err)
	}
	if _, _, err := ReadPools(iotest.ErrReader(os.ErrClosed), "broken"); err == nil {
		t.Error("a read error was not reported")
	}
}

func FuzzReadPools(f *testing.F) {
	f.Add([]byte("107.191.47.239:3333\nminergate.com\n# comment\n192.0.2.0/24 5\n[2001:db8::1]:14444\n"))
	f.Add([]byte("fe80::1%eth0\n::ffff:1.2.3.4/120\n1.2.3.4:99999\n"))
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		pools, _, err := ReadPools(strings.NewReader(string(data)), "fuzz")
		if err != nil {
			return
		}
		for _, p := range pools {
			if _, err := parsePrefix(p); err != nil {
				t.Fatalf("ReadPools gave %q, which Config.Validate refuses: %v", p, err)
			}
		}
	})
}
