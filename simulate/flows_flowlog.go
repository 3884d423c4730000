package simulate

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Azure flow logs of the flow estate, in the shapes of the documented
// samples (network-watcher/nsg-flow-logs-overview.md, version 2, and
// vnet-flow-logs-overview.md, version 4; copies in testdata/flows-*.json):
// one JSON record per network interface and minute that has tuples, its
// tuples grouped by rule; one {"records":[...]} envelope for the whole run,
// as a downloaded PT1H.json blob holds one for its hour.

// FlowLogKind is the shape of an Azure flow log.
type FlowLogKind uint8

const (
	// NSGFlowLog is a network security group flow log, version 2: tuple
	// times in seconds, protocol T or U, a decision, empty counts on B.
	NSGFlowLog FlowLogKind = iota + 1
	// VNetFlowLog is a virtual network flow log, version 4: times in
	// milliseconds, IANA protocol numbers, D state for denied flows, an
	// encryption field.
	VNetFlowLog
)

// ParseFlowLogKind returns the FlowLogKind named "nsg" or "vnet".
func ParseFlowLogKind(s string) (FlowLogKind, error) {
	switch s {
	case "nsg":
		return NSGFlowLog, nil
	case "vnet":
		return VNetFlowLog, nil
	}
	return 0, fmt.Errorf("simulate: unknown flow log kind %q (want nsg or vnet)", s)
}

// String returns "nsg" or "vnet".
func (k FlowLogKind) String() string {
	switch k {
	case NSGFlowLog:
		return "nsg"
	case VNetFlowLog:
		return "vnet"
	}
	return "FlowLogKind(" + strconv.Itoa(int(k)) + ")"
}

// WriteFlowLog writes the estate's traffic to w as one flow log of the
// given kind, records in time order. Counts are the connections'
// (flow logs are not sampled).
func (e *FlowEstate) WriteFlowLog(w io.Writer, kind FlowLogKind) (FlowStats, error) {
	if kind != NSGFlowLog && kind != VNetFlowLog {
		return FlowStats{}, fmt.Errorf("simulate: unknown flow log kind %d", kind)
	}
	if len(e.vms) > maxTupleNIC {
		return FlowStats{}, fmt.Errorf("simulate: %d VMs, more than a flow log of %d", len(e.vms), maxTupleNIC)
	}
	fw := newFlowLogWriter(e, w, kind)
	fw.bw.WriteString(`{"records":[`)
	conns, err := flowHours(e, e.expandTuples, tupleDue, tupleKey, tupleIndexBits, fw.tuple)
	if err == nil {
		err = fw.closeRecord()
	}
	if err == nil {
		fw.bw.WriteString("]}\n")
		err = fw.bw.Flush()
	}
	st := FlowStats{Connections: conns, Records: fw.tuples, Messages: fw.records, Bytes: fw.cw.n}
	if err != nil {
		return st, fmt.Errorf("simulate: write %s flow log: %w", kind, err)
	}
	return st, nil
}

// flowLogWriter groups tuples (arriving by minute, interface, rule and
// time) into records.
type flowLogWriter struct {
	e       *FlowEstate
	kind    FlowLogKind
	cw      *countWriter
	bw      *bufio.Writer
	b       []byte
	heads   []string // per VM: the record after its time, up to the first group
	open    bool
	minute  int64
	nic     uint16
	rule    uint8
	records int64
	tuples  int64
}

func newFlowLogWriter(e *FlowEstate, w io.Writer, kind FlowLogKind) *flowLogWriter {
	cw := &countWriter{w: w}
	fw := &flowLogWriter{e: e, kind: kind, cw: cw, bw: bufio.NewWriterSize(cw, 1<<20), b: make([]byte, 0, 1<<16)}
	for i := range e.vms {
		v := &e.vms[i]
		if kind == NSGFlowLog {
			fw.heads = append(fw.heads, `","systemId":"`+v.nsgGUID+`","category":"NetworkSecurityGroupFlowEvent","resourceId":"`+
				v.nsgRID+`","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[`)
			continue
		}
		s := &e.subs[v.sub]
		fw.heads = append(fw.heads, `","flowLogVersion":4,"flowLogGUID":"`+s.flowLogGUID+`","macAddress":"`+v.mac+
			`","category":"FlowLogFlowEvent","flowLogResourceID":"`+s.flowLogRID+`","targetResourceID":"`+s.vnetRID+
			`","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"`+v.nsgGUID+`","flowGroups":[`)
	}
	return fw
}

// recordTimeLayout is the records' time: UTC with seven decimals.
const recordTimeLayout = "2006-01-02T15:04:05.0000000Z"

