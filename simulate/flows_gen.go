package simulate

import (
	"fmt"
	"slices"
)

// The writers' common loop: each hour's connections are expanded into the
// records a writer renders (IPFIX records or flow-log tuples), which are
// sorted by when they are written; those due after the hour (long
// connections) wait for theirs.

// frec is one IPFIX data record: one direction of a connection over at
// most an active timeout.
type frec struct {
	start, end   int64 // ms since the epoch
	src, dst     uint32
	sport, dport uint16
	proto, flags uint8
	pkts, bytes  uint64
	reply        bool // the responder's direction: its SYN is a SYN-ACK
}

// ftuple is one flow-log tuple at one network interface.
type ftuple struct {
	t             int64 // ms since the epoch
	src, dst      uint32
	sport, dport  uint16
	nic           uint16 // the VM whose interface logs it
	proto, rule   uint8
	state, dir    byte // 'B', 'C', 'E', 'D'; 'I', 'O'
	deny          bool
	pkts, rpkts   uint32 // since the tuple before
	bytes, rbytes uint64
}

// share returns the part of total that falls in the first off ms of dur.
func share(total uint64, off, dur int64) uint64 {
	if off >= dur {
		return total
	}
	return total * uint64(off) / uint64(dur)
}

// expandIPFIX appends the records of c as an exporter on the path sees
// them: each direction, split at the active timeout.
func (e *FlowEstate) expandIPFIX(c *fconn, out []frec) []frec {
	a, b := e.ours(c), e.other(c)
	ap, bp := c.lport, c.rport
	if !c.out {
		a, b, ap, bp = b, a, bp, ap
	}
	dur := int64(c.dur)
	out = segments(out, frec{start: c.t0, src: a, dst: b, sport: ap, dport: bp, proto: c.proto, flags: c.flags,
		pkts: uint64(c.pkts), bytes: c.bytes}, dur)
	if c.rpkts > 0 {
		rtt := min(dur, 1+dur/100) // the reply starts a moment later
		out = segments(out, frec{start: c.t0 + rtt, src: b, dst: a, sport: bp, dport: ap, proto: c.proto, flags: c.rflags,
			pkts: uint64(c.rpkts), bytes: c.rbytes, reply: true}, dur-rtt)
	}
	return out
}

// segments appends x (start, totals, all flags) split into records of at
// most activeTimeout ms; a segment without packets is not exported.
func segments(out []frec, x frec, dur int64) []frec {
	n := max(1, (dur+activeTimeout-1)/activeTimeout)
	if n == 1 {
		x.end = x.start + dur
		return append(out, x)
	}
	t0, pkts, bytes, flags := x.start, x.pkts, x.bytes, x.flags
	var pp, pb uint64
	for k := range n {
		off := min((k+1)*activeTimeout, dur)
		cp := share(pkts, off, dur)
		cb := share(bytes, int64(cp), int64(pkts)) // bytes go with their packets
		if cp == pp {
			continue
		}
		x.start, x.end = t0+k*activeTimeout, t0+off
		x.pkts, x.bytes = cp-pp, cb-pb
		x.flags = flags & (tcpPSH | tcpACK)
		if pp == 0 {
			x.flags |= flags & tcpSYN
		}
		if cp == pkts {
			x.flags |= flags & (tcpFIN | tcpRST)
		}
		pp, pb = cp, cb
		out = append(out, x)
	}
	return out
}

// expandTuples appends the flow-log tuples of c at each of our interfaces
// it passes: B when it begins, C every five minutes, E when it ends (with
// the counts since the tuple before), or D when the NSG denied it.
func (e *FlowEstate) expandTuples(c *fconn, out []ftuple) []ftuple {
	vm := &e.vms[c.vm]
	a, b := vm.priv, c.remote
	if c.peer != noVM {
		b = e.vms[c.peer].priv
	}
	ap, bp, dir := c.lport, c.rport, byte('O')
	if !c.out {
		a, b, ap, bp, dir = b, a, bp, ap, 'I'
	}
	x := ftuple{src: a, dst: b, sport: ap, dport: bp, nic: c.vm, proto: c.proto, rule: c.rule, dir: dir, deny: c.deny}
	if c.peer != noVM {
		x.rule = ruleVnetOut
	}
	out = states(out, x, c)
	if c.peer != noVM {
		x.nic, x.rule, x.dir = c.peer, ruleVnetIn, 'I'
		out = states(out, x, c)
	}
	return out
}

func states(out []ftuple, x ftuple, c *fconn) []ftuple {
	x.t = c.t0
	if c.deny {
		x.state = 'D'
		return append(out, x)
	}
	x.state = 'B'
	out = append(out, x)
	dur := int64(c.dur)
	var pp, pb, rp, rb uint64
	for off := int64(flowLogPeriod); ; off += flowLogPeriod {
		x.state = 'C'
		if off >= dur {
			off, x.state = dur, 'E'
		}
		cp, crp := share(uint64(c.pkts), off, dur), share(uint64(c.rpkts), off, dur)
		cb, crb := share(c.bytes, int64(cp), int64(c.pkts)), share(c.rbytes, int64(crp), int64(c.rpkts))
		x.t = c.t0 + off
		x.pkts, x.bytes, x.rpkts, x.rbytes = uint32(cp-pp), cb-pb, uint32(crp-rp), crb-rb
		pp, pb, rp, rb = cp, cb, crp, crb
		out = append(out, x)
		if x.state == 'E' {
			return out
		}
	}
}

// Sort keys: the record's position in the hour above its index among the
// hour's records, so sorting plain integers orders them.
const (
	ipfixIndexBits = 42 // below the end's offset in the hour (22 bits of ms)
	tupleIndexBits = 24 // below minute (6), interface (14), rule (4), ms in the minute (16)
	maxTupleNIC    = 1<<14 - 1
)

func ipfixKey(x *frec, t0 int64) uint64 { return uint64(x.end-t0) << ipfixIndexBits }

func tupleKey(x *ftuple, t0 int64) uint64 {
	off := x.t - t0
	return uint64(off/msPerMinute)<<58 | uint64(x.nic)<<44 | uint64(x.rule)<<40 | uint64(off%msPerMinute)<<tupleIndexBits
}

func ipfixDue(x *frec) int64   { return x.end }
func tupleDue(x *ftuple) int64 { return x.t }

// flowHours generates every hour's connections, expands them and passes the
// items due in the hour to emit in key order. It returns how many
// connections it generated.
func flowHours[T any](e *FlowEstate, expand func(c *fconn, out []T) []T, due func(x *T) int64,
	key func(x *T, t0 int64) uint64, indexBits uint, emit func(x *T) error) (int64, error) {
	g := newFlowGen(e)
	mask := uint64(1)<<indexBits - 1
	var items, carry []T
	var keys []uint64
	var conns int64
	for h := range e.hours {
		cs := g.hour(h)
		conns += int64(len(cs))
		items = append(items[:0], carry...)
		carry = carry[:0]
		for i := range cs {
			items = expand(&cs[i], items)
		}
		if uint64(len(items)) > mask {
			return conns, fmt.Errorf("hour %d has %d records, more than %d", h, len(items), mask)
		}
		keys = keys[:0]
		for i := range items {
			switch t := due(&items[i]); {
			case t >= e.end:
			case t >= g.t1:
				carry = append(carry, items[i])
			default:
				keys = append(keys, key(&items[i], g.t0)|uint64(i))
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := emit(&items[k&mask]); err != nil {
				return conns, err
			}
		}
	}
	return conns, nil
}
