package flowlog

import (
	"bytes"
	"compress/gzip"
	"io"
)

// sniffMarkers are strings only flow logs contain: their categories and
// operation names, and the members that hold their tuples. Activity Log and
// Key Vault records have none of them.
var sniffMarkers = [][]byte{
	[]byte(`"NetworkSecurityGroupFlowEvent"`),
	[]byte(`"FlowLogFlowEvent"`),
	[]byte(`"flowTuples"`),
	[]byte(`"flowRecords"`),
	[]byte(`"flowLogVersion"`),
}

// sniffLimit bounds how much of a gzip prefix Sniff decompresses.
const sniffLimit = 64 << 10

// Sniff reports whether prefix, the first bytes of an input (a few KB are
// enough; gzip is decompressed as far as prefix goes), looks like an NSG
// or VNet flow log rather than an Activity Log or Key Vault log: it must
// start with a JSON object or array and name a flow log category or one
// of the members that hold flow tuples. Azure writes the category before
// the flows, so the first record's opening is enough.
func Sniff(prefix []byte) bool {
	if len(prefix) >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(prefix))
		if err != nil {
			return false
		}
		// A prefix of a gzip stream ends early: keep what decompressed.
		prefix, _ = io.ReadAll(io.LimitReader(zr, sniffLimit))
	}
	p := bytes.TrimLeft(bytes.TrimPrefix(prefix, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(p) == 0 || (p[0] != '{' && p[0] != '[') {
		return false
	}
	for _, m := range sniffMarkers {
		if bytes.Contains(p, m) {
			return true
		}
	}
	return false
}
