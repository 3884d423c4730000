package odata

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden runs every filter of a testdata file through ParseFilter and
// Where (both dialects) and compares the transcript with the golden file.
func TestGolden(t *testing.T) {
	for _, c := range []struct {
		file   string
		schema *Schema
	}{
		{"graph-docs-filters.txt", docsSchema()},
		{"partner-alert-filters.txt", alertSchema()},
	} {
		t.Run(c.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			sc := bufio.NewScanner(bytes.NewReader(in))
			n := 0
			for sc.Scan() {
				line := sc.Text()
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				n++
				fmt.Fprintf(&out, "filter: %s\n", line)
				e, err := ParseFilter(c.schema, line)
				if err != nil {
					var oe *Error
					if !errors.As(err, &oe) {
						t.Fatalf("%s: %T %v", line, err, err)
					}
					fmt.Fprintf(&out, "error:  %s: %s\n\n", oe.Reason, oe.Error())
					continue
				}
				fmt.Fprintf(&out, "ast:    %s\n", e)
				for _, d := range []Dialect{SQLite, Postgres} {
					sql, args := Where(c.schema, e, d, 1)
					fmt.Fprintf(&out, "%-7s %s\n", map[Dialect]string{SQLite: "sqlite:", Postgres: "pg:"}[d], sql)
					if d == Postgres {
						fmt.Fprintf(&out, "args:   %s\n", formatArgs(args))
					}
				}
				out.WriteByte('\n')
			}
			if n < 20 {
				t.Fatalf("only %d filters read", n)
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(c.file, ".txt")+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s (run with -update and review the diff):\n%s", golden, out.String())
			}
		})
	}
}

func formatArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case time.Time:
			parts[i] = "time(" + a.Format(time.RFC3339Nano) + ")"
		default:
			parts[i] = fmt.Sprintf("%T(%v)", a, a)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}
