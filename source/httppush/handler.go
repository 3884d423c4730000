// Package httppush receives Azure logs pushed over HTTP and keeps them in a
// durable spool until the pipeline has processed them.
//
// # Endpoint
//
// POST /ingest/azure takes one body in any shape the azurelog reader knows:
// the {"records":[...]} envelope that diagnostic settings deliver to Event
// Hubs and storage, JSON lines, a JSON array; gzip-compressed or not (by
// Content-Encoding: gzip or by the gzip magic bytes). The body is appended
// to the spool and synced to disk before the answer:
//
//	202 Accepted            stored durably; {"status":"accepted","bytes":N,"position":"S.O"}
//	400 Bad Request         empty, not JSON, or gzip without the gzip header
//	413 Content Too Large   over the body limit
//	415 Unsupported Media   a Content-Encoding other than gzip or identity
//	503 Service Unavailable the spool is over its size limit (Retry-After set)
//
// Records inside the body are decoded later, by the pipeline; a malformed
// record is counted and skipped there, as in files.
//
// # Spool
//
// See [Spool]: segment files of length-prefixed, checksummed records, a
// committed read position, at-least-once delivery to the pipeline.
package httppush

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxBodyBytes is the default limit of one request body, as sent.
const DefaultMaxBodyBytes = 64 << 20

// Appender stores a body durably; *Spool implements it.
type Appender interface {
	// AppendKey stores body unless a body with the same idempotency key
	// (empty: none) is stored already.
	AppendKey(body []byte, received time.Time, key string) (pos Pos, duplicate bool, err error)
	Full(n int64) bool
}

// KeyHeader carries a body's idempotency key: a sender that retries a push
// whose answer it never got (a timeout, the server restarted) sends the
// same key, and the body is stored once.
const KeyHeader = "Idempotency-Key"

// HandlerOptions configure the push handler. The zero value gives the
// defaults.
type HandlerOptions struct {
	// MaxBodyBytes bounds one body as sent (compressed or not).
	MaxBodyBytes int64
	// RetryAfter is advertised with 503 when the spool is full; default 5s.
	RetryAfter time.Duration
	// MaxInFlight bounds the requests whose bodies are read at once (each
	// is held in memory until synced); more wait their turn. Default 8.
	MaxInFlight int
	// OnResult is told the status code of every request and the body size
	// accepted (0 unless 202), for metrics. Nil: ignore.
	OnResult func(code int, accepted int)
	// Now is the clock for the time received; nil means time.Now.
	Now func() time.Time
}

// Handler serves the push endpoint over an Appender.
type Handler struct {
	sp    Appender
	opts  HandlerOptions
	bufs  sync.Pool
	slots chan struct{}
}

// NewHandler returns the push handler. Mount it for POST only, e.g.
// mux.Handle("POST /ingest/azure", h).
func NewHandler(sp Appender, opts HandlerOptions) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 8
	}
	return &Handler{sp: sp, opts: opts, slots: make(chan struct{}, opts.MaxInFlight)}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, n, pos, msg := h.serve(w, r)
	if h.opts.OnResult != nil {
		h.opts.OnResult(code, n)
	}
	w.Header().Set("Content-Type", "application/json")
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int((h.opts.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(code)
	if code == http.StatusAccepted {
		json.NewEncoder(w).Encode(struct {
			Status   string `json:"status"`
			Bytes    int    `json:"bytes"`
			Position string `json:"position"`
		}{"accepted", n, pos.String()})
		return
	}
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

// serve handles one request and returns its status, the bytes accepted,
// where they were stored and, for an error, a message.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (code, n int, pos Pos, msg string) {
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return http.StatusUnsupportedMediaType, 0, Pos{}, "unsupported Content-Encoding " + strconv.Quote(enc) + " (use gzip or none)"
	}
	if r.ContentLength > h.opts.MaxBodyBytes {
		return http.StatusRequestEntityTooLarge, 0, Pos{}, "body over " + strconv.FormatInt(h.opts.MaxBodyBytes, 10) + " bytes"
	}
	if h.sp.Full(max(r.ContentLength, 0)) {
		return http.StatusServiceUnavailable, 0, Pos{}, "spool full, retry later"
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-r.Context().Done():
		return http.StatusServiceUnavailable, 0, Pos{}, "request cancelled while waiting: " + r.Context().Err().Error()
	}
	buf, _ := h.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= 8<<20 { // do not pin huge buffers
			buf.Reset()
			h.bufs.Put(buf)
		}
	}()
	buf.Reset()
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return http.StatusRequestEntityTooLarge, 0, Pos{}, "body over " + strconv.FormatInt(h.opts.MaxBodyBytes, 10) + " bytes"
		}
		return http.StatusBadRequest, 0, Pos{}, "read body: " + err.Error()
	}
	body := buf.Bytes()
	if err := checkBody(body, gz); err != nil {
		return http.StatusBadRequest, 0, Pos{}, err.Error()
	}
	key := r.Header.Get(KeyHeader)
	if len(key) > MaxKeyBytes {
		return http.StatusBadRequest, 0, Pos{}, KeyHeader + " over " + strconv.Itoa(MaxKeyBytes) + " bytes"
	}
	pos, _, err := h.sp.AppendKey(body, h.opts.Now(), key)
	switch {
	case errors.Is(err, ErrFull):
		return http.StatusServiceUnavailable, 0, Pos{}, "spool full, retry later"
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, 0, Pos{}, "shutting down, retry later"
	case err != nil:
		return http.StatusInternalServerError, 0, Pos{}, "store body: " + err.Error()
	}
	return http.StatusAccepted, len(body), pos, ""
}

// checkBody rejects bodies that cannot be Azure logs: empty, not starting
// with a JSON object or array, or declared gzip without the gzip header.
// Records inside are checked later, by the reader.
func checkBody(b []byte, gz bool) error {
	isGzip := len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
	if gz && !isGzip {
		return errors.New("Content-Encoding is gzip but the body has no gzip header")
	}
	if isGzip {
		return nil
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	if i == len(b) {
		return errors.New("empty body")
	}
	if b[i] != '{' && b[i] != '[' {
		return errors.New("body is neither JSON (records envelope, array or JSON lines) nor gzip")
	}
	return nil
}

// compile-time check that *Spool is an Appender.
var _ Appender = (*Spool)(nil)
