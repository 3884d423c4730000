package azops

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/event"
)

// Scope says what a suspicious-address candidate is about and how its
// events are partitioned.
type Scope uint8

const (
	// ScopeVault partitions by vault (upper-cased vault resource ID); the
	// candidate's Resource is the vault and it carries a keyvault entity.
	ScopeVault Scope = iota + 1
	// ScopeSubscription partitions by subscription and caller; the
	// candidate's Resource is the subscription ("/subscriptions/<id>") and
	// the resources operated on are related azure-resource entities.
	ScopeSubscription
)

// TISpec describes one suspicious-address detection: operations whose caller
// address is named by threat intelligence in one of Categories.
type TISpec struct {
	Type  string     // alert type, also the detector's name
	Kind  event.Kind // log the detection reads
	Scope Scope
	// Categories the caller address must have (any of them).
	Categories []string
	// MinScore is the least score a scored list's entry needs (lists without
	// scores match on category alone).
	MinScore int
	// RaiseCategories, when the address also has one of them (scored entries
	// at least RaiseMinScore), raise the severity one step above Severity.
	RaiseCategories []string
	RaiseMinScore   int
	// Severity is the catalogue's severity for Type, the base for raising.
	Severity alert.Severity
	// Window groups repeats: the first operation of a caller from an address
	// is a candidate at once; the further ones within Window of it are one
	// summary candidate when the window closes (same fingerprint).
	Window      time.Duration
	MaxEvidence int
	// IgnoreFailed skips operations that failed (e.g. only successful access counts).
	IgnoreFailed bool
}

// TIDetector is a detect.Detector for a TISpec.
type TIDetector struct{ spec TISpec }

// NewTIDetector returns the detector for spec. Window and MaxEvidence below 1
// are taken as 1 hour and 1.
func NewTIDetector(spec TISpec) *TIDetector {
	if spec.Window <= 0 {
		spec.Window = time.Hour
	}
	spec.MaxEvidence = max(spec.MaxEvidence, 1)
	return &TIDetector{spec: spec}
}

// Name implements detect.Detector.
func (d *TIDetector) Name() string { return d.spec.Type }

// Consumes implements detect.Detector.
func (d *TIDetector) Consumes(k event.Kind) bool { return k == d.spec.Kind }

// PartitionKey implements detect.Detector: operations whose address does not
// match are ignored without allocating.
func (d *TIDetector) PartitionKey(op *event.Op) (string, bool) {
	if !MatchHits(op.Intel.Hits, d.spec.Categories, d.spec.MinScore) {
		return "", false
	}
	if d.spec.IgnoreFailed && op.Failed() {
		return "", false
	}
	switch d.spec.Scope {
	case ScopeVault:
		v := VaultID(op.ResourceID)
		return v, v != ""
	case ScopeSubscription:
		sub := op.SubscriptionID
		if sub == "" {
			sub = SubscriptionOf(op.ResourceID)
		}
		return sub + "|" + CallerKey(op), true
	}
	return "", false
}

// NewShard implements detect.Detector.
func (d *TIDetector) NewShard() detect.Shard { return NewShard[tiState](tiLogic{d.spec}) }

// maxGroups is the most (caller, address) groups one key keeps open; the
// oldest is closed early beyond it.
const maxGroups = 256

// maxSeen is the most request identities a group remembers to drop the
// repeated records of one request (Activity Log writes Started, Accepted and
// Succeeded records with one correlation ID).
const maxSeen = 256

type tiState struct {
	Pending Buffer     `json:"pending"`
	Groups  []*tiGroup `json:"groups,omitempty"`
}

// tiGroup is the open window of one caller from one address.
type tiGroup struct {
	Principal string    `json:"principal,omitempty"`
	IP        string    `json:"ip,omitempty"`
	Start     time.Time `json:"start"`
	Seen      []string  `json:"seen,omitempty"`
	// Summary holds the operations after the first, not yet emitted.
	Summary Acc `json:"summary"`
}

type tiLogic struct{ spec TISpec }

func (l tiLogic) Pending(s *tiState) *Buffer { return &s.Pending }

func (l tiLogic) Check(s *tiState) error {
	for _, g := range s.Groups {
		if g == nil {
			return errors.New("empty group")
		}
		if err := g.Summary.Check(); err != nil {
			return fmt.Errorf("group %s/%s: %w", g.Principal, g.IP, err)
		}
	}
	return nil
}

