package httppush

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vigil-security/vigil/source/azurelog"
)

// This file is the strict door of the push endpoint: a body is checked as
// complete, strict JSON (RFC 8259) before it is spooled, and its records are
// found the way the azurelog reader will find them later, so that the answer
// can say how many records the pipeline will read.

// Limits the validator shares with the azurelog reader.
const (
	// maxFrames bounds the nesting of arrays and envelopes holding records.
	maxFrames = 8
	// maxDepth bounds the nesting inside one record.
	maxDepth = 512
	// maxRecordBytes bounds one record, as azurelog.DefaultMaxRecordBytes.
	maxRecordBytes = azurelog.DefaultMaxRecordBytes
)

// Summary counts the records of a body that passed Validate.
type Summary struct {
	// Records are the Azure log records: JSON objects with a valid time
	// (time or eventTimestamp, RFC 3339), which the pipeline decodes as Key
	// Vault or Activity Log events.
	Records int
	// NotAzureLog are records that are valid JSON but that the pipeline
	// will skip: not an object, or without a valid time.
	NotAzureLog int
}

// BodyError says where and why a body is not complete, well-formed JSON in
// one of the shapes Azure writes.
type BodyError struct {
	// Offset is the 0-based byte offset of the problem in the body (after
	// gzip decompression, for a compressed body).
	Offset int
	// Line is the 1-based line of the problem.
	Line int
	// RecordLine is the 1-based line where the record holding the problem
	// starts (in JSON lines, the broken line); 0 when the problem is
	// between records.
	RecordLine int
	// Record is the 0-based index, among the body's records, of the record
	// being read when the problem was found.
	Record int
	// Truncated: the body ends inside a record, array or envelope.
	Truncated bool
	// Msg says what is wrong.
	Msg string
}

// Error formats the error with its position.
func (e *BodyError) Error() string {
	if e.RecordLine > 0 && e.RecordLine != e.Line {
		return fmt.Sprintf("line %d, byte %d (record %d, from line %d): %s", e.Line, e.Offset, e.Record, e.RecordLine, e.Msg)
	}
	return fmt.Sprintf("line %d, byte %d (record %d): %s", e.Line, e.Offset, e.Record, e.Msg)
}

// errShort and errBad are the validator's internal failures; the position
// is in validator.off.
var (
	errShort = errors.New("truncated")
	errBad   = errors.New("invalid")
)

// validator walks one body held in memory.
type validator struct {
	d     []byte
	depth int
	index int // index of the record being read
	// recStart is where the record being read starts; -1 between records.
	recStart int
	sum      Summary
	off      int
	msg      string
	// time and eventTimestamp of the record being read
	tm, et member
}

// member is a captured top-level member of a record.
type member struct {
	set      bool
	isString bool
	esc      bool
	start    int // string content, between the quotes
	end      int
}

// Validate checks that body (already decompressed) is one or more JSON
// values, each a record object, an array of records or a {"records":[...]}
// / {"value":[...]} envelope, separated by white space only (JSON lines,
// concatenated objects), with nothing after them, and counts its records.
// Records are found as the azurelog reader finds them (an envelope's key
// must be the object's first; envelopes nest up to 8 containers deep) and
// held to its limits: 512 levels of nesting and 16 MiB inside one record.
// Strings are checked for escapes and control characters, not for UTF-8,
// as by the reader. It fails with a *BodyError.
func Validate(body []byte) (Summary, error) {
	v := validator{d: body, recStart: -1}
	if err := v.body(); err != nil {
		e := &BodyError{Offset: v.off, Record: v.index, Msg: v.msg, Truncated: errors.Is(err, errShort)}
		if e.Truncated {
			e.Offset = len(body)
			e.Msg = "the body ends inside a record, array or envelope (truncated?)"
		}
		e.Line = 1 + bytes.Count(body[:min(e.Offset, len(body))], []byte{'\n'})
		if v.recStart >= 0 {
			e.RecordLine = 1 + bytes.Count(body[:v.recStart], []byte{'\n'})
		}
		return v.sum, e
	}
	return v.sum, nil
}

func (v *validator) bad(i int, msg string) error {
	v.off, v.msg = i, msg
	return errBad
}

func (v *validator) short() error {
	v.off = len(v.d)
	return errShort
}

// body walks the top-level values.
func (v *validator) body() error {
	i := 0
	if bytes.HasPrefix(v.d, []byte("\xef\xbb\xbf")) {
		i = 3 // UTF-8 byte order mark
	}
	started := false
	for {
		i = v.ws(i)
		if i >= len(v.d) {
			if !started {
				return v.bad(i, "empty body")
			}
			return nil
		}
		var err error
		switch v.d[i] {
		case '[':
			i, err = v.records(i, 1)
		case '{':
			i, err = v.recordOrEnvelope(i, 0)
		default:
			what := "body is neither JSON (records envelope, array or JSON lines) nor gzip"
			if started {
				what = "unexpected " + quoteByte(v.d[i]) + " after a complete JSON value (a record must be an object)"
			}
			return v.bad(i, what)
		}
		if err != nil {
			return err
		}
		started = true
	}
}

