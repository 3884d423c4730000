package kvbehaviour

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/baseline"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// observeVault counts the record's vault among the principal's vaults of
// the day and raises KV_AccountVolumeAnomaly when the count passes what
// the principal's history and its peers' make usual.
func (d *tenantDetector) observeVault(ts *tenantState, pk string, p *principal, r *azops.Rec, learned bool, emit detect.Emitter) {
	if r.ResourceID == p.lastVault {
		return
	}
	p.lastVault = r.ResourceID
	vid := vaultKey(r.ResourceID)
	before := p.Vaults.Count()
	p.Vaults.AddHash(baseline.HashString(vid))
	after := p.Vaults.Count()
	if after <= before {
		return
	}
	// The principal touched a vault it had not touched today.
	row := ts.Peers[peerIndex(p)].Rows[mod(p.Day, int64(len(ts.Peers[0].Rows)))]
	if before > 0 && row[bin(before)] > 0 { // (a restored ring may have started over)
		row[bin(before)]--
	}
	row[bin(after)]++
	switch {
	case len(p.Touches) < d.s.MaxEvidence:
		p.Touches = append(p.Touches, touch{})
		p.Touches[len(p.Touches)-1].fill(r)
	case len(p.Touches) > 1: // keep the first: its subscription is the alert's
		p.Touches[len(p.Touches)-1].fill(r)
	}
	p.Caller = r.Caller
	if p.Fired > 0 || !learned || r.Time.Before(ts.First.Add(d.s.Learning)) {
		return
	}
	b := d.accountBaseline(ts, p)
	if int(after) < b.threshold {
		return
	}
	p.Fired, p.FiredAt = int32(after), int32(len(p.Touches))
	if !slices.Contains(ts.Open, pk) {
		ts.Open = append(ts.Open, pk)
	}
	emit.Emit(d.accountCandidate(pk, p, p.Touches, int(after), int(after), b))
}

func peerIndex(p *principal) int {
	if p.User {
		return 0
	}
	return 1
}

func bin(n uint64) int { return int(min(n, peerBins-1)) }

// accountBaseline is what a principal's history and its peers' make usual.
type accountBaseline struct {
	own       int // the principal's busiest day in the history
	peer      int // the peers' PeerQuantile day
	peerDays  int // principal-days the peer figure is over
	threshold int
}

func (d *tenantDetector) accountBaseline(ts *tenantState, p *principal) accountBaseline {
	cfg := &d.s.AccountVolume
	var b accountBaseline
	for _, n := range p.Hist {
		b.own = max(b.own, int(n))
	}
	b.peer, b.peerDays = ts.Peers[peerIndex(p)].quantile(p.Day, cfg.PeerQuantile)
	b.threshold = max(cfg.MinVaults, int(math.Ceil(cfg.Ratio*float64(max(b.own, 1)))), b.peer+1)
	return b
}

// quantile returns the q-quantile of the daily vault counts of the
// principal-days in the ring other than today's, and how many there are.
func (pd *peerDays) quantile(today int64, q float64) (value, days int) {
	n := int64(len(pd.Rows))
	if n == 0 {
		return 0, 0
	}
	var agg [peerBins]uint64
	var total uint64
	for i, row := range pd.Rows {
		if int64(i) == mod(today, n) {
			continue
		}
		for k := 1; k < len(row); k++ {
			agg[k] += uint64(row[k])
			total += uint64(row[k])
		}
	}
	if total == 0 {
		return 0, 0
	}
	target := uint64(math.Ceil(q * float64(total)))
	var cum uint64
	for k := 1; k < peerBins; k++ {
		cum += agg[k]
		if cum >= target {
			return k, int(total)
		}
	}
	return peerBins - 1, int(total)
}

// closeDay raises the summary of a day KV_AccountVolumeAnomaly fired on,
// when more vaults were touched after it fired.
func (d *tenantDetector) closeDay(ts *tenantState, pk string, p *principal, emit detect.Emitter) {
	if p.Fired == 0 || len(p.Touches) == 0 {
		return
	}
	total := int(p.Vaults.Count())
	if total <= int(p.Fired) {
		return
	}
	from := min(int(p.FiredAt), len(p.Touches)-1)
	emit.Emit(d.accountCandidate(pk, p, p.Touches[from:], total, total-int(p.Fired), d.accountBaseline(ts, p)))
}