// tuple adds one tuple, opening a record or group when it starts one.
func (fw *flowLogWriter) tuple(x *ftuple) error {
	m := x.t / msPerMinute
	switch {
	case !fw.open || m != fw.minute || x.nic != fw.nic:
		if err := fw.closeRecord(); err != nil {
			return err
		}
		fw.openRecord(m, x.nic)
		fw.openGroup(x.rule)
	case x.rule != fw.rule:
		fw.closeGroup()
		fw.b = append(fw.b, ',')
		fw.openGroup(x.rule)
	default:
		fw.b = append(fw.b, ',')
	}
	fw.tuples++
	b := append(fw.b, '"')
	if fw.kind == NSGFlowLog {
		b = strconv.AppendInt(b, x.t/1000, 10)
	} else {
		b = strconv.AppendInt(b, x.t, 10)
	}
	b = appendIPv4(append(b, ','), x.src)
	b = appendIPv4(append(b, ','), x.dst)
	b = strconv.AppendUint(append(b, ','), uint64(x.sport), 10)
	b = strconv.AppendUint(append(b, ','), uint64(x.dport), 10)
	b = append(b, ',')
	if fw.kind == NSGFlowLog {
		proto, decision := byte('T'), byte('A')
		if x.proto == protoUDP {
			proto = 'U'
		}
		if x.deny {
			decision = 'D'
		}
		state := x.state
		if state == 'D' {
			state = 'B' // version 2 logs a denied flow's begin, without counts
		}
		b = append(b, proto, ',', x.dir, ',', decision, ',', state)
		if state == 'B' {
			b = append(b, ",,,,"...)
		} else {
			b = fw.counts(b, x)
		}
	} else {
		b = strconv.AppendUint(b, uint64(x.proto), 10)
		b = append(b, ',', x.dir, ',', x.state, ',', 'N', 'X')
		if x.state == 'B' || x.state == 'D' {
			b = append(b, ",0,0,0,0"...)
		} else {
			b = fw.counts(b, x)
		}
	}
	fw.b = append(b, '"')
	return nil
}

func (fw *flowLogWriter) counts(b []byte, x *ftuple) []byte {
	b = strconv.AppendUint(append(b, ','), uint64(x.pkts), 10)
	b = strconv.AppendUint(append(b, ','), x.bytes, 10)
	b = strconv.AppendUint(append(b, ','), uint64(x.rpkts), 10)
	return strconv.AppendUint(append(b, ','), x.rbytes, 10)
}

// openRecord starts the record of an interface's minute. Its time is a
// few seconds to half a minute after the minute ends, the interfaces a few
// milliseconds apart, so record times increase through the file.
func (fw *flowLogWriter) openRecord(minute int64, nic uint16) {
	fw.open, fw.minute, fw.nic = true, minute, nic
	j := mix(uint64(minute) ^ fw.e.opts.Seed)
	ms := (minute+1)*msPerMinute + 3000 + int64(j%25_000) + int64(nic)*5
	ns := ms*1_000_000 + int64(mix(j^uint64(nic))%10_000)*100
	if fw.records > 0 {
		fw.b = append(fw.b, ',')
	}
	fw.b = append(fw.b, `{"time":"`...)
	fw.b = time.Unix(0, ns).UTC().AppendFormat(fw.b, recordTimeLayout)
	fw.b = append(fw.b, fw.heads[nic]...)
}

func (fw *flowLogWriter) openGroup(rule uint8) {
	fw.rule = rule
	fw.b = append(fw.b, `{"rule":"`...)
	fw.b = append(fw.b, flowRules[rule]...)
	if fw.kind == NSGFlowLog {
		fw.b = append(fw.b, `","flows":[{"mac":"`...)
		fw.b = append(fw.b, fw.e.vms[fw.nic].mac...)
		fw.b = append(fw.b, `","flowTuples":[`...)
		return
	}
	fw.b = append(fw.b, `","flowTuples":[`...)
}

func (fw *flowLogWriter) closeGroup() {
	if fw.kind == NSGFlowLog {
		fw.b = append(fw.b, "]}]}"...)
		return
	}
	fw.b = append(fw.b, "]}"...)
}

// closeRecord ends the open record, if any, and writes it.
func (fw *flowLogWriter) closeRecord() error {
	if !fw.open {
		return nil
	}
	fw.closeGroup()
	if fw.kind == NSGFlowLog {
		fw.b = append(fw.b, "]}}"...)
	} else {
		fw.b = append(fw.b, "]}]}}"...)
	}
	fw.open = false
	fw.records++
	_, err := fw.bw.Write(fw.b)
	fw.b = fw.b[:0]
	return err
}

// appendIPv4 appends x in dotted decimal.
func appendIPv4(b []byte, x uint32) []byte {
	b = strconv.AppendUint(b, uint64(x>>24), 10)
	b = strconv.AppendUint(append(b, '.'), uint64(x>>16&0xff), 10)
	b = strconv.AppendUint(append(b, '.'), uint64(x>>8&0xff), 10)
	return strconv.AppendUint(append(b, '.'), uint64(x&0xff), 10)
}
