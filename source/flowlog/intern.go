package flowlog

// maxInterned bounds an interner; when it is full it starts afresh, so a
// hostile input cannot grow it without limit.
const maxInterned = 8192

// interner returns one shared string per distinct byte sequence, so that
// the rule names, resource IDs and MAC addresses repeated in every tuple
// cost one allocation each, not one per tuple.
type interner struct {
	m    map[string]string
	last string // the last string returned: most lookups repeat it
}

// get returns b as a string, allocating only the first time b is seen.
func (in *interner) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if string(b) == in.last { // no allocation: comparison of converted bytes
		return in.last
	}
	if s, ok := in.m[string(b)]; ok { // no allocation: map index by converted bytes
		in.last = s
		return s
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]string, 64)
	}
	s := string(b)
	in.m[s] = s
	in.last = s
	return s
}
