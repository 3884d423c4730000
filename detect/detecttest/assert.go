package detecttest

import (
	"testing"

	"github.com/vigil-security/vigil/alert"
)

// Entity returns the candidate's first entity of the type, failing the test
// when there is none.
func Entity(t testing.TB, c alert.Candidate, typ string) alert.Entity {
	t.Helper()
	for _, e := range c.Entities {
		if e.Type == typ {
			return e
		}
	}
	t.Fatalf("%s candidate has no %s entity: %+v", c.Type, typ, c.Entities)
	return alert.Entity{}
}

// WantDetails checks that the candidate has every given detail with the
// given value.
func WantDetails(t testing.TB, c alert.Candidate, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got, ok := c.Details[k]; !ok || got != v {
			t.Errorf("%s detail %s = %q (set %v), want %q", c.Type, k, got, ok, v)
		}
	}
}
