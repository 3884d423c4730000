package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"strings"
	"testing"
)

func TestSniffTellsInputsByContent(t *testing.T) {
	gz := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
		want inputKind
	}{
		{"IPFIX datagram", read("../../source/ipfix/testdata/netflow/ipfix_test_mikrotik_tpl.dat"), kindDatagram},
		{"NetFlow v9 datagram", read("../../source/ipfix/testdata/netflow/netflow9_test_cisco_asa_1_tpl.dat"), kindDatagram},
		{"NetFlow v5 datagram", read("../../source/ipfix/testdata/netflow/netflow5_test_juniper_mx80.dat"), kindDatagram},
		{"pcap", read("../../source/ipfix/testdata/pcap/mikrotik-text2pcap.pcap"), kindCapture},
		{"pcapng", read("../../source/ipfix/testdata/pcap/netflow5-ipv6-text2pcap.pcapng"), kindCapture},
		{"NSG flow log v2", read("../../source/flowlog/testdata/samples/nsg-flow-logs-overview.md.version-2-sample.json"), kindFlowLog},
		{"VNet flow log", read("../../source/flowlog/testdata/samples/vnet-flow-logs-overview.md.sample.json"), kindFlowLog},
		{"gzip VNet flow log", gz("../../source/flowlog/testdata/samples/vnet-flow-logs-overview.md.sample.json"), kindFlowLog},
		{"Key Vault records", read("../../examples/azure/keyvault-logging.md.auditevent-sample.json"), kindAzureLog},
		{"Activity Log REST", read("../../examples/azure/activity-log-schema.md.administrative-sample.json"), kindAzureLog},
		{"gzip Activity Log", gz("../../examples/azure/activity-log-schema.md.eventhub-storage-records-sample.json"), kindAzureLog},
		{"garbage", []byte("hello"), kindAzureLog},
	}
	for _, tt := range tests {
		if got := sniff(tt.data[:min(len(tt.data), sniffLen)]); got != tt.want {
			t.Errorf("%s: kind %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestDetectReadsFlowInputs(t *testing.T) {
	code, out, errs := vigil(t, "", "detect", "--progress", "0",
		"../../source/ipfix/testdata/netflow/ipfix_test_mikrotik_tpl.dat",
		"../../source/ipfix/testdata/netflow/ipfix_test_mikrotik_data258.dat",
		"../../source/ipfix/testdata/pcap/mikrotik-text2pcap.pcap",
		"../../source/flowlog/testdata/samples/vnet-flow-logs-overview.md.sample.json",
		"../../examples/azure/keyvault-logging.md.auditevent-sample.json")
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, out, errs)
	}
	// Without an inventory no address is ours: flows are read and counted,
	// never alerted on.
	if !strings.Contains(errs, " skipped, 0 alerts") || strings.Contains(errs, " 0 records read") {
		t.Fatalf("stderr %q", errs)
	}
}
