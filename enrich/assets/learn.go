package assets

import (
	"net/netip"
	"strings"

	"github.com/valyala/fastjson"
	"github.com/vigil-security/vigil/event"
)

// The Activity Log operations Observe learns from.
const (
	opNICWrite  = "Microsoft.Network/networkInterfaces/write"
	opNICDelete = "Microsoft.Network/networkInterfaces/delete"
	opPIPWrite  = "Microsoft.Network/publicIPAddresses/write"
	opPIPDelete = "Microsoft.Network/publicIPAddresses/delete"
)

// learnt is what the Activity Log last said a resource holds.
type learnt struct {
	res   resRef
	addrs []netip.Addr // held since the resource's last change, open-ended
	last  int64        // time of the last change applied
}

// Observe learns from one Activity Log operation which addresses our
// network interfaces and public IP addresses hold, and reports whether it
// changed the index.
//
// A successful Microsoft.Network/networkInterfaces/write carries the
// interface as its response body (the resource's REST representation);
// every properties.ipConfigurations[].properties.privateIPAddress in it is
// held by the interface from the operation's time on. A successful
// publicIPAddresses/write does the same with properties.ipAddress, which a
// dynamic public IP lacks until it is allocated. The body is the
// resource's whole state: an address the resource held before and no
// longer lists is released at the operation's time, and a write that
// lists none releases all. A .../delete releases everything the resource
// held. Intervals learnt this way are open until released.
//
// Operations that failed, that are about other resources, or whose body is
// empty or not the resource (Start events, truncated bodies) are ignored;
// so is an operation older than the last one applied to the same resource
// (Stats.Stale), since applying it would undo a newer state. Resource IDs
// are compared without regard to case (the record's resourceId, else the
// body's id; the body's casing is kept for display); the subscription is
// op.SubscriptionID, else the one in the resource ID.
func (x *Index) Observe(op *event.Op) bool {
	if x == nil || op == nil || op.Kind != event.KindActivity || op.Failed() {
		return false
	}
	var write, nic bool
	switch {
	case op.OperationIs(opNICWrite):
		write, nic = true, true
	case op.OperationIs(opPIPWrite):
		write = true
	case op.OperationIs(opNICDelete), op.OperationIs(opPIPDelete):
	default:
		return false
	}
	t := nanos(op.Time, openFrom)
	x.mu.Lock()
	defer x.mu.Unlock()
	// Both writes and deletes are keyed by the operation's resource ID;
	// the body's id, when it is the same resource, gives the casing shown.
	id, display := op.ResourceID, op.ResourceID
	var addrs []netip.Addr
	if write {
		body, ok := x.parseBody(op.ResponseBody)
		if !ok {
			x.stats.Unusable++
			return false
		}
		if b := body.GetStringBytes("id"); len(b) > 0 && (id == "" || strings.EqualFold(string(b), id)) {
			display = string(b)
			if id == "" {
				id = display
			}
		}
		if nic {
			for _, c := range body.GetArray("properties", "ipConfigurations") {
				addrs = appendAddr(addrs, c.GetStringBytes("properties", "privateIPAddress"))
			}
		} else {
			addrs = appendAddr(addrs, body.GetStringBytes("properties", "ipAddress"))
		}
	}
	if id == "" {
		x.stats.Unusable++
		return false
	}
	sub := op.SubscriptionID
	if sub == "" {
		sub = subscriptionOf(id)
	}
	return x.apply(strings.ToLower(id), Resource{ID: display, Subscription: strings.ToLower(sub)}, addrs, t)
}

// parseBody parses a response body that is a resource: a JSON object with
// properties. Callers hold the write lock.
func (x *Index) parseBody(s string) (*fastjson.Value, bool) {
	if s == "" {
		return nil, false
	}
	v, err := x.parser.Parse(s)
	if err != nil || v.Type() != fastjson.TypeObject || v.Get("properties") == nil {
		return nil, false
	}
	return v, true
}

// appendAddr appends the address in b, if it is one and not yet in addrs.
func appendAddr(addrs []netip.Addr, b []byte) []netip.Addr {
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Zone() != "" {
		return addrs
	}
	a = a.Unmap()
	for _, h := range addrs {
		if h == a {
			return addrs
		}
	}
	return append(addrs, a)
}

// apply makes resource k hold exactly addrs from t on. Callers hold the
// write lock.
func (x *Index) apply(k string, r Resource, addrs []netip.Addr, t int64) bool {
	st := x.learned[k]
	if st == nil {
		if len(addrs) == 0 {
			return false // a delete or an empty write of a resource we never saw hold anything
		}
		st = &learnt{res: x.resource(r), last: t}
		x.learned[k] = st
	} else if t < st.last {
		x.stats.Stale++
		return false
	}
	changed := false
	for _, a := range st.addrs {
		if !contains(addrs, a) {
			x.release(keyOf(a), st.res, t)
			changed = true
		}
	}
	for _, a := range addrs {
		if !contains(st.addrs, a) {
			x.insert(keyOf(a), interval{from: t, to: openTo, res: st.res, origin: fromActivity})
			changed = true
		}
	}
	st.addrs, st.last = addrs, t
	if changed {
		x.stats.Observed++
	}
	return changed
}

func contains(addrs []netip.Addr, a netip.Addr) bool {
	for _, h := range addrs {
		if h == a {
			return true
		}
	}
	return false
}

// release ends, at t, the open interval learnt from the Activity Log in
// which resource res holds the address k. An interval released at or
// before its start becomes empty. Callers hold the write lock.
func (x *Index) release(k key, res resRef, t int64) {
	e, ok := x.addrs[k]
	if !ok {
		return
	}
	open := func(iv *interval) bool { return iv.res == res && iv.origin == fromActivity && iv.to == openTo }
	if e.cap == 0 {
		if open(&e.one) {
			e.one.to = max(t, e.one.from)
			e.one.maxTo = e.one.to
			x.addrs[k] = e
		}
		return
	}
	l := x.ivs[e.off : e.off+e.n]
	for i := len(l) - 1; i >= 0; i-- {
		if open(&l[i]) {
			l[i].to = max(t, l[i].from)
			fixMaxTo(l, i)
			return
		}
	}
}
