package storetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api/odata"
	"github.com/vigil-security/vigil/store"
)

// dataset returns 60 alerts over three tenants, two subscriptions, all
// statuses, three types and four severities; detection times repeat so the
// ID tie-break matters.
func dataset() []*alert.Alert {
	sev := []alert.Severity{alert.SeverityInformational, alert.SeverityLow, alert.SeverityMedium, alert.SeverityHigh}
	var out []*alert.Alert
	for i := range 60 {
		a := simple(fmt.Sprintf("l%02d", i), i)
		a.TenantID = fmt.Sprintf("tenant-%d", i%3)
		a.SubscriptionID = fmt.Sprintf("sub-%d", i%2)
		a.Type = []string{"KV_TORAccess", "SSH_Incoming_BF_ManyToOne", "ARM_MicroBurst.AzDomainInfo"}[i%5%3]
		a.Severity = sev[i%4]
		a.Detected = t0.Add(time.Duration(i/2) * time.Hour)
		a.Count = i % 10
		if i%7 == 0 {
			a.LastObserved = time.Time{}
		}
		switch i % 4 {
		case 1:
			a.Status = alert.StatusInvestigating
		case 2:
			a.Status, a.ResolvedReason, a.ResolvedBy, a.ResolvedOn = alert.StatusResolved, alert.ReasonFraud, "ana", a.Detected.Add(time.Hour)
		}
		a.Evidence = []alert.Evidence{{Time: a.Detected, Operation: "op " + a.ID}}
		out = append(out, a)
	}
	return out
}