// ws skips white space from i.
func (v *validator) ws(i int) int {
	for i < len(v.d) {
		switch v.d[i] {
		case ' ', '\n', '\r', '\t':
			i++
		default:
			return i
		}
	}
	return i
}

// records walks an array of records at d[i] == '['; frames counts the
// arrays and envelopes around its elements, this one included.
func (v *validator) records(i, frames int) (int, error) {
	i = v.ws(i + 1)
	if i >= len(v.d) {
		return i, v.short()
	}
	if v.d[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if v.d[i] == '{' && frames < maxFrames {
			i, err = v.recordOrEnvelope(i, frames)
		} else if v.d[i] == '{' {
			i, err = v.record(i)
		} else {
			v.recStart = i
			v.depth = 0
			i, err = v.skip(i)
			if err == nil && i-v.recStart > maxRecordBytes {
				err = v.bad(v.recStart, fmt.Sprintf("record over %d bytes", maxRecordBytes))
			}
			if err == nil {
				v.recStart = -1
				v.sum.NotAzureLog++
				v.index++
			}
		}
		if err != nil {
			return i, err
		}
		if i = v.ws(i); i >= len(v.d) {
			return i, v.short()
		}
		switch v.d[i] {
		case ',':
			if i = v.ws(i + 1); i >= len(v.d) {
				return i, v.short()
			}
		case ']':
			return i + 1, nil
		default:
			return i, v.bad(i, "expected ',' or ']' between records, found "+quoteByte(v.d[i]))
		}
	}
}

// recordOrEnvelope walks the object at d[i]: an envelope when its first
// key is "records" or "value" holding an array (as azurelog decides), else
// a record. frames counts the containers around it.
func (v *validator) recordOrEnvelope(i, frames int) (int, error) {
	j := v.ws(i + 1)
	if j >= len(v.d) {
		return j, v.short()
	}
	if v.d[j] != '"' {
		return v.record(i) // reports the error, or an empty record
	}
	e, esc, err := v.str(j)
	if err != nil {
		return e, err
	}
	k := v.ws(e)
	if k >= len(v.d) {
		return k, v.short()
	}
	if v.d[k] != ':' {
		return k, v.bad(k, "expected ':' after an object key")
	}
	if k = v.ws(k + 1); k >= len(v.d) {
		return k, v.short()
	}
	key := v.d[j+1 : e-1]
	if esc || v.d[k] != '[' || !(equalFold(key, "records") || equalFold(key, "value")) {
		return v.record(i)
	}
	// An envelope: its records, then its other members, where another
	// "records" array holds more records.
	i, err = v.records(k, frames+2)
	for err == nil {
		if i = v.ws(i); i >= len(v.d) {
			return i, v.short()
		}
		switch v.d[i] {
		case '}':
			return i + 1, nil
		case ',':
		default:
			return i, v.bad(i, "expected ',' or '}' after the records of an envelope, found "+quoteByte(v.d[i]))
		}
		if i = v.ws(i + 1); i >= len(v.d) {
			return i, v.short()
		}
		if v.d[i] != '"' {
			return i, v.bad(i, "expected an object key")
		}
		e, _, serr := v.str(i)
		if serr != nil {
			return e, serr
		}
		isRecords := equalFold(v.d[i+1:e-1], "records")
		if i = v.ws(e); i >= len(v.d) {
			return i, v.short()
		}
		if v.d[i] != ':' {
			return i, v.bad(i, "expected ':' after an object key")
		}
		if i = v.ws(i + 1); i >= len(v.d) {
			return i, v.short()
		}
		if v.d[i] == '[' && isRecords {
			i, err = v.records(i, frames+2)
			continue
		}
		v.depth = 0
		i, err = v.skip(i)
	}
	return i, err
}

// record walks the record object at d[i] == '{' and counts it.
func (v *validator) record(i int) (int, error) {
	start := i
	v.recStart = i
	v.tm, v.et = member{}, member{}
	v.depth = 1
	i = v.ws(i + 1)
	if i >= len(v.d) {
		return i, v.short()
	}
	if v.d[i] == '}' {
		i++
	} else {
		var err error
		if i, err = v.members(i); err != nil {
			return i, err
		}
	}
	if i-start > maxRecordBytes {
		return i, v.bad(start, fmt.Sprintf("record over %d bytes", maxRecordBytes))
	}
	if v.azureLog() {
		v.sum.Records++
	} else {
		v.sum.NotAzureLog++
	}
	v.index++
	v.recStart = -1
	return i, nil
}

