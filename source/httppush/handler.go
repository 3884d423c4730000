// Package httppush receives Azure logs pushed over HTTP and keeps them in a
// durable spool until the pipeline has processed them.
//
// # Endpoint
//
// POST /ingest/azure takes one body in any shape the azurelog reader knows:
// the {"records":[...]} envelope that diagnostic settings deliver to Event
// Hubs and storage, JSON lines, a JSON array; gzip-compressed or not (by
// Content-Encoding: gzip or by the gzip magic bytes). The body must be
// complete, strict JSON (see [Validate]); it is then appended to the spool
// and synced to disk before the answer:
//
//	202 Accepted            stored durably; {"status":"accepted","records":R,"notAzureLog":K,"bytes":N,"position":"S.O"}
//	400 Bad Request         empty, not complete JSON (truncated, garbage after it, a broken
//	                        line), or bad gzip; nothing is spooled; for bad JSON
//	                        {"error":...,"line":L,"offset":O,"record":I,"recordLine":RL}
//	413 Content Too Large   over the body limit (as sent, or decompressed)
//	415 Unsupported Media   a Content-Encoding other than gzip or identity
//	503 Service Unavailable the spool is over its size limit (Retry-After set)
//
// R counts the records the pipeline will decode (objects with a valid time
// or eventTimestamp: Key Vault, Activity Log and flow-log records alike), K
// the records that are valid JSON but that it will skip (not an object, no
// valid time); both are spooled, and K is counted there again as skipped.
//
// # Spool
//
// See [Spool]: segment files of length-prefixed, checksummed records, a
// committed read position, at-least-once delivery to the pipeline.
package httppush

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxBodyBytes is the default limit of one request body, as sent.
const DefaultMaxBodyBytes = 64 << 20

// DefaultMaxDecodedBytes is the default limit of a gzip body decompressed.
const DefaultMaxDecodedBytes = 256 << 20

// Appender stores a body durably; *Spool implements it.
type Appender interface {
	// AppendMeta stores body with its metadata unless a body with the same
	// idempotency key (empty: none) is stored already.
	AppendMeta(body []byte, received time.Time, meta Meta) (pos Pos, duplicate bool, err error)
	Full(n int64) bool
}

type originKey struct{}

// WithOrigin returns ctx carrying who pushed the request's body (see
// Meta.Origin); an authenticating middleware sets it.
func WithOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

// OriginOf returns the origin WithOrigin put in ctx, or "".
func OriginOf(ctx context.Context) string {
	o, _ := ctx.Value(originKey{}).(string)
	return o
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
	// MaxDecodedBytes bounds a gzip body once decompressed (it is held in
	// memory to be checked); 413 above it.
	MaxDecodedBytes int64
	// RetryAfter is advertised with 503 when the spool is full; default 5s.
	RetryAfter time.Duration
	// MaxInFlight bounds the requests whose bodies are read at once (each
	// is held in memory until synced); more wait their turn. Default 8.
	MaxInFlight int
	// MinBytesPerSecond and ReadGrace bound how slowly a body may arrive:
	// it must come at MinBytesPerSecond on average after ReadGrace, or the
	// read fails (400) and the connection closes. Defaults 64 KiB/s, 10s.
	MinBytesPerSecond int64
	ReadGrace         time.Duration
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
	bufs  sync.Pool // *bytes.Buffer: bodies as sent, and gzip bodies decompressed
	zrs   sync.Pool // *gzip.Reader
	slots chan struct{}
}

