package armbehaviour

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// Bounds of one tenant's role state.
const (
	maxTrackedRoles = 64
	maxKnownRoles   = 4096
	maxListedRoles  = 16
)

// roles is ARM_PrivilegedRoleDefinitionCreation, keyed by tenant (a custom
// role may be defined at a management group and assigned in a
// subscription).
type roles struct {
	cfg       Config
	sensitive []string // lower-cased
}

func newRoles(cfg Config) *roles {
	d := &roles{cfg: cfg}
	for _, a := range cfg.PrivilegedRole.SensitiveActions {
		d.sensitive = append(d.sensitive, strings.ToLower(a))
	}
	return d
}

func (d *roles) Name() string                    { return NameRoles }
func (d *roles) Consumes(k event.Kind) bool      { return k == event.KindActivity }
func (d *roles) NewShard() detect.Shard          { return azops.NewShard[rState](d) }
func (d *roles) Pending(s *rState) *azops.Buffer { return &s.Pending }

func (d *roles) PartitionKey(op *event.Op) (string, bool) {
	if op.Operation != azops.OpRoleDefinitionWrite && op.Operation != azops.OpRoleAssignmentWrite || pending(op.Result) || op.Failed() {
		return "", false
	}
	t := tenantOf(op)
	if t == "" {
		t = op.SubscriptionID
	}
	return t, t != ""
}

// rState is one tenant's custom roles.
type rState struct {
	Pending azops.Buffer `json:"pending"`
	First   time.Time    `json:"first"`
	Last    time.Time    `json:"last"`
	// Known maps a role definition's GUID to the sensitive actions it
	// granted when last written (sorted, ","-joined).
	Known   map[string]string `json:"known,omitempty"`
	Tracked []*trackedRole    `json:"tracked,omitempty"`
}

// trackedRole is a privileged definition whose assignments raise.
type trackedRole struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Until     time.Time `json:"until"`
	Sensitive []string  `json:"sensitive"`
	Covering  []string  `json:"covering"` // the role's actions that cover them
	Def       azops.Rec `json:"def"`
	FP        string    `json:"fp"`
}

func (d *roles) Check(s *rState) error {
	if len(s.Tracked) > maxTrackedRoles || len(s.Known) > maxKnownRoles {
		return errors.New("state out of bounds")
	}
	for _, t := range s.Tracked {
		if t == nil || len(t.Sensitive) > maxListedRoles || len(t.Covering) > maxListedRoles {
			return errors.New("bad role")
		}
	}
	return nil
}

// privileged returns the sensitive actions the role's actions cover (a
// wildcard action covers what its pattern matches) and the actions that do.
func (d *roles) privileged(actions []string) (sensitive, covering []string) {
	for _, a := range actions {
		pat := strings.ToLower(strings.TrimSpace(a))
		hit := false
		for _, s := range d.sensitive {
			if wildcard(pat, s) {
				hit = true
				if !slices.Contains(sensitive, s) && len(sensitive) < maxListedRoles {
					sensitive = append(sensitive, s)
				}
			}
		}
		if hit && !slices.Contains(covering, a) && len(covering) < maxListedRoles {
			covering = append(covering, a)
		}
	}
	slices.Sort(sensitive)
	return sensitive, covering
}

// wildcard matches Azure's action wildcards, where "*" also spans "/"
// ("*" covers everything, "Microsoft.Authorization/*" every
// authorization action, "*/write" every write).
func wildcard(pat, s string) bool {
	if !strings.Contains(pat, "*") {
		return pat == s
	}
	parts := strings.Split(pat, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	rest := s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(rest, p)
		}
		j := strings.Index(rest, p)
		if j < 0 {
			return false
		}
		rest = rest[j+len(p):]
	}
	return true
}

