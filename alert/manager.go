package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Manager defaults.
const (
	DefaultAggregationWindow = 24 * time.Hour
	DefaultEvidenceCap       = 50
	DefaultEntityCap         = 100
)

// ManagerOptions configures a Manager. The zero value gives the defaults.
type ManagerOptions struct {
	// AggregationWindow is how long, in event time, an alert stays open for
	// repeats: a candidate whose first activity is within the window of the
	// alert's last activity is merged into it. Default 24h.
	AggregationWindow time.Duration
	// EvidenceCap bounds the evidence kept per alert (the oldest are kept).
	// Default 50.
	EvidenceCap int
	// EntityCap bounds the distinct entities kept per alert. Default 100.
	EntityCap int
	// Catalogue gives each type's severity; nil means the built-in one.
	Catalogue *Catalogue
	// Now is the wall clock for Alert.Updated; nil means time.Now.
	Now func() time.Time
}

// Manager turns candidates into alerts, merging repeats of one incident.
//
// It keeps an index of the open alerts by fingerprint. Memory is bounded by
// event time: an alert whose aggregation window has passed, relative to the
// newest event time seen, leaves the index (it stays in the store). A
// Manager is safe for concurrent use; the alerts it returns are copies.
type Manager struct {
	window      time.Duration
	evidenceCap int
	entityCap   int
	cat         *Catalogue
	now         func() time.Time

	mu        sync.Mutex
	open      map[string]*Alert
	closed    []*Alert  // left the index, not yet taken by Expire
	newest    time.Time // newest event time seen
	lastSweep time.Time // newest at the last automatic Expire
}