// NewHandler returns the push handler. Mount it for POST only, e.g.
// mux.Handle("POST /ingest/azure", h).
func NewHandler(sp Appender, opts HandlerOptions) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxDecodedBytes <= 0 {
		opts.MaxDecodedBytes = DefaultMaxDecodedBytes
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
	if opts.MinBytesPerSecond <= 0 {
		opts.MinBytesPerSecond = 64 << 10
	}
	if opts.ReadGrace <= 0 {
		opts.ReadGrace = 10 * time.Second
	}
	return &Handler{sp: sp, opts: opts, slots: make(chan struct{}, opts.MaxInFlight)}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res := h.serve(w, r)
	if h.opts.OnResult != nil {
		h.opts.OnResult(res.code, res.bytes)
	}
	w.Header().Set("Content-Type", "application/json")
	if res.code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int((h.opts.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(res.code)
	if res.code == http.StatusAccepted {
		json.NewEncoder(w).Encode(Accepted{Status: "accepted", Records: res.sum.Records, NotAzureLog: res.sum.NotAzureLog,
			Bytes: res.bytes, Position: res.pos.String()})
		return
	}
	body := Rejected{Error: res.msg}
	if be := res.bodyErr; be != nil {
		body.Line, body.Offset, body.Record = &be.Line, &be.Offset, &be.Record
		if be.RecordLine > 0 {
			body.RecordLine = &be.RecordLine
		}
	}
	json.NewEncoder(w).Encode(body)
}

// Accepted is the body of a 202 answer.
type Accepted struct {
	Status string `json:"status"` // "accepted"
	// Records is how many records of the body the pipeline will decode.
	Records int `json:"records"`
	// NotAzureLog is how many records are valid JSON but not Azure logs
	// (not an object, or no valid time); the pipeline skips them.
	NotAzureLog int `json:"notAzureLog"`
	// Bytes is the body's size as sent.
	Bytes int `json:"bytes"`
	// Position is where the body is in the spool ("segment.offset").
	Position string `json:"position"`
}

// Rejected is the body of an error answer. For a body that is not
// complete JSON it says where the problem is.
type Rejected struct {
	Error string `json:"error"`
	// Line is the 1-based line of the problem (in JSON lines, the bad
	// record's line).
	Line *int `json:"line,omitempty"`
	// Offset is the byte offset of the problem (in the decompressed body
	// for gzip).
	Offset *int `json:"offset,omitempty"`
	// Record is the 0-based index of the record where the problem is.
	Record *int `json:"record,omitempty"`
	// RecordLine is the line where that record starts (in JSON lines, the
	// broken line), when the problem is inside a record.
	RecordLine *int `json:"recordLine,omitempty"`
}

// result is the outcome of one request.
type result struct {
	code    int
	bytes   int // accepted, as sent
	pos     Pos
	sum     Summary
	msg     string
	bodyErr *BodyError
}

func fail(code int, msg string) result { return result{code: code, msg: msg} }

// serve handles one request.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) result {
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return fail(http.StatusUnsupportedMediaType, "unsupported Content-Encoding "+strconv.Quote(enc)+" (use gzip or none)")
	}
	if r.ContentLength > h.opts.MaxBodyBytes {
		return fail(http.StatusRequestEntityTooLarge, "body over "+strconv.FormatInt(h.opts.MaxBodyBytes, 10)+" bytes")
	}
	key := r.Header.Get(KeyHeader)
	if len(key) > MaxKeyBytes {
		return fail(http.StatusBadRequest, KeyHeader+" over "+strconv.Itoa(MaxKeyBytes)+" bytes")
	}
	if h.sp.Full(max(r.ContentLength, 0)) {
		return fail(http.StatusServiceUnavailable, "spool full, retry later")
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-r.Context().Done():
		return fail(http.StatusServiceUnavailable, "request cancelled while waiting: "+r.Context().Err().Error())
	}
	buf := h.buffer()
	defer h.release(buf)
	// Memory is taken as the body arrives, not reserved from what the
	// client declares: a slow client that declares 64 MiB and sends a byte
	// now and then holds little.
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, 1<<20)))
	}
	body := &rateReader{r: http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes), rc: http.NewResponseController(w),
		start: time.Now(), grace: h.opts.ReadGrace, perByte: time.Second / time.Duration(max(h.opts.MinBytesPerSecond, 1))}
	defer body.rc.SetReadDeadline(time.Time{})
	if _, err := buf.ReadFrom(body); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fail(http.StatusRequestEntityTooLarge, "body over "+strconv.FormatInt(h.opts.MaxBodyBytes, 10)+" bytes")
		}
		return fail(http.StatusBadRequest, "read body: "+err.Error())
	}
	data := buf.Bytes()
	sum, res := h.check(data, gz)
	if res.code != 0 {
		return res
	}
	if err := r.Context().Err(); err != nil {
		// The client gave up: the answer cannot reach it, so it will send
		// the body again; storing this one would count it twice.
		return fail(499, "client went away before the body was stored")
	}
	pos, _, err := h.sp.AppendMeta(data, h.opts.Now(), Meta{Key: key, Origin: OriginOf(r.Context())})
	switch {
	case errors.Is(err, ErrFull):
		return fail(http.StatusServiceUnavailable, "spool full, retry later")
	case errors.Is(err, ErrClosed):
		return fail(http.StatusServiceUnavailable, "shutting down, retry later")
	case err != nil:
		return fail(http.StatusInternalServerError, "store body: "+err.Error())
	}
	return result{code: http.StatusAccepted, bytes: len(data), pos: pos, sum: sum}
}

