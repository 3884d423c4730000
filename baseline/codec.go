package baseline

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	metro "github.com/dgryski/go-metro"
)

// Type tags, the second byte of every encoding, so a state handed to the
// wrong type is refused instead of misread.
const (
	tagSeen     byte = 's'
	tagCompact  byte = 'c'
	tagRate     byte = 'r'
	tagDistinct byte = 'd'
)

// version is the first byte of every encoding this build writes and the only
// one it reads.
const version byte = 1

var (
	errTruncated = errors.New("truncated")
	errTrailing  = errors.New("trailing bytes")
)

// hashSeed is fixed so hashes, and so serialised states, are the same in
// every process.
const hashSeed = 0x76696769 // "vigi"

// HashString returns a stable 64-bit hash of s (MetroHash64 with a fixed
// seed): the same in every process and build, so hashed keys may be
// serialised. It does not allocate.
func HashString(s string) uint64 { return metro.Hash64Str(s, hashSeed) }

// HashPair returns a stable 64-bit hash of the ordered pair (a, b), for
// CompactSeenSet keys such as (principal, vault). It does not allocate.
func HashPair(a, b string) uint64 {
	h := HashString(a)
	return mix64(h ^ (HashString(b) + 0x9e3779b97f4a7c15 + h<<6 + h>>2))
}

// mix64 is the MurmurHash3 64-bit finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// noTime marks a time not set yet in the int64 nanosecond fields.
const noTime = math.MinInt64

// minNanos and maxNanos bound the times kept: years 1678 to 2262, what int64
// Unix nanoseconds can hold. Times outside are clamped.
var (
	minNanos = time.Unix(0, math.MinInt64+1)
	maxNanos = time.Unix(0, math.MaxInt64)
)

// nanos converts t to Unix nanoseconds, clamped to what int64 can hold (the
// zero time.Time becomes the earliest), never noTime.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return math.MinInt64 + 1
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// fromNanos converts Unix nanoseconds back to a UTC time; noTime gives the
// zero time.
func fromNanos(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// header appends the version and type tag.
func header(b []byte, tag byte) []byte { return append(b, version, tag) }

// decoder reads an encoding, remembering the first error: once set, every
// read returns zero, so a decode function checks err once at the end.
type decoder struct {
	b   []byte
	err error
}

func newDecoder(data []byte, tag byte, what string) *decoder {
	d := &decoder{b: data}
	switch {
	case len(data) < 2:
		d.fail(fmt.Errorf("%s state: %w", what, errTruncated))
	case data[0] != version:
		d.fail(fmt.Errorf("%s state has version %d, this build reads %d", what, data[0], version))
	case data[1] != tag:
		d.fail(fmt.Errorf("%s state has type tag %q, want %q", what, data[1], tag))
	default:
		d.b = data[2:]
	}
	return d
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(fmt.Errorf("%s: %w", what, errTruncated))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(fmt.Errorf("%s: %w", what, errTruncated))
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length and checks it against max and against the bytes
// left, each element taking at least minSize bytes, so a hostile length
// cannot make the caller allocate more than the input justifies.
func (d *decoder) count(what string, max, minSize int) int {
	v := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if v > uint64(max) {
		d.fail(fmt.Errorf("%s %d is more than %d", what, v, max))
		return 0
	}
	if minSize > 0 && v > uint64(len(d.b)/minSize) {
		d.fail(fmt.Errorf("%s %d: %w", what, v, errTruncated))
		return 0
	}
	return int(v)
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail(fmt.Errorf("%s: %w", what, errTruncated))
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(fmt.Errorf("%s: %w", what, errTruncated))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64le(what string) uint64 {
	b := d.bytes(8, what)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// duration reads a non-negative duration.
func (d *decoder) duration(what string) time.Duration {
	v := d.varint(what)
	if v < 0 {
		d.fail(fmt.Errorf("%s %d is negative", what, v))
		return 0
	}
	return time.Duration(v)
}

// finish reports the first error, or trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d %w", len(d.b), errTrailing)
	}
	return d.err
}

func appendFloat32(b []byte, f float32) []byte {
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
}

// marshalJSON wraps a binary encoding as a JSON string (base64), so the
// types can sit in detector states that are serialised with encoding/json.
func marshalJSON(bin []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(bin))+2)
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, bin)
	return append(out, '"'), nil
}

// unmarshalJSON reads what marshalJSON wrote and hands the bytes to fn.
func unmarshalJSON(data []byte, what string, fn func([]byte) error) error {
	if string(data) == "null" {
		return nil // encoding/json's convention: null leaves the value as it is
	}
	var bin []byte
	if err := json.Unmarshal(data, &bin); err != nil {
		return fmt.Errorf("%s state: %w", what, err)
	}
	return fn(bin)
}
