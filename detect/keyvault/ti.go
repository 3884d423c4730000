package keyvault

import (
	"slices"

	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// newTORAccess is KV_TORAccess: raised one step when the exit node is also
// on a blocklist (as SuspiciousIPAccess defines one).
func newTORAccess(cfg Config) *azops.TIDetector {
	return azops.NewTIDetector(azops.TISpec{
		Type:            TypeTORAccess,
		Kind:            event.KindKeyVault,
		Scope:           azops.ScopeVault,
		Categories:      []string{"tor"},
		RaiseCategories: cfg.SuspiciousIPAccess.Categories,
		RaiseMinScore:   cfg.SuspiciousIPAccess.MinScore,
		Severity:        CatalogueSeverity,
		Window:          cfg.TORAccess.Window,
		MaxEvidence:     cfg.MaxEvidence,
	})
}

// newSuspiciousIPAccess is KV_SuspiciousIPAccess: raised one step when the
// address is also a Tor exit node.
func newSuspiciousIPAccess(cfg Config) *azops.TIDetector {
	s := cfg.SuspiciousIPAccess
	return azops.NewTIDetector(azops.TISpec{
		Type:            TypeSuspiciousIPAccess,
		Kind:            event.KindKeyVault,
		Scope:           azops.ScopeVault,
		Categories:      s.Categories,
		MinScore:        s.MinScore,
		RaiseCategories: []string{"tor"},
		Severity:        CatalogueSeverity,
		Window:          s.Window,
		MaxEvidence:     cfg.MaxEvidence,
		IgnoreFailed:    !s.IncludeFailed,
	})
}

// suspicion tells whether a record's address is a Tor exit or blocklisted,
// which raises the severity of ListGet and PutGet candidates one step.
type suspicion struct {
	categories []string
	minScore   int
}

func newSuspicion(cfg Config) suspicion {
	return suspicion{
		categories: append(slices.Clone(cfg.SuspiciousIPAccess.Categories), "tor"),
		minScore:   cfg.SuspiciousIPAccess.MinScore,
	}
}

func (s suspicion) any(recs []azops.Rec) bool {
	for i := range recs {
		if azops.MatchHits(recs[i].Intel, s.categories, s.minScore) {
			return true
		}
	}
	return false
}
