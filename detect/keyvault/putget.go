package keyvault

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// putGet is KV_PutGetAnomaly, partitioned by vault (upper-cased vault ID), so
// a change in the Activity Log and reads in the audit log meet in one key.
type putGet struct {
	cfg         PutGetAnomaly
	maxEvidence int
	changes     opSet
	reads       opSet
	grantRoles  map[string]bool // lower-cased role definition GUIDs
	suspicious  suspicion
}

func newPutGet(cfg Config) *putGet {
	pg := cfg.PutGetAnomaly
	pg.MinReads = max(pg.MinReads, 1)
	if pg.Window <= 0 {
		pg.Window = DefaultConfig().PutGetAnomaly.Window
	}
	roles := make(map[string]bool, len(pg.GrantRoles))
	for _, r := range pg.GrantRoles {
		roles[strings.ToLower(r)] = true
	}
	return &putGet{
		grantRoles:  roles,
		cfg:         pg,
		maxEvidence: cfg.MaxEvidence,
		changes:     newOpSet(pg.ChangeOperations),
		reads:       newOpSet(pg.ReadOperations),
		suspicious:  newSuspicion(cfg),
	}
}

func (d *putGet) Name() string { return TypePutGetAnomaly }

func (d *putGet) Consumes(k event.Kind) bool {
	return k == event.KindKeyVault || (k == event.KindActivity && (len(d.cfg.ActivityChangeOperations) > 0 || len(d.grantRoles) > 0))
}

func (d *putGet) NewShard() detect.Shard           { return azops.NewShard[pgState](d) }
func (d *putGet) Pending(s *pgState) *azops.Buffer { return &s.Pending }

func (d *putGet) PartitionKey(op *event.Op) (string, bool) {
	var want bool
	switch op.Kind {
	case event.KindKeyVault:
		want = d.reads.has(op.Operation) || (d.changes.has(op.Operation) && !op.Failed())
	case event.KindActivity:
		want = succeeded(op.Result) && (d.isActivityChange(op.Operation) || d.isGrant(op))
	}
	if !want {
		return "", false
	}
	v := azops.VaultID(op.ResourceID)
	return v, v != ""
}