// members walks the members of a record from its first key at d[i] to its
// closing brace, capturing time and eventTimestamp.
func (v *validator) members(i int) (int, error) {
	for {
		if v.d[i] != '"' {
			return i, v.bad(i, "expected an object key")
		}
		e, esc, err := v.str(i)
		if err != nil {
			return e, err
		}
		var m *member
		key := v.d[i+1 : e-1]
		if esc {
			key = unescape(key)
		}
		switch {
		case equalFold(key, "time"):
			m = &v.tm
		case equalFold(key, "eventTimestamp"):
			m = &v.et
		}
		i = v.ws(e)
		if i >= len(v.d) {
			return i, v.short()
		}
		if v.d[i] != ':' {
			return i, v.bad(i, "expected ':' after an object key")
		}
		if i = v.ws(i + 1); i >= len(v.d) {
			return i, v.short()
		}
		if m != nil && v.d[i] == '"' {
			e, esc, err := v.str(i)
			if err != nil {
				return e, err
			}
			*m = member{set: true, isString: true, esc: esc, start: i + 1, end: e - 1}
			i = e
		} else {
			if m != nil {
				*m = member{set: true}
			}
			if i, err = v.skip(i); err != nil {
				return i, err
			}
		}
		if i = v.ws(i); i >= len(v.d) {
			return i, v.short()
		}
		switch v.d[i] {
		case ',':
			if i = v.ws(i + 1); i >= len(v.d) {
				return i, v.short()
			}
		case '}':
			return i + 1, nil
		default:
			return i, v.bad(i, "expected ',' or '}' in an object, found "+quoteByte(v.d[i]))
		}
	}
}

// azureLog reports whether the record just walked has a valid time, as the
// azurelog decoder requires: time, else eventTimestamp, an RFC 3339 string.
func (v *validator) azureLog() bool {
	m := v.tm
	if !m.set {
		m = v.et
	}
	if !m.set || !m.isString {
		return false
	}
	b := v.d[m.start:m.end]
	if m.esc {
		b = unescape(b)
	}
	_, ok := azurelog.ParseTime(b)
	return ok
}

// skip validates the value at d[i] and returns the index just past it.
func (v *validator) skip(i int) (int, error) {
	switch c := v.d[i]; {
	case c == '"':
		e, _, err := v.str(i)
		return e, err
	case c == '{':
		return v.object(i)
	case c == '[':
		return v.array(i)
	case c == 't':
		return v.literal(i, "true")
	case c == 'f':
		return v.literal(i, "false")
	case c == 'n':
		return v.literal(i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return v.number(i)
	}
	return i, v.bad(i, "unexpected "+quoteByte(v.d[i]))
}

// object validates the object at d[i] == '{'.
func (v *validator) object(i int) (int, error) {
	if v.depth++; v.depth > maxDepth {
		return i, v.bad(i, "nesting too deep")
	}
	i = v.ws(i + 1)
	if i >= len(v.d) {
		return i, v.short()
	}
	if v.d[i] == '}' {
		v.depth--
		return i + 1, nil
	}
	for {
		if v.d[i] != '"' {
			return i, v.bad(i, "expected an object key")
		}
		e, _, err := v.str(i)
		if err != nil {
			return e, err
		}
		if i = v.ws(e); i >= len(v.d) {
			return i, v.short()
		}
		if v.d[i] != ':' {
			return i, v.bad(i, "expected ':' after an object key")
		}
		if i = v.ws(i + 1); i >= len(v.d) {
			return i, v.short()
		}
		if i, err = v.skip(i); err != nil {
			return i, err
		}
		if i = v.ws(i); i >= len(v.d) {
			return i, v.short()
		}
		switch v.d[i] {
		case ',':
			if i = v.ws(i + 1); i >= len(v.d) {
				return i, v.short()
			}
		case '}':
			v.depth--
			return i + 1, nil
		default:
			return i, v.bad(i, "expected ',' or '}' in an object, found "+quoteByte(v.d[i]))
		}
	}
}

// array validates the array at d[i] == '['.
func (v *validator) array(i int) (int, error) {
	if v.depth++; v.depth > maxDepth {
		return i, v.bad(i, "nesting too deep")
	}
	i = v.ws(i + 1)
	if i >= len(v.d) {
		return i, v.short()
	}
	if v.d[i] == ']' {
		v.depth--
		return i + 1, nil
	}
	for {
		var err error
		if i, err = v.skip(i); err != nil {
			return i, err
		}
		if i = v.ws(i); i >= len(v.d) {
			return i, v.short()
		}
		switch v.d[i] {
		case ',':
			if i = v.ws(i + 1); i >= len(v.d) {
				return i, v.short()
			}
		case ']':
			v.depth--
			return i + 1, nil
		default:
			return i, v.bad(i, "expected ',' or ']' in an array, found "+quoteByte(v.d[i]))
		}
	}
}
