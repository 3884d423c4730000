package azurelog

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/vigil-security/vigil/event"
)

// text returns a string member's content, unescaped; nil for any other
// kind of value (or an absent one). The bytes are valid while the record is
// decoded.
func (r *Reader) text(rec []byte, s span) []byte {
	if s.kind != kindString {
		return nil
	}
	b := rec[s.start:s.end]
	if !s.esc {
		return b
	}
	n := len(r.unesc)
	r.unesc = unescape(r.unesc, b)
	return r.unesc[n:]
}

// integer returns a number, or a number written as a string.
func (r *Reader) integer(rec []byte, s span) (int64, bool) {
	switch s.kind {
	case kindString:
		return parseInt(r.text(rec, s))
	case kindNumber:
		b := rec[s.start:s.end]
		if n, ok := parseInt(b); ok {
			return n, true
		}
		if f, err := strconv.ParseFloat(string(b), 64); err == nil && f > -9e18 && f < 9e18 {
			return int64(f), true
		}
	}
	return 0, false
}

// decode fills op from the members the walker captured in rec.
func (r *Reader) decode(rec []byte, c *captures, op *event.Op) error {
	r.unesc = r.unesc[:0]
	ts := c.time
	if ts.kind == 0 {
		ts = c.eventTimestamp
	}
	if ts.kind == 0 {
		return ErrNoTime
	}
	if ts.kind != kindString {
		return fmt.Errorf("%w: not a string", ErrBadTime)
	}
	t, ok := parseTime(r.text(rec, ts))
	if !ok {
		return fmt.Errorf("%w %q", ErrBadTime, r.text(rec, ts))
	}
	op.Time = t

	ri := r.resource(r.text(rec, c.resourceID))
	opName := r.text(rec, c.operationName)
	category := r.text(rec, c.category)
	op.Kind = event.KindActivity
	if equalFold(category, "AuditEvent") || c.identityClaim ||
		ri.vault && len(opName) > 0 && bytes.IndexByte(opName, '/') < 0 {
		// The Key Vault AuditEvent: its category, its identity shape
		// (identity.claim where the Activity Log has claims), or a vault
		// resource with a Key Vault operation name (no slash, unlike
		// Resource Manager operations).
		op.Kind = event.KindKeyVault
	}

	r.setResource(rec, c, op, ri)
	if op.Kind == event.KindKeyVault {
		op.Operation = r.keyVaultOperation(opName)
	} else {
		r.scratch = lower(r.scratch[:0], opName)
		op.Operation = r.strs.bytes(r.scratch)
	}
	op.Category = r.strs.bytes(category)

	if b := r.text(rec, c.resultType); b != nil {
		op.Result = r.strs.bytes(b)
	} else {
		op.Result = r.strs.bytes(r.text(rec, c.status))
	}
	if b := r.text(rec, c.resultSignature); b != nil {
		op.ResultSignature = r.strs.bytes(b)
	} else {
		op.ResultSignature = r.strs.bytes(r.text(rec, c.subStatus))
	}
	op.DurationMs, _ = r.integer(rec, c.durationMs)
	// Correlation IDs are unique per request: copied, not cached.
	if b := r.text(rec, c.correlationID); len(b) > 0 {
		op.CorrelationID = string(b)
	}

	r.principal(rec, c, op)
	if b := r.text(rec, c.tenantID); b != nil {
		op.TenantID = r.strs.bytes(b)
	} else {
		op.TenantID = op.Caller.TenantID
	}

	// Caller address: callerIpAddress, REST httpRequest.clientIpAddress,
	// and only when the record has neither, the ipaddr claim.
	switch {
	case c.callerIP.kind != 0:
		op.CallerIPText, op.CallerIP = r.ips.lookup(r.text(rec, c.callerIP))
	case c.clientIP.kind != 0:
		op.CallerIPText, op.CallerIP = r.ips.lookup(r.text(rec, c.clientIP))
	case c.ipaddr.kind != 0:
		op.CallerIPText, op.CallerIP = r.ips.lookup(r.text(rec, c.ipaddr))
	}

	if op.Kind == event.KindActivity {
		switch {
		case c.idAuth:
			op.Target = r.strs.bytes(r.text(rec, c.idScope))
		case c.topAuth:
			op.Target = r.strs.bytes(r.text(rec, c.topScope))
		}
	}
	if c.propertiesIsObject {
		r.properties(rec, c, op)
	}
	return nil
}

