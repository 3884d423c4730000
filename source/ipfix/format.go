package ipfix

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/vigil-security/vigil/event"
)

// AppendJSON appends f as one JSON object (no newline) in the shape of
// `vigil flows --format json` and the golden files: times in RFC 3339 UTC,
// counts as exported (not multiplied by samplingRate), absent addresses as
// "". It does not allocate when dst has room.
func AppendJSON(dst []byte, f *event.Flow) []byte {
	dst = append(dst, `{"source":"`...)
	dst = append(dst, f.Source.String()...)
	dst = append(dst, `","start":"`...)
	dst = f.Start.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","end":"`...)
	dst = f.End.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","srcAddr":"`...)
	dst = f.SrcAddr.AppendTo(dst) // the zero Addr appends nothing
	dst = append(dst, `","srcPort":`...)
	dst = strconv.AppendUint(dst, uint64(f.SrcPort), 10)
	dst = append(dst, `,"dstAddr":"`...)
	dst = f.DstAddr.AppendTo(dst)
	dst = append(dst, `","dstPort":`...)
	dst = strconv.AppendUint(dst, uint64(f.DstPort), 10)
	dst = append(dst, `,"protocol":`...)
	dst = strconv.AppendUint(dst, uint64(f.Protocol), 10)
	dst = append(dst, `,"tcpFlags":`...)
	dst = strconv.AppendUint(dst, uint64(f.TCPFlags), 10)
	dst = append(dst, `,"packets":`...)
	dst = strconv.AppendUint(dst, f.Packets, 10)
	dst = append(dst, `,"bytes":`...)
	dst = strconv.AppendUint(dst, f.Bytes, 10)
	dst = append(dst, `,"samplingRate":`...)
	dst = strconv.AppendUint(dst, uint64(f.SamplingRate), 10)
	dst = append(dst, `,"direction":"`...)
	dst = append(dst, f.Direction.String()...)
	dst = append(dst, `","exporter":"`...)
	dst = f.Exporter.AppendTo(dst)
	dst = append(dst, `","observationDomain":`...)
	dst = strconv.AppendUint(dst, uint64(f.ObservationDomain), 10)
	if f.Decision != 0 { // a flow log's tuple: its verdict, state, rule and resource
		dst = append(dst, `,"decision":`...)
		dst = appendJSONString(dst, string(rune(f.Decision)))
		if f.State != 0 {
			dst = append(dst, `,"state":`...)
			dst = appendJSONString(dst, string(rune(f.State)))
		}
		dst = append(dst, `,"rule":`...)
		dst = appendJSONString(dst, f.Rule)
		dst = append(dst, `,"resource":`...)
		dst = appendJSONString(dst, f.Resource)
	}
	return append(dst, '}')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// protoName is the name nfdump prints for common IP protocols.
func protoName(p uint8) string {
	switch p {
	case 1:
		return "ICMP"
	case 2:
		return "IGMP"
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 47:
		return "GRE"
	case 50:
		return "ESP"
	case 58:
		return "ICMP6"
	case 132:
		return "SCTP"
	}
	return strconv.Itoa(int(p))
}

// TableWriter writes flows as an nfdump-style table, one line per flow,
// with packets and bytes multiplied by the sampling rate, and a summary.
type TableWriter struct {
	w                      io.Writer
	buf                    []byte
	header                 bool
	flows, packets, octets uint64
}

// NewTableWriter returns a TableWriter on w.
func NewTableWriter(w io.Writer) *TableWriter { return &TableWriter{w: w} }

// Column widths of the table; addresses longer than their column (IPv6)
// push the line wider, as in nfdump.
const (
	colDuration = 9
	colProto    = 6
	colAddr     = 21
	colPackets  = 10
	colBytes    = 12
	colSampling = 9
)

func (t *TableWriter) appendHeader(b []byte) []byte {
	b = padRight(b, "Date first seen", 23)
	b = pad(b, "Duration", colDuration)
	b = append(b, ' ')
	b = padRight(b, "Proto", colProto)
	b = pad(b, "Src IP Addr:Port", colAddr)
	b = append(b, "    "...)
	b = padRight(b, "Dst IP Addr:Port", colAddr)
	b = pad(b, "Packets", colPackets)
	b = pad(b, "Bytes", colBytes)
	b = pad(b, "Sampling", colSampling)
	return append(b, '\n')
}

// Write writes one flow.
func (t *TableWriter) Write(f *event.Flow) error {
	b := t.buf[:0]
	if !t.header {
		b = t.appendHeader(b)
		t.header = true
	}
	b = f.Start.UTC().AppendFormat(b, "2006-01-02 15:04:05.000")
	b = pad(b, strconv.FormatFloat(f.End.Sub(f.Start).Seconds(), 'f', 3, 64), colDuration)
	b = append(b, ' ')
	b = padRight(b, protoName(f.Protocol), colProto)
	b = pad(b, endpoint(f.SrcAddr, f.SrcPort), colAddr)
	b = append(b, " -> "...)
	b = padRight(b, endpoint(f.DstAddr, f.DstPort), colAddr)
	b = pad(b, strconv.FormatUint(f.ScaledPackets(), 10), colPackets)
	b = pad(b, strconv.FormatUint(f.ScaledBytes(), 10), colBytes)
	b = pad(b, "1:"+strconv.FormatUint(uint64(max(f.SamplingRate, 1)), 10), colSampling)
	b = append(b, '\n')
	t.buf = b
	t.flows++
	t.packets += f.ScaledPackets()
	t.octets += f.ScaledBytes()
	_, err := t.w.Write(b)
	return err
}

// Close writes the summary line.
func (t *TableWriter) Close() error {
	_, err := fmt.Fprintf(t.w, "Summary: total flows: %d, total bytes: %d, total packets: %d\n", t.flows, t.octets, t.packets)
	return err
}

func endpoint(a netip.Addr, port uint16) string {
	if !a.IsValid() {
		return "-:" + strconv.Itoa(int(port))
	}
	return netip.AddrPortFrom(a, port).String()
}

func pad(b []byte, s string, w int) []byte {
	for i := len(s); i < w; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}

func padRight(b []byte, s string, w int) []byte {
	b = append(b, s...)
	for i := len(s); i < w; i++ {
		b = append(b, ' ')
	}
	return b
}

// FlowWriter writes flows in a format of `vigil flows`: "json" (one
// AppendJSON object a line) or "table" (TableWriter). Close flushes.
type FlowWriter struct {
	w     *bufio.Writer
	table *TableWriter
	buf   []byte
}

// NewFlowWriter returns a writer of format "json" or "table" on w.
func NewFlowWriter(w io.Writer, format string) (*FlowWriter, error) {
	fw := &FlowWriter{w: bufio.NewWriterSize(w, 64<<10)}
	switch format {
	case "json":
	case "table":
		fw.table = NewTableWriter(fw.w)
	default:
		return nil, fmt.Errorf("format %q: want json or table", format)
	}
	return fw, nil
}

// Write writes one flow.
func (fw *FlowWriter) Write(f *event.Flow) error {
	if fw.table != nil {
		return fw.table.Write(f)
	}
	fw.buf = append(AppendJSON(fw.buf[:0], f), '\n')
	_, err := fw.w.Write(fw.buf)
	return err
}

// Close writes the table's summary, if any, and flushes.
func (fw *FlowWriter) Close() error {
	if fw.table != nil {
		if err := fw.table.Close(); err != nil {
			return err
		}
	}
	return fw.w.Flush()
}
