package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/vigil-security/vigil/api/odata"
	"github.com/vigil-security/vigil/store"
)

// Error codes of the Graph-style error body. BadRequest is what Graph
// answers for a malformed query; the others are from Graph's error-code
// table (itemNotFound, accessDenied, notAllowed, generalException) or its
// authentication errors (InvalidAuthenticationToken).
const (
	CodeBadRequest       = odata.CodeBadRequest
	CodeInvalidToken     = "InvalidAuthenticationToken"
	CodeAccessDenied     = "accessDenied"
	CodeNotFound         = "itemNotFound"
	CodeNotAllowed       = "notAllowed"
	CodeMethodNotAllowed = "methodNotAllowed"
	CodeUnsupportedMedia = "unsupportedMediaType"
	CodeInternal         = "generalException"
	CodeUnavailable      = "serviceNotAvailable"
)

// graphError is the body of every error response:
// {"error":{"code":"...","message":"..."}}.
type graphError struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// httpError is an error with its HTTP status and Graph code.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(msg string) *httpError { return &httpError{http.StatusBadRequest, CodeBadRequest, msg} }
func notFound(msg string) *httpError   { return &httpError{http.StatusNotFound, CodeNotFound, msg} }

// msgNotFound is the one answer for an item that does not exist and for one
// outside the token's scope: the two must not be told apart.
const msgNotFound = "the item does not exist or is not in this token's scope"

// writeError answers with err: an *httpError or *odata.Error as it says,
// store errors by kind, anything else as 500 (logged, not shown).
func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		he *httpError
		oe *odata.Error
	)
	switch {
	case errors.As(err, &he):
	case errors.As(err, &oe):
		he = &httpError{oe.HTTPStatus(), oe.Code, oe.Error()}
	case errors.Is(err, store.ErrNotFound):
		he = notFound(msgNotFound)
	case errors.Is(err, store.ErrInvalidTransition):
		he = &httpError{http.StatusConflict, CodeNotAllowed, err.Error()}
	case errors.Is(err, store.ErrInvalid):
		he = badRequest(err.Error())
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		// The client went away or timed out; nobody may read the answer.
		he = &httpError{http.StatusServiceUnavailable, CodeUnavailable, "request cancelled"}
	default:
		h.log.ErrorContext(r.Context(), "api: request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Any("error", err))
		he = &httpError{http.StatusInternalServerError, CodeInternal, "internal error; see the server log"}
	}
	writeErrorBody(w, he)
}

func writeErrorBody(w http.ResponseWriter, he *httpError) {
	if he.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil", error="invalid_token"`)
	}
	writeJSON(w, he.status, graphError{errorBody{Code: he.code, Message: he.msg}})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"generalException","message":"cannot encode the response"}}`)
	}
	writeRaw(w, status, b)
}

// writeRaw answers with JSON bytes.
func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}
