package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// languages are the dashboard's languages, the default first.
var languages = []string{"en", "ja", "nl"}

// catalogue maps a language to its UI strings by key.
type catalogue map[string]map[string]string

var (
	catOnce sync.Once
	cat     catalogue
	catErr  error
)

// strings returns the embedded UI strings (i18n/*.json), loaded once. Each
// language must have exactly the keys English has.
func uiStrings() (catalogue, error) {
	catOnce.Do(func() {
		cat = catalogue{}
		for _, l := range languages {
			b, err := assets.ReadFile("i18n/" + l + ".json")
			if err != nil {
				catErr = fmt.Errorf("ui strings %s: %w", l, err)
				return
			}
			m := map[string]string{}
			if err := json.Unmarshal(b, &m); err != nil {
				catErr = fmt.Errorf("ui strings %s: %w", l, err)
				return
			}
			cat[l] = m
		}
		for _, l := range languages[1:] {
			for k := range cat["en"] {
				if _, ok := cat[l][k]; !ok {
					catErr = fmt.Errorf("ui strings %s: no %q", l, k)
					return
				}
			}
			for k := range cat[l] {
				if _, ok := cat["en"][k]; !ok {
					catErr = fmt.Errorf("ui strings %s: %q is not in en", l, k)
					return
				}
			}
		}
	})
	return cat, catErr
}

// translate returns the string key in lang, formatted with args as by
// fmt.Sprintf; an unknown key shows as itself, so a missing string is seen
// (and a test fails) rather than hidden.
func (c catalogue) translate(lang, key string, args ...any) string {
	s, ok := c[lang][key]
	if !ok {
		return key
	}
	if len(args) > 0 && strings.Contains(s, "%") {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// pickLanguage returns the request's language: the chosen one (cookie),
// else the best known one in Accept-Language, else def.
func pickLanguage(r *http.Request, def string) string {
	if c, err := r.Cookie(langCookie); err == nil && slices.Contains(languages, c.Value) {
		return c.Value
	}
	best, bestQ := def, 0.0
	for item := range strings.SplitSeq(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(item, ";")
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if !slices.Contains(languages, base) {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}