func (h *Handler) buffer() *bytes.Buffer {
	buf, _ := h.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	return buf
}

func (h *Handler) release(buf *bytes.Buffer) {
	if buf.Cap() <= 8<<20 { // do not pin huge buffers
		buf.Reset()
		h.bufs.Put(buf)
	}
}

// check validates a body as sent: gzip is decompressed (up to
// MaxDecodedBytes) and the JSON checked by Validate. res.code is 0 when the
// body is good.
func (h *Handler) check(b []byte, gz bool) (_ Summary, res result) {
	isGzip := len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
	if gz && !isGzip {
		return Summary{}, fail(http.StatusBadRequest, "Content-Encoding is gzip but the body has no gzip header")
	}
	if isGzip {
		plain := h.buffer()
		defer h.release(plain)
		if res := h.gunzip(plain, b); res.code != 0 {
			return Summary{}, res
		}
		b = plain.Bytes()
	}
	sum, err := Validate(b)
	if be, ok := errors.AsType[*BodyError](err); ok {
		msg := be.Error()
		if isGzip {
			msg += " (in the decompressed body)"
		}
		return sum, result{code: http.StatusBadRequest, msg: msg, bodyErr: be}
	}
	return sum, result{}
}

// gunzip decompresses b into dst, within MaxDecodedBytes.
func (h *Handler) gunzip(dst *bytes.Buffer, b []byte) result {
	zr, _ := h.zrs.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(b))
	} else {
		err = zr.Reset(bytes.NewReader(b))
	}
	if err != nil {
		return fail(http.StatusBadRequest, "gzip: "+err.Error())
	}
	defer h.zrs.Put(zr)
	limit := h.opts.MaxDecodedBytes
	n, err := dst.ReadFrom(io.LimitReader(zr, limit+1))
	switch {
	case err != nil:
		return fail(http.StatusBadRequest, "gzip: "+err.Error())
	case n > limit:
		return fail(http.StatusRequestEntityTooLarge, "body over "+strconv.FormatInt(limit, 10)+" bytes once decompressed")
	}
	return result{}
}

// compile-time check that *Spool is an Appender.
var _ Appender = (*Spool)(nil)

// rateReader reads a request body while moving the connection's read
// deadline along with what has arrived: ReadGrace, plus the time the bytes
// read so far may take at the minimum rate. A client that sends slower
// than that hits the deadline.
type rateReader struct {
	r       io.Reader
	rc      *http.ResponseController
	start   time.Time
	grace   time.Duration
	perByte time.Duration
	n       int64
}

func (rr *rateReader) Read(p []byte) (int, error) {
	// An error (a connection type without deadlines) leaves the read as is.
	_ = rr.rc.SetReadDeadline(rr.start.Add(rr.grace + time.Duration(rr.n)*rr.perByte))
	n, err := rr.r.Read(p)
	rr.n += int64(n)
	return n, err
}
