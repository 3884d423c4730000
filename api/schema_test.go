package api

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/api/odata"
	"github.com/vigil-security/vigil/store"
)

// TestSchemaMatchesJSONAndStore: every property the API renders can be
// $selected, every schema property is rendered, and every column the
// schema names is one the store allows.
func TestSchemaMatchesJSONAndStore(t *testing.T) {
	a := &alert.Alert{ID: "x", Type: "KV_TORAccess", Status: alert.StatusResolved, ResolvedReason: alert.ReasonFraud,
		ResolvedBy: "x", ResolvedOn: time.Unix(1, 0), SuppressedBy: "r", PreviousID: "p", Detected: time.Unix(1, 0),
		Details: map[string]string{alert.DetailValueAddedReseller: "v", DetailCatalogOfferID: "c"}}
	for _, tc := range []struct {
		schema *odata.Schema
		value  any
		cols   []store.Column
	}{
		{alertSchema, render(a, "en"), store.Columns()},
		{activitySchema, renderActivity(&store.Activity{ID: 1, Time: time.Unix(1, 0)}), store.ActivityColumns()},
	} {
		if err := tc.schema.Check(); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(tc.value)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		rendered := slices.Sorted(maps.Keys(m))
		props := slices.Sorted(maps.Keys(tc.schema.Props))
		if !slices.Equal(rendered, props) {
			t.Errorf("rendered properties %v\nschema properties   %v", rendered, props)
		}
		for name, p := range tc.schema.Props {
			if p.Column == "" {
				continue
			}
			ok := slices.ContainsFunc(tc.cols, func(c store.Column) bool { return c.Name == p.Column })
			if !ok {
				t.Errorf("%s: column %s is not a store column", name, p.Column)
			}
			if sc, has := sortColumns[name]; has && tc.schema == alertSchema && !slices.ContainsFunc(tc.cols, func(c store.Column) bool { return c.Name == sc }) {
				t.Errorf("%s: sort column %s is not a store column", name, sc)
			}
		}
	}
}