func byDetectedDesc(a, b *alert.Alert) int {
	if c := b.Detected.Compare(a.Detected); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

func testList(t *testing.T, s store.Store) {
	ctx := context.Background()
	data := dataset()
	save(t, s, data...)
	mid := t0.Add(10 * time.Hour)

	tests := []struct {
		name  string
		q     store.ListQuery
		match func(a *alert.Alert) bool
		order func(a, b *alert.Alert) int // nil: detected desc, id desc
	}{
		{"all", store.ListQuery{}, func(*alert.Alert) bool { return true }, nil},
		{"one tenant", store.ListQuery{TenantIDs: []string{"tenant-1"}},
			func(a *alert.Alert) bool { return a.TenantID == "tenant-1" }, nil},
		{"two tenants", store.ListQuery{TenantIDs: []string{"tenant-0", "tenant-2", "tenant-9"}},
			func(a *alert.Alert) bool { return a.TenantID != "tenant-1" }, nil},
		{"no tenant", store.ListQuery{TenantIDs: []string{}}, func(*alert.Alert) bool { return false }, nil},
		{"no status", store.ListQuery{Statuses: []alert.Status{}}, func(*alert.Alert) bool { return false }, nil},
		{"subscription", store.ListQuery{SubscriptionIDs: []string{"sub-1"}},
			func(a *alert.Alert) bool { return a.SubscriptionID == "sub-1" }, nil},
		{"open", store.ListQuery{Statuses: []alert.Status{alert.StatusActive, alert.StatusInvestigating}},
			func(a *alert.Alert) bool { return a.Status != alert.StatusResolved }, nil},
		{"type", store.ListQuery{Types: []string{"KV_TORAccess"}},
			func(a *alert.Alert) bool { return a.Type == "KV_TORAccess" }, nil},
		{"severities", store.ListQuery{Severities: []alert.Severity{alert.SeverityHigh, alert.SeverityMedium}},
			func(a *alert.Alert) bool { return a.Severity.Rank() >= 2 }, nil},
		{"from", store.ListQuery{DetectedFrom: mid},
			func(a *alert.Alert) bool { return !a.Detected.Before(mid) }, nil},
		{"to", store.ListQuery{DetectedTo: mid},
			func(a *alert.Alert) bool { return a.Detected.Before(mid) }, nil},
		{"combined", store.ListQuery{TenantIDs: []string{"tenant-0", "tenant-1"}, Statuses: []alert.Status{alert.StatusActive},
			Types: []string{"KV_TORAccess", "SSH_Incoming_BF_ManyToOne"}, DetectedFrom: t0.Add(3 * time.Hour), DetectedTo: t0.Add(25 * time.Hour)},
			func(a *alert.Alert) bool {
				return a.TenantID != "tenant-2" && a.Status == alert.StatusActive && a.Type != "ARM_MicroBurst.AzDomainInfo" &&
					!a.Detected.Before(t0.Add(3*time.Hour)) && a.Detected.Before(t0.Add(25*time.Hour))
			}, nil},
		{"filter int", store.ListQuery{Filter: odata.Cmp("event_count", odata.Ge, odata.IntValue(7))},
			func(a *alert.Alert) bool { return a.Count >= 7 }, nil},
		{"filter time", store.ListQuery{Filter: odata.AllOf(odata.Cmp("detected_at", odata.Lt, odata.TimeValue(mid.In(time.FixedZone("X", -5*3600)))),
			odata.Cmp("resolved_on", odata.Ne, odata.NullValue()))},
			func(a *alert.Alert) bool { return a.Detected.Before(mid) && !a.ResolvedOn.IsZero() }, nil},
		{"filter and or", store.ListQuery{TenantIDs: []string{"tenant-2"}, Filter: odata.AllOf(
			&odata.Or{Left: odata.Cmp("status", odata.Eq, odata.StringValue(string(alert.StatusInvestigating))),
				Right: odata.Cmp("severity", odata.Eq, odata.StringValue(string(alert.SeverityHigh)))},
			odata.Cmp("id", odata.Ne, odata.StringValue("l59")))},
			func(a *alert.Alert) bool {
				return a.TenantID == "tenant-2" && (a.Status == alert.StatusInvestigating || a.Severity == alert.SeverityHigh) && a.ID != "l59"
			}, nil},
		{"filter null", store.ListQuery{Filter: odata.Cmp("last_observed_at", odata.Eq, odata.NullValue())},
			func(a *alert.Alert) bool { return a.LastObserved.IsZero() }, nil},
		{"filter not nullable", store.ListQuery{Filter: &odata.Not{X: odata.Cmp("last_observed_at", odata.Gt, odata.TimeValue(mid))}},
			func(a *alert.Alert) bool { return !a.LastObserved.After(mid) }, nil},
		{"filter text null is empty", store.ListQuery{Filter: odata.Cmp("resolved_reason", odata.Ne, odata.NullValue())},
			func(a *alert.Alert) bool { return a.ResolvedReason != alert.ReasonNone }, nil},
		{"filter in", store.ListQuery{Filter: &odata.In{Prop: "type", Values: []odata.Value{odata.StringValue("KV_TORAccess"), odata.StringValue("nope")}}},
			func(a *alert.Alert) bool { return a.Type == "KV_TORAccess" }, nil},
		{"filter contains any case", store.ListQuery{Filter: &odata.Call{Func: odata.Contains, Prop: "type", Arg: "toraccess"}},
			func(a *alert.Alert) bool { return a.Type == "KV_TORAccess" }, nil},
		{"filter startswith escapes wildcards", store.ListQuery{Filter: &odata.Call{Func: odata.StartsWith, Prop: "type", Arg: "KV%"}},
			func(*alert.Alert) bool { return false }, nil},
		{"filter not startswith underscore literal", store.ListQuery{Filter: &odata.Not{X: &odata.Call{Func: odata.StartsWith, Prop: "type", Arg: "kv_t"}}},
			func(a *alert.Alert) bool { return a.Type != "KV_TORAccess" }, nil},
		{"order severity", store.ListQuery{OrderBy: []store.Order{{Column: "severity_rank", Desc: true}, {Column: "detected_at"}}},
			func(*alert.Alert) bool { return true },
			func(a, b *alert.Alert) int {
				if c := cmp.Compare(b.Severity.Rank(), a.Severity.Rank()); c != 0 {
					return c
				}
				if c := a.Detected.Compare(b.Detected); c != 0 {
					return c
				}
				return cmp.Compare(b.ID, a.ID)
			}},
		{"order nullable asc", store.ListQuery{OrderBy: []store.Order{{Column: "last_observed_at"}}},
			func(*alert.Alert) bool { return true },
			func(a, b *alert.Alert) int {
				if a.LastObserved.IsZero() != b.LastObserved.IsZero() {
					if a.LastObserved.IsZero() {
						return 1
					}
					return -1
				}
				if c := a.LastObserved.Compare(b.LastObserved); c != 0 {
					return c
				}
				return cmp.Compare(a.ID, b.ID)
			}},
		{"order by id", store.ListQuery{OrderBy: []store.Order{{Column: "id"}}},
			func(*alert.Alert) bool { return true },
			func(a, b *alert.Alert) int { return cmp.Compare(a.ID, b.ID) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			order := tc.order
			if order == nil {
				order = byDetectedDesc
			}
			var want []*alert.Alert
			for _, a := range data {
				if tc.match(a) {
					want = append(want, normal(a))
				}
			}
			slices.SortStableFunc(want, order)
			n, err := s.CountAlerts(ctx, tc.q)
			if err != nil {
				t.Fatalf("CountAlerts: %v", err)
			}
			if n != len(want) {
				t.Errorf("CountAlerts = %d, want %d", n, len(want))
			}
			// Every page size and a few offsets, including past the end.
			for _, page := range [][2]int{{0, 0}, {5, 0}, {5, 5}, {7, 3}, {0, 4}, {10, len(want)}, {1, len(want) + 3}} {
				q := tc.q
				q.Limit, q.Offset = page[0], page[1]
				got, err := s.ListAlerts(ctx, q)
				if err != nil {
					t.Fatalf("ListAlerts(limit %d, offset %d): %v", page[0], page[1], err)
				}
				w := want[min(page[1], len(want)):]
				if page[0] > 0 {
					w = w[:min(page[0], len(w))]
				}
				if ids(got) != ids(w) {
					t.Fatalf("ListAlerts(limit %d, offset %d):\n got %s\nwant %s", page[0], page[1], ids(got), ids(w))
				}
				for i := range got {
					same(t, got[i].ID, got[i], w[i])
				}
			}
		})
	}
}

func ids(list []*alert.Alert) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = a.ID
	}
	return fmt.Sprint(s)
}

