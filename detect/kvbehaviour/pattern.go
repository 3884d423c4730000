package kvbehaviour

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
)

// patternGroup is a principal's window of operations new for it on one
// vault: once they score MinScore a candidate leaves; the window's further
// records of those operations become one summary when it closes.
type patternGroup struct {
	Vault string    `json:"vault"`
	Start time.Time `json:"start"`
	// New are the operations new for the principal, in the order seen.
	New   []string `json:"new"`
	Score int      `json:"score"`
	Fired bool     `json:"fired,omitempty"`
	// Usual renders the principal's operations before the window, and
	// History how many it performed in the look-back.
	Usual     string   `json:"usual"`
	History   uint64   `json:"history"`
	Countries []string `json:"countries,omitempty"`
	// Acc holds the records not emitted yet.
	Acc azops.Acc `json:"acc"`
}

// observeOps learns the record's operation and scores it when the
// principal had not performed it within the look-back.
func (d *tenantDetector) observeOps(ts *tenantState, pk string, p *principal, r *azops.Rec, newCC string, learned bool, emit detect.Emitter) {
	if len(p.Groups) > 0 {
		d.closeGroups(ts, pk, p, r.Time, emit)
	}
	hour := hourOf(r.Time)
	for i := range p.Ops {
		o := &p.Ops[i]
		if o.Op != r.Operation {
			continue
		}
		o.N = min(o.N+1, 1<<31)
		o.Last = max(o.Last, hour)
		if len(p.Groups) > 0 {
			if g := p.group(r.ResourceID); g != nil && slices.Contains(g.New, r.Operation) {
				g.add(r, d.s.MaxEvidence, newCC)
			}
		}
		return
	}
	if len(p.Ops) >= maxPrincipalOps {
		return // a principal this varied has no pattern to depart from
	}
	history := p.history()
	p.Ops = append(p.Ops, opUse{Op: r.Operation, N: 1, Last: hour})
	if !learned || history < uint64(d.s.OperationPattern.MinHistory) {
		return
	}
	g := p.group(r.ResourceID)
	if g == nil {
		if len(p.Groups) >= maxPrincipalGroups {
			d.closeGroup(ts, pk, p, 0, emit)
		}
		g = &patternGroup{Vault: r.ResourceID, Start: r.Time, Usual: usualOps(p.Ops[:len(p.Ops)-1]), History: history}
		p.Groups = append(p.Groups, g)
		if !slices.Contains(ts.Open, pk) {
			ts.Open = append(ts.Open, pk)
		}
	}
	g.New = append(g.New, r.Operation)
	g.Score++
	if d.s.sensitive.has(r.Operation) {
		g.Score++
	}
	g.add(r, d.s.MaxEvidence, newCC)
	if !g.Fired && g.Score >= d.s.OperationPattern.MinScore {
		g.Fired = true
		emit.Emit(d.patternCandidate(pk, p, g))
		g.Acc.Reset()
		g.Countries = g.Countries[:0]
	}
}

// history counts the operations the principal performed in the look-back.
func (p *principal) history() uint64 {
	var n uint64
	for _, o := range p.Ops {
		n += uint64(o.N)
	}
	return n
}

// group returns the principal's open window on the vault, or nil.
func (p *principal) group(vault string) *patternGroup {
	for _, g := range p.Groups {
		if g.Vault == vault {
			return g
		}
	}
	return nil
}

// add keeps a record of the window.
func (g *patternGroup) add(r *azops.Rec, maxEvidence int, newCountry string) {
	g.Acc.Add(r, maxEvidence)
	g.Countries = addCountry(g.Countries, newCountry)
}

// usualOps renders operations by how often they were performed:
// "SecretGet (1,204), VaultGet (3)", at most maxListed of them.
func usualOps(ops []opUse) string {
	s := slices.Clone(ops)
	slices.SortFunc(s, func(a, b opUse) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		return cmp.Compare(a.Op, b.Op)
	})
	var parts []string
	for _, o := range s[:min(len(s), maxListed)] {
		parts = append(parts, o.Op+" ("+formatCount(int64(o.N))+")")
	}
	if len(s) > maxListed {
		parts = append(parts, "+"+strconv.Itoa(len(s)-maxListed))
	}
	return strings.Join(parts, ", ")
}

// closeGroups closes the principal's windows that ended at or before now.
func (d *tenantDetector) closeGroups(ts *tenantState, pk string, p *principal, now time.Time, emit detect.Emitter) {
	for i := 0; i < len(p.Groups); {
		if !now.Before(p.Groups[i].Start.Add(d.s.Window)) {
			d.closeGroup(ts, pk, p, i, emit)
			continue
		}
		i++
	}
}

// closeGroup emits window i's summary, when it fired and has records left,
// and removes it.
func (d *tenantDetector) closeGroup(_ *tenantState, pk string, p *principal, i int, emit detect.Emitter) {
	g := p.Groups[i]
	if g.Fired && g.Acc.Count > 0 {
		emit.Emit(d.patternCandidate(pk, p, g))
	}
	p.Groups = slices.Delete(p.Groups, i, i+1)
}

// patternCandidate builds a candidate from the window's records.
func (d *tenantDetector) patternCandidate(pk string, p *principal, g *patternGroup) alert.Candidate {
	c := g.Acc.Candidate(TypeOperationPatternAnomaly, "related")
	r := &g.Acc.Recs[0]
	vaultCandidate(&c, r, pk)
	ops := slices.Clone(g.New)
	slices.Sort(ops)
	c.Details["operations"] = strings.Join(ops, ", ")
	c.Details["usualOperations"] = g.Usual
	c.Details["historyCount"] = formatCount(int64(g.History))
	c.Details["window"] = azops.FormatDuration(d.s.Window)
	d.raise.finish(&c, &g.Acc, g.Countries, p.first())
	return c
}
