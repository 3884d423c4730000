package silence

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/tenancy"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

var now = time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)

const (
	fabrikam = "1889e718-414b-4bad-8bbe-c1135bd39a41"
	contoso  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	partner  = "4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01"
)

// torAlert is a KV_TORAccess alert as the Key Vault detector builds it.
func torAlert() *alert.Alert {
	return &alert.Alert{
		ID: "a1", Type: "KV_TORAccess", Status: alert.StatusActive, Severity: alert.SeverityHigh,
		TenantID: fabrikam, SubscriptionID: "5f6e6521-6e5f-4b0b-80aa-bd44fad7a398",
		Resource: "/subscriptions/5f6e6521-6e5f-4b0b-80aa-bd44fad7a398/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod",
		Entities: []alert.Entity{
			{Type: alert.EntityKeyVault, Role: "compromised", ResourceID: "/subscriptions/5f6e6521-6e5f-4b0b-80aa-bd44fad7a398/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod", Name: "kv-prod"},
			{Type: alert.EntityAccount, Role: "attacker", UPN: "ana@fabrikam.example", ObjectID: "6a1f0c0e-0000-4000-8000-000000000001"},
			{Type: alert.EntityIP, Role: "attacker", Address: "185.220.101.4", Country: "DE"},
		},
	}
}