// NewManager returns a Manager with opts, defaults filled in.
func NewManager(opts ManagerOptions) *Manager {
	m := &Manager{
		window:      opts.AggregationWindow,
		evidenceCap: opts.EvidenceCap,
		entityCap:   opts.EntityCap,
		cat:         opts.Catalogue,
		now:         opts.Now,
		open:        map[string]*Alert{},
	}
	if m.window <= 0 {
		m.window = DefaultAggregationWindow
	}
	if m.evidenceCap <= 0 {
		m.evidenceCap = DefaultEvidenceCap
	}
	if m.entityCap <= 0 {
		m.entityCap = DefaultEntityCap
	}
	if m.cat == nil {
		m.cat = Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// Fingerprint identifies the incident a candidate belongs to: the hex
// SHA-256 of its type, tenant, subscription and sorted fingerprint keys.
func Fingerprint(c *Candidate) string {
	keys := slices.Clone(c.FingerprintKeys)
	slices.Sort(keys)
	h := sha256.New()
	// Each part ends with a NUL so that ("ab","c") and ("a","bc") differ.
	for _, s := range append([]string{c.Type, c.TenantID, c.SubscriptionID}, keys...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AlertID derives an alert's id from its fingerprint and first observed
// time: a UUID (version 8, RFC 9562 custom) made of the first 16 bytes of a
// SHA-256, so the same input always gives the same id.
func AlertID(fingerprint string, first time.Time) string {
	sum := sha256.Sum256([]byte(fingerprint + "\x00" + first.UTC().Format(time.RFC3339Nano)))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // variant 10
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// Add records a candidate. It merges it into the open alert with the same
// fingerprint when that alert's last activity is within the aggregation
// window of the candidate's first, and otherwise creates an alert (created
// is then true). An early candidate (see [Candidate.Early]) only opens a
// provisional alert when no alert with its fingerprint is open, and
// otherwise changes nothing: a nil alert is returned. The first in-order
// candidate for a provisional alert replaces what it observed. The
// returned alert is a copy. A candidate of a type the
// catalogue does not know, or without a time, is an error.
func (m *Manager) Add(c Candidate) (a *Alert, created bool, err error) {
	entry, ok := m.cat.lookup(c.Type)
	if !ok {
		if c.Type == "" {
			return nil, false, errors.New("alert: candidate has no type")
		}
		return nil, false, fmt.Errorf("alert: candidate type %q is not in the catalogue", c.Type)
	}
	if err := normaliseTimes(&c); err != nil {
		return nil, false, fmt.Errorf("alert: candidate %s: %w", c.Type, err)
	}
	if c.Count < 0 {
		return nil, false, fmt.Errorf("alert: candidate %s: negative count %d", c.Type, c.Count)
	}
	if c.Count == 0 {
		c.Count = 1
	}
	if c.Severity != "" && c.Severity.Rank() < 0 {
		return nil, false, fmt.Errorf("alert: candidate %s: unknown severity %q", c.Type, c.Severity)
	}
	// Azure writes GUIDs in either case; the directory, tokens and API
	// compare them in lower case, so an alert must carry them so too or no
	// token would ever see it.
	c.TenantID, c.SubscriptionID = strings.ToLower(c.TenantID), strings.ToLower(c.SubscriptionID)
	fp := Fingerprint(&c)

	m.mu.Lock()
	defer m.mu.Unlock()
	if c.Last.After(m.newest) {
		m.newest = c.Last
	}
	cur := m.open[fp]
	switch {
	case c.Early && cur != nil && (cur.Status != StatusResolved || cur.Provisional()) && m.overlaps(cur, &c):
		// Announced already (or confirmed): the in-order pass will say the rest.
		return nil, false, nil
	case !c.Early && cur != nil && cur.Provisional() && m.overlaps(cur, &c):
		m.confirm(entry, cur, &c)
		a = cur
	case cur != nil && cur.Status != StatusResolved && m.overlaps(cur, &c):
		m.merge(cur, &c)
		a = cur
	default:
		a = m.create(entry, fp, &c)
		if c.Early {
			a.Details[DetailProvisional] = "true"
		}
		created = true
		if cur != nil && cur.Status == StatusResolved {
			a.PreviousID = cur.ID
		}
		// Index the alert unless it is older than the one already there
		// (a late candidate for a past incident, which is closed at once).
		switch {
		case cur == nil:
			m.open[fp] = a
		case !a.LastObserved.Before(cur.LastObserved):
			m.closed = append(m.closed, cur)
			m.open[fp] = a
		default:
			m.closed = append(m.closed, a)
		}
	}
	out := a.Clone()
	if m.newest.Sub(m.lastSweep) >= m.window/4 {
		m.expire(m.newest)
		m.lastSweep = m.newest
	}
	return out, created, nil
}

// normaliseTimes fills First and Last from Time and checks their order.
func normaliseTimes(c *Candidate) error {
	if c.Time.IsZero() {
		if c.Last.IsZero() {
			return errors.New("no time")
		}
		c.Time = c.Last
	}
	if c.First.IsZero() {
		c.First = c.Time
	}
	if c.Last.IsZero() {
		c.Last = c.Time
	}
	if c.First.After(c.Last) {
		return fmt.Errorf("first %s is after last %s", c.First.Format(time.RFC3339Nano), c.Last.Format(time.RFC3339Nano))
	}
	return nil
}

// overlaps reports whether c's activity is within the window of a's.
func (m *Manager) overlaps(a *Alert, c *Candidate) bool {
	return !c.First.After(a.LastObserved.Add(m.window)) && !c.Last.Before(a.FirstObserved.Add(-m.window))
}

func (m *Manager) create(entry *Entry, fp string, c *Candidate) *Alert {
	sev := entry.Severity
	if c.Severity != "" {
		sev = c.Severity
	}
	a := &Alert{
		ID:             AlertID(fp, c.First),
		Type:           c.Type,
		Fingerprint:    fp,
		Severity:       sev,
		Status:         StatusActive,
		TenantID:       c.TenantID,
		SubscriptionID: c.SubscriptionID,
		Resource:       c.Resource,
		Detected:       c.Time,
		FirstObserved:  c.First,
		LastObserved:   c.Last,
		Updated:        m.now(),
		Count:          c.Count,
		Details:        make(map[string]string, len(c.Details)+3),
	}
	maps.Copy(a.Details, c.Details)
	a.Evidence = appendEvidence(nil, c.Evidence, m.evidenceCap)
	a.Entities = mergeEntities(nil, c.Entities, m.entityCap)
	setStandardDetails(a)
	return a
}

// confirm replaces what a provisional alert observed with the in-order
// pass's first candidate, keeping the alert's identity (ID, detection time,
// links) and its lifecycle (status, resolution, activity, suppression).
func (m *Manager) confirm(entry *Entry, a *Alert, c *Candidate) {
	fresh := m.create(entry, a.Fingerprint, c)
	fresh.ID, fresh.Detected, fresh.PreviousID = a.ID, a.Detected, a.PreviousID
	fresh.Status, fresh.ResolvedReason, fresh.ResolvedBy, fresh.ResolvedOn = a.Status, a.ResolvedReason, a.ResolvedBy, a.ResolvedOn
	fresh.ActivityLogs, fresh.SuppressedBy = a.ActivityLogs, a.SuppressedBy
	if fresh.TenantID == "" {
		fresh.TenantID = a.TenantID
	}
	*a = *fresh
}

// Provisional reports whether the alert was opened by an early candidate
// and is not yet confirmed by the detector's in-order pass.
func (a *Alert) Provisional() bool { return a.Details[DetailProvisional] == "true" }

func (m *Manager) merge(a *Alert, c *Candidate) {
	a.Count += c.Count
	if c.First.Before(a.FirstObserved) {
		a.FirstObserved = c.First
	}
	if c.Last.After(a.LastObserved) {
		a.LastObserved = c.Last
	}
	if a.Resource == "" {
		a.Resource = c.Resource
	}
	if c.Severity.Rank() > a.Severity.Rank() {
		a.Severity = c.Severity
	}
	a.Evidence = appendEvidence(a.Evidence, c.Evidence, m.evidenceCap)
	a.Entities = mergeEntities(a.Entities, c.Entities, m.entityCap)
	if a.Details == nil {
		a.Details = make(map[string]string, len(c.Details)+3)
	}
	maps.Copy(a.Details, c.Details)
	setStandardDetails(a)
	a.Updated = m.now()
}

// setStandardDetails writes the keys every description may use.
func setStandardDetails(a *Alert) {
	a.Details[DetailCount] = strconv.Itoa(a.Count)
	a.Details[DetailFirst] = a.FirstObserved.UTC().Format(time.RFC3339)
	a.Details[DetailLast] = a.LastObserved.UTC().Format(time.RFC3339)
}

func appendEvidence(dst, src []Evidence, limit int) []Evidence {
	if room := limit - len(dst); room < len(src) {
		src = src[:max(room, 0)]
	}
	return append(dst, src...)
}

// sameEntity reports whether two entities name the same thing in the same role.
func sameEntity(a, b *Entity) bool {
	return a.Type == b.Type && a.Role == b.Role && a.ResourceID == b.ResourceID && a.Name == b.Name &&
		a.ObjectID == b.ObjectID && a.UPN == b.UPN && a.AppID == b.AppID && a.Address == b.Address
}

// mergeEntities adds the entities of src not already in dst (up to limit),
// copying them so the alert owns its memory.
func mergeEntities(dst, src []Entity, limit int) []Entity {
next:
	for i := range src {
		for j := range dst {
			if sameEntity(&dst[j], &src[i]) {
				continue next
			}
		}
		if len(dst) >= limit {
			break
		}
		dst = append(dst, cloneEntity(src[i]))
	}
	return dst
}

func cloneEntity(e Entity) Entity {
	e.Intel = slices.Clone(e.Intel)
	if e.Latitude != nil {
		v := *e.Latitude
		e.Latitude = &v
	}
	if e.Longitude != nil {
		v := *e.Longitude
		e.Longitude = &v
	}
	return e
}

// Clone returns a deep copy of a.
func (a *Alert) Clone() *Alert {
	if a == nil {
		return nil
	}
	b := *a
	b.Evidence = slices.Clone(a.Evidence)
	b.Entities = nil
	for _, e := range a.Entities {
		b.Entities = append(b.Entities, cloneEntity(e))
	}
	b.Details = maps.Clone(a.Details)
	b.ActivityLogs = slices.Clone(a.ActivityLogs)
	return &b
}

// Track puts a copy of a into the index of open alerts, replacing the alert
// with the same fingerprint: use it to reload open alerts from the store at
// start-up, and after changing an alert's status, so that repeats of a
// resolved alert open a new one linked to it by PreviousID.
func (m *Manager) Track(a *Alert) {
	if a == nil || a.Fingerprint == "" {
		return
	}
	b := a.Clone()
	if b.Details == nil {
		b.Details = map[string]string{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b.LastObserved.After(m.newest) {
		m.newest = b.LastObserved
	}
	m.open[b.Fingerprint] = b
}

// Expire closes every alert whose aggregation window ended before now
// (event time): it leaves the index, and no later candidate merges into it.
// It returns the alerts closed since the last call (including those Add
// closed as event time advanced, and those a newer incident displaced), in
// their final state, ordered by detection time and id. Call it after each
// batch to hand closed alerts on and release their memory.
func (m *Manager) Expire(now time.Time) []*Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	out := m.closed
	m.closed = nil
	slices.SortFunc(out, func(a, b *Alert) int {
		if c := a.Detected.Compare(b.Detected); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (m *Manager) expire(now time.Time) {
	for fp, a := range m.open {
		if a.LastObserved.Add(m.window).Before(now) {
			delete(m.open, fp)
			m.closed = append(m.closed, a)
		}
	}
}

// Len returns the number of alerts in the index.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.open)
}

// Open returns copies of the alerts in the index, ordered by fingerprint:
// what a checkpoint keeps so that a restart merges repeats exactly as the
// run it resumes would have (put them back with Track).
func (m *Manager) Open() []*Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Alert, 0, len(m.open))
	for _, a := range m.open {
		out = append(out, a.Clone())
	}
	slices.SortFunc(out, func(a, b *Alert) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return out
}
