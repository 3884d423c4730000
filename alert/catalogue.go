package alert

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/template"

	"github.com/goccy/go-yaml"
)

// Languages are the languages every catalogue entry speaks, the default first.
var Languages = []string{"en", "ja", "nl"}

// DefaultLanguage is the language used for a language the catalogue does not speak.
const DefaultLanguage = "en"

// Detail keys the Manager maintains on every alert, so that any description
// template may use them: the alert's Count and its first and last observed
// times (RFC 3339, UTC, whole seconds).
const (
	DetailCount = "count"
	DetailFirst = "first"
	DetailLast  = "last"
	// DetailProvisional is "true" on an alert opened by an early candidate
	// (see [Candidate.Early]) until the detector's in-order pass confirms
	// it; the confirmation replaces its count, times and evidence.
	DetailProvisional = "provisional"
)

// Tactics lists the MITRE ATT&CK tactic names as Defender spells them; a
// catalogue entry may only use these.
var Tactics = []string{
	"Reconnaissance", "ResourceDevelopment", "InitialAccess", "Execution", "Persistence",
	"PrivilegeEscalation", "DefenseEvasion", "CredentialAccess", "Discovery", "LateralMovement",
	"Collection", "Exfiltration", "CommandAndControl", "Impact", "PreAttack",
}

//go:embed catalogue/*.yaml
var embedded embed.FS

// Texts are an entry's words in one language.
type Texts struct {
	// DisplayName is the alert's title, e.g. "Access from a TOR exit node to a key vault".
	DisplayName string
	// Description is the description template (text/template over the
	// alert's Details); Entry.Describe renders it.
	Description string
	// Remediation lists the response steps, in order.
	Remediation []string
}

// Entry is one alert type of the catalogue. Entries are values; their slices
// are copies the caller may keep.
type Entry struct {
	// ID is Defender's alert type, e.g. "KV_TORAccess".
	ID string
	// Severity is the alert's default severity.
	Severity Severity
	// Confidence is Graph's confidenceLevel for this type: low, medium or high.
	Confidence string
	// Tactics are MITRE ATT&CK tactic names, as in Tactics.
	Tactics []string
	// Techniques are MITRE ATT&CK technique ids, e.g. "T1555.006".
	Techniques []string
	// RequiredDetails are the Details keys a candidate of this type must carry.
	RequiredDetails []string
	// OptionalDetails are the Details keys the description uses when present.
	OptionalDetails []string
	// Playbook names the response playbook the remediation steps come from.
	Playbook string
	// Example is a complete set of details, used by tests and documentation.
	Example map[string]string

	def *entryDef
}

// entryDef is the immutable, shared part of an entry.
type entryDef struct {
	texts map[string]Texts
	tmpl  map[string]*template.Template
}

// Text returns the entry's texts in lang ("ja", "nl-NL", ...), or in English
// when the catalogue does not speak lang.
func (e Entry) Text(lang string) Texts {
	if e.def == nil {
		return Texts{}
	}
	t := e.def.texts[NormalizeLanguage(lang)]
	t.Remediation = slices.Clone(t.Remediation)
	return t
}

// Describe renders the entry's description in lang with the given details.
// Every required detail must be present and not empty; optional ones may be
// absent. Keys the entry does not declare are ignored.
func (e Entry) Describe(lang string, details map[string]string) (string, error) {
	if e.def == nil {
		return "", errors.New("alert: describe: zero Entry")
	}
	var missing []string
	for _, k := range e.RequiredDetails {
		if details[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("alert: describe %s: missing details %s", e.ID, strings.Join(missing, ", "))
	}
	return e.describe(lang, details, "")
}

// describe executes the template with the declared keys, using fill for any
// that are absent.
func (e Entry) describe(lang string, details map[string]string, fill string) (string, error) {
	lang = NormalizeLanguage(lang)
	view := make(map[string]string, len(e.RequiredDetails)+len(e.OptionalDetails))
	for _, k := range e.RequiredDetails {
		view[k] = valueOr(details[k], fill)
	}
	for _, k := range e.OptionalDetails {
		view[k] = details[k]
	}
	var b strings.Builder
	if err := e.def.tmpl[lang].Execute(&b, view); err != nil {
		return "", fmt.Errorf("alert: describe %s (%s): %w", e.ID, lang, err)
	}
	return b.String(), nil
}

func valueOr(v, fill string) string {
	if v == "" {
		return fill
	}
	return v
}

// clone returns a copy of e whose slices and map the caller may modify.
func (e Entry) clone() Entry {
	e.Tactics = slices.Clone(e.Tactics)
	e.Techniques = slices.Clone(e.Techniques)
	e.RequiredDetails = slices.Clone(e.RequiredDetails)
	e.OptionalDetails = slices.Clone(e.OptionalDetails)
	if e.Example != nil {
		m := make(map[string]string, len(e.Example))
		for k, v := range e.Example {
			m[k] = v
		}
		e.Example = m
	}
	return e
}

// NormalizeLanguage maps a language tag to one of Languages: "ja-JP" -> "ja",
// "NL" -> "nl"; anything the catalogue does not speak -> DefaultLanguage.
func NormalizeLanguage(lang string) string {
	primary, _, _ := strings.Cut(strings.TrimSpace(lang), "-")
	primary, _, _ = strings.Cut(primary, "_")
	primary = strings.ToLower(primary)
	if slices.Contains(Languages, primary) {
		return primary
	}
	return DefaultLanguage
}

// Catalogue is a set of entries loaded from YAML files. It is immutable and
// safe for concurrent use.
type Catalogue struct {
	byID  map[string]*Entry
	order []string // sorted ids
}

// Lookup returns the entry for an alert type.
func (c *Catalogue) Lookup(id string) (Entry, bool) {
	e, ok := c.byID[id]
	if !ok {
		return Entry{}, false
	}
	return e.clone(), true
}

// lookup returns the shared entry without copying; callers must not modify it.
func (c *Catalogue) lookup(id string) (*Entry, bool) {
	e, ok := c.byID[id]
	return e, ok
}

// All returns every entry, ordered by ID.
func (c *Catalogue) All() []Entry {
	out := make([]Entry, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.byID[id].clone())
	}
	return out
}

