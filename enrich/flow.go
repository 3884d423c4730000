package enrich

import (
	"github.com/vigil-security/vigil/enrich/assets"
	"github.com/vigil-security/vigil/event"
)

// EnrichFlow sets f.Geo and f.Intel from the remote end of a flow: the end
// that none of our resources held, as ours (the asset index) tells, during
// the hour of the flow. A flow of which neither end is ours, or whose both
// ends are, is left unenriched (zero Geo and Intel): the network detections
// ignore the first and skip the second. A nil Enricher or index enriches
// nothing. It does not allocate.
func (e *Enricher) EnrichFlow(f *event.Flow, ours *assets.Index) {
	f.Geo, f.Intel = event.Geo{}, event.Intel{}
	if e == nil || ours == nil || (e.geo == nil && e.intel == nil) {
		return
	}
	our, _, ok := ours.Ours(f)
	if !ok {
		return
	}
	remote := f.DstAddr
	if our == f.DstAddr {
		remote = f.SrcAddr
	}
	if _, theirs := ours.HeldDuringHour(remote, f.Start); theirs {
		return
	}
	f.Geo, f.Intel = e.LookupAddr(remote)
}
