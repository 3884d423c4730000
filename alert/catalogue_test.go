package alert

import (
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// neededNow are the alert types the detectors of the first milestone emit.
var neededNow = []string{
	"KV_TORAccess", "KV_SuspiciousIPAccess", "KV_ListGetAnomaly", "KV_PutGetAnomaly",
	"KV_UserAnomaly", "KV_AppAnomaly", "KV_UserAppAnomaly", "KV_OperationPatternAnomaly",
	"KV_OperationVolumeAnomaly", "KV_AccountVolumeAnomaly",
	"ARM_OperationFromSuspiciousProxyIP", "ARM_OperationFromSuspiciousIP",
}

func TestCatalogueHasNeededEntries(t *testing.T) {
	for _, id := range neededNow {
		if _, ok := Lookup(id); !ok {
			t.Errorf("Lookup(%q): not in the catalogue", id)
		}
	}
	if _, ok := Lookup("KV_NoSuchThing"); ok {
		t.Error(`Lookup("KV_NoSuchThing") found an entry`)
	}
	all := All()
	if len(all) < len(neededNow) {
		t.Fatalf("All() has %d entries, want at least %d", len(all), len(neededNow))
	}
	if !slices.IsSortedFunc(all, func(a, b Entry) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("All() is not ordered by ID")
	}
}

// TestCatalogueEntriesComplete checks every entry in every language: names,
// descriptions and remediation present and distinct per language, tactics
// and techniques well formed.
func TestCatalogueEntriesComplete(t *testing.T) {
	for _, e := range All() {
		t.Run(e.ID, func(t *testing.T) {
			if e.Severity.Rank() < 0 {
				t.Errorf("severity %q", e.Severity)
			}
			if len(e.Tactics) == 0 || len(e.Techniques) == 0 {
				t.Errorf("tactics %v techniques %v: want both", e.Tactics, e.Techniques)
			}
			for _, tac := range e.Tactics {
				if !slices.Contains(Tactics, tac) {
					t.Errorf("tactic %q is not a Defender tactic name", tac)
				}
			}
			names := map[string]string{}
			steps := -1
			for _, lang := range Languages {
				tx := e.Text(lang)
				if tx.DisplayName == "" || tx.Description == "" {
					t.Errorf("%s: empty name or description", lang)
				}
				if steps >= 0 && len(tx.Remediation) != steps {
					t.Errorf("%s: %d remediation steps, en has %d", lang, len(tx.Remediation), steps)
				}
				steps = len(tx.Remediation)
				if steps == 0 {
					t.Errorf("%s: no remediation steps", lang)
				}
				for other, name := range names {
					if name == tx.DisplayName {
						t.Errorf("%s display name equals %s's: %q (untranslated?)", lang, other, name)
					}
				}
				names[lang] = tx.DisplayName
			}
		})
	}
}

// TestCatalogueTemplatesUseDeclaredDetails renders every description in
// every language three ways: with only the required details (must work),
// with every declared key set to a marker (each marker must appear: every
// declared key is used by every language), and with one required key
// missing (must fail, naming the key).
func TestCatalogueTemplatesUseDeclaredDetails(t *testing.T) {
	for _, e := range All() {
		for _, lang := range Languages {
			t.Run(e.ID+"/"+lang, func(t *testing.T) {
				required := map[string]string{}
				for _, k := range e.RequiredDetails {
					required[k] = e.Example[k]
				}
				got, err := e.Describe(lang, required)
				if err != nil {
					t.Fatalf("required details only: %v", err)
				}
				if strings.Contains(got, "<no value>") || strings.Contains(got, "{{") {
					t.Errorf("unrendered placeholder in %q", got)
				}

				markers := map[string]string{}
				for _, k := range slices.Concat(e.RequiredDetails, e.OptionalDetails) {
					markers[k] = "<<" + k + ">>"
				}
				got, err = e.Describe(lang, markers)
				if err != nil {
					t.Fatalf("all details: %v", err)
				}
				for k, v := range markers {
					if !strings.Contains(got, v) {
						t.Errorf("detail %q declared but not shown in %s description: %q", k, lang, got)
					}
				}

				for _, k := range e.RequiredDetails {
					without := maps.Clone(required)
					delete(without, k)
					_, err := e.Describe(lang, without)
					if err == nil || !strings.Contains(err.Error(), k) {
						t.Errorf("without %q: err = %v, want one naming the key", k, err)
					}
				}
			})
		}
	}
}

func TestLanguageFallback(t *testing.T) {
	e, ok := Lookup("KV_TORAccess")
	if !ok {
		t.Fatal("KV_TORAccess missing")
	}
	en := e.Text("en")
	tests := []struct {
		lang string
		want string // normalised language
	}{
		{"en", "en"}, {"ja", "ja"}, {"nl", "nl"},
		{"ja-JP", "ja"}, {"nl-BE", "nl"}, {"NL", "nl"}, {"nl_NL", "nl"}, {" ja ", "ja"},
		{"en-GB", "en"}, {"de", "en"}, {"fr-FR", "en"}, {"", "en"}, {"zz-invalid-tag", "en"}, {"日本語", "en"},
	}
	for _, tt := range tests {
		if got := NormalizeLanguage(tt.lang); got != tt.want {
			t.Errorf("NormalizeLanguage(%q) = %q, want %q", tt.lang, got, tt.want)
		}
		tx := e.Text(tt.lang)
		want := e.Text(tt.want)
		if tx.DisplayName != want.DisplayName || !slices.Equal(tx.Remediation, want.Remediation) {
			t.Errorf("Text(%q) = %q, want the %s texts %q", tt.lang, tx.DisplayName, tt.want, want.DisplayName)
		}
		d, err := e.Describe(tt.lang, e.Example)
		if err != nil {
			t.Fatal(err)
		}
		wantD, _ := e.Describe(tt.want, e.Example)
		if d != wantD {
			t.Errorf("Describe(%q) differs from Describe(%q)", tt.lang, tt.want)
		}
	}
	if e.Text("de").DisplayName != en.DisplayName {
		t.Error("unknown language did not fall back to en")
	}
}

func TestEntryCopiesAreIndependent(t *testing.T) {
	a, _ := Lookup("KV_TORAccess")
	a.Tactics[0] = "Changed"
	a.Text("en").Remediation[0] = "changed"
	a.Example["vault"] = "changed"
	b, _ := Lookup("KV_TORAccess")
	if b.Tactics[0] == "Changed" || b.Text("en").Remediation[0] == "changed" || b.Example["vault"] == "changed" {
		t.Error("modifying a looked-up entry changed the catalogue")
	}
	var zero Entry
	if _, err := zero.Describe("en", nil); err == nil {
		t.Error("zero Entry: Describe gave no error")
	}
	if zero.Text("en").DisplayName != "" {
		t.Error("zero Entry: Text not empty")
	}
}

// validEntry is a minimal correct catalogue file; the error cases below
// each break one thing in it.
const validPlaybook = `
playbooks:
  pb:
    source: test
    steps:
      en: [one, two]
      ja: [一, 二]
      nl: [een, twee]
`

const validAlert = `
alerts:
  - id: T_Test
    severity: low
    confidence: medium
    tactics: [Discovery]
    techniques: [T1087.004]
    playbook: pb
    details:
      required: [vault]
      optional: [ip]
    example: {vault: v1}
    text:
      en: {name: Test, description: "vault {{.vault}}{{with .ip}} from {{.}}{{end}}", remediation: [first]}
      ja: {name: テスト, description: "コンテナー {{.vault}}{{with .ip}} {{.}} から{{end}}", remediation: [最初]}
      nl: {name: Proef, description: "kluis {{.vault}}{{with .ip}} vanaf {{.}}{{end}}", remediation: [eerst]}
`

func TestLoadValid(t *testing.T) {
	c, err := Load(fstest.MapFS{
		"a.yaml": {Data: []byte(validPlaybook)},
		"b.yaml": {Data: []byte(validAlert)},
		"c.txt":  {Data: []byte("not a catalogue file")},
	})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := c.Lookup("T_Test")
	if !ok {
		t.Fatal("T_Test missing")
	}
	if got := e.Text("nl").Remediation; !slices.Equal(got, []string{"eerst", "een", "twee"}) {
		t.Errorf("nl remediation = %q, want the entry's step then the playbook's", got)
	}
	if got, _ := e.Describe("en", map[string]string{"vault": "v", "ip": "192.0.2.1", "extra": "x"}); got != "vault v from 192.0.2.1" {
		t.Errorf("Describe = %q", got)
	}
	if got, _ := e.Describe("ja", map[string]string{"vault": "v"}); got != "コンテナー v" {
		t.Errorf("Describe without optional = %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{"no files", map[string]string{}, "no *.yaml files"},
		{"yaml syntax", map[string]string{"a.yaml": "alerts: [\n  {id: x"}, "a.yaml"},
		{"unknown field", map[string]string{"a.yaml": validPlaybook + "\nbogus: 1\n"}, "bogus"},
		{"unknown field in alert", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "severity: low", "severity: low\n    colour: red", 1)}, "colour"},
		{"bad id", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "T_Test", "T Test", 1)}, `"T Test"`},
		{"duplicate id", map[string]string{"a.yaml": validPlaybook + validAlert, "b.yaml": validAlert}, "defined twice"},
		{"duplicate playbook", map[string]string{"a.yaml": validPlaybook, "b.yaml": validPlaybook}, "defined twice"},
		{"bad severity", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "severity: low", "severity: severe", 1)}, "severity"},
		{"bad confidence", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "confidence: medium", "confidence: sure", 1)}, "confidence"},
		{"bad tactic", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "[Discovery]", "[Credential Access]", 1)}, "tactic"},
		{"no tactics", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "tactics: [Discovery]", "tactics: []", 1)}, "no tactics"},
		{"bad technique", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "T1087.004", "1087", 1)}, "technique"},
		{"unknown playbook", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "playbook: pb", "playbook: nope", 1)}, "unknown playbook"},
		{"missing language", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "      nl: {name: Proef", "      xx: {name: Proef", 1)}, `language "xx"`},
		{"empty name", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "name: Proef", `name: ""`, 1)}, "nl: name and description"},
		{"bad template", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "kluis {{.vault}}", "kluis {{.vault", 1)}, "nl description"},
		{"undeclared key", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "kluis {{.vault}}", "kluis {{.vault}} {{.who}}", 1)}, "who"},
		{"example lacks required", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "example: {vault: v1}", "example: {ip: 192.0.2.1}", 1)}, `required detail "vault"`},
		{"example undeclared", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "example: {vault: v1}", "example: {vault: v1, who: x}", 1)}, `undeclared detail "who"`},
		{"bad detail key", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "optional: [ip]", "optional: [ip-address]", 1)}, "ip-address"},
		{"detail twice", map[string]string{"a.yaml": validPlaybook + strings.Replace(validAlert, "optional: [ip]", "optional: [ip, vault]", 1)}, "declared twice"},
		{"steps mismatch", map[string]string{"a.yaml": strings.Replace(validPlaybook, "nl: [een, twee]", "nl: [een]", 1) + validAlert}, "step for step"},
		{"playbook language missing", map[string]string{"a.yaml": strings.Replace(validPlaybook, "      ja: [一, 二]\n", "", 1) + validAlert}, "no steps in ja"},
		{"empty step", map[string]string{"a.yaml": strings.Replace(validPlaybook, "en: [one, two]", `en: [one, " "]`, 1) + validAlert}, "step 2 in en is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			c, err := Load(fsys)
			if err == nil {
				t.Fatalf("Load succeeded (%d entries), want error containing %q", len(c.All()), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadYAMLErrorHasPosition(t *testing.T) {
	_, err := Load(fstest.MapFS{"x.yaml": {Data: []byte("alerts:\n  - id: A\n    severity: [low\n")}})
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "x.yaml") || !strings.Contains(err.Error(), "[3:") {
		t.Errorf("error %q lacks the file name and line:column", err)
	}
}

// maxFuzzBytes caps the catalogue file FuzzLoad loads. Every input that
// widens coverage is minimized (one load per byte removed, up to quadratic
// in its length) before fuzzing goes on; on the 40 KB embedded files that
// took the whole run. An alert entry fits in a kilobyte.
const maxFuzzBytes = 1 << 10

// FuzzLoad feeds arbitrary bytes as a catalogue file: Load must return a
// catalogue or an error, never panic, and a loaded catalogue must describe
// every entry's example.
func FuzzLoad(f *testing.F) {
	// Seeds: one entry in the real files' shape, and the start of each
	// embedded file (its first entry, cut at the cap).
	files, err := fs.Glob(embedded, "catalogue/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := embedded.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), maxFuzzBytes)])
	}
	f.Add([]byte(validAlert))
	f.Add([]byte(strings.Replace(validAlert, "playbook: pb", "playbook: keyvault", 1)))
	f.Add([]byte("alerts: [{id: &a x, severity: *a}]"))
	// Small stand-ins for the playbooks the embedded alerts name, so that
	// alert-only inputs are checked in depth without parsing the real
	// playbooks on every run.
	const playbooks = `
playbooks:
  keyvault: {source: s, steps: {en: [a], ja: [あ], nl: [a]}}
  resource-manager: {source: s, steps: {en: [a], ja: [あ], nl: [a]}}
`
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		data = data[:min(len(data), maxFuzzBytes)]
		c, err := Load(fstest.MapFS{"a_playbooks.yaml": {Data: []byte(playbooks)}, "b.yaml": {Data: data}})
		if err != nil {
			return
		}
		for _, e := range c.All() {
			for _, lang := range Languages {
				if _, err := e.Describe(lang, e.Example); err != nil {
					t.Errorf("%s: loaded entry cannot describe its example: %v", e.ID, err)
				}
			}
		}
	})
}

func BenchmarkDescribe(b *testing.B) {
	e, _ := Lookup("KV_ListGetAnomaly")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Describe("ja", e.Example); err != nil {
			b.Fatal(err)
		}
	}
}
