package simulate

import (
	"strconv"
	"strings"
	"time"
)

// renderer turns events into records, appending to one buffer; it keeps
// the rendered date of the current day so a time costs a few digits.
type renderer struct {
	e      *Estate
	day    int64
	prefix [11]byte // "2006-01-02T" of day
	armOps [numARMOps]string
}

func newRenderer(e *Estate) *renderer {
	rd := &renderer{e: e, day: -1}
	for i, op := range armOps {
		rd.armOps[i] = strings.ToUpper(op.action)
	}
	return rd
}

// appendTime appends ticks since the start as Azure writes times:
// 2026-11-02T09:14:03.1234567Z.
func (rd *renderer) appendTime(b []byte, t int64) []byte {
	abs := rd.e.start + t
	sec, frac := abs/ticksPerSecond, abs%ticksPerSecond
	day, sod := sec/86400, sec%86400
	if day != rd.day {
		rd.day = day
		time.Unix(day*86400, 0).UTC().AppendFormat(rd.prefix[:0], "2006-01-02T")
	}
	b = append(b, rd.prefix[:]...)
	b = append2(b, int(sod/3600))
	b = append(b, ':')
	b = append2(b, int(sod/60%60))
	b = append(b, ':')
	b = append2(b, int(sod%60))
	b = append(b, '.')
	var d [7]byte
	for i := 6; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	b = append(b, d[:]...)
	return append(b, 'Z')
}

func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

// appendGUIDOf appends a version-4 GUID derived from seed.
func appendGUIDOf(b []byte, seed uint64) []byte {
	hi, lo := mix(seed), mix(seed^0x6a09e667f3bcc909)
	hi = hi&^(0xf<<12) | 4<<12
	lo = lo&^(0x3<<62) | 2<<62
	return appendHex(appendHex(b, hi, true), lo, false)
}

// appendHex appends 16 hex digits of x; with dashes as the first or second
// half of a GUID.
func appendHex(b []byte, x uint64, firstHalf bool) []byte {
	const digits = "0123456789abcdef"
	for i := range 16 {
		if firstHalf && (i == 8 || i == 12) || !firstHalf && (i == 0 || i == 4) {
			b = append(b, '-')
		}
		b = append(b, digits[x>>(60-4*i)&0xf])
	}
	return b
}

// appendHex32 appends 32 hex digits derived from seed (an object version).
func appendHex32(b []byte, seed uint64) []byte {
	const digits = "0123456789abcdef"
	for _, x := range [2]uint64{mix(seed ^ 0xbb67ae8584caa73b), mix(seed ^ 0x3c6ef372fe94f82b)} {
		for i := range 16 {
			b = append(b, digits[x>>(60-4*i)&0xf])
		}
	}
	return b
}

var statusSignature = map[uint16]string{200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}

// missingSuffix names the secret an application asks for that is gone.
const missingSuffix = "-legacy"