func testInvalidQueries(t *testing.T, s store.Store) {
	ctx := context.Background()
	save(t, s, simple("q", 1))
	tests := []struct {
		name string
		q    store.ListQuery
	}{
		{"unknown order column", store.ListQuery{OrderBy: []store.Order{{Column: "entities"}}}},
		{"injected order column", store.ListQuery{OrderBy: []store.Order{{Column: "id; DROP TABLE alerts"}}}},
		{"unknown filter column", store.ListQuery{Filter: odata.Cmp("entities", odata.Eq, odata.StringValue("x"))}},
		{"injected filter column", store.ListQuery{Filter: odata.Cmp("id = id OR 1", odata.Eq, odata.StringValue("x"))}},
		{"filter kind mismatch", store.ListQuery{Filter: odata.Cmp("event_count", odata.Eq, odata.StringValue("7"))}},
		{"filter order on null", store.ListQuery{Filter: odata.Cmp("detected_at", odata.Gt, odata.NullValue())}},
		{"filter function on int", store.ListQuery{Filter: &odata.Call{Func: odata.Contains, Prop: "event_count", Arg: "1"}}},
		{"filter empty in", store.ListQuery{Filter: &odata.In{Prop: "type"}}},
		{"filter half and", store.ListQuery{Filter: &odata.And{Left: odata.Cmp("type", odata.Eq, odata.StringValue("x"))}}},
		{"negative limit", store.ListQuery{Limit: -1}},
		{"negative offset", store.ListQuery{Offset: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ListAlerts(ctx, tc.q)
			wantErr(t, "ListAlerts", err, store.ErrInvalid)
		})
	}
	_, err := s.CountAlerts(ctx, store.ListQuery{Filter: odata.Cmp("status", odata.Lt, odata.IntValue(1))})
	wantErr(t, "CountAlerts", err, store.ErrInvalid)
	if got := get(t, s, "q"); got.ID != "q" {
		t.Errorf("alert changed: %+v", got)
	}
}
