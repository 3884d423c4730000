package silence

import (
	"context"
	"fmt"
	"testing"

	"github.com/vigil-security/vigil/tenancy"
)

// BenchmarkMatch matches a Key Vault alert against 200 enabled rules of
// which none applies (the common case: every new alert is checked, few are
// suppressed): half of one partner's tenant, half partner-wide with IP
// prefixes.
func BenchmarkMatch(b *testing.B) {
	var rules []Rule
	for i := range 200 {
		r := Rule{ID: fmt.Sprintf("r%03d", i), AlertType: "KV_TORAccess", Reason: "x", Enabled: true,
			Conditions: []Condition{
				{Field: "entities.ip.address", In: []string{fmt.Sprintf("10.%d.0.0/16", i), fmt.Sprintf("192.0.2.%d", i)}},
				{Field: "entities.account.upn", Contains: "@partner.example"},
			}}
		if i%2 == 0 {
			r.TenantID = fabrikam
		} else {
			r.PartnerID = partner
		}
		rules = append(rules, r)
	}
	s := New(&fakeSource{rules: rules}, &tenancy.Directory{Partners: []tenancy.Partner{{ID: partner, Customers: []string{fabrikam}}}})
	if err := s.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	a := torAlert()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Match(a, now); ok {
			b.Fatal("matched")
		}
	}
}
