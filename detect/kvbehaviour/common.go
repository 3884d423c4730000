package kvbehaviour

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/vigil-security/vigil/alert"
	"github.com/vigil-security/vigil/detect/internal/azops"
	"github.com/vigil-security/vigil/event"
)

// maxListed is the most values a list detail (vaults, countries) names.
const maxListed = 10

// isUser reports whether the caller is a person (has a UPN or is typed a
// user); every other identified caller is an application.
func isUser(p *event.Principal) bool { return p.Type == event.PrincipalUser || p.UPN != "" }

// identified reports whether op names a caller: unauthenticated requests
// (the 401 challenge that precedes every SDK client's token) name nobody
// and are not behaviour of anyone.
func identified(op *event.Op) bool {
	return op.Caller.ObjectID != "" || op.Caller.UPN != "" || op.Caller.AppID != ""
}

// hourOf is the Unix hour holding t; dayOf the Unix day (UTC).
func hourOf(t time.Time) int64 {
	s := t.Unix()
	h := s / 3600
	if s%3600 < 0 {
		h--
	}
	return h
}

func dayOf(t time.Time) int64 { return floorDiv(hourOf(t), 24) }

// floorDiv is a/n rounded down (n > 0).
func floorDiv(a, n int64) int64 {
	q := a / n
	if a%n < 0 {
		q--
	}
	return q
}

// Hours and days of the years 1 to 9999, the times RFC 3339 can write: a
// restored state's must lie within them.
var (
	minHour = hourOf(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))
	maxHour = hourOf(time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC))
	minDay  = minHour / 24
	maxDay  = maxHour / 24
)

// mod is a modulo n (n > 0) in [0, n), for ring indexes of hours and days
// (which are negative before 1970).
func mod(a, n int64) int64 {
	m := a % n
	if m < 0 {
		m += n
	}
	return m
}

func hourTime(h int64) time.Time { return time.Unix(h*3600, 0).UTC() }

// raiser decides whether a candidate's severity is raised one step: the
// caller's address is a Tor exit or blocklisted, some of its operations
// were refused (403), or it came from a country the scope had not seen.
type raiser struct {
	categories []string
	minScore   int
}

func newRaiser(s settings) raiser {
	return raiser{categories: slices.Clone(s.RaiseCategories), minScore: s.RaiseMinScore}
}

// finish adds the severity raise and the details every behavioural
// candidate carries besides azops.Acc's: objectId, appId, newCountry
// (countries the scope had not seen, ", "-separated), learnedSince, and
// raisedBy (why the severity was raised, in English, "; "-separated).
func (rs raiser) finish(c *alert.Candidate, acc *azops.Acc, newCountries []string, learnedSince time.Time) {
	var caller *event.Principal
	if len(acc.Recs) > 0 {
		caller = &acc.Recs[0].Caller
	}
	if caller != nil {
		c.Details["objectId"] = caller.ObjectID
		c.Details["appId"] = caller.AppID
	} else {
		c.Details["objectId"], c.Details["appId"] = "", ""
	}
	c.Details["newCountry"] = strings.Join(newCountries, ", ")
	c.Details["learnedSince"] = azops.FormatTime(learnedSince)
	var why []string
	for i := range acc.Recs {
		if azops.MatchHits(acc.Recs[i].Intel, rs.categories, rs.minScore) {
			why = append(why, "address on a threat-intelligence list")
			break
		}
	}
	if acc.Denied > 0 {
		why = append(why, strconv.Itoa(acc.Denied)+" refused (403) attempt(s)")
	}
	if len(newCountries) > 0 {
		why = append(why, "new country "+c.Details["newCountry"])
	}
	c.Details["raisedBy"] = strings.Join(why, "; ")
	if len(why) > 0 {
		c.Severity = CatalogueSeverity.Raise()
	}
}

// addCountry appends cc to list (distinct, at most maxListed).
func addCountry(list []string, cc string) []string {
	if cc == "" || len(list) >= maxListed || slices.Contains(list, cc) {
		return list
	}
	return append(list, cc)
}

// vaultCandidate fills what every candidate about one vault carries: the
// resource (the vault's ID as recorded), the keyvault entity first, the
// vault and resource details, and the fingerprint: the vault's upper-cased
// ID and keys.
func vaultCandidate(c *alert.Candidate, r *azops.Rec, keys ...string) {
	c.Resource = azops.RecordedVaultID(r.ResourceID)
	c.Entities = append([]alert.Entity{azops.VaultEntity(r)}, c.Entities...)
	c.Details["vault"] = azops.VaultName(r)
	c.Details["resource"] = c.Resource
	c.FingerprintKeys = append([]string{vaultFingerprint(r)}, keys...)
}

// formatCount renders n with thousands separators: 12345 -> "12,345".
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// formatFloat renders a baseline number: whole numbers without decimals,
// others with one ("12", "2.5").
func formatFloat(f float64) string {
	if f == float64(int64(f)) && f < 1e15 && f > -1e15 {
		return formatCount(int64(f))
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

// formatDate renders a day for details: "2026-11-02".
func formatDate(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// vaultsSuffix is what precedes a vault's name in an upper-cased resource ID.
const vaultsSuffix = "/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS"

// vaultKey is the partition key of a vault: its name, upper-cased, or ""
// when id names no vault. Vault names are globally unique (each is the
// host name <name>.vault.azure.net), and a key a fifth of the resource ID's
// length is cheaper to route and to look up for every record. Key Vault
// audit records carry an upper-case vault ID, which is checked from its
// end; anything else goes through azops.VaultID.
func vaultKey(id string) string {
	j := strings.LastIndexByte(id, '/')
	if j > 0 && j < len(id)-1 && strings.HasSuffix(id[:j], vaultsSuffix) && upperASCII(id[j+1:]) {
		return id[j+1:]
	}
	v := azops.VaultID(id)
	return v[strings.LastIndexByte(v, '/')+1:]
}

// vaultFingerprint is the vault's key in fingerprints: its upper-cased
// resource ID, as the other Key Vault detections use.
func vaultFingerprint(r *azops.Rec) string { return azops.VaultID(r.ResourceID) }

// upperASCII reports whether s is ASCII without lower-case letters,
// eight bytes at a time.
func upperASCII(s string) bool {
	const (
		high = 0x8080808080808080
		ge61 = 0x1F1F1F1F1F1F1F1F // + this sets a byte's high bit when it is >= 'a'
		ge7B = 0x0505050505050505 // ... when it is > 'z'
	)
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if w&high != 0 || (w+ge61)&^(w+ge7B)&high != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c >= 0x80 || ('a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
