package armbehaviour

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// matcher holds Resource Manager operation names, lower-cased: exact names,
// and the prefixes of names ending in "*".
type matcher struct {
	exact    map[string]bool
	prefixes []string
}

func newMatcher(names []string) matcher {
	m := matcher{exact: map[string]bool{}}
	for _, n := range names {
		n = strings.ToLower(n)
		if p, ok := strings.CutSuffix(n, "*"); ok {
			m.prefixes = append(m.prefixes, p)
			continue
		}
		m.exact[n] = true
	}
	return m
}

// prefixed reports whether the lower-cased operation matches a "*" name.
func (m *matcher) prefixed(op string) bool {
	for _, p := range m.prefixes {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// ranges is a small set of CIDRs (the organisation's VPN and egress
// ranges): a linear scan, as there are a handful.
type ranges []netip.Prefix

func newRanges(cidrs []string) ranges {
	var r ranges
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			r = append(r, p.Masked())
		}
	}
	return r
}

func (r ranges) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// isUser reports whether the caller is a person.
func isUser(p *event.Principal) bool { return p.Type == event.PrincipalUser || p.UPN != "" }

// pending reports whether an Activity Log result is an intermediate record
// of a request (Start, Accept): the final one (Success, Failure) stands for it.
func pending(result string) bool {
	switch {
	case strings.EqualFold(result, "Start"), strings.EqualFold(result, "Started"),
		strings.EqualFold(result, "Accept"), strings.EqualFold(result, "Accepted"):
		return true
	}
	return false
}

// tenantOf is the tenant an operation belongs to, lower-cased.
func tenantOf(op *event.Op) string {
	t := op.TenantID
	if t == "" {
		t = op.Caller.TenantID
	}
	return strings.ToLower(t)
}

// provider is the resource provider of an operation name ("microsoft.storage").
func provider(op string) string {
	if i := strings.IndexByte(op, '/'); i > 0 {
		return strings.ToLower(op[:i])
	}
	return strings.ToLower(op)
}

// dayOf is the Unix day (UTC) of t.
func dayOf(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// earthRadiusKm is the mean Earth radius (IUGG).
const earthRadiusKm = 6371.0088

// distanceKm is the great-circle distance between two points (haversine).
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(1, a)))
}

// base fills what every candidate of this package carries besides Acc's
// details: resource (the subscription), subscription, objectId, appId.
func base(c *alert.Candidate, r *azops.Rec) {
	sub := r.Subscription()
	c.Resource = "/subscriptions/" + sub
	if sub == "" {
		c.Resource = r.ResourceID
	}
	if c.Resource == "" {
		c.Resource = "/tenants/" + c.TenantID
	}
	c.SubscriptionID = sub
	c.Details["subscription"] = sub
	c.Details["objectId"] = r.Caller.ObjectID
	c.Details["appId"] = r.Caller.AppID
	c.Entities = append(c.Entities, alert.Entity{Type: alert.EntityAzureResource, Role: "compromised", ResourceID: c.Resource})
}

// related adds the resources of the records as azure-resource entities
// (role "related", distinct, at most 5) and returns their IDs.
func related(c *alert.Candidate, recs []azops.Rec) []string {
	var ids []string
	for i := range recs {
		id := recs[i].ResourceID
		if id == "" || len(ids) >= 5 || containsFold(ids, id) {
			continue
		}
		ids = append(ids, id)
		c.Entities = append(c.Entities, alert.Entity{Type: alert.EntityAzureResource, Role: "related", ResourceID: id})
	}
	return ids
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

// days renders a duration in whole days.
func days(d time.Duration) string { return strconv.Itoa(int(d / (24 * time.Hour))) }