func (l tiLogic) Release(key string, s *tiState, r *Rec, emit detect.Emitter) {
	pk, ip := r.PrincipalKey(), r.IP()
	i := slices.IndexFunc(s.Groups, func(g *tiGroup) bool { return g.Principal == pk && g.IP == ip })
	if i >= 0 && !r.Time.Before(s.Groups[i].Start.Add(l.spec.Window)) {
		l.close(key, s, i, emit)
		i = -1
	}
	if i < 0 {
		if len(s.Groups) >= maxGroups {
			l.close(key, s, 0, emit)
		}
		g := &tiGroup{Principal: pk, IP: ip, Start: r.Time}
		g.remember(r)
		s.Groups = append(s.Groups, g)
		var first Acc
		first.Add(r, 1)
		emit.Emit(l.candidate(key, g, &first))
		return
	}
	g := s.Groups[i]
	if !g.remember(r) {
		return
	}
	g.Summary.Add(r, l.spec.MaxEvidence)
}

// remember notes r's request identity and reports whether it is new.
func (g *tiGroup) remember(r *Rec) bool {
	if r.CorrelationID == "" {
		return true
	}
	id := r.CorrelationID + "|" + r.Operation
	if slices.Contains(g.Seen, id) {
		return false
	}
	if len(g.Seen) < maxSeen {
		g.Seen = append(g.Seen, id)
	}
	return true
}

func (l tiLogic) Tick(key string, s *tiState, watermark time.Time, emit detect.Emitter) bool {
	for i := 0; i < len(s.Groups); {
		if !watermark.Before(s.Groups[i].Start.Add(l.spec.Window)) {
			l.close(key, s, i, emit)
			continue
		}
		i++
	}
	return len(s.Groups) == 0
}

// close emits group i's summary, if it has one, and removes the group.
func (l tiLogic) close(key string, s *tiState, i int, emit detect.Emitter) {
	g := s.Groups[i]
	if g.Summary.Count > 0 {
		emit.Emit(l.candidate(key, g, &g.Summary))
	}
	s.Groups = slices.Delete(s.Groups, i, i+1)
}

func (l tiLogic) candidate(key string, g *tiGroup, acc *Acc) alert.Candidate {
	acc.Raise = false
	for i := range acc.Recs {
		if MatchHits(acc.Recs[i].Intel, l.spec.RaiseCategories, l.spec.RaiseMinScore) {
			acc.Raise = true
			break
		}
	}
	c := acc.Candidate(l.spec.Type, "attacker")
	r := &acc.Recs[0]
	c.Details["window"] = FormatDuration(l.spec.Window)
	c.Details["threshold"] = ""
	if l.spec.MinScore > 1 {
		c.Details["threshold"] = strconv.Itoa(l.spec.MinScore)
	}
	switch l.spec.Scope {
	case ScopeVault:
		c.Resource = RecordedVaultID(r.ResourceID)
		c.Details["vault"] = VaultName(r)
		c.Details["resource"] = c.Resource
		c.Entities = append([]alert.Entity{VaultEntity(r)}, c.Entities...)
		c.FingerprintKeys = []string{key, g.Principal, g.IP}
	case ScopeSubscription:
		sub := c.SubscriptionID
		c.Resource = "/subscriptions/" + sub
		if sub == "" { // a tenant-level operation: name what was operated on
			c.Resource = cmp.Or(r.ResourceID, "/")
		}
		c.Details["vault"] = ""
		c.Details["resource"] = c.Resource
		c.Details["subscription"] = sub
		res := []alert.Entity{{Type: alert.EntityAzureResource, Role: "compromised", ResourceID: c.Resource, Name: sub}}
		var ids []string
		for i := range acc.Recs {
			id := acc.Recs[i].ResourceID
			if id != "" && len(ids) < maxListed && !slices.Contains(ids, id) {
				ids = append(ids, id)
				res = append(res, alert.Entity{Type: alert.EntityAzureResource, Role: "related", ResourceID: id, Name: lastSegment(id)})
			}
		}
		c.Details["resources"] = strings.Join(ids, ", ")
		c.Entities = append(res, c.Entities...)
		c.FingerprintKeys = []string{c.Resource, g.Principal, g.IP}
	}
	if acc.Raise {
		c.Severity = l.spec.Severity.Raise()
	}
	return c
}

// Speculate implements Speculator: a matching record is a finding on its
// own, so each pending record whose (caller, address) has no open group
// announces the group it will open.
func (l tiLogic) Speculate(key string, s *tiState, pending []Rec, emit detect.Emitter) {
	for i := range pending {
		r := &pending[i]
		pk, ip := r.PrincipalKey(), r.IP()
		if slices.ContainsFunc(s.Groups, func(g *tiGroup) bool {
			return g.Principal == pk && g.IP == ip && !r.Time.Before(g.Start) && r.Time.Before(g.Start.Add(l.spec.Window))
		}) {
			continue // its alert is out already
		}
		if slices.ContainsFunc(pending[:i], func(p Rec) bool {
			return p.CallerIP == r.CallerIP && p.CallerIPText == r.CallerIPText && p.PrincipalKey() == pk
		}) {
			continue // an earlier pending record opens the group
		}
		var first Acc
		first.Add(r, 1)
		emit.Emit(l.candidate(key, &tiGroup{Principal: pk, IP: ip, Start: r.Time}, &first))
	}
}