var defaultCatalogue = sync.OnceValues(func() (*Catalogue, error) {
	sub, err := fs.Sub(embedded, "catalogue")
	if err != nil {
		return nil, fmt.Errorf("alert: embedded catalogue: %w", err)
	}
	return Load(sub)
})

// Default returns the catalogue built into the binary. It panics if that
// catalogue is invalid, which the package's tests rule out.
func Default() *Catalogue {
	c, err := defaultCatalogue()
	if err != nil {
		panic(err)
	}
	return c
}

// Lookup returns the built-in catalogue's entry for an alert type.
func Lookup(id string) (Entry, bool) { return Default().Lookup(id) }

// All returns every entry of the built-in catalogue, ordered by ID.
func All() []Entry { return Default().All() }

// The YAML documents. See catalogue/README.md.
type fileDoc struct {
	Playbooks map[string]playbookDoc `yaml:"playbooks"`
	Alerts    []entryDoc             `yaml:"alerts"`
}

type playbookDoc struct {
	Source string              `yaml:"source"`
	Steps  map[string][]string `yaml:"steps"`
}

type entryDoc struct {
	ID         string            `yaml:"id"`
	Severity   string            `yaml:"severity"`
	Confidence string            `yaml:"confidence"`
	Tactics    []string          `yaml:"tactics"`
	Techniques []string          `yaml:"techniques"`
	Playbook   string            `yaml:"playbook"`
	Details    detailsDoc        `yaml:"details"`
	Example    map[string]string `yaml:"example"`
	Text       map[string]struct {
		Name        string   `yaml:"name"`
		Description string   `yaml:"description"`
		Remediation []string `yaml:"remediation"`
	} `yaml:"text"`
}

type detailsDoc struct {
	Required []string `yaml:"required"`
	Optional []string `yaml:"optional"`
}

