package odata

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// CodeBadRequest is the Graph error code of every error this package returns.
const CodeBadRequest = "BadRequest"

// Reason classifies an Error so callers and tests can tell kinds of bad
// request apart without matching message text.
type Reason int

// Reasons.
const (
	// ReasonSyntax: the text is not well-formed OData.
	ReasonSyntax Reason = iota + 1
	// ReasonUnknownProperty: a property is not in the schema's whitelist, or
	// may not be used with this query option.
	ReasonUnknownProperty
	// ReasonType: operand types do not fit (a date compared with a string, a
	// value outside an enumeration, an operator a type does not have).
	ReasonType
	// ReasonUnsupported: valid OData that this service does not implement
	// (lambda operators, arithmetic, navigation, unsupported functions or
	// query options).
	ReasonUnsupported
	// ReasonLimit: a configured size limit was exceeded.
	ReasonLimit
	// ReasonSkipToken: $skiptoken is malformed or belongs to another query.
	ReasonSkipToken
)

// String names the reason.
func (r Reason) String() string {
	switch r {
	case ReasonSyntax:
		return "syntax"
	case ReasonUnknownProperty:
		return "unknown property"
	case ReasonType:
		return "type"
	case ReasonUnsupported:
		return "unsupported"
	case ReasonLimit:
		return "limit"
	case ReasonSkipToken:
		return "skiptoken"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Error is a client error in a query option. It renders as the Microsoft
// Graph error body {"error":{"code":"BadRequest","message":"..."}} through
// MarshalJSON and maps to HTTP 400 through HTTPStatus.
type Error struct {
	// Code is the Graph error code, always CodeBadRequest.
	Code string
	// Option is the query option at fault, such as "$filter".
	Option string
	// Pos is the byte offset in the option's value where the problem is, or
	// -1 when the problem is the value as a whole.
	Pos int
	// Reason classifies the error.
	Reason Reason
	// Detail says what is wrong and why, without the option and position.
	Detail string
}

// Error returns the message: option, position and detail.
func (e *Error) Error() string {
	if e.Pos >= 0 {
		return fmt.Sprintf("invalid %s at position %d: %s", e.Option, e.Pos, e.Detail)
	}
	return fmt.Sprintf("invalid %s: %s", e.Option, e.Detail)
}

// HTTPStatus is the status code to answer with: 400 Bad Request.
func (e *Error) HTTPStatus() int { return http.StatusBadRequest }

// MarshalJSON renders the Graph error body.
func (e *Error) MarshalJSON() ([]byte, error) {
	type inner struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	return json.Marshal(struct {
		Error inner `json:"error"`
	}{inner{Code: e.Code, Message: e.Error()}})
}

func newErr(option string, pos int, r Reason, format string, a ...any) *Error {
	return &Error{Code: CodeBadRequest, Option: option, Pos: pos, Reason: r, Detail: fmt.Sprintf(format, a...)}
}
