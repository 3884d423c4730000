package azurelog

import "time"

// ParseTime parses a record's time as the reader does: RFC 3339 with 'T',
// 't' or a space between date and time, optional fractional seconds, and a
// zone (Z or ±hh:mm / ±hhmm; none means UTC). ok is false for anything
// else; such a record is skipped with ErrBadTime. The push endpoint uses it
// to count, before spooling, the records the reader will accept.
func ParseTime(b []byte) (t time.Time, ok bool) { return parseTime(b) }
