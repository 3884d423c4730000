package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api/odata"
	"github.com/vigil-security/vigil/store"
)

// TestListPagesOfSeveralTenants: pages of several tenants (read as merged
// per-tenant scans) are exactly the slices of the unpaged list (read with
// IN), for every order, filter and offset.
func TestListPagesOfSeveralTenants(t *testing.T) { eachStore(t, testPagesOfSeveralTenants) }

func testPagesOfSeveralTenants(t *testing.T, s store.Security) {
	ctx := context.Background()
	var batch []*alert.Alert
	sevs := []alert.Severity{alert.SeverityLow, alert.SeverityHigh, alert.SeverityMedium, alert.SeverityInformational}
	for i := range 120 {
		a := sample(fmt.Sprintf("p%03d", i), 1)
		a.TenantID = fmt.Sprintf("t%d", i%4)
		a.Severity = sevs[i%len(sevs)]
		a.Detected = t0.Add(time.Duration(i%17) * time.Hour) // many ties
		if i%3 == 0 {
			a.LastObserved = time.Time{}
		}
		batch = append(batch, a)
	}
	if err := s.SaveAlerts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	ids := func(q store.ListQuery) []string {
		t.Helper()
		list, err := s.ListAlerts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range list {
			out = append(out, a.ID)
		}
		return out
	}
	orders := [][]store.Order{
		nil,
		{{Column: "severity_rank", Desc: true}},
		{{Column: "last_observed_at"}},
		{{Column: "detected_at"}, {Column: "id", Desc: true}},
	}
	for _, tenants := range [][]string{{"t1", "t3"}, {"t0", "t1", "t2", "t0"}, {"t2", "nobody"}} {
		for oi, order := range orders {
			for _, where := range []odata.Expr{nil, odata.Cmp("severity", odata.Ne, odata.StringValue("low"))} {
				q := store.ListQuery{TenantIDs: tenants, OrderBy: order, Filter: where}
				all := ids(q)
				if len(all) == 0 {
					t.Fatalf("tenants %v: nothing listed", tenants)
				}
				for _, page := range [][2]int{{7, 0}, {7, 7}, {25, 3}, {200, 0}, {5, 1000}} {
					q.Limit, q.Offset = page[0], page[1]
					want := all[min(page[1], len(all)):min(page[1]+page[0], len(all))]
					if got := ids(q); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
						t.Errorf("tenants %v order %d filter %v page %v: got %v, want %v", tenants, oi, where, page, got, want)
					}
				}
			}
		}
	}
}
