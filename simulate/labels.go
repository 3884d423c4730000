package simulate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Label kinds.
const (
	// LabelAttack marks an injected attack: its AlertType must fire.
	LabelAttack = "attack"
	// LabelBenign marks a benign look-alike: its AlertType must not fire.
	LabelBenign = "benign"
	// LabelLearning marks a learning period: behavioural alerts of its
	// AlertType on its vault (every vault when Vault is "") are false
	// positives.
	LabelLearning = "learning"
)

// Label says which alert must (or must not) be raised for which entities
// within which time range. An alert matches a label when its type is
// AlertType, its observed time range overlaps [From, To], and every entity
// the label names (Resource, ObjectID, UPN, AppID, IP; empty ones match
// anything) is among the alert's.
type Label struct {
	// ID groups the labels of one scenario ("A03", "B07", "L").
	ID string `json:"id"`
	// Kind is LabelAttack, LabelBenign or LabelLearning.
	Kind      string `json:"kind"`
	AlertType string `json:"alertType"`
	MustFire  bool   `json:"mustFire"`
	// Also lists other alert types the same activity may rightly raise
	// (an attacker's new application is also new to the vault): an
	// evaluator should not count them as false positives.
	Also           []string `json:"also,omitempty"`
	TenantID       string   `json:"tenantId,omitempty"`
	SubscriptionID string   `json:"subscriptionId,omitempty"`
	// Resource is the alert's resource: the vault's resource ID as the
	// audit records carry it, or "/subscriptions/<id>" for Resource
	// Manager alerts; "" when the scenario spans several.
	Resource string `json:"resource,omitempty"`
	// Vault is the vault's name, "" for none or several.
	Vault    string    `json:"vault,omitempty"`
	ObjectID string    `json:"objectId,omitempty"`
	UPN      string    `json:"upn,omitempty"`
	AppID    string    `json:"appId,omitempty"`
	IP       string    `json:"ip,omitempty"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Note     string    `json:"note"`
}

// WriteLabels writes the estate's labels to w as JSON lines.
func (e *Estate) WriteLabels(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range e.labels {
		if err := enc.Encode(&e.labels[i]); err != nil {
			return fmt.Errorf("simulate: write labels: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("simulate: write labels: %w", err)
	}
	return nil
}

// The behavioural Key Vault alert types: those that need a learnt baseline.
var behavioural = []string{
	"KV_UserAnomaly", "KV_AppAnomaly", "KV_UserAppAnomaly",
	"KV_OperationPatternAnomaly", "KV_OperationVolumeAnomaly", "KV_AccountVolumeAnomaly",
}

// who fills the principal fields of a label.
func (e *Estate) who(l *Label, pi int) {
	p := &e.principals[pi]
	l.ObjectID, l.UPN, l.TenantID = p.oid, p.upn, e.tenants[p.tenant].id
	if p.kind != KindUser {
		l.AppID = p.appid
	}
}

// onVault fills the vault fields of a label.
func (e *Estate) onVault(l *Label, v int) {
	vt := &e.vaults[v]
	l.Resource, l.Vault = vt.rid, vt.name
	l.SubscriptionID, l.TenantID = e.subs[vt.sub].id, e.tenants[vt.tenant].id
}
