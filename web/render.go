package web

import (
	"bytes"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/tenancy"
)

// pageNames are the templates of the pages; each is parsed with layout.html.
var pageNames = []string{"login", "alerts", "alert", "rules", "activity", "summary", "error"}

// pageSet holds each page's template in each language.
type pageSet struct {
	t   map[string]map[string]*template.Template // page -> lang -> template
	cat catalogue
}

func parsePages() (*pageSet, error) {
	c, err := uiStrings()
	if err != nil {
		return nil, err
	}
	ps := &pageSet{t: map[string]map[string]*template.Template{}, cat: c}
	for _, page := range pageNames {
		ps.t[page] = map[string]*template.Template{}
		for _, lang := range languages {
			t, err := template.New("layout.html").Funcs(funcs(c, lang)).
				ParseFS(assets, "templates/layout.html", "templates/"+page+".html")
			if err != nil {
				return nil, fmt.Errorf("template %s: %w", page, err)
			}
			ps.t[page][lang] = t
		}
	}
	return ps, nil
}

// timeLayout shows times to the minute, in UTC.
const timeLayout = "2006-01-02 15:04"

// funcs are the template functions in one language.
func funcs(c catalogue, lang string) template.FuncMap {
	return template.FuncMap{
		"t": func(key string, args ...any) string { return c.translate(lang, key, args...) },
		// tv is t with the arguments in a slice; arguments that are
		// "status.*" keys are translated first.
		"tv": func(key string, args []any) string {
			out := make([]any, len(args))
			for i, a := range args {
				if s, ok := a.(string); ok && strings.HasPrefix(s, "status.") {
					a = c.translate(lang, s)
				}
				out[i] = a
			}
			return c.translate(lang, key, out...)
		},
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format(timeLayout)
		},
		// tr translates prefix+value when the catalogue has it, else shows
		// the value as it is (entity kinds, roles, rule reasons: data that
		// usually has a translation).
		"tr": func(prefix, value string) string {
			if _, ok := c[lang][prefix+value]; ok {
				return c.translate(lang, prefix+value)
			}
			return value
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"num": formatInt,
		"short": func(id string) string {
			id = strings.TrimRight(id, "/")
			if i := strings.LastIndexByte(id, '/'); i >= 0 {
				return id[i+1:]
			}
			return id
		},
		"add": func(a, b int) int { return a + b },
	}
}

// formatInt writes n with thousands separators.
func formatInt(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// pageData is what every page template gets.
type pageData struct {
	Title string // i18n key of the page title
	Nav   string // the navigation entry to mark current
	Lang  string
	// Path is the page's own URL, for the language links.
	Path     string
	User     *userView
	CSRF     string
	Flash    string // already translated
	Langs    []string
	HasStore bool // the store has the dashboard's extras
	Page     any
}

// userView is the signed-in user as the layout shows it.
type userView struct {
	Name     string
	Scope    string // partner or customer name
	Partner  bool
	CanWrite bool
}

// render writes the page in the request's language.
func (h *handler) render(w http.ResponseWriter, r *http.Request, code int, page string, d pageData) {
	d.Lang = pickLanguage(r, h.lang)
	d.Path = r.URL.RequestURI()
	d.Langs = languages
	d.HasStore = h.dash != nil
	if p, ok := r.Context().Value(ctxKey{}).(*principal); ok && p != nil {
		d.CSRF = p.sess.csrf
		d.User = &userView{Name: p.tok.Name, Partner: p.partner(), CanWrite: p.tok.Write}
		if p.partner() {
			d.User.Scope = h.names.partner(p.tok.PartnerID)
		} else {
			d.User.Scope = h.names.tenant(p.tok.TenantID)
		}
	}
	if key := r.URL.Query().Get("done"); key != "" && strings.HasPrefix(key, "flash.") {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		d.Flash = h.pages.cat.translate(d.Lang, key, n)
	}
	var buf bytes.Buffer
	if err := h.pages.t[page][d.Lang].Execute(&buf, d); err != nil {
		h.log.ErrorContext(r.Context(), "web: render", slog.String("page", page), slog.Any("error", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// errorData is the error page's data.
type errorData struct {
	Code    int
	Message string // an i18n key
	Detail  string // untranslated detail, such as a validation error
}

// errorPage answers with the error page.
func (h *handler) errorPage(w http.ResponseWriter, r *http.Request, code int, key string) {
	h.render(w, r, code, "error", pageData{Title: "error.title", Page: errorData{Code: code, Message: key}})
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	if p, err := h.principal(r); err == nil && p != nil {
		r = r.WithContext(contextWith(r, p))
	}
	h.errorPage(w, r, http.StatusNotFound, "error.notFound")
}

// serverError logs err and answers 500 (or 404 for a not-found error).
func (h *handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "web: request", slog.String("path", r.URL.Path), slog.Any("error", err))
	h.errorPage(w, r, http.StatusInternalServerError, "error.internal")
}

// redirectDone goes to target with a flash message (an i18n key starting
// with "flash.") and a number for it.
func redirectDone(w http.ResponseWriter, r *http.Request, target, key string, n int) {
	u, err := url.Parse(localPath(target))
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Set("done", key)
	q.Set("n", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// names gives the directory's names of partners, tenants and subscriptions.
type names struct {
	partners, tenants, subs map[string]string
}

func newNames(d *tenancy.Directory) names {
	n := names{partners: map[string]string{}, tenants: map[string]string{}, subs: map[string]string{}}
	if d == nil {
		return n
	}
	for _, p := range d.Partners {
		n.partners[tenancy.NormalizeID(p.ID)] = p.Name
	}
	for _, c := range d.Customers {
		n.tenants[tenancy.NormalizeID(c.TenantID)] = c.Name
		for _, s := range c.Subscriptions {
			n.subs[tenancy.NormalizeID(s.ID)] = s.Name
		}
	}
	return n
}

func orID(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func (n names) partner(id string) string { return orID(n.partners[id], id) }
func (n names) tenant(id string) string  { return orID(n.tenants[id], id) }
func (n names) sub(id string) string     { return orID(n.subs[id], id) }
