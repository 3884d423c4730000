package azurelog

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Top-level members the walker captures.
const (
	fUnknown = iota
	fIgnored
	fTime
	fEventTimestamp
	fResourceID
	fOperationName
	fCategory
	fResultType
	fResultSignature
	fStatus
	fSubStatus
	fDurationMs
	fCallerIP
	fCorrelationID
	fCaller
	fTenantID
	fSubscriptionID
	fResourceGroup
	fResourceType
	fIdentity
	fClaims
	fAuthorization
	fHTTPRequest
	fProperties
)

// topField classifies a record's key, in the casing Azure writes it or
// lower-cased. Members known to be of no use are fIgnored, so that their
// keys are not lower-cased for a second look.
func topField(k []byte) int {
	switch string(k) {
	case "time":
		return fTime
	case "eventTimestamp", "eventtimestamp":
		return fEventTimestamp
	case "resourceId", "resourceid":
		return fResourceID
	case "operationName", "operationname":
		return fOperationName
	case "category":
		return fCategory
	case "resultType", "resulttype":
		return fResultType
	case "resultSignature", "resultsignature":
		return fResultSignature
	case "status":
		return fStatus
	case "subStatus", "substatus":
		return fSubStatus
	case "durationMs", "durationms":
		return fDurationMs
	case "callerIpAddress", "calleripaddress":
		return fCallerIP
	case "correlationId", "correlationid":
		return fCorrelationID
	case "caller":
		return fCaller
	case "tenantId", "tenantid":
		return fTenantID
	case "subscriptionId", "subscriptionid":
		return fSubscriptionID
	case "resourceGroupName", "resourcegroupname":
		return fResourceGroup
	case "resourceType", "resourcetype":
		return fResourceType
	case "identity":
		return fIdentity
	case "claims":
		return fClaims
	case "authorization":
		return fAuthorization
	case "httpRequest", "httprequest":
		return fHTTPRequest
	case "properties":
		return fProperties
	case "operationVersion", "resultDescription", "level", "Level", "location", "channels",
		"eventDataId", "eventName", "id", "operationId", "resourceProviderName",
		"submissionTimestamp", "relatedEvents", "description":
		return fIgnored
	}
	return fUnknown
}

// claim returns where a claim (key in its usual lower case) is kept, or nil.
func (c *captures) claim(k []byte) *span {
	switch string(k) {
	case "oid", "http://schemas.microsoft.com/identity/claims/objectidentifier":
		return &c.oid
	case "upn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":
		return &c.upn
	case "unique_name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":
		return &c.uniqueName
	case "email", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress":
		return &c.email
	case "appid":
		return &c.appid
	case "azp":
		return &c.azp
	case "tid", "http://schemas.microsoft.com/identity/claims/tenantid":
		return &c.tid
	case "name":
		return &c.name
	case "ipaddr":
		return &c.ipaddr
	case "idtyp":
		return &c.idtyp
	}
	return nil
}

// prop returns where a member of "properties" is kept, or nil.
func (c *captures) prop(k []byte) *span {
	switch string(k) {
	case "clientInfo", "clientinfo":
		return &c.clientInfo
	case "id":
		return &c.id
	case "httpStatusCode", "httpstatuscode":
		return &c.httpStatusCode
	case "statusCode", "statuscode":
		return &c.statusCode
	case "requestbody", "requestBody":
		return &c.requestBody
	case "responseBody", "responsebody":
		return &c.responseBody
	case "requestUri", "isAccessPolicyMatch", "tlsVersion", "serviceRequestId",
		"eventCategory", "entity", "message", "hierarchy", "properties", "addedAccessPolicy":
		return nil
	}
	if hasUpper(k) && len(k) <= 24 {
		var kb [24]byte
		switch string(lower(kb[:0], k)) {
		case "clientinfo":
			return &c.clientInfo
		case "id":
			return &c.id
		case "httpstatuscode":
			return &c.httpStatusCode
		case "statuscode":
			return &c.statusCode
		case "requestbody":
			return &c.requestBody
		case "responsebody":
			return &c.responseBody
		}
	}
	return nil
}

// unescape appends the content of a valid JSON string (without its quotes)
// to dst with its escape sequences decoded.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			if i+4 >= len(s) {
				return append(dst, s[i-1:]...)
			}
			r := rune(hex4(s[i+1 : i+5]))
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2 := utf16.DecodeRune(r, rune(hex4(s[i+3:i+7]))); r2 != utf8.RuneError {
					r = r2
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
	}
	return dst
}

func hex4(b []byte) int {
	n := 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		}
	}
	return n
}

// unescapeKey decodes an escaped key, into buf when it fits.
func unescapeKey(buf, k []byte) []byte {
	return unescape(buf[:0], k)
}
