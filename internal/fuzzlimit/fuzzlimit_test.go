package fuzzlimit

import (
	"flag"
	"testing"
	"time"
)

func TestMinimize(t *testing.T) {
	fl := flag.Lookup(flagName)
	if fl == nil {
		t.Fatalf("the testing package has no flag %s", flagName)
	}
	orig := fl.Value.String()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == flagName })
	t.Cleanup(func() {
		if err := flag.Set(flagName, orig); err != nil {
			t.Error(err)
		}
	})
	Minimize(t)
	if explicit {
		if got := fl.Value.String(); got != orig {
			t.Fatalf("a budget given on the command line (%s) was changed to %s", orig, got)
		}
		return
	}
	if got, want := fl.Value.String(), time.Second.String(); got != want {
		t.Fatalf("budget %s, want %s", got, want)
	}
	// Now set explicitly: a later call keeps it.
	if err := flag.Set(flagName, "5s"); err != nil {
		t.Fatal(err)
	}
	Minimize(t)
	if got := fl.Value.String(); got != "5s" {
		t.Fatalf("an explicit budget was changed to %s", got)
	}
}
