package server

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ipfixBruteForce builds one IPFIX message (RFC 7011): a template of the
// usual IPv4 fields and n failed SSH attempts (a lone SYN each) from
// attacker to victim, a second apart, ending at end.
func ipfixBruteForce(attacker, victim [4]byte, n int, end time.Time) []byte {
	type field struct{ id, size uint16 }
	fields := []field{{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 2}, {2, 8}, {1, 8}, {152, 8}, {153, 8}}
	var tmpl []byte
	tmpl = binary.BigEndian.AppendUint16(tmpl, 256)
	tmpl = binary.BigEndian.AppendUint16(tmpl, uint16(len(fields)))
	for _, f := range fields {
		tmpl = binary.BigEndian.AppendUint16(tmpl, f.id)
		tmpl = binary.BigEndian.AppendUint16(tmpl, f.size)
	}
	var data []byte
	for i := range n {
		t := end.Add(time.Duration(i-n+1) * time.Second)
		data = append(data, attacker[:]...)
		data = append(data, victim[:]...)
		data = binary.BigEndian.AppendUint16(data, uint16(40000+i))
		data = binary.BigEndian.AppendUint16(data, 22)
		data = append(data, 6)
		data = binary.BigEndian.AppendUint16(data, 0x02) // SYN only: no answer
		data = binary.BigEndian.AppendUint64(data, 1)
		data = binary.BigEndian.AppendUint64(data, 60)
		data = binary.BigEndian.AppendUint64(data, uint64(t.UnixMilli()))
		data = binary.BigEndian.AppendUint64(data, uint64(t.UnixMilli()))
	}
	set := func(id uint16, body []byte) []byte {
		out := binary.BigEndian.AppendUint16(nil, id)
		out = binary.BigEndian.AppendUint16(out, uint16(4+len(body)))
		return append(out, body...)
	}
	sets := append(set(2, tmpl), set(256, data)...)
	msg := binary.BigEndian.AppendUint16(nil, 10)
	msg = binary.BigEndian.AppendUint16(msg, uint16(16+len(sets)))
	msg = binary.BigEndian.AppendUint32(msg, uint32(end.Unix()))
	msg = binary.BigEndian.AppendUint32(msg, 0) // sequence
	msg = binary.BigEndian.AppendUint32(msg, 1) // observation domain
	return append(msg, sets...)
}

// TestUDPFlowCollector: IPFIX datagrams sent to the collector's UDP port go
// through attribution and the network detections into a stored alert that
// names our resource.
func TestUDPFlowCollector(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Server.Flows.Listen = "127.0.0.1:0"
	inventory := filepath.Join(t.TempDir(), "assets.csv")
	vm := "/subscriptions/bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/web-01"
	if err := os.WriteFile(inventory, []byte("ip,resource_id,subscription_id,valid_from,valid_to\n10.1.0.4,"+vm+",bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f,2026-01-01T00:00:00Z,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Intel.Assets = []string{inventory}
	ts := start(t, cfg)
	conn, err := net.Dial("udp", ts.flows.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	end := time.Now().UTC().Truncate(time.Second)
	if _, err := conn.Write(ipfixBruteForce([4]byte{203, 0, 113, 9}, [4]byte{10, 1, 0, 4}, 60, end)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an SSH brute-force alert", func() bool {
		return len(listAlerts(t, ts.st, "SSH_Incoming_BF_OneToOne")) > 0
	})
	a := listAlerts(t, ts.st, "SSH_Incoming_BF_OneToOne")[0]
	if a.Resource != vm || a.SubscriptionID != "bbbb1b1b-cc2c-dd3d-ee4e-ffffff5f5f5f" {
		t.Fatalf("alert names %q in %q, want our VM", a.Resource, a.SubscriptionID)
	}
	if got := ts.live.p.Counters.Flows.Load(); got != 60 {
		t.Fatalf("%d flows went through the pipeline, want 60", got)
	}
}
