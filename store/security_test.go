package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api/odata"
	"github.com/vigil-security/vigil/silence"
	"github.com/vigil-security/vigil/store"
)

const (
	tenantA  = "1889e718-414b-4bad-8bbe-c1135bd39a41"
	tenantB  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	partnerP = "4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01"
)

func openTemp(t *testing.T) *store.SQLite {
	t.Helper()
	s := openFile(t, filepath.Join(t.TempDir(), store.DefaultFile))
	t.Cleanup(func() { s.Close() })
	return s
}

// eachStore runs f on a new SQLite store and on a new PostgreSQL store.
func eachStore(t *testing.T, f func(t *testing.T, s store.Security)) {
	t.Run("sqlite", func(t *testing.T) { f(t, openTemp(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, openPostgres(t)) })
}

func ops(t *testing.T, s store.Security, q store.ActivityQuery) []string {
	t.Helper()
	acts, err := s.ListActivity(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range acts {
		out = append(out, a.OperationType+" "+a.ResourceID)
	}
	return out
}

func TestTokens(t *testing.T) { eachStore(t, testTokens) }

func testTokens(t *testing.T, s store.Security) {
	ctx := context.Background()
	h1, h2 := sha256.Sum256([]byte("one")), sha256.Sum256([]byte("two"))
	by := store.Actor{Name: "cli", At: t0}
	if err := s.CreateToken(ctx, store.Token{ID: "ab12", Hash: h1[:], PartnerID: partnerP, Name: "ana@contoso.example", Write: true, Created: t0}, by); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, store.Token{ID: "ab34", Hash: h2[:], TenantID: tenantA, Created: t0.Add(time.Second)}, by); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		tok  store.Token
	}{
		{"same hash", store.Token{ID: "x1", Hash: h1[:], TenantID: tenantA}},
		{"same id", store.Token{ID: "ab12", Hash: make([]byte, 32), TenantID: tenantA}},
		{"short hash", store.Token{ID: "x2", Hash: h1[:16], TenantID: tenantA}},
		{"two scopes", store.Token{ID: "x3", Hash: make([]byte, 32), TenantID: tenantA, PartnerID: partnerP}},
		{"no scope", store.Token{ID: "x4", Hash: make([]byte, 32)}},
		{"no id", store.Token{Hash: make([]byte, 32), TenantID: tenantA}},
	}
	for _, tc := range bad {
		if err := s.CreateToken(ctx, tc.tok, by); err == nil {
			t.Errorf("CreateToken(%s) succeeded", tc.name)
		}
	}
	got, err := s.TokenByHash(ctx, h1[:])
	if err != nil || got.ID != "ab12" || !got.Write || got.PartnerID != partnerP || !got.Created.Equal(t0) || !bytes.Equal(got.Hash, h1[:]) {
		t.Errorf("TokenByHash = %+v, %v", got, err)
	}
	other := sha256.Sum256([]byte("three"))
	if _, err := s.TokenByHash(ctx, other[:]); !errors.Is(err, store.ErrNotFound) || !errors.Is(err, store.ErrTokenNotFound) {
		t.Errorf("TokenByHash(unknown) = %v", err)
	}
	if _, err := s.RevokeToken(ctx, "ab", by); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RevokeToken(ambiguous prefix) = %v", err)
	}
	if _, err := s.RevokeToken(ctx, "a%", by); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken(wildcard) = %v, want not found", err)
	}
	rv, err := s.RevokeToken(ctx, "ab3", store.Actor{Name: "cli", At: t0.Add(time.Hour)})
	if err != nil || rv.ID != "ab34" || !rv.Revoked.Equal(t0.Add(time.Hour)) {
		t.Fatalf("RevokeToken = %+v, %v", rv, err)
	}
	if again, err := s.RevokeToken(ctx, "ab34", store.Actor{Name: "cli", At: t0.Add(2 * time.Hour)}); err != nil || !again.Revoked.Equal(t0.Add(time.Hour)) {
		t.Errorf("second revoke = %+v, %v (want the first revocation kept)", again, err)
	}
	if err := s.TokenUsed(ctx, got, t0.Add(3*time.Hour), 7); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "ab12" || !list[0].LastUsed.Equal(t0.Add(3*time.Hour)) || list[1].Revoked.IsZero() {
		t.Errorf("ListTokens = %+v, %v", list, err)
	}
	want := []string{"API Token Used ab12", "API Token Revoked ab34", "API Token Created ab34", "API Token Created ab12"}
	if got := ops(t, s, store.ActivityQuery{}); !slices.Equal(got, want) {
		t.Errorf("activity = %q, want %q", got, want)
	}
	acts, _ := s.ListActivity(ctx, store.ActivityQuery{OperationTypes: []string{store.OpTokenUsed}})
	if len(acts) != 1 || acts[0].Details["requests"] != "7" || acts[0].PartnerID != partnerP || acts[0].Actor != "ana@contoso.example" {
		t.Errorf("token use record = %+v", acts)
	}
	// A customer sees its own token's records only.
	if got := ops(t, s, store.ActivityQuery{Scope: &store.Scope{TenantIDs: []string{tenantA}}}); len(got) != 2 {
		t.Errorf("tenant A activity = %q", got)
	}
}

