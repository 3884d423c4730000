package azurelog

import "errors"

// The walker parses one record in a single pass: it validates the JSON,
// finds where the record ends, and notes where the members the decoder needs
// are (spans into the record), descending only into the objects that hold
// them. Nothing is copied or allocated; the decoder turns spans into strings.

// span locates a value in the record being walked.
type span struct {
	start, end int32 // a string's content between its quotes; else the value
	kind       byte  // 0 absent, or one of the kind* constants
	esc        bool  // the string has escape sequences
}

const (
	kindString byte = 's'
	kindNumber byte = 'n'
	kindObject byte = 'o'
	kindArray  byte = 'a'
	kindTrue   byte = 't'
	kindFalse  byte = 'f'
	kindNull   byte = 'z'
)

// captures are the spans of the members of one record that the decoder uses.
type captures struct {
	time, eventTimestamp, resourceID, operationName, category span
	resultType, resultSignature, status, subStatus            span
	durationMs, callerIP, correlationID, caller, tenantID     span
	subscriptionID, resourceGroup, resourceType               span
	clientIP                                                  span // httpRequest.clientIpAddress
	hasHTTPRequest                                            bool

	identityClaim bool // identity has "claim" (the Key Vault shape)
	// claims, from identity.claim, identity.claims or the REST claims
	oid, upn, uniqueName, email, appid, azp, tid, name, ipaddr, idtyp span

	// authorization: identity.authorization, else the REST authorization
	idAuth, topAuth                   bool
	idScope, idPrincipalType          span
	topScope, topPrincipalType        span
	clientInfo, id                    span // properties
	httpStatusCode, statusCode        span
	requestBody, responseBody         span
	policies                          []span // properties.addedAccessPolicy ObjectIds
	hasProperties, propertiesIsObject bool
}

// Object contexts: which members of an object the walker captures.
type context uint8

const (
	ctxTop      context = iota // the record
	ctxValueObj                // {"value": ..., "localizedValue": ...}
	ctxIdentity                // identity
	ctxClaims                  // identity.claim(s), REST claims
	ctxAuthID                  // identity.authorization
	ctxAuthTop                 // REST authorization
	ctxEvidence                // authorization.evidence
	ctxHTTP                    // REST httpRequest
	ctxProps                   // properties
	ctxPolicy                  // properties.addedAccessPolicy entry
)

var (
	errShort = errors.New("record continues past the data")
	errBad   = errors.New("invalid JSON")
)

// walker walks one record held in d.
type walker struct {
	d     []byte
	c     *captures
	depth int
	// where and why the record is invalid, when a method returns errBad
	off int
	msg string
	// evidence spans go to the authorization being walked
	evidenceTo *span
	kbuf       [72]byte
}

func (w *walker) bad(i int, msg string) error {
	w.off, w.msg = i, msg
	return errBad
}

// record walks the object at d[0] and returns the index just past it.
func (w *walker) record() (int, error) {
	w.depth = 0
	if len(w.d) == 0 {
		return 0, errShort
	}
	if w.d[0] != '{' {
		return 0, w.bad(0, "record is not an object")
	}
	return w.object(0, ctxTop, nil)
}

// ws skips white space from i.
func (w *walker) ws(i int) int {
	for i < len(w.d) {
		switch w.d[i] {
		case ' ', '\n', '\r', '\t':
			i++
		default:
			return i
		}
	}
	return i
}

// object walks the object at d[i] == '{' in context ctx; target receives
// the "value" member in ctxValueObj.
func (w *walker) object(i int, ctx context, target *span) (int, error) {
	if w.depth++; w.depth > maxDepth {
		return i, w.bad(i, "nesting too deep")
	}
	i = w.ws(i + 1)
	if i >= len(w.d) {
		return i, errShort
	}
	if w.d[i] == '}' {
		w.depth--
		return i + 1, nil
	}
	for {
		if w.d[i] != '"' {
			return i, w.bad(i, "expected an object key")
		}
		e, esc, err := w.str(i)
		if err != nil {
			return e, err
		}
		key := w.d[i+1 : e-1]
		if esc {
			key = unescapeKey(w.kbuf[:0], key)
		}
		i = w.ws(e)
		if i >= len(w.d) {
			return i, errShort
		}
		if w.d[i] != ':' {
			return i, w.bad(i, "expected ':' after an object key")
		}
		if i = w.ws(i + 1); i >= len(w.d) {
			return i, errShort
		}
		if i, err = w.member(ctx, key, i, target); err != nil {
			return i, err
		}
		if i = w.ws(i); i >= len(w.d) {
			return i, errShort
		}
		switch w.d[i] {
		case ',':
			if i = w.ws(i + 1); i >= len(w.d) {
				return i, errShort
			}
		case '}':
			w.depth--
			return i + 1, nil
		default:
			return i, w.bad(i, "expected ',' or '}' in an object")
		}
	}
}

