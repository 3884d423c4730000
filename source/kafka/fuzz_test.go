package kafka

import (
	"testing"

	"github.com/vigil-security/vigil/event"
	"github.com/vigil-security/vigil/internal/fuzzlimit"
)

// FuzzMessage decodes arbitrary message values: never a panic, and the
// records handed on are exactly those counted.
// maxFuzzMessage caps the message a fuzz run decodes: larger inputs add
// nothing a smaller one does not reach, and make each run slow.
const maxFuzzMessage = 4 << 10

func FuzzMessage(f *testing.F) {
	for _, m := range messages(f) {
		f.Add(m.value)
	}
	f.Add([]byte{})
	f.Add([]byte(`{"records":[{"time":"2026-01-01T00:00:00Z"},`))
	var d decoder
	if err := d.init(optsRecording(new([]string)), quiet); err != nil {
		f.Fatal(err)
	}
	fuzzlimit.Minimize(f)
	f.Fuzz(func(t *testing.T, value []byte) {
		value = value[:min(len(value), maxFuzzMessage)]
		var n int64
		st, _ := d.message(value, "kafka:t/0@0", func(op *event.Op) error {
			if op.Time.IsZero() {
				t.Errorf("record without time: %+v", op)
			}
			n++
			return nil
		})
		if st.Records != n {
			t.Errorf("counted %d records, handed on %d", st.Records, n)
		}
	})
}

// BenchmarkDecodeMessage decodes the activity log envelope as one message.
func BenchmarkDecodeMessage(b *testing.B) {
	value := sample(b, "activity-log-schema.md.eventhub-storage-records-sample.json")
	var d decoder
	if err := d.init(optsRecording(new([]string)), quiet); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.message(value, "kafka:t/0@0", func(*event.Op) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
