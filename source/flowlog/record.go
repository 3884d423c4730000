package flowlog

import (
	"bytes"
	"fmt"

	"github.com/valyala/fastjson"
	"github.com/vigil-security/vigil/event"
)

// cursor walks the tuples of the record being read. For an NSG record the
// levels are properties.flows[] (rule), .flows[] (mac), .flowTuples[]; for
// a VNet record flowRecords.flows[] (aclID), .flowGroups[] (rule),
// .flowTuples[], with the MAC address on the record.
type cursor struct {
	source   event.FlowSource
	resource string
	mac      string // the record's macAddress (VNet)
	line     int
	index    int // record index

	outer  []*fastjson.Value
	inner  []*fastjson.Value
	tuples []*fastjson.Value
	oi, ii int // index of the current outer / inner element
	ti     int // index of the next tuple in tuples
	flat   int // index of the next tuple within the record

	rule, acl, groupMAC string
}

// member returns the value of o's member named name, compared without
// regard to case (the documentation spells resourceId "resourceid", and
// Version is capitalised); the last one wins.
func member(o *fastjson.Object, name string) *fastjson.Value {
	var out *fastjson.Value
	o.Visit(func(k []byte, v *fastjson.Value) {
		if len(k) == len(name) && bytes.EqualFold(k, []byte(name)) {
			out = v
		}
	})
	return out
}

// memberString returns o's member name as bytes when it is a string.
func memberString(o *fastjson.Object, name string) []byte {
	v := member(o, name)
	if v == nil || v.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := v.StringBytes()
	return b
}

// memberArray returns o's member name when it is an array, and whether it
// was one.
func memberArray(o *fastjson.Object, name string) ([]*fastjson.Value, bool) {
	v := member(o, name)
	if v == nil || v.Type() != fastjson.TypeArray {
		return nil, false
	}
	a, _ := v.Array()
	return a, true
}

// load parses raw as a flow log record and positions c before its first
// tuple. The structure (every level's arrays and objects) is checked
// first, so a record is either read whole or skipped whole.
func (r *Reader) load(raw []byte, c *cursor) error {
	v, err := r.parser.ParseBytes(raw)
	if err != nil {
		return ErrSyntax
	}
	root, err := v.Object()
	if err != nil {
		return ErrNotObject
	}
	*c = cursor{line: c.line, index: c.index}
	if fr := member(root, "flowRecords"); fr != nil {
		return r.loadVNet(root, fr, c)
	}
	if props := member(root, "properties"); props != nil {
		return r.loadNSG(root, props, c)
	}
	return ErrNotFlowRecord
}

// loadNSG positions c on an NSG flow log record (versions 1 and 2).
func (r *Reader) loadNSG(root *fastjson.Object, props *fastjson.Value, c *cursor) error {
	po, err := props.Object()
	if err != nil {
		return structureError("properties", "an object")
	}
	outer, ok := memberArray(po, "flows")
	if !ok {
		return structureError("properties.flows", "an array")
	}
	for i, g := range outer {
		go_, err := g.Object()
		if err != nil {
			return structureError(fmt.Sprintf("properties.flows[%d]", i), "an object")
		}
		inner, ok := memberArray(go_, "flows")
		if !ok {
			return structureError(fmt.Sprintf("properties.flows[%d].flows", i), "an array")
		}
		for j, f := range inner {
			fo, err := f.Object()
			if err != nil {
				return structureError(fmt.Sprintf("properties.flows[%d].flows[%d]", i, j), "an object")
			}
			if _, ok := memberArray(fo, "flowTuples"); !ok {
				return structureError(fmt.Sprintf("properties.flows[%d].flows[%d].flowTuples", i, j), "an array")
			}
		}
	}
	c.source = event.FlowNSG
	c.resource = r.strs.get(memberString(root, "resourceId"))
	c.outer = outer
	c.oi, c.ii = 0, -1
	return nil
}

