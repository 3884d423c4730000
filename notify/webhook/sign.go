package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of a webhook request.
const (
	// HeaderSignature carries "t=<unix seconds>,v1=<hex HMAC-SHA256>", the
	// MAC over the timestamp, a dot and the body, keyed with the
	// registration's secret.
	HeaderSignature = "Vigil-Signature"
	// HeaderIdempotencyKey is the same on every attempt of one notification.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderEvent is the event name (EventName of the body).
	HeaderEvent = "Vigil-Event"
)

// Sign returns the signature header value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: signature timestamp outside the tolerance")
	ErrMalformed    = errors.New("webhook: malformed signature header")
)

// Verify checks a signature header for body received at now: well formed,
// timestamp within tolerance of now (replays of old requests fail), and one
// of its v1 MACs (several are sent while a secret is rotated) matching.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, sigs, err := ParseSignature(header)
	if err != nil {
		return err
	}
	t := time.Unix(ts, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s from now", ErrStale, d.Round(time.Second))
	}
	want := mac(secret, strconv.FormatInt(ts, 10), body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// ParseSignature parses a signature header: its timestamp and v1 MACs.
// Unknown keys are ignored, so a later scheme can be added beside v1.
func ParseSignature(header string) (int64, [][]byte, error) {
	var (
		ts    int64 = -1
		sigs  [][]byte
		found bool
	)
	if len(header) > 4096 {
		return 0, nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(header))
	}
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, fmt.Errorf("%w: %q has no '='", ErrMalformed, part)
		}
		switch k {
		case "t":
			if found {
				return 0, nil, fmt.Errorf("%w: two timestamps", ErrMalformed)
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return 0, nil, fmt.Errorf("%w: timestamp %q", ErrMalformed, v)
			}
			ts, found = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return 0, nil, fmt.Errorf("%w: v1 %q is not a hex SHA-256", ErrMalformed, v)
			}
			sigs = append(sigs, b)
		}
	}
	if !found {
		return 0, nil, fmt.Errorf("%w: no timestamp", ErrMalformed)
	}
	if len(sigs) == 0 {
		return 0, nil, fmt.Errorf("%w: no v1 signature", ErrMalformed)
	}
	return ts, sigs, nil
}