// keyVault appends a Key Vault AuditEvent record in the shape of
// Microsoft's documented sample.
func (rd *renderer) keyVault(b []byte, x *ev) []byte {
	e := rd.e
	v := &e.vaults[x.vault]
	op := &kvOps[x.op]
	b = append(b, `{"time":"`...)
	b = rd.appendTime(b, x.t)
	b = append(b, `","resourceId":"`...)
	b = append(b, v.rid...)
	b = append(b, `","operationName":"`...)
	b = append(b, op.name...)
	b = append(b, `","operationVersion":"`...)
	mgmt := op.kind == okVaultGet || op.kind == okVaultWrite
	if mgmt {
		b = append(b, mgmtAPIVersion...)
	} else {
		b = append(b, dataAPIVersion...)
	}
	b = append(b, `","category":"AuditEvent","resultType":"Success","resultSignature":"`...)
	b = append(b, statusSignature[x.status]...)
	b = append(b, `","resultDescription":"`...)
	var obj *object
	if op.coll != collVault && int(x.obj) < len(v.objs[op.coll]) {
		obj = &v.objs[op.coll][x.obj]
	}
	missing := x.status == 404 && obj != nil
	switch {
	case x.status == 403:
		p := &e.principals[x.who]
		b = append(b, "The user, group or application 'appid="...)
		b = append(b, e.appIDs[x.app]...)
		b = append(b, ";oid="...)
		b = append(b, p.oid...)
		b = append(b, ";numgroups=0;iss=https://sts.windows.net/"...)
		b = append(b, e.tenants[p.tenant].id...)
		b = append(b, "/' does not have "...)
		b = append(b, op.perm...)
		b = append(b, " permission on key vault '"...)
		b = append(b, v.name...)
		b = append(b, ";location="...)
		b = append(b, v.region...)
		b = append(b, "'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"...)
	case missing:
		b = append(b, "A secret with (name/id) "...)
		b = append(b, obj.name...)
		b = append(b, missingSuffix...)
		b = append(b, " was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"...)
	}
	b = append(b, `","durationMs":"`...)
	b = strconv.AppendUint(b, uint64(x.dur), 10)
	b = append(b, `","callerIpAddress":"`...)
	b = append(b, e.ips[x.ip]...)
	b = append(b, `","correlationId":"`...)
	if !mgmt {
		b = appendGUIDOf(b, x.corr)
	}
	b = append(b, `",`...)
	if x.who != noPrincipal {
		b = append(b, e.principals[x.who].claim...)
		b = append(b, e.appIDs[x.app]...)
		b = append(b, `"}},`...)
	}
	b = append(b, `"properties":{"clientInfo":"`...)
	b = append(b, e.clients[x.client]...)
	b = append(b, `","requestUri":"`...)
	b = rd.uris(b, x, v, op, obj, missing)
	b = append(b, `,"httpStatusCode":`...)
	b = strconv.AppendUint(b, uint64(x.status), 10)
	if op.kind == okVaultWrite && x.extra > 0 {
		g := &e.principals[x.extra-1]
		b = append(b, `,"addedAccessPolicy":{"ObjectId":"`...)
		b = append(b, g.oid...)
		b = append(b, `","TenantId":"`...)
		b = append(b, e.tenants[g.tenant].id...)
		b = append(b, `","Permissions":{"keys":[],"secrets":["get","list"],"certificates":[]}}`...)
	}
	return append(b, `}}`...)
}

// uris appends the requestUri value (with its closing quote) and the id
// member when the operation returns an object.
func (rd *renderer) uris(b []byte, x *ev, v *vault, op *kvOp, obj *object, missing bool) []byte {
	coll := collNames[op.coll]
	name := func(b []byte) []byte {
		b = append(b, obj.name...)
		if missing {
			b = append(b, missingSuffix...)
		}
		return b
	}
	objURI := func(b []byte) []byte { // https://v.vault.azure.net/secrets/name
		b = append(b, v.base...)
		b = append(b, '/')
		b = append(b, coll...)
		b = append(b, '/')
		return name(b)
	}
	const api = "?api-version=" + dataAPIVersion + `"`
	withID := x.status != 401
	switch {
	case op.kind == okVaultGet || op.kind == okVaultWrite:
		if x.extra == 1 && op.kind == okVaultGet { // Azure Resource Graph
			b = append(b, "https://"...)
			b = append(b, v.region...)
			b = append(b, ".management.azure.com"...)
			b = append(b, v.mgmt...)
			b = append(b, "?api-version="+mgmtAPIVersion+`&MaskCMKEnabledProperties=true"`...)
		} else {
			b = append(b, "https://management.azure.com"...)
			b = append(b, v.mgmt...)
			b = append(b, "?api-version="+mgmtAPIVersion+`"`...)
		}
		if withID {
			b = append(b, `,"id":"`...)
			b = append(b, v.base...)
			b = append(b, `/"`...)
		}
		return b
	case op.kind == okList || obj == nil:
		b = append(b, v.base...)
		b = append(b, '/')
		b = append(b, coll...)
		return append(b, api...)
	}
	// The object's URI as requested, then as returned (id).
	switch op.kind {
	case okGet:
		b = append(objURI(b), "/"+api...)
	case okAction:
		b = append(objURI(b), '/')
		b = append(b, obj.version...)
		b = append(b, '/')
		b = append(b, op.verb...)
		b = append(b, api...)
	case okBackup:
		b = append(objURI(b), "/backup"+api...)
	case okPurge:
		b = append(b, v.base...)
		b = append(b, "/deleted"...)
		b = append(b, coll...)
		b = append(b, '/')
		b = append(name(b), api...)
	default: // okSet, okDelete
		b = append(objURI(b), api...)
	}
	if !withID {
		return b
	}
	b = append(b, `,"id":"`...)
	switch {
	case op.kind == okPurge:
		b = append(b, v.base...)
		b = append(b, "/deleted"...)
		b = append(b, coll...)
		b = append(b, '/')
		b = name(b)
	case op.kind == okSet:
		b = append(objURI(b), '/')
		b = appendHex32(b, x.corr)
	case (op.kind == okGet || op.kind == okAction) && x.status == 200:
		b = append(objURI(b), '/')
		b = append(b, obj.version...)
	default:
		b = objURI(b)
	}
	return append(b, '"')
}