// loadVNet positions c on a VNet flow log record (version 4).
func (r *Reader) loadVNet(root *fastjson.Object, fr *fastjson.Value, c *cursor) error {
	fo, err := fr.Object()
	if err != nil {
		return structureError("flowRecords", "an object")
	}
	outer, ok := memberArray(fo, "flows")
	if !ok {
		return structureError("flowRecords.flows", "an array")
	}
	for i, a := range outer {
		ao, err := a.Object()
		if err != nil {
			return structureError(fmt.Sprintf("flowRecords.flows[%d]", i), "an object")
		}
		groups, ok := memberArray(ao, "flowGroups")
		if !ok {
			return structureError(fmt.Sprintf("flowRecords.flows[%d].flowGroups", i), "an array")
		}
		for j, g := range groups {
			gob, err := g.Object()
			if err != nil {
				return structureError(fmt.Sprintf("flowRecords.flows[%d].flowGroups[%d]", i, j), "an object")
			}
			if _, ok := memberArray(gob, "flowTuples"); !ok {
				return structureError(fmt.Sprintf("flowRecords.flows[%d].flowGroups[%d].flowTuples", i, j), "an array")
			}
		}
	}
	c.source = event.FlowVNet
	res := memberString(root, "targetResourceID")
	if len(res) == 0 {
		res = memberString(root, "flowLogResourceID")
	}
	c.resource = r.strs.get(res)
	c.mac = r.strs.get(memberString(root, "macAddress"))
	c.outer = outer
	c.oi, c.ii = 0, -1
	return nil
}

// structureError describes a record whose nesting is not the documented one.
func structureError(path, want string) error {
	return fmt.Errorf("%w: %s is not %s", ErrNotFlowRecord, path, want)
}

// nextTuple returns the next tuple value of the record and its path
// indexes, moving through the levels; ok is false when the record is
// exhausted. The structure was checked by load.
func (r *Reader) nextTuple(c *cursor) (*fastjson.Value, bool) {
	for {
		if c.ti < len(c.tuples) {
			v := c.tuples[c.ti]
			c.ti++
			c.flat++
			return v, true
		}
		// next inner element
		c.ii++
		if c.oi < len(c.outer) {
			ob, _ := c.outer[c.oi].Object()
			if c.ii == 0 {
				c.enterOuter(r, ob)
			}
			if c.ii < len(c.inner) {
				io, _ := c.inner[c.ii].Object()
				c.tuples, _ = memberArray(io, "flowTuples")
				c.ti = 0
				if c.source == event.FlowNSG {
					c.groupMAC = r.strs.get(memberString(io, "mac"))
				} else {
					c.rule = r.strs.get(memberString(io, "rule"))
				}
				continue
			}
		}
		// next outer element
		c.oi++
		c.ii = -1
		c.tuples, c.ti = nil, 0
		if c.oi >= len(c.outer) {
			return nil, false
		}
	}
}

// enterOuter reads the outer element's members: its rule (NSG) or ACL ID
// (VNet), and its inner array.
func (c *cursor) enterOuter(r *Reader, ob *fastjson.Object) {
	if c.source == event.FlowNSG {
		c.rule = r.strs.get(memberString(ob, "rule"))
		c.inner, _ = memberArray(ob, "flows")
	} else {
		c.acl = r.strs.get(memberString(ob, "aclID"))
		c.inner, _ = memberArray(ob, "flowGroups")
	}
}

// path names the tuple just returned by nextTuple, for error messages.
func (c *cursor) path() string {
	if c.source == event.FlowNSG {
		return fmt.Sprintf("properties.flows[%d].flows[%d].flowTuples[%d]", c.oi, c.ii, c.ti-1)
	}
	return fmt.Sprintf("flowRecords.flows[%d].flowGroups[%d].flowTuples[%d]", c.oi, c.ii, c.ti-1)
}
