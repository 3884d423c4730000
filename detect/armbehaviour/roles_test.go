package armbehaviour

import (
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vigil-security/vigil/alert"
	dt "github.com/vigil-security/vigil/detect/detecttest"
	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/source/azurelog"
)

// readActivity decodes an Activity Log file with the production reader.
func readActivity(t testing.TB, path string) []event.Op {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := azurelog.NewReader(f, path, azurelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ops []event.Op
	for {
		var op event.Op
		err := rd.Next(&op)
		if err == io.EOF {
			return ops
		}
		if err != nil {
			t.Fatal(err)
		}
		op.Raw = nil
		ops = append(ops, op)
	}
}

const roleDefs = "/subscriptions/" + "a921d5d4-bdb7-43c3-aa01-88c6ae24992f" + "/providers/Microsoft.Authorization/roleDefinitions/"

func roleDef(t time.Time, id, actions string, p event.Principal) event.Op {
	return act(t, roleDefs+id, "Microsoft.Authorization/roleDefinitions/write", p, office, officeGeo,
		body(`{"properties":{"roleName":"role `+id[:4]+`","type":"CustomRole","permissions":[{"actions":[`+actions+`]}],"assignableScopes":["/subscriptions/`+sub+`"]}}`))
}

func assign(t time.Time, id string, p event.Principal) event.Op {
	return act(t, roleAssignment, "Microsoft.Authorization/roleAssignments/write", p, office, officeGeo,
		body(`{"properties":{"roleDefinitionId":"`+roleDefs+id+`","principalId":"5b1e3c7a-2d4f-4a8b-9c6d-7e8f9a0b1c2d"}}`))
}

func TestPrivilegedRoleFromRecords(t *testing.T) {
	ops := readActivity(t, "testdata/custom-role-then-assigned.json")
	if len(ops) != 3 || ops[1].ResponseBody == "" || ops[0].RequestBody == "" {
		t.Fatalf("decoded %d records", len(ops))
	}
	got := run(t, DefaultConfig(), NameRoles, ops)
	if len(got) != 2 {
		t.Fatalf("candidates %v, want the definition and its assignment", types(got))
	}
	def, as := got[0], got[1]
	if def.Severity != "" || as.Severity != alert.SeverityHigh || !slices.Equal(def.FingerprintKeys, as.FingerprintKeys) {
		t.Errorf("severities %q %q, fingerprints %v %v", def.Severity, as.Severity, def.FingerprintKeys, as.FingerprintKeys)
	}
	want := map[string]string{
		"roleName": "Monitoring helper", "roleId": "7c9a2f3e-1b4d-4e6f-8a0b-2c3d4e5f6a7b", "definedBy": "rob@contoso.com",
		"definedAt": "2026-08-20T09:12:44Z", "grantingActions": "Microsoft.Authorization/*", "subscription": sub,
		"sensitiveActions": "microsoft.authorization/elevateaccess/action, microsoft.authorization/policyexemptions/write, " +
			"microsoft.authorization/roleassignments/write, microsoft.authorization/roledefinitions/write",
	}
	dt.WantDetails(t, def, want)
	want["assignedTo"] = "5b1e3c7a-2d4f-4a8b-9c6d-7e8f9a0b1c2d"
	want["assignedBy"] = "rob@contoso.com"
	dt.WantDetails(t, as, want)
}

func TestPrivilegedRole(t *testing.T) {
	const (
		r1 = "11111111-1b4d-4e6f-8a0b-2c3d4e5f6a7b"
		r2 = "22222222-1b4d-4e6f-8a0b-2c3d4e5f6a7b"
	)
	tests := []struct {
		name string
		ops  []event.Op
		want []alert.Severity // one per candidate
	}{
		{"owner-like role", []event.Op{roleDef(at(1, 0), r1, `"*"`, rob)}, []alert.Severity{""}},
		{"every write", []event.Op{roleDef(at(1, 0), r1, `"*/write"`, rob)}, []alert.Severity{""}},
		{"run command", []event.Op{roleDef(at(1, 0), r1, `"Microsoft.Compute/virtualMachines/runCommand/action","Microsoft.Compute/*/read"`, rob)}, []alert.Severity{""}},
		{"defined, then assigned", []event.Op{roleDef(at(1, 0), r1, `"*"`, rob), assign(at(1, time.Hour), r1, rob)},
			[]alert.Severity{"", alert.SeverityHigh}},
		{"assigned after the window", []event.Op{roleDef(at(1, 0), r1, `"*"`, rob), assign(at(9, 0), r1, rob)}, []alert.Severity{""}},
		{"a reader role", []event.Op{roleDef(at(1, 0), r1, `"Microsoft.Compute/*/read","Microsoft.Insights/*/read"`, rob)}, nil},
		{"all of compute", []event.Op{roleDef(at(1, 0), r1, `"Microsoft.Compute/*"`, rob)}, []alert.Severity{""}},
		{"all of storage", []event.Op{roleDef(at(1, 0), r1, `"Microsoft.Storage/*"`, rob)}, nil},
		{"a pipeline redeploying the same role", []event.Op{roleDef(at(1, 0), r1, `"*"`, pipeline), roleDef(at(2, 0), r1, `"*"`, pipeline), roleDef(at(3, 0), r1, `"*"`, pipeline)},
			[]alert.Severity{""}},
		{"a reader role made privileged", []event.Op{roleDef(at(1, 0), r1, `"Microsoft.Compute/*/read"`, pipeline), roleDef(at(20, 0), r1, `"Microsoft.Compute/*/read","Microsoft.Authorization/roleAssignments/write"`, rob)},
			[]alert.Severity{""}},
		{"assignment of another role", []event.Op{roleDef(at(1, 0), r1, `"*"`, rob), assign(at(1, time.Hour), r2, rob)}, []alert.Severity{""}},
		{"a body that is not a role", []event.Op{roleDef(at(1, 0), r1, `"*"`, rob), act(at(1, 0), roleDefs+r2, "Microsoft.Authorization/roleDefinitions/write", rob, office, officeGeo, body(`{"properties":`))},
			[]alert.Severity{""}},
		{"a failed definition", []event.Op{act(at(1, 0), roleDefs+r1, "Microsoft.Authorization/roleDefinitions/write", rob, office, officeGeo,
			body(`{"properties":{"permissions":[{"actions":["*"]}]}}`), dt.Result("Failed"), dt.Status(403))}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, DefaultConfig(), NameRoles, slices.Clone(tc.ops))
			var sev []alert.Severity
			for _, c := range got {
				sev = append(sev, c.Severity)
				if c.Type != TypePrivilegedRole {
					t.Errorf("type %s", c.Type)
				}
			}
			if !slices.Equal(sev, tc.want) {
				t.Errorf("severities %q, want %q", sev, tc.want)
			}
		})
	}
}

func TestWildcard(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "microsoft.authorization/roleassignments/write", true},
		{"*/write", "microsoft.authorization/roleassignments/write", true},
		{"*/write", "microsoft.compute/virtualmachines/runcommand/action", false},
		{"microsoft.authorization/*", "microsoft.authorization/roleassignments/write", true},
		{"microsoft.authorization/*/write", "microsoft.authorization/roleassignments/write", true},
		{"microsoft.authorization/*/read", "microsoft.authorization/roleassignments/write", false},
		{"microsoft.compute/*", "microsoft.authorization/roleassignments/write", false},
		{"microsoft.authorization/roleassignments/write", "microsoft.authorization/roleassignments/write", true},
		{"*/roleassignments/*", "microsoft.authorization/roleassignments/write", true},
	}
	for _, tt := range tests {
		if got := wildcard(tt.pat, tt.s); got != tt.want {
			t.Errorf("wildcard(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}