// member walks the value at d[i] of the member key of an object in ctx.
func (w *walker) member(ctx context, key []byte, i int, target *span) (int, error) {
	c := w.c
	switch ctx {
	case ctxTop:
		return w.topMember(key, i)
	case ctxValueObj:
		if string(key) == "value" || equalFold(key, "value") {
			return w.value(i, target)
		}
	case ctxIdentity:
		switch {
		case string(key) == "claim" || string(key) == "claims" || equalFold(key, "claim") || equalFold(key, "claims"):
			if len(key) == 5 {
				c.identityClaim = true
			}
			if w.d[i] == '{' {
				return w.object(i, ctxClaims, nil)
			}
		case string(key) == "authorization" || equalFold(key, "authorization"):
			c.idAuth = true
			if w.d[i] == '{' {
				w.evidenceTo = &c.idPrincipalType
				return w.object(i, ctxAuthID, nil)
			}
		}
	case ctxClaims:
		if w.d[i] == '"' {
			if p := c.claim(key); p != nil {
				return w.value(i, p)
			}
			if hasUpper(key) && len(key) <= len(w.kbuf) {
				if p := c.claim(lower(w.kbuf[:0], key)); p != nil {
					return w.value(i, p)
				}
			}
		}
	case ctxAuthID, ctxAuthTop:
		switch {
		case string(key) == "scope" || equalFold(key, "scope"):
			if ctx == ctxAuthID {
				return w.value(i, &c.idScope)
			}
			return w.value(i, &c.topScope)
		case string(key) == "evidence" || equalFold(key, "evidence"):
			if w.d[i] == '{' {
				return w.object(i, ctxEvidence, nil)
			}
		}
	case ctxEvidence:
		if string(key) == "principalType" || equalFold(key, "principalType") {
			return w.value(i, w.evidenceTo)
		}
	case ctxHTTP:
		if string(key) == "clientIpAddress" || equalFold(key, "clientIpAddress") {
			return w.value(i, &c.clientIP)
		}
	case ctxProps:
		if p := c.prop(key); p != nil {
			return w.value(i, p)
		}
		if string(key) == "addedAccessPolicy" || equalFold(key, "addedAccessPolicy") {
			return w.policies(i)
		}
	case ctxPolicy:
		if equalFold(key, "objectId") && w.d[i] == '"' {
			var s span
			j, err := w.value(i, &s)
			if err == nil && s.end > s.start {
				c.policies = append(c.policies, s)
			}
			return j, err
		}
	}
	return w.skip(i)
}

// topMember walks a member of the record itself.
func (w *walker) topMember(key []byte, i int) (int, error) {
	c := w.c
	f := topField(key)
	if f == fUnknown && hasUpper(key) && len(key) <= len(w.kbuf) {
		f = topField(lower(w.kbuf[:0], key))
	}
	var p *span
	switch f {
	case fIgnored, fUnknown:
		return w.skip(i)
	case fTime:
		p = &c.time
	case fEventTimestamp:
		p = &c.eventTimestamp
	case fResourceID:
		p = &c.resourceID
	case fOperationName:
		p = &c.operationName
	case fCategory:
		p = &c.category
	case fResultType:
		p = &c.resultType
	case fResultSignature:
		p = &c.resultSignature
	case fStatus:
		p = &c.status
	case fSubStatus:
		p = &c.subStatus
	case fDurationMs:
		p = &c.durationMs
	case fCallerIP:
		p = &c.callerIP
	case fCorrelationID:
		p = &c.correlationID
	case fCaller:
		p = &c.caller
	case fTenantID:
		p = &c.tenantID
	case fSubscriptionID:
		p = &c.subscriptionID
	case fResourceGroup:
		p = &c.resourceGroup
	case fResourceType:
		p = &c.resourceType
	case fIdentity:
		if w.d[i] == '{' {
			return w.object(i, ctxIdentity, nil)
		}
		return w.skip(i)
	case fClaims:
		if w.d[i] == '{' {
			return w.object(i, ctxClaims, nil)
		}
		return w.skip(i)
	case fAuthorization:
		c.topAuth = true
		w.evidenceTo = &c.topPrincipalType
		switch w.d[i] {
		case '{':
			return w.object(i, ctxAuthTop, nil)
		case '[':
			return w.array(i, ctxAuthTop, true)
		}
		return w.skip(i)
	case fHTTPRequest:
		c.hasHTTPRequest = true
		if w.d[i] == '{' {
			return w.object(i, ctxHTTP, nil)
		}
		return w.skip(i)
	case fProperties:
		c.hasProperties = true
		if w.d[i] == '{' {
			c.propertiesIsObject = true
			return w.object(i, ctxProps, nil)
		}
		return w.skip(i)
	}
	// A name the REST shape writes as {"value": ..., "localizedValue": ...}.
	if w.d[i] == '{' && (f == fOperationName || f == fCategory || f == fStatus || f == fSubStatus || f == fResourceType) {
		*p = span{}
		return w.object(i, ctxValueObj, p)
	}
	return w.value(i, p)
}