func TestRuleMatches(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want bool
	}{
		{"type only", Rule{AlertType: "KV_TORAccess"}, true},
		{"type case-insensitive", Rule{AlertType: "kv_toraccess"}, true},
		{"other type", Rule{AlertType: "KV_ListGetAnomaly"}, false},
		{"any type needs a condition to match", Rule{AlertType: AnyType, Conditions: []Condition{{Field: "entities.ip.address", In: []string{"185.220.101.0/24"}}}}, true},
		{"ip exact", Rule{AlertType: "KV_TORAccess", Conditions: []Condition{{Field: "entities.ip.address", In: []string{"185.220.101.4"}}}}, true},
		{"ip outside prefix", Rule{AlertType: "KV_TORAccess", Conditions: []Condition{{Field: "entities.ip.address", In: []string{"185.220.100.0/24"}}}}, false},
		{"ipv4-mapped value", Rule{AlertType: "KV_TORAccess", Conditions: []Condition{{Field: "entities.ip.address", In: []string{"::ffff:185.220.101.4"}}}}, true},
		{"user in", Rule{AlertType: "*", Conditions: []Condition{{Field: "Entities.Account.UPN", In: []string{"ANA@fabrikam.example"}}}}, true},
		{"user contains", Rule{AlertType: "*", Conditions: []Condition{{Field: "entities.account.upn", Contains: "@FABRIKAM."}}}, true},
		{"resource", Rule{AlertType: "*", Conditions: []Condition{{Field: "resourceId", Contains: "/vaults/kv-prod"}}}, true},
		{"subscription", Rule{AlertType: "*", Conditions: []Condition{{Field: "subscriptionId", In: []string{"5F6E6521-6E5F-4B0B-80AA-BD44FAD7A398"}}}}, true},
		{"all must hold", Rule{AlertType: "*", Conditions: []Condition{
			{Field: "entities.ip.address", In: []string{"185.220.101.4"}},
			{Field: "entities.account.appid", In: []string{"00000000-0000-0000-0000-000000000000"}},
		}}, false},
		{"entity of another type", Rule{AlertType: "*", Conditions: []Condition{{Field: "entities.host.name", In: []string{"kv-prod"}}}}, false},
		{"disabled", Rule{AlertType: "KV_TORAccess", Enabled: false}, false},
		{"expired", Rule{AlertType: "KV_TORAccess", Expires: now}, false},
		{"not yet expired", Rule{AlertType: "KV_TORAccess", Expires: now.Add(time.Second)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rule
			r.Reason, r.TenantID = "FalsePositive", fabrikam
			if tc.name != "disabled" {
				r.Enabled = true
			}
			if got := r.Matches(torAlert(), now); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRuleValidate(t *testing.T) {
	ok := Rule{AlertType: "KV_TORAccess", Reason: "FalsePositive", TenantID: fabrikam}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Rule)
		want string
	}{
		{"no type", func(r *Rule) { r.AlertType = " " }, "alertType is required"},
		{"no reason", func(r *Rule) { r.Reason = "" }, "reason is required"},
		{"mute everything", func(r *Rule) { r.AlertType = AnyType }, "needs at least one condition"},
		{"unknown field", func(r *Rule) { r.Conditions = []Condition{{Field: "entities.ip.port", In: []string{"22"}}} }, `unknown property "port"`},
		{"unknown entity", func(r *Rule) { r.Conditions = []Condition{{Field: "entities.process.name", In: []string{"x"}}} }, `unknown entity type "process"`},
		{"bad field", func(r *Rule) { r.Conditions = []Condition{{Field: "severity", In: []string{"x"}}} }, `unknown field "severity"`},
		{"both ops", func(r *Rule) { r.Conditions = []Condition{{Field: "resourceId", In: []string{"a"}, Contains: "b"}} }, "not both"},
		{"no op", func(r *Rule) { r.Conditions = []Condition{{Field: "resourceId"}} }, "give in"},
		{"empty value", func(r *Rule) { r.Conditions = []Condition{{Field: "resourceId", In: []string{""}}} }, "empty value"},
		{"bad address", func(r *Rule) { r.Conditions = []Condition{{Field: "entities.ip.address", In: []string{"10.0.0.0/33"}}} }, "not an address or CIDR"},
		{"bad resolution", func(r *Rule) { r.ResolvedReason = "unknownFutureValue" }, "resolvedReason"},
		{"no scope", func(r *Rule) { r.TenantID = "" }, "needs a scope"},
		{"long comment", func(r *Rule) { r.Comment = strings.Repeat("x", MaxTextLen+1) }, "comment is longer"},
		{"bad utf8", func(r *Rule) { r.Comment = "\xff" }, "not valid UTF-8"},
		{"newline in type", func(r *Rule) { r.AlertType = "KV_TORAccess\nforged log line" }, `alertType "KV_TORAccess\nforged log line" contains a control character`},
		{"escape in type", func(r *Rule) { r.AlertType = "KV_\x1b[31mTORAccess" }, "alertType"},
		{"C1 control in type", func(r *Rule) { r.AlertType = "KV_TORAccess\u0085" }, "control character"},
		{"DEL in type", func(r *Rule) { r.AlertType = "KV_TORAccess\x7f" }, "control character"},
		{"tab in tenant", func(r *Rule) { r.TenantID = fabrikam + "\t" }, "tenantId"},
		{"control in field", func(r *Rule) { r.Conditions = []Condition{{Field: "resourceId\r", In: []string{"a"}}} }, "contains a control character"},
		{"control in value", func(r *Rule) { r.Conditions = []Condition{{Field: "resourceId", In: []string{"a", "b\x00"}}} }, `value "b\x00" contains a control character`},
		{"control in contains", func(r *Rule) { r.Conditions = []Condition{{Field: "entities.account.upn", Contains: "@contoso\n"}} }, "has a control character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ok.Clone()
			tc.edit(r)
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

type fakeSource struct {
	rules []Rule
	err   error
}

func (f *fakeSource) SuppressionRules(context.Context) ([]Rule, error) { return f.rules, f.err }

func TestSilencerScopeAndApply(t *testing.T) {
	dir := &tenancy.Directory{Partners: []tenancy.Partner{{ID: partner, Customers: []string{fabrikam}}}}
	src := &fakeSource{rules: []Rule{
		{ID: "tenant-other", AlertType: "KV_TORAccess", Reason: "x", Enabled: true, TenantID: contoso, Created: now.Add(-3 * time.Hour)},
		{ID: "disabled", AlertType: "KV_TORAccess", Reason: "x", Enabled: false, TenantID: fabrikam, Created: now.Add(-2 * time.Hour)},
		{ID: "partner-wide", AlertType: "KV_TORAccess", Reason: "x", Enabled: true, PartnerID: strings.ToUpper(partner),
			ResolvedReason: alert.ReasonLegitimate, Created: now.Add(-time.Hour)},
		{ID: "later", AlertType: "KV_TORAccess", Reason: "x", Enabled: true, TenantID: fabrikam, Created: now},
	}}
	s := New(src, dir)
	if s.Apply(torAlert(), now) {
		t.Fatal("Apply before Refresh suppressed an alert")
	}
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3 enabled rules", s.Len())
	}
	a := torAlert()
	if !s.Apply(a, now) {
		t.Fatal("Apply did not suppress")
	}
	if a.SuppressedBy != "partner-wide" || a.Status != alert.StatusResolved || a.ResolvedReason != alert.ReasonLegitimate ||
		a.ResolvedBy != "suppression:partner-wide" || !a.ResolvedOn.Equal(now) {
		t.Errorf("suppressed alert = %+v", a)
	}
	if len(a.ActivityLogs) != 1 || a.ActivityLogs[0] != (alert.ActivityLog{StatusFrom: alert.StatusActive, StatusTo: alert.StatusResolved, UpdatedBy: "suppression:partner-wide", UpdatedTime: now}) {
		t.Errorf("activity logs = %+v", a.ActivityLogs)
	}
	if s.Apply(a, now) {
		t.Error("Apply suppressed an already resolved alert again")
	}

	// A tenant the partner does not manage: only its own tenant rule applies.
	b := torAlert()
	b.TenantID = contoso
	if r, ok := s.Match(b, now); !ok || r.ID != "tenant-other" {
		t.Errorf("Match(contoso) = %v, %v", r, ok)
	}
	c := torAlert()
	c.TenantID = "0d5b4f37-7a1e-4f33-9d8c-2f3c1b6e8a10"
	if r, ok := s.Match(c, now); ok {
		t.Errorf("an unmanaged tenant matched rule %s", r.ID)
	}
	if r, ok := s.Match(torAlert(), now); !ok || r.ResolvedReason != alert.ReasonLegitimate {
		t.Errorf("Match = %v, %v", r, ok)
	} else {
		r.Conditions = append(r.Conditions, Condition{Field: "x"})
		if again, _ := s.Match(torAlert(), now); len(again.Conditions) != 0 {
			t.Error("Match returned the silencer's own rule")
		}
	}
}

func TestSilencerRefreshErrors(t *testing.T) {
	src := &fakeSource{rules: []Rule{
		{ID: "bad", AlertType: AnyType, Reason: "x", Enabled: true, TenantID: fabrikam},
		{ID: "good", AlertType: "KV_TORAccess", Reason: "x", Enabled: true, TenantID: fabrikam},
	}}
	s := New(src, nil)
	err := s.Refresh(context.Background())
	if err == nil || !strings.Contains(err.Error(), "rule bad") {
		t.Errorf("Refresh = %v, want the invalid rule named", err)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want the valid rule kept", s.Len())
	}
	src.err = errors.New("disk on fire")
	if err := s.Refresh(context.Background()); err == nil || s.Len() != 1 {
		t.Errorf("failed refresh: err %v, %d rules (want the old ones kept)", err, s.Len())
	}
}

func FuzzCondition(f *testing.F) {
	f.Add("entities.ip.address", "10.0.0.0/8", "")
	f.Add("entities.account.upn", "", "@contoso")
	f.Add("resourceId", "/subscriptions/x", "")
	f.Add("entities..", "::ffff:1.2.3.4", "")
	f.Add("ENTITIES.IP.ADDRESS", "fe80::1%eth0", "")
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, field, in, contains string) {
		r := Rule{AlertType: AnyType, Reason: "x", Enabled: true, TenantID: fabrikam,
			Conditions: []Condition{{Field: field, Contains: contains}}}
		if in != "" {
			r.Conditions[0].In = strings.Split(in, ",")
		}
		valid := r.Validate() == nil
		a := torAlert()
		if r.Matches(a, now) && !valid {
			t.Fatal("an invalid rule matched")
		}
	})
}