func (d *roles) Release(key string, s *rState, r *azops.Rec, emit detect.Emitter) {
	if s.First.IsZero() || r.Time.Before(s.First) {
		s.First = r.Time
	}
	if r.Time.After(s.Last) {
		s.Last = r.Time
	}
	if r.Operation == azops.OpRoleAssignmentWrite {
		role, assignee, ok := azops.RoleAssignment(r.Body)
		if !ok {
			return
		}
		for _, t := range s.Tracked {
			if t.ID == role && r.Time.Before(t.Until) {
				emit.Emit(d.candidate(key, t, r, assignee))
			}
		}
		return
	}
	def, ok := azops.ParseRoleDefinition(r.Body)
	if !ok {
		return
	}
	id := strings.ToLower(r.ResourceID[strings.LastIndexByte(r.ResourceID, '/')+1:])
	sensitive, covering := d.privileged(def.Actions)
	sig := strings.Join(sensitive, ",")
	prev, seen := s.Known[id]
	if s.Known == nil {
		s.Known = map[string]string{}
	}
	if !seen && len(s.Known) >= maxKnownRoles {
		for k := range s.Known { // forget one (arbitrary) to make room
			delete(s.Known, k)
			break
		}
	}
	s.Known[id] = sig
	// No learning period: a tenant writes custom roles rarely, so its first
	// role written after Vigil starts is as likely the attack as anything;
	// a role rewritten with the same privileged actions (a pipeline's
	// redeployment) is quiet after its first time.
	if len(sensitive) == 0 || (seen && prev == sig) {
		return
	}
	if len(s.Tracked) >= maxTrackedRoles {
		s.Tracked = s.Tracked[1:]
	}
	t := &trackedRole{ID: id, Name: def.Name, Until: r.Time.Add(d.cfg.PrivilegedRole.AssignWindow),
		Sensitive: sensitive, Covering: covering, Def: *r, FP: azops.FormatTime(r.Time)}
	t.Def.Body = ""
	s.Tracked = append(s.Tracked, t)
	emit.Emit(d.candidate(key, t, nil, ""))
}

// candidate describes the definition, and the assignment when there is one
// (which raises the severity one step).
func (d *roles) candidate(key string, t *trackedRole, assign *azops.Rec, assignee string) alert.Candidate {
	var acc azops.Acc
	if assign == nil {
		acc.Add(&t.Def, 2)
	} else {
		acc.Add(assign, 2)
	}
	c := acc.Candidate(TypePrivilegedRole, "related")
	base(&c, &t.Def)
	c.Entities = append(c.Entities, alert.Entity{Type: alert.EntityAzureResource, Role: "related", ResourceID: t.Def.ResourceID, Name: t.Name})
	c.FingerprintKeys = []string{key, t.ID, t.FP}
	c.Details["roleName"] = t.Name
	c.Details["roleId"] = t.ID
	c.Details["definedBy"] = t.Def.Caller.Label()
	c.Details["definedAt"] = azops.FormatTime(t.Def.Time)
	c.Details["sensitiveActions"] = strings.Join(t.Sensitive, ", ")
	c.Details["grantingActions"] = strings.Join(t.Covering, ", ")
	c.Details["assignedTo"] = assignee
	c.Details["assignedBy"] = ""
	if assign != nil {
		c.Details["assignedBy"] = assign.Caller.Label()
		c.Details["assignmentScope"] = assign.Target
		c.Severity = alert.SeverityHigh
		if e, ok := azops.AccountEntity(&t.Def.Caller, "related"); ok && assign.PrincipalKey() != t.Def.PrincipalKey() {
			c.Entities = append(c.Entities, e)
		}
	}
	return c
}

func (d *roles) Tick(_ string, s *rState, watermark time.Time, _ detect.Emitter) bool {
	s.Tracked = slices.DeleteFunc(s.Tracked, func(t *trackedRole) bool { return !watermark.Before(t.Until) })
	return len(s.Tracked) == 0 && watermark.Sub(s.Last) > d.cfg.LookBack
}