// policies walks properties.addedAccessPolicy: one entry or an array.
func (w *walker) policies(i int) (int, error) {
	switch w.d[i] {
	case '{':
		return w.object(i, ctxPolicy, nil)
	case '[':
		return w.array(i, ctxPolicy, false)
	}
	return w.skip(i)
}

// array walks the array at d[i] == '[', walking object elements in ctx
// (only the first one when firstOnly) and skipping the rest.
func (w *walker) array(i int, ctx context, firstOnly bool) (int, error) {
	if w.depth++; w.depth > maxDepth {
		return i, w.bad(i, "nesting too deep")
	}
	i = w.ws(i + 1)
	if i >= len(w.d) {
		return i, errShort
	}
	if w.d[i] == ']' {
		w.depth--
		return i + 1, nil
	}
	for n := 0; ; n++ {
		var err error
		if w.d[i] == '{' && (n == 0 || !firstOnly) {
			i, err = w.object(i, ctx, nil)
		} else {
			i, err = w.skip(i)
		}
		if err != nil {
			return i, err
		}
		if i = w.ws(i); i >= len(w.d) {
			return i, errShort
		}
		switch w.d[i] {
		case ',':
			if i = w.ws(i + 1); i >= len(w.d) {
				return i, errShort
			}
		case ']':
			w.depth--
			return i + 1, nil
		default:
			return i, w.bad(i, "expected ',' or ']' in an array")
		}
	}
}

// value walks any value at d[i] and records its span in p.
func (w *walker) value(i int, p *span) (int, error) {
	switch w.d[i] {
	case '"':
		e, esc, err := w.str(i)
		if err != nil {
			return e, err
		}
		*p = span{start: int32(i + 1), end: int32(e - 1), kind: kindString, esc: esc}
		return e, nil
	case '{', '[':
		e, err := w.skip(i)
		if err != nil {
			return e, err
		}
		k := kindObject
		if w.d[i] == '[' {
			k = kindArray
		}
		*p = span{start: int32(i), end: int32(e), kind: k}
		return e, nil
	}
	e, err := w.skip(i)
	if err != nil {
		return e, err
	}
	k := kindNumber
	switch w.d[i] {
	case 't':
		k = kindTrue
	case 'f':
		k = kindFalse
	case 'n':
		k = kindNull
	}
	*p = span{start: int32(i), end: int32(e), kind: k}
	return e, nil
}

// skip validates the value at d[i] and returns the index just past it.
func (w *walker) skip(i int) (int, error) {
	switch c := w.d[i]; {
	case c == '"':
		e, _, err := w.str(i)
		return e, err
	case c == '{':
		return w.object(i, ctxIgnore, nil)
	case c == '[':
		return w.array(i, ctxIgnore, false)
	case c == 't':
		return w.literal(i, "true")
	case c == 'f':
		return w.literal(i, "false")
	case c == 'n':
		return w.literal(i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return w.number(i)
	}
	return i, w.bad(i, "unexpected "+quoteByte(w.d[i]))
}

// ctxIgnore walks an object or array without capturing anything.
const ctxIgnore context = 255
