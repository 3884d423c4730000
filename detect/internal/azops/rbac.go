package azops

import (
	"encoding/json"
	"strings"
)

// Activity Log operation names of Azure RBAC, lower-cased as the decoder
// gives them.
const (
	OpRoleAssignmentWrite = "microsoft.authorization/roleassignments/write"
	OpRoleDefinitionWrite = "microsoft.authorization/roledefinitions/write"
)

// roleAssignmentBody is the part of a role assignment's request or response
// body (REST "Role Assignments - Create": properties.roleDefinitionId and
// properties.principalId) that the detections read. encoding/json matches
// keys without regard to case, as the Activity Log writes both
// "properties" and "Properties".
type roleAssignmentBody struct {
	Properties struct {
		RoleDefinitionID string `json:"roleDefinitionId"`
		PrincipalID      string `json:"principalId"`
		PrincipalType    string `json:"principalType"`
	} `json:"properties"`
}

// RoleAssignment reads the role definition (its GUID, lower-cased: the last
// segment of roleDefinitionId) and the principal of a role assignment's
// request or response body. ok is false when the body is not such an
// object or names no role.
func RoleAssignment(body string) (roleID, principalID string, ok bool) {
	if body == "" || body[0] != '{' {
		return "", "", false
	}
	var b roleAssignmentBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return "", "", false
	}
	roleID = strings.ToLower(lastSegment(b.Properties.RoleDefinitionID))
	return roleID, b.Properties.PrincipalID, roleID != ""
}

// roleDefinitionBody is the part of a role definition's body (REST "Role
// Definitions - Create Or Update") that the detections read.
type roleDefinitionBody struct {
	Properties struct {
		RoleName    string `json:"roleName"`
		Type        string `json:"type"`
		Permissions []struct {
			Actions     []string `json:"actions"`
			DataActions []string `json:"dataActions"`
		} `json:"permissions"`
		AssignableScopes []string `json:"assignableScopes"`
	} `json:"properties"`
}

// RoleDefinition is what a role definition write asked for.
type RoleDefinition struct {
	Name             string
	Actions          []string // control-plane actions of every permission
	DataActions      []string
	AssignableScopes []string
}

// ParseRoleDefinition reads a role definition's request or response body.
// ok is false when the body is not such an object or grants nothing.
func ParseRoleDefinition(body string) (RoleDefinition, bool) {
	if body == "" || body[0] != '{' {
		return RoleDefinition{}, false
	}
	var b roleDefinitionBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return RoleDefinition{}, false
	}
	d := RoleDefinition{Name: b.Properties.RoleName, AssignableScopes: b.Properties.AssignableScopes}
	for _, p := range b.Properties.Permissions {
		d.Actions = append(d.Actions, p.Actions...)
		d.DataActions = append(d.DataActions, p.DataActions...)
	}
	return d, len(d.Actions)+len(d.DataActions) > 0
}