var (
	idPattern        = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]*$`)
	techniquePattern = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
	detailKeyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
)

// Load reads every *.yaml file at the top of fsys and builds a catalogue.
// Files may hold playbooks, alerts or both; an alert may use a playbook from
// any file. Errors name the file and, for YAML errors, the line and column.
func Load(fsys fs.FS) (*Catalogue, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("alert: catalogue: %w", err)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, errors.New("alert: catalogue: no *.yaml files")
	}
	playbooks := map[string]playbookDoc{}
	type located struct {
		file string
		doc  entryDoc
	}
	var entries []located
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("alert: catalogue: %w", err)
		}
		doc, err := parseFile(data)
		if err != nil {
			return nil, fmt.Errorf("alert: catalogue %s: %w", name, err)
		}
		for id, pb := range doc.Playbooks {
			if _, dup := playbooks[id]; dup {
				return nil, fmt.Errorf("alert: catalogue %s: playbook %q defined twice", name, id)
			}
			if err := checkPlaybook(pb); err != nil {
				return nil, fmt.Errorf("alert: catalogue %s: playbook %q: %w", name, id, err)
			}
			playbooks[id] = pb
		}
		for _, e := range doc.Alerts {
			entries = append(entries, located{name, e})
		}
	}
	c := &Catalogue{byID: make(map[string]*Entry, len(entries))}
	for _, l := range entries {
		e, err := buildEntry(l.doc, playbooks)
		if err != nil {
			return nil, fmt.Errorf("alert: catalogue %s: %w", l.file, err)
		}
		if _, dup := c.byID[e.ID]; dup {
			return nil, fmt.Errorf("alert: catalogue %s: alert %q defined twice", l.file, e.ID)
		}
		c.byID[e.ID] = e
		c.order = append(c.order, e.ID)
	}
	sort.Strings(c.order)
	return c, nil
}

// parseFile decodes one YAML file strictly (unknown fields are errors).
func parseFile(data []byte) (doc fileDoc, err error) {
	// The decoder must not take the process down on hostile input.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: decoder panic: %v", r)
		}
	}()
	if err := yaml.UnmarshalWithOptions(data, &doc, yaml.Strict()); err != nil {
		return fileDoc{}, errors.New(yaml.FormatError(err, false, false))
	}
	return doc, nil
}

func checkPlaybook(pb playbookDoc) error {
	n := -1
	for _, lang := range Languages {
		steps := pb.Steps[lang]
		if len(steps) == 0 {
			return fmt.Errorf("no steps in %s", lang)
		}
		if n >= 0 && len(steps) != n {
			return fmt.Errorf("%s has %d steps, %s has %d: languages must match step for step", lang, len(steps), Languages[0], n)
		}
		n = len(steps)
		for i, s := range steps {
			if strings.TrimSpace(s) == "" {
				return fmt.Errorf("step %d in %s is empty", i+1, lang)
			}
		}
	}
	for lang := range pb.Steps {
		if !slices.Contains(Languages, lang) {
			return fmt.Errorf("unknown language %q", lang)
		}
	}
	return nil
}

func buildEntry(d entryDoc, playbooks map[string]playbookDoc) (*Entry, error) {
	if !idPattern.MatchString(d.ID) {
		return nil, fmt.Errorf("alert id %q: want letters, digits, '_' or '.'", d.ID)
	}
	wrap := func(format string, args ...any) error {
		return fmt.Errorf("alert %s: "+format, append([]any{d.ID}, args...)...)
	}
	e := &Entry{
		ID:              d.ID,
		Severity:        Severity(d.Severity),
		Confidence:      d.Confidence,
		Tactics:         d.Tactics,
		Techniques:      d.Techniques,
		RequiredDetails: d.Details.Required,
		OptionalDetails: d.Details.Optional,
		Playbook:        d.Playbook,
		Example:         d.Example,
		def:             &entryDef{texts: map[string]Texts{}, tmpl: map[string]*template.Template{}},
	}
	if e.Severity.Rank() < 0 {
		return nil, wrap("severity %q: want informational, low, medium or high", d.Severity)
	}
	if !slices.Contains([]string{"low", "medium", "high"}, e.Confidence) {
		return nil, wrap("confidence %q: want low, medium or high", d.Confidence)
	}
	if len(e.Tactics) == 0 {
		return nil, wrap("no tactics")
	}
	for _, t := range e.Tactics {
		if !slices.Contains(Tactics, t) {
			return nil, wrap("tactic %q is not a MITRE ATT&CK tactic as Defender names them", t)
		}
	}
	for _, t := range e.Techniques {
		if !techniquePattern.MatchString(t) {
			return nil, wrap("technique %q: want a MITRE id like T1078 or T1555.006", t)
		}
	}
	if err := checkDetailKeys(e.RequiredDetails, e.OptionalDetails); err != nil {
		return nil, wrap("%v", err)
	}
	for _, k := range e.RequiredDetails {
		if e.Example[k] == "" {
			return nil, wrap("example lacks required detail %q", k)
		}
	}
	for k := range e.Example {
		if !slices.Contains(e.RequiredDetails, k) && !slices.Contains(e.OptionalDetails, k) {
			return nil, wrap("example has undeclared detail %q", k)
		}
	}
	pb, ok := playbooks[e.Playbook]
	if !ok {
		return nil, wrap("unknown playbook %q", e.Playbook)
	}
	for lang := range d.Text {
		if !slices.Contains(Languages, lang) {
			return nil, wrap("unknown language %q", lang)
		}
	}
	for _, lang := range Languages {
		t, ok := d.Text[lang]
		if !ok || strings.TrimSpace(t.Name) == "" || strings.TrimSpace(t.Description) == "" {
			return nil, wrap("%s: name and description are required", lang)
		}
		tmpl, err := template.New(e.ID + "/" + lang).Option("missingkey=error").Parse(t.Description)
		if err != nil {
			return nil, wrap("%s description: %v", lang, err)
		}
		e.def.tmpl[lang] = tmpl
		steps := make([]string, 0, len(t.Remediation)+len(pb.Steps[lang]))
		steps = append(steps, t.Remediation...)
		steps = append(steps, pb.Steps[lang]...)
		e.def.texts[lang] = Texts{DisplayName: t.Name, Description: t.Description, Remediation: steps}
	}
	// Every template must render with the example and with the required
	// details alone, so a template naming an undeclared key fails here.
	for _, lang := range Languages {
		if _, err := e.describe(lang, e.Example, ""); err != nil {
			return nil, wrap("%v", err)
		}
		only := make(map[string]string, len(e.RequiredDetails))
		for _, k := range e.RequiredDetails {
			only[k] = e.Example[k]
		}
		if _, err := e.describe(lang, only, ""); err != nil {
			return nil, wrap("%v", err)
		}
	}
	return e, nil
}

func checkDetailKeys(required, optional []string) error {
	seen := map[string]bool{}
	for _, k := range slices.Concat(required, optional) {
		if !detailKeyPattern.MatchString(k) {
			return fmt.Errorf("detail key %q: want letters and digits, starting with a letter", k)
		}
		if seen[k] {
			return fmt.Errorf("detail key %q declared twice", k)
		}
		seen[k] = true
	}
	return nil
}
