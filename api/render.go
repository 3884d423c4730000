package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/vigil-security/vigil/alert"
)

// languages are the languages alerts are rendered in.
var languages = []string{"en", "ja", "nl"}

// DetailCatalogOfferID is the alert Details key whose value, when present,
// is shown as Graph's catalogOfferId.
const DetailCatalogOfferID = "catalogOfferId"

// graphAlert is partnerSecurityAlert as served: alert.Render's shape plus
// the Graph properties it leaves out or omits when empty, shown as null.
type graphAlert struct {
	alert.GraphAlert
	// ValueAddedResellerTenantID shadows the embedded field so that an
	// alert without one shows null, as Graph does, rather than nothing.
	ValueAddedResellerTenantID *string `json:"valueAddedResellerTenantId"`
	CatalogOfferID             *string `json:"catalogOfferId"`
}

func render(a *alert.Alert, lang string) graphAlert {
	g := graphAlert{GraphAlert: alert.Render(a, lang)}
	if v := g.GraphAlert.ValueAddedResellerTenantID; v != "" {
		g.ValueAddedResellerTenantID = &v
	}
	if v := a.Details[DetailCatalogOfferID]; v != "" {
		g.CatalogOfferID = &v
	}
	return g
}

// pickLanguage returns the language for a request: ?lang= when it names a
// known language, else the best known one in Accept-Language, else def.
func pickLanguage(r *http.Request, def string) string {
	if l := strings.ToLower(r.URL.Query().Get("lang")); l != "" {
		if base, ok := known(l); ok {
			return base
		}
	}
	if l, ok := acceptLanguage(r.Header.Get("Accept-Language")); ok {
		return l
	}
	return def
}

// known maps a language tag to a known language by its primary subtag.
func known(tag string) (string, bool) {
	base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
	for _, l := range languages {
		if base == l {
			return l, true
		}
	}
	return "", false
}

// acceptLanguage picks the known language with the highest quality from an
// Accept-Language header (RFC 9110 section 12.5.4); ties go to the first
// listed. q=0 excludes a language. Malformed items are skipped.
func acceptLanguage(h string) (string, bool) {
	best, bestQ := "", 0.0
	for item := range strings.SplitSeq(h, ",") {
		tag, params, _ := strings.Cut(item, ";")
		l, ok := known(tag)
		if !ok {
			continue
		}
		q := 1.0
		if params != "" {
			k, v, _ := strings.Cut(strings.TrimSpace(params), "=")
			if !strings.EqualFold(strings.TrimSpace(k), "q") {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best, bestQ > 0
}

// marshalSelected encodes v, keeping only the selected properties, in the
// order given, when sel is not nil. A selected property the value omits is
// shown as null.
func marshalSelected(v any, sel []string) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if sel == nil {
		return b, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, fmt.Errorf("select: %w", err)
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for i, name := range sel {
		if i > 0 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		out.Write(k)
		out.WriteByte(':')
		if val, ok := all[name]; ok {
			out.Write(val)
		} else {
			out.WriteString("null")
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// listBody is a Graph collection response.
type listBody struct {
	Context  string            `json:"@odata.context"`
	Count    *int              `json:"@odata.count,omitempty"`
	NextLink string            `json:"@odata.nextLink,omitempty"`
	Value    []json.RawMessage `json:"value"`
}

// versionPrefix returns the Graph version segment the request used:
// "/v1.0", "/beta" or "".
func versionPrefix(path string) string {
	for _, p := range []string{"/v1.0", "/beta"} {
		if strings.HasPrefix(path, p+"/") {
			return p
		}
	}
	return ""
}

// baseURL is the scheme and host the service is reached at (see links).
func (h *handler) baseURL(r *http.Request) string {
	return h.links.base(r)
}

// contextURL is the @odata.context of a response about entitySet (such as
// "security/partner/securityAlerts"), with the selected properties and
// "/$entity" for a single entity.
func (h *handler) contextURL(r *http.Request, entitySet string, sel []string, single bool) string {
	u := h.baseURL(r) + versionPrefix(r.URL.Path) + "/$metadata#" + entitySet
	if sel != nil {
		u += "(" + strings.Join(sel, ",") + ")"
	}
	if single {
		u += "/$entity"
	}
	return u
}