func (d *putGet) isActivityChange(name string) bool {
	for _, n := range d.cfg.ActivityChangeOperations {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// isGrant reports whether op assigns one of GrantRoles at a vault's scope
// (the role assignment's resource ID lies under the vault).
func (d *putGet) isGrant(op *event.Op) bool {
	if len(d.grantRoles) == 0 || op.Operation != azops.OpRoleAssignmentWrite || azops.VaultID(op.ResourceID) == "" {
		return false
	}
	body := op.RequestBody
	if body == "" {
		body = op.ResponseBody
	}
	role, _, ok := azops.RoleAssignment(body)
	return ok && d.grantRoles[role]
}

// succeeded is an Activity Log result that says the change is done
// (not Started, Accepted or Failed).
func succeeded(result string) bool {
	return strings.EqualFold(result, "Succeeded") || strings.EqualFold(result, "Success")
}

func (d *putGet) isChange(r *azops.Rec) bool {
	if r.Kind == event.KindActivity {
		return true // only changes are routed from the Activity Log
	}
	return d.changes.has(r.Operation)
}

// pgState holds the changes of one vault whose window is open.
type pgState struct {
	Pending azops.Buffer `json:"pending"`
	Changes []*pgChange  `json:"changes,omitempty"`
}

// pgChange is one principal's change(s) of the vault and the reads after it.
type pgChange struct {
	By    string    `json:"by,omitempty"` // the changer's principal key
	Time  time.Time `json:"time"`         // first change
	Until time.Time `json:"until"`        // last change + Window
	// Change holds the change records (evidence capped at maxChangeEvidence).
	Change azops.Acc `json:"change"`
	// Added are the object IDs the changes granted access.
	Added   []string    `json:"added,omitempty"`
	Readers []*pgReader `json:"readers,omitempty"`
}

// pgReader is one principal's reads within a change's window.
type pgReader struct {
	Key     string    `json:"key"`
	Emitted bool      `json:"emitted,omitempty"`
	Reads   azops.Acc `json:"reads"`
}

const (
	maxChanges        = 64  // open changes per vault; the oldest closes early beyond it
	maxReaders        = 256 // readers followed per change
	maxAdded          = 256 // granted object IDs kept per change
	maxChangeEvidence = 5
)

func (d *putGet) Check(s *pgState) error {
	if len(s.Changes) > maxChanges {
		return errors.New("too many changes")
	}
	for _, c := range s.Changes {
		if c == nil || len(c.Readers) > maxReaders || len(c.Added) > maxAdded {
			return errors.New("bad change")
		}
		if err := c.Change.Check(); err != nil {
			return err
		}
		if c.Change.Count == 0 {
			return errors.New("change without records")
		}
		for _, rd := range c.Readers {
			if rd == nil {
				return errors.New("empty reader")
			}
			if err := rd.Reads.Check(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *putGet) Release(key string, s *pgState, r *azops.Rec, emit detect.Emitter) {
	if d.isChange(r) {
		d.change(key, s, r, emit)
		return
	}
	rk := r.PrincipalKey()
	for _, c := range s.Changes {
		if r.Time.Before(c.Time) || !r.Time.Before(c.Until) {
			continue
		}
		if (c.By == "" || rk != c.By) && !c.granted(r.Caller.ObjectID) {
			continue
		}
		i := slices.IndexFunc(c.Readers, func(rd *pgReader) bool { return rd.Key == rk })
		if i < 0 {
			if len(c.Readers) >= maxReaders {
				return
			}
			c.Readers = append(c.Readers, &pgReader{Key: rk})
			i = len(c.Readers) - 1
		}
		rd := c.Readers[i]
		rd.Reads.Add(r, d.maxEvidence)
		if !rd.Emitted && rd.Reads.Count >= d.cfg.MinReads {
			emit.Emit(d.candidate(key, c, rd, true))
			rd.Emitted = true
			rd.Reads.Reset()
		}
		return // one change accounts for a read
	}
}

func (c *pgChange) granted(objectID string) bool {
	if objectID == "" {
		return false
	}
	for _, a := range c.Added {
		if strings.EqualFold(a, objectID) {
			return true
		}
	}
	return false
}

func (d *putGet) change(key string, s *pgState, r *azops.Rec, emit detect.Emitter) {
	by := r.PrincipalKey()
	added := r.Added
	if r.Kind == event.KindActivity && r.Operation == azops.OpRoleAssignmentWrite {
		if _, p, ok := azops.RoleAssignment(r.Body); ok && p != "" {
			added = []string{p} // the principal the role assignment grants access
		}
	}
	if by == "" && len(added) == 0 {
		return // nobody to follow
	}
	var c *pgChange
	if by != "" {
		for i, x := range s.Changes {
			if x.By != by {
				continue
			}
			if r.Time.Before(x.Until) {
				c = x
			} else {
				d.close(key, s, i, emit)
			}
			break
		}
	}
	if c == nil {
		if len(s.Changes) >= maxChanges {
			d.close(key, s, 0, emit)
		}
		c = &pgChange{By: by, Time: r.Time}
		s.Changes = append(s.Changes, c)
	}
	c.Until = r.Time.Add(d.cfg.Window)
	c.Change.Add(r, maxChangeEvidence)
	for _, a := range added {
		if len(c.Added) < maxAdded && !slices.ContainsFunc(c.Added, func(x string) bool { return strings.EqualFold(x, a) }) {
			c.Added = append(c.Added, a)
		}
	}
}

func (d *putGet) Tick(key string, s *pgState, watermark time.Time, emit detect.Emitter) bool {
	for i := 0; i < len(s.Changes); {
		if !watermark.Before(s.Changes[i].Until) {
			d.close(key, s, i, emit)
			continue
		}
		i++
	}
	return len(s.Changes) == 0
}

// close emits the summaries of change i's readers and removes the change.
func (d *putGet) close(key string, s *pgState, i int, emit detect.Emitter) {
	c := s.Changes[i]
	for _, rd := range c.Readers {
		if rd.Emitted && rd.Reads.Count > 0 {
			emit.Emit(d.candidate(key, c, rd, false))
		}
	}
	s.Changes = slices.Delete(s.Changes, i, i+1)
}

// candidate describes reader rd's reads after change c; the first one also
// carries the change (its records lead the evidence and its time is First).
func (d *putGet) candidate(key string, c *pgChange, rd *pgReader, first bool) alert.Candidate {
	reads := &rd.Reads
	cand := reads.Candidate(TypePutGetAnomaly, "related")
	chg := &c.Change.Recs[0]
	rr := &reads.Recs[0]
	if first {
		n := min(len(c.Change.Recs), max(d.maxEvidence/2, 1))
		ev := make([]alert.Evidence, 0, min(d.maxEvidence, n+len(cand.Evidence)))
		for i := range n {
			ev = append(ev, c.Change.Recs[i].Evidence())
		}
		ev = append(ev, cand.Evidence[:min(len(cand.Evidence), d.maxEvidence-n)]...)
		cand.Evidence = ev
		cand.First = c.Time
		cand.Count += c.Change.Count
	}
	changer, hasChanger := azops.AccountEntity(&chg.Caller, "related")
	if hasChanger && c.By != rd.Key {
		cand.Entities = append(cand.Entities, changer)
	}
	if e, ok := chg.IPEntity("related"); ok && !slices.ContainsFunc(cand.Entities, func(x alert.Entity) bool {
		return x.Type == alert.EntityIP && x.Address == e.Address
	}) {
		cand.Entities = append(cand.Entities, e)
	}
	cand.Resource = azops.RecordedVaultID(rr.ResourceID)
	cand.Entities = append([]alert.Entity{azops.VaultEntity(rr)}, cand.Entities...)
	cand.FingerprintKeys = []string{key, c.By, rd.Key}
	det := cand.Details
	det["vault"] = azops.VaultName(rr)
	det["resource"] = cand.Resource
	det["count"] = strconv.Itoa(reads.Count)
	det["window"] = azops.FormatDuration(d.cfg.Window)
	det["threshold"] = strconv.Itoa(d.cfg.MinReads)
	det["changedBy"] = chg.Caller.Label()
	det["changeOperation"] = strings.Join(c.Change.Ops, ", ")
	det["changeTime"] = azops.FormatTime(c.Time)
	det["grantedObjectIds"] = strings.Join(c.Added, ", ")
	det["granted"] = strconv.FormatBool(c.By != rd.Key)
	if reads.Denied > 0 || d.suspicious.any(reads.Recs) || d.suspicious.any(c.Change.Recs) {
		cand.Severity = CatalogueSeverity.Raise()
	}
	return cand
}

// Speculate implements azops.Speculator: while a change's window may be
// open, it runs the pending records over a copy of the vault's changes,
// emitting what the reads that reach the threshold would.
func (d *putGet) Speculate(key string, s *pgState, pending []azops.Rec, emit detect.Emitter) {
	if len(s.Changes) == 0 && !slices.ContainsFunc(pending, func(r azops.Rec) bool { return d.isChange(&r) }) {
		return
	}
	cp := &pgState{Changes: make([]*pgChange, len(s.Changes))}
	for i, c := range s.Changes {
		cp.Changes[i] = c.clone()
	}
	// A summary of a window this closes follows a first candidate with its
	// fingerprint, so the manager takes it as announced already.
	for i := range pending {
		d.Release(key, cp, &pending[i], emit)
	}
}

// clone returns a deep copy of c.
func (c *pgChange) clone() *pgChange {
	out := *c
	out.Change = c.Change.Clone()
	out.Added = slices.Clone(c.Added)
	out.Readers = make([]*pgReader, len(c.Readers))
	for i, rd := range c.Readers {
		r := *rd
		r.Reads = rd.Reads.Clone()
		out.Readers[i] = &r
	}
	return &out
}
