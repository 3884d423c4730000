package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulateFlowsWritesEveryFile: flow mode writes the pcap, labels,
// inventory and pools; nsg and vnet write a records envelope.
func TestSimulateFlowsWritesEveryFile(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	var stderr bytes.Buffer
	code := run([]string{"simulate", "--flows", "ipfix", "--days", "3", "--learning-days", "1", "--scale", "0.1", "--seed", "2",
		"-o", p("flows.pcap"), "--labels", p("labels.jsonl"), "--assets-out", p("assets.csv"), "--mining-pools-out", p("pools.txt"), "--c2-out", p("c2.txt")},
		nil, &bytes.Buffer{}, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	pcap := read(t, p("flows.pcap"))
	if len(pcap) < 100 || binary.LittleEndian.Uint32(pcap) != 0xa1b2c3d4 {
		t.Fatalf("not a pcap: % x", pcap[:min(len(pcap), 8)])
	}
	types := map[string]bool{}
	for line := range bytes.Lines(read(t, p("labels.jsonl"))) {
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
	if !types["SSH_Incoming_BF_ManyToOne"] || !types["Network_CommunicationWithC2"] || !types["CryptoMining"] || len(types) != 11 {
		t.Errorf("attack labels of %d types: %v", len(types), types)
	}
	if a := string(read(t, p("assets.csv"))); !strings.HasPrefix(a, "ip,resource_id,subscription_id,valid_from,valid_to\n") {
		t.Errorf("assets: %.200s", a)
	}
	if pools := string(read(t, p("pools.txt"))); !strings.Contains(pools, "203.0.113.10\n") {
		t.Errorf("pools: %q", pools)
	}
	if c2 := string(read(t, p("c2.txt"))); !strings.Contains(c2, "\n77.90.185.20\n") {
		t.Errorf("c2: %q", c2)
	}
	if !strings.Contains(stderr.String(), "IPFIX records in") {
		t.Errorf("summary: %s", stderr.String())
	}
	for _, kind := range []string{"nsg", "vnet"} {
		stderr.Reset()
		if code := run([]string{"simulate", "--flows", kind, "--days", "3", "--learning-days", "1", "--scale", "0.05", "-o", p(kind + ".json")},
			nil, &bytes.Buffer{}, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", kind, code, stderr.String())
		}
		data := read(t, p(kind+".json"))
		if !bytes.HasPrefix(data, []byte(`{"records":[{"time":"`)) || !json.Valid(data) {
			t.Errorf("%s: %.100s", kind, data)
		}
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSimulateFlowsOverUDP: --udp sends IPFIX messages, templates first.
func TestSimulateFlowsOverUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 65536)
		n, _, err := pc.ReadFrom(buf)
		if err == nil {
			got <- buf[:n]
		}
		close(got)
	}()
	var stderr bytes.Buffer
	code := run([]string{"simulate", "--flows", "ipfix", "--days", "3", "--learning-days", "1", "--scale", "0.01", "--pps", "1000000",
		"--udp", pc.LocalAddr().String()}, nil, &bytes.Buffer{}, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	msg := <-got
	if len(msg) < 20 || binary.BigEndian.Uint16(msg) != 10 || int(binary.BigEndian.Uint16(msg[2:])) != len(msg) || binary.BigEndian.Uint16(msg[16:]) != 2 {
		t.Fatalf("first datagram is not an IPFIX message starting with a template set: % x", msg[:min(len(msg), 20)])
	}
}

// TestSimulateFlowsFlagErrors: flags of other modes, or flow flags without
// --flows, are usage errors.
func TestSimulateFlowsFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--udp", "127.0.0.1:4739"},
		{"--assets-out", "x.csv"},
		{"--flows", "netflow"},
		{"--flows", "nsg", "--udp", "127.0.0.1:4739"},
		{"--flows", "vnet", "--sampling", "10"},
		{"--flows", "ipfix", "--format", "records"},
		{"--flows", "ipfix", "--activity", "a.jsonl"},
		{"--flows", "ipfix", "--records", "10"},
		{"--flows", "ipfix", "--speed", "60"},
		{"--flows", "ipfix", "--udp", "127.0.0.1:4739", "-o", "x.pcap"},
		{"--flows", "ipfix", "--udp", "127.0.0.1:4739", "--pps", "-1"},
		{"--flows", "ipfix", "--days", "3"},
	} {
		var stderr bytes.Buffer
		if code := run(append([]string{"simulate"}, args...), nil, &bytes.Buffer{}, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, firstLine(stderr.String()))
		}
	}
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Scan()
	return sc.Text()
}

// TestSimulateFlowsEvaluate: --evaluate with --flows runs the network
// detections over the simulated network estate and prints the table.
func TestSimulateFlowsEvaluate(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"simulate", "--flows", "ipfix", "--evaluate", "--days", "10", "--learning-days", "3"}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"ALERT TYPE", "SSH_Incoming_BF_OneToOne", "CryptoMining", "resource-days"} {
		if !strings.Contains(out, want) {
			t.Fatalf("table lacks %q:\n%s", want, out)
		}
	}
}
