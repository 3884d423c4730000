package azops

import (
	"slices"
	"testing"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

func TestRoleAssignment(t *testing.T) {
	tests := []struct {
		name, body      string
		role, principal string
		ok              bool
	}{
		// The request body of "Role Assignments - Create" (REST reference example).
		{"request", `{"properties":{"roleDefinitionId":"/subscriptions/a921d5d4-bdb7-43c3-aa01-88c6ae24992f/providers/Microsoft.Authorization/roleDefinitions/4633458B-17DE-408A-B874-0445C86B69E6","principalId":"ce2ce14e-85d7-4629-bdbc-454d0519d987","principalType":"User"}}`,
			"4633458b-17de-408a-b874-0445c86b69e6", "ce2ce14e-85d7-4629-bdbc-454d0519d987", true},
		// The Activity Log's capitalised keys (as Sentinel's queries read them).
		{"capitalised", `{"Id":"x","Properties":{"PrincipalId":"p1","RoleDefinitionId":"/providers/Microsoft.Authorization/roleDefinitions/00482a5a-887f-4fb3-b363-3b7fe8e74483","Scope":"/subscriptions/s"}}`,
			"00482a5a-887f-4fb3-b363-3b7fe8e74483", "p1", true},
		{"no role", `{"properties":{"principalId":"p"}}`, "", "p", false},
		{"not an object", `"text"`, "", "", false},
		{"broken", `{"properties":`, "", "", false},
		{"empty", ``, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			role, p, ok := RoleAssignment(tt.body)
			if ok != tt.ok || (ok && (role != tt.role || p != tt.principal)) {
				t.Errorf("RoleAssignment = %q, %q, %v; want %q, %q, %v", role, p, ok, tt.role, tt.principal, tt.ok)
			}
		})
	}
}

func TestParseRoleDefinition(t *testing.T) {
	body := `{"properties":{"roleName":"ops helper","type":"CustomRole","permissions":[{"actions":["Microsoft.Compute/*/read","Microsoft.Authorization/roleAssignments/write"],"notActions":[]},{"actions":["*"],"dataActions":["Microsoft.KeyVault/vaults/secrets/getSecret/action"]}],"assignableScopes":["/subscriptions/s"]}}`
	d, ok := ParseRoleDefinition(body)
	if !ok || d.Name != "ops helper" || !slices.Equal(d.Actions, []string{"Microsoft.Compute/*/read", "Microsoft.Authorization/roleAssignments/write", "*"}) ||
		len(d.DataActions) != 1 || !slices.Equal(d.AssignableScopes, []string{"/subscriptions/s"}) {
		t.Errorf("ParseRoleDefinition = %+v, %v", d, ok)
	}
	for _, bad := range []string{``, `[]`, `{"properties":{"roleName":"x","permissions":[]}}`, `{"properties":{"permissions":[{"actions":5}]}}`} {
		if d, ok := ParseRoleDefinition(bad); ok {
			t.Errorf("ParseRoleDefinition(%q) = %+v, true", bad, d)
		}
	}
}

// FuzzRBACBodies: any body is an answer or a refusal, never a panic.
func FuzzRBACBodies(f *testing.F) {
	f.Add(`{"properties":{"roleDefinitionId":"/a/roleDefinitions/b","principalId":"c"}}`)
	f.Add(`{"Properties":{"permissions":[{"actions":["*"]}]}}`)
	f.Add(`{"properties":null}`)
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, body string) {
		if role, _, ok := RoleAssignment(body); ok && role == "" {
			t.Fatal("ok without a role")
		}
		if d, ok := ParseRoleDefinition(body); ok && len(d.Actions)+len(d.DataActions) == 0 {
			t.Fatal("ok without permissions")
		}
	})
}