// keyVaultOperation returns a Key Vault operation name in its documented
// casing, or as given when it is not a documented one.
func (r *Reader) keyVaultOperation(name []byte) string {
	if s, ok := kvOps[string(name)]; ok {
		return s
	}
	var lb [64]byte
	if low, ok := lowerKey(lb[:], name); ok {
		if s, ok := kvOps[string(low)]; ok {
			return s
		}
	}
	return r.strs.bytes(name)
}

// setResource fills the resource fields from the record and its resource ID.
func (r *Reader) setResource(rec []byte, c *captures, op *event.Op, ri *resourceInfo) {
	op.ResourceID = ri.id
	op.ResourceName = ri.name
	op.SubscriptionID = ri.sub
	if b := r.text(rec, c.subscriptionID); b != nil {
		r.scratch = lower(r.scratch[:0], b)
		op.SubscriptionID = r.strs.bytes(r.scratch)
	}
	op.ResourceGroup = ri.rg
	if b := r.text(rec, c.resourceGroup); b != nil {
		op.ResourceGroup = r.strs.bytes(b)
	}
	op.ResourceType = ri.rtype
	if op.Kind == event.KindKeyVault {
		op.ResourceType = ri.kvType
	}
	if b := r.text(rec, c.resourceType); b != nil {
		op.ResourceType = r.strs.bytes(b)
		if op.Kind == event.KindKeyVault {
			op.ResourceType = keyVaultType(op.ResourceType)
		}
	}
}

// principal fills op.Caller from the claims and the RBAC evidence.
func (r *Reader) principal(rec []byte, c *captures, op *event.Op) {
	p := &op.Caller
	p.ObjectID = r.strs.bytes(r.text(rec, c.oid))
	upn := r.text(rec, c.upn)
	if len(upn) == 0 {
		if b := r.text(rec, c.uniqueName); bytes.IndexByte(b, '@') >= 0 {
			upn = b
		} else if b := r.text(rec, c.email); bytes.IndexByte(b, '@') >= 0 {
			upn = b
		} else if b := r.text(rec, c.caller); bytes.IndexByte(b, '@') >= 0 {
			upn = b
		}
	}
	p.UPN = r.strs.bytes(bytes.TrimSpace(upn))
	if b := r.text(rec, c.appid); len(b) > 0 {
		p.AppID = r.strs.bytes(b)
	} else {
		p.AppID = r.strs.bytes(r.text(rec, c.azp))
	}
	p.TenantID = r.strs.bytes(r.text(rec, c.tid))
	p.Name = r.strs.bytes(r.text(rec, c.name))

	ptype := c.topPrincipalType
	if c.idAuth {
		ptype = c.idPrincipalType
	}
	pt := r.text(rec, ptype)
	switch {
	case p.UPN != "", equalFold(pt, "User"):
		p.Type = event.PrincipalUser
	case equalFold(pt, "ServicePrincipal"), equalFold(r.text(rec, c.idtyp), "app"), p.AppID != "":
		p.Type = event.PrincipalApp
	}
}

// properties fills what the record's "properties" object holds: Key Vault
// clientInfo, object id, HTTP status and added access policies; Activity Log
// status code and request / response bodies.
func (r *Reader) properties(rec []byte, c *captures, op *event.Op) {
	op.ClientInfo = r.strs.bytes(r.text(rec, c.clientInfo))
	if op.Kind == event.KindKeyVault {
		op.Target = r.targets.bytes(r.text(rec, c.id))
	}
	if n, ok := r.integer(rec, c.httpStatusCode); ok {
		op.StatusCode = int(n)
	} else if s := r.text(rec, c.statusCode); s != nil {
		if n, ok := parseInt(s); ok {
			op.StatusCode = int(n)
		} else {
			var lb [24]byte
			if low, ok := lowerKey(lb[:], s); ok {
				op.StatusCode = httpStatusNames[string(low)]
			}
		}
	}
	op.RequestBody = r.jsonText(rec, c.requestBody)
	op.ResponseBody = r.jsonText(rec, c.responseBody)
	for _, s := range c.policies {
		op.AddedAccessPolicy = append(op.AddedAccessPolicy, r.strs.bytes(r.text(rec, s)))
	}
}

// jsonText returns a body as JSON text: a string's content, or any other
// value as it is written in the record.
func (r *Reader) jsonText(rec []byte, s span) string {
	switch s.kind {
	case 0, kindNull:
		return ""
	case kindString:
		return string(r.text(rec, s))
	}
	return string(rec[s.start:s.end])
}