// accountCandidate builds a KV_AccountVolumeAnomaly candidate over the
// touches, standing for count vaults, vaults in all that day.
func (d *tenantDetector) accountCandidate(pk string, p *principal, touches []touch, vaults, count int, b accountBaseline) alert.Candidate {
	var acc azops.Acc
	for i := range touches {
		r := touches[i].rec(&p.Caller)
		acc.Add(&r, d.s.MaxEvidence)
	}
	c := acc.Candidate(TypeAccountVolumeAnomaly, "related")
	c.Count = max(count, len(c.Evidence))
	c.FingerprintKeys = []string{pk}
	// The alert's resource is the subscription of the day's first vault
	// (the same for every candidate of the day: it is part of the alert's
	// fingerprint); every vault is a related entity.
	var names []string
	for i := range p.Touches {
		r := p.Touches[i].rec(&p.Caller)
		if len(names) < maxListed {
			names = append(names, azops.VaultName(&r))
			e := azops.VaultEntity(&r)
			e.Role = "related"
			c.Entities = append(c.Entities, e)
		}
	}
	first := p.Touches[0].rec(&p.Caller)
	c.SubscriptionID = first.Subscription()
	c.Resource = "/subscriptions/" + c.SubscriptionID
	if c.SubscriptionID == "" {
		c.Resource = azops.RecordedVaultID(first.ResourceID)
	}
	list := strings.Join(names, ", ")
	if more := vaults - len(names); more > 0 {
		list += " (+" + strconv.Itoa(more) + ")"
	}
	c.Details["vault"] = ""
	c.Details["resource"] = c.Resource
	c.Details["vaults"] = list
	c.Details["vaultCount"] = strconv.Itoa(vaults)
	c.Details["usualVaults"] = strconv.Itoa(b.own)
	c.Details["peerVaults"] = strconv.Itoa(b.peer)
	c.Details["peerDays"] = formatCount(int64(b.peerDays))
	c.Details["peerQuantile"] = formatPercent(d.s.AccountVolume.PeerQuantile)
	c.Details["threshold"] = strconv.Itoa(b.threshold)
	days := min(int64(d.s.HistoryDays), max(p.Day-dayOf(p.first()), 0))
	c.Details["historyDays"] = strconv.FormatInt(days, 10)
	c.Details["day"] = formatDate(hourTime(p.Day * 24))
	c.Details["window"] = "24h"
	kind := "applications"
	if p.User {
		kind = "users"
	}
	c.Details["baseline"] = "at most " + strconv.Itoa(b.own) + " vault(s) a day over the last " + strconv.FormatInt(days, 10) +
		" days; peers (" + kind + " of the tenant): at most " + strconv.Itoa(b.peer) + " on " +
		formatPercent(d.s.AccountVolume.PeerQuantile) + " of " + formatCount(int64(b.peerDays)) + " active days"
	d.raise.finish(&c, &acc, p.NewCountries, p.first())
	return c
}

// formatPercent renders a quantile as a percentage: 0.99 -> "99%".
func formatPercent(q float64) string {
	return strconv.FormatFloat(q*100, 'f', -1, 64) + "%"
}

// touch is the first access of a vault in a principal's day, kept as
// evidence in a third of the room of an azops.Rec: the caller is the
// principal's (principal.Caller), the result is told by the HTTP status,
// and the address's location is its country and network.
type touch struct {
	Time     int64            `json:"t"` // Unix nanoseconds
	Op       string           `json:"op"`
	Resource string           `json:"res"`
	Status   int32            `json:"status,omitempty"`
	ASN      uint32           `json:"asn,omitempty"`
	IP       netip.Addr       `json:"ip,omitzero"`
	IPText   string           `json:"ipText,omitempty"`
	File     string           `json:"file,omitempty"`
	Line     int32            `json:"line,omitempty"`
	Index    int32            `json:"index,omitempty"`
	Country  string           `json:"cc,omitempty"`
	Intel    []event.IntelHit `json:"intel,omitempty"`
}

// fill copies what evidence needs from r (its Intel slice is r's own,
// fresh for every record, so it may be shared).
func (t *touch) fill(r *azops.Rec) {
	*t = touch{Time: r.Time.UnixNano(), Op: r.Operation, Resource: r.ResourceID, Status: int32(r.StatusCode),
		ASN: r.Geo.ASN, IP: r.CallerIP, IPText: r.CallerIPText, File: r.Pos.File, Line: int32(r.Pos.Line),
		Index: int32(r.Pos.Index), Country: r.Geo.Country, Intel: r.Intel}
	if t.Status == 0 && r.Failed() {
		t.Status = -1 // failed without a status
	}
}

// rec rebuilds the record for evidence and entities.
func (t *touch) rec(caller *event.Principal) azops.Rec {
	r := azops.Rec{Time: time.Unix(0, t.Time).UTC(), Kind: event.KindKeyVault, TenantID: caller.TenantID, ResourceID: t.Resource,
		Operation: t.Op, Result: "Success", StatusCode: int(max(t.Status, 0)), Caller: *caller, CallerIP: t.IP, CallerIPText: t.IPText,
		Pos:   event.Position{File: t.File, Line: int(t.Line), Index: int(t.Index)},
		Geo:   event.Geo{Country: t.Country, ASN: t.ASN},
		Intel: t.Intel}
	if t.Status >= 400 || t.Status < 0 {
		r.Result = "Failure"
	}
	return r
}