func rule(alertType string) silence.Rule {
	return silence.Rule{AlertType: alertType, Reason: "FalsePositive", Enabled: true, TenantID: tenantA,
		Conditions: []silence.Condition{{Field: "entities.ip.address", In: []string{"10.0.0.0/8"}}}}
}

func TestRules(t *testing.T) { eachStore(t, testRules) }

func testRules(t *testing.T, s store.Security) {
	ctx := context.Background()
	by := store.Actor{Name: "ana", PartnerID: partnerP, At: t0}
	r1, err := s.CreateRule(ctx, rule("KV_TORAccess"), by)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.ID) != 36 || !r1.Created.Equal(t0) || r1.CreatedBy != "ana" {
		t.Errorf("created rule = %+v", r1)
	}
	pw := rule("*")
	pw.TenantID, pw.PartnerID = "", partnerP
	r2, err := s.CreateRule(ctx, pw, store.Actor{Name: "ana", At: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	other := rule("CryptoMining")
	other.TenantID = tenantB
	r3, err := s.CreateRule(ctx, other, store.Actor{Name: "bob", At: t0.Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRule(ctx, rule("*"), store.Actor{Name: "ana", At: t0.Add(3 * time.Second)}); err != nil {
		t.Fatal(err) // "*" with a condition is valid
	}
	invalid := rule("*")
	invalid.Conditions = nil
	if _, err := s.CreateRule(ctx, invalid, by); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateRule(mute everything) = %v", err)
	}

	r1.Enabled = false
	r1.Comment = "paused while the pentest runs"
	up, err := s.UpdateRule(ctx, r1, store.Actor{Name: "eve", PartnerID: partnerP, At: t0.Add(time.Hour)})
	if err != nil || up.Enabled || up.CreatedBy != "ana" || up.UpdatedBy != "eve" || !up.Created.Equal(t0) || !up.Updated.Equal(t0.Add(time.Hour)) {
		t.Errorf("UpdateRule = %+v, %v", up, err)
	}
	got, err := s.GetRule(ctx, r1.ID)
	if err != nil || got.Comment != r1.Comment || len(got.Conditions) != 1 || got.Conditions[0].In[0] != "10.0.0.0/8" {
		t.Errorf("GetRule = %+v, %v", got, err)
	}
	if _, err := s.UpdateRule(ctx, silence.Rule{ID: "nope", AlertType: "x", Reason: "y", TenantID: tenantA}, by); !errors.Is(err, store.ErrRuleNotFound) {
		t.Errorf("UpdateRule(unknown) = %v", err)
	}
	if err := s.DeleteRule(ctx, r3.ID, store.Actor{Name: "mallory", At: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRule(ctx, r3.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRule(deleted) = %v", err)
	}
	if err := s.DeleteRule(ctx, r3.ID, by); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteRule twice = %v", err)
	}

	ids := func(rs []silence.Rule, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	all := ids(s.SuppressionRules(ctx))
	if len(all) != 3 || all[0] != r1.ID || all[1] != r2.ID {
		t.Errorf("SuppressionRules = %v", all)
	}
	if got := ids(s.ListRules(ctx, &store.Scope{TenantIDs: []string{tenantA}})); len(got) != 2 || slices.Contains(got, r2.ID) {
		t.Errorf("customer A's rules = %v (partner-wide %s must not show)", got, r2.ID)
	}
	if got := ids(s.ListRules(ctx, &store.Scope{TenantIDs: []string{tenantA}, PartnerIDs: []string{partnerP}})); len(got) != 3 {
		t.Errorf("partner's rules = %v", got)
	}
	if got := ids(s.ListRules(ctx, &store.Scope{TenantIDs: []string{tenantB}, PartnerIDs: []string{"other-partner"}})); len(got) != 0 {
		t.Errorf("another partner's rules = %v", got)
	}

	// Every change is on record, with old and new values.
	acts, err := s.ListActivity(ctx, store.ActivityQuery{Filter: odata.Cmp("resource_type", odata.Eq, odata.StringValue(store.ResourceRule)), OrderBy: []store.Order{{Column: "id"}}})
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, a := range acts {
		seq = append(seq, a.OperationType+" by "+a.Actor)
	}
	want := []string{"Suppression Rule Created by ana", "Suppression Rule Created by ana", "Suppression Rule Created by bob",
		"Suppression Rule Created by ana", "Suppression Rule Updated by eve", "Suppression Rule Deleted by mallory"}
	if !slices.Equal(seq, want) {
		t.Errorf("rule activity = %q, want %q", seq, want)
	}
	upd := acts[4]
	if !strings.Contains(upd.OldValue, `"enabled":true`) || !strings.Contains(upd.NewValue, `"enabled":false`) || upd.TenantID != tenantA || upd.PartnerID != partnerP {
		t.Errorf("update record = %+v", upd)
	}
	if del := acts[5]; del.NewValue != "" || !strings.Contains(del.OldValue, "CryptoMining") || del.TenantID != tenantB {
		t.Errorf("delete record = %+v", del)
	}
}

func TestActivityQueries(t *testing.T) { eachStore(t, testActivityQueries) }

func testActivityQueries(t *testing.T, s store.Security) {
	ctx := context.Background()
	a := sample("det-1", 0)
	a.TenantID = tenantA
	b := sample("det-2", 0)
	b.TenantID, b.SuppressedBy, b.Status, b.ResolvedReason, b.ResolvedBy = tenantB, "rule-9", alert.StatusResolved, alert.ReasonIgnore, "suppression:rule-9"
	acts := append(store.AlertActivities(a, t0), store.AlertActivities(b, t0.Add(time.Hour))...)
	if len(acts) != 3 {
		t.Fatalf("AlertActivities gave %d records, want 3", len(acts))
	}
	if err := s.RecordActivity(ctx, acts...); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordActivity(ctx, store.Activity{OperationType: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("RecordActivity(zero time) = %v", err)
	}
	tests := []struct {
		name string
		q    store.ActivityQuery
		want []string
	}{
		{"all newest first", store.ActivityQuery{}, []string{"Security Alert Suppressed det-2", "Azure Fraud Event Detected det-2", "Azure Fraud Event Detected det-1"}},
		{"from", store.ActivityQuery{From: t0.Add(time.Minute)}, []string{"Security Alert Suppressed det-2", "Azure Fraud Event Detected det-2"}},
		{"to is exclusive", store.ActivityQuery{To: t0.Add(time.Hour)}, []string{"Azure Fraud Event Detected det-1"}},
		{"operation type", store.ActivityQuery{OperationTypes: []string{store.OpAlertDetected}, OrderBy: []store.Order{{Column: "resource_id"}}},
			[]string{"Azure Fraud Event Detected det-1", "Azure Fraud Event Detected det-2"}},
		{"no operation type", store.ActivityQuery{OperationTypes: []string{}}, nil},
		{"scope", store.ActivityQuery{Scope: &store.Scope{TenantIDs: []string{tenantA}}}, []string{"Azure Fraud Event Detected det-1"}},
		{"empty scope", store.ActivityQuery{Scope: &store.Scope{}}, nil},
		{"where", store.ActivityQuery{Filter: odata.Cmp("actor", odata.Eq, odata.StringValue("suppression:rule-9"))}, []string{"Security Alert Suppressed det-2"}},
		{"page", store.ActivityQuery{Limit: 1, Offset: 1}, []string{"Azure Fraud Event Detected det-2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ops(t, s, tc.q); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			n, err := s.CountActivity(ctx, tc.q)
			if tc.q.Limit == 0 && (err != nil || n != len(tc.want)) {
				t.Errorf("CountActivity = %d, %v; want %d", n, err, len(tc.want))
			}
		})
	}
	for _, q := range []store.ActivityQuery{
		{Filter: odata.Cmp("old_value", odata.Eq, odata.StringValue("x"))},
		{OrderBy: []store.Order{{Column: "old_value; DROP TABLE alerts"}}},
		{Limit: -1},
		{Filter: odata.Cmp("at", odata.Gt, odata.StringValue("2026-01-01"))},
	} {
		if _, err := s.ListActivity(ctx, q); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListActivity(%+v) = %v, want ErrInvalid", q, err)
		}
	}
	got, _ := s.ListActivity(ctx, store.ActivityQuery{OperationTypes: []string{store.OpAlertSuppressed}})
	if len(got) != 1 || got[0].Details["suppressionRuleId"] != "rule-9" || got[0].NewValue != "resolved (ignore)" || got[0].Actor != "suppression:rule-9" {
		t.Errorf("suppression record = %+v", got)
	}
}

func TestChangeStatusAndStale(t *testing.T) { eachStore(t, testChangeStatusAndStale) }

func testChangeStatusAndStale(t *testing.T, s store.Security) {
	ctx := context.Background()
	now := t0.Add(30 * 24 * time.Hour)
	mk := func(id, tenant string, last time.Time, status alert.Status) *alert.Alert {
		a := sample(id, 1)
		a.TenantID, a.LastObserved, a.Status = tenant, last, status
		if status == alert.StatusResolved {
			a.ResolvedReason = alert.ReasonFraud
		}
		return a
	}
	old := now.Add(-10 * 24 * time.Hour)
	recent := now.Add(-time.Hour)
	noLast := mk("no-last", tenantA, time.Time{}, alert.StatusInvestigating) // detected t0: stale
	if err := s.SaveAlerts(ctx, []*alert.Alert{
		mk("old-a", tenantA, old, alert.StatusActive), mk("new-a", tenantA, recent, alert.StatusActive),
		mk("old-b", tenantB, old, alert.StatusActive), mk("done-a", tenantA, old, alert.StatusResolved), noLast,
	}); err != nil {
		t.Fatal(err)
	}
	by := store.Actor{Name: "ana@contoso.example", PartnerID: partnerP, At: now}
	if _, err := s.ChangeStatus(ctx, store.StatusChange{ID: "old-b", To: alert.StatusInvestigating, By: by, TenantIDs: []string{tenantA}}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ChangeStatus of another tenant's alert = %v, want not found", err)
	}
	if _, err := s.ChangeStatus(ctx, store.StatusChange{ID: "done-a", To: alert.StatusActive, By: by}); !errors.Is(err, store.ErrInvalidTransition) {
		t.Errorf("ChangeStatus(resolved -> active) = %v", err)
	}
	a, err := s.ChangeStatus(ctx, store.StatusChange{ID: "new-a", To: alert.StatusResolved, Reason: alert.ReasonLegitimate, By: by, TenantIDs: []string{tenantA}})
	if err != nil || a.Status != alert.StatusResolved || a.ResolvedBy != by.Name || len(a.ActivityLogs) != 1 {
		t.Fatalf("ChangeStatus = %+v, %v", a, err)
	}
	ids, err := s.ResolveStale(ctx, store.StaleResolve{Before: now.Add(-7 * 24 * time.Hour), By: by, TenantIDs: []string{tenantA}})
	if err != nil || !slices.Equal(ids, []string{"no-last", "old-a"}) {
		t.Fatalf("ResolveStale = %v, %v", ids, err)
	}
	for _, id := range ids {
		got, err := s.GetAlert(ctx, id)
		if err != nil || got.Status != alert.StatusResolved || got.ResolvedReason != alert.ReasonIgnore || len(got.ActivityLogs) != 1 {
			t.Errorf("%s after ResolveStale = %+v, %v", id, got, err)
		}
	}
	if got, _ := s.GetAlert(ctx, "old-b"); got.Status != alert.StatusActive {
		t.Error("ResolveStale crossed the tenant scope")
	}
	recs, _ := s.ListActivity(ctx, store.ActivityQuery{OperationTypes: []string{store.OpAlertStatusUpdated}, OrderBy: []store.Order{{Column: "resource_id"}}})
	if len(recs) != 3 || recs[0].ResourceID != "new-a" || recs[0].NewValue != "resolved (legitimate)" || recs[1].OldValue != "investigating" ||
		recs[2].Details["reason"] != "stale" || recs[2].PartnerID != partnerP || recs[2].TenantID != tenantA {
		t.Errorf("status records = %+v", recs)
	}
	if _, err := s.ResolveStale(ctx, store.StaleResolve{By: by}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ResolveStale(zero cut-off) = %v", err)
	}
}

// TestDetectionRecordedOnce: recording an alert's detection again, as a
// restart that replays input does, adds no second record.
func TestDetectionRecordedOnce(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &alert.Alert{ID: "a-1", Type: "KV_TORAccess", TenantID: "t", SuppressedBy: "r1", Status: alert.StatusResolved, ResolvedReason: alert.ReasonIgnore}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := st.RecordActivity(context.Background(), store.AlertActivities(a, at.Add(time.Duration(i)*time.Minute))...); err != nil {
			t.Fatal(err)
		}
	}
	acts, err := st.ListActivity(context.Background(), store.ActivityQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 2 {
		t.Fatalf("%d activity records after recording one detection and suppression three times, want 2", len(acts))
	}
}