// activity appends an Activity Log record in the shape of the records
// (storage and Event Hubs) sample of Microsoft's Activity Log schema.
func (rd *renderer) activity(b []byte, x *ev) []byte {
	e := rd.e
	res := &e.armRes[x.obj]
	op := &armOps[x.op]
	p := &e.principals[x.who]
	tenantID := e.tenants[p.tenant].id
	b = append(b, `{"time":"`...)
	b = rd.appendTime(b, x.t)
	b = append(b, `","resourceId":"`...)
	b = append(b, res.id...)
	b = append(b, `","operationName":"`...)
	b = append(b, rd.armOps[x.op]...)
	b = append(b, `","category":"`...)
	b = append(b, op.category...)
	switch x.status {
	case 0:
		b = append(b, `","resultType":"Start","resultSignature":"Started.","durationMs":0`...)
	case 201:
		b = append(b, `","resultType":"Success","resultSignature":"Succeeded.Created","durationMs":`...)
		b = strconv.AppendUint(b, uint64(x.dur), 10)
	default:
		b = append(b, `","resultType":"Success","resultSignature":"Succeeded.OK","durationMs":`...)
		b = strconv.AppendUint(b, uint64(x.dur), 10)
	}
	b = append(b, `,"callerIpAddress":"`...)
	b = append(b, e.ips[x.ip]...)
	b = append(b, `","correlationId":"`...)
	b = appendGUIDOf(b, x.corr)
	b = append(b, `","identity":{"authorization":{"scope":"`...)
	b = append(b, res.scope...)
	b = append(b, `","action":"`...)
	b = append(b, op.action...)
	b = append(b, `","evidence":{"role":"`...)
	b = append(b, p.role...)
	b = append(b, `","roleAssignmentScope":"/subscriptions/`...)
	b = append(b, e.subs[res.sub].id...)
	b = append(b, `","roleAssignmentId":"`...)
	b = append(b, p.assign...)
	b = append(b, `","roleDefinitionId":"`...)
	b = append(b, p.roleDef...)
	b = append(b, `","principalId":"`...)
	b = append(b, p.pidHex...)
	if p.kind == KindUser {
		b = append(b, `","principalType":"User"}},"claims":{"aud":"https://management.core.windows.net/","iss":"https://sts.windows.net/`...)
	} else {
		b = append(b, `","principalType":"ServicePrincipal"}},"claims":{"aud":"https://management.core.windows.net/","iss":"https://sts.windows.net/`...)
	}
	b = append(b, tenantID...)
	iat := (e.start+x.t)/ticksPerSecond - 60 - int64(x.corr%3000)
	b = append(b, `/","iat":"`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `","nbf":"`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `","exp":"`...)
	b = strconv.AppendInt(b, iat+3600+int64(x.corr%900), 10)
	b = append(b, `","http://schemas.microsoft.com/identity/claims/tenantid":"`...)
	b = append(b, tenantID...)
	b = append(b, `","http://schemas.microsoft.com/identity/claims/objectidentifier":"`...)
	b = append(b, p.oid...)
	if p.kind == KindUser {
		b = append(b, `","http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"`...)
		b = append(b, p.upn...)
		b = append(b, `","name":"`...)
		b = append(b, p.name...)
		b = append(b, `","appid":"`...)
		if x.app > 0 {
			b = append(b, e.appIDs[x.app-1]...)
		} else {
			b = append(b, e.appIDs[p.app]...)
		}
		b = append(b, `","appidacr":"0","ipaddr":"`...)
		b = append(b, e.ips[x.ip]...)
	} else {
		b = append(b, `","appid":"`...)
		b = append(b, p.appid...)
		b = append(b, `","appidacr":"1`...)
	}
	b = append(b, `","ver":"1.0"}},"level":"Information","location":"global"`...)
	switch x.status {
	case 0:
		return append(b, '}')
	case 201:
		b = append(b, `,"properties":{"statusCode":"Created","serviceRequestId":"`...)
	default:
		b = append(b, `,"properties":{"statusCode":"OK","serviceRequestId":"`...)
	}
	b = appendGUIDOf(b, x.corr^0x510e527fade682d1)
	if x.extra > 0 {
		b = append(b, `","responseBody":"`...)
		b = append(b, e.bodies[x.extra-1]...)
	}
	return append(b, `"}}`...)
}
