package main

import (
	"strings"
	"testing"
)

func TestTokenCreateListRevoke(t *testing.T) {
	data := t.TempDir()
	tenant := "ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0"
	code, out, errs := vigil(t, "", "token", "create", "--data", data, "--customer", tenant, "--write", "--name", "soc@contoso.com")
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errs)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "vgl_") || len(secret) < 40 {
		t.Fatalf("create printed %q, want the vgl_ token", out)
	}
	code, out, errs = vigil(t, "", "token", "list", "--data", data)
	if code != 0 || !strings.Contains(out, tenant) || !strings.Contains(out, "soc@contoso.com") {
		t.Fatalf("list: exit %d, out %q, err %q", code, out, errs)
	}
	if strings.Contains(out, secret[4:]) {
		t.Fatal("list shows the token's secret")
	}
	fields := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[len(strings.Split(strings.TrimSpace(out), "\n"))-1])
	code, _, errs = vigil(t, "", "token", "revoke", "--data", data, fields[0])
	if code != 0 {
		t.Fatalf("revoke %s: exit %d: %s", fields[0], code, errs)
	}
	_, out, _ = vigil(t, "", "token", "list", "--data", data)
	last := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])
	if last[len(last)-1] == "-" {
		t.Fatalf("the revoked token is not marked revoked: %q", out)
	}
	code, _, errs = vigil(t, "", "token", "create", "--data", data)
	if code != 2 || !strings.Contains(errs, "--partner") {
		t.Fatalf("create without a scope: exit %d, %q", code, errs)
	}
}

// TestTokenCreateRefusesNonGUID: a partner or customer that is not a GUID
// is refused with exit status 2, a message naming the flag, and no token.
func TestTokenCreateRefusesNonGUID(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct{ flag, id string }{
		{"--customer", "contoso"},
		{"--customer", "ffffffff-eeee-dddd-cccc-bbbbbbbbbbb"},
		{"--customer", "ffffffff-eeee-dddd-cccc-bbbbbbbbbbbg"},
		{"--customer", "{ffffffff-eeee-dddd-cccc-bbbbbbbbbbb0}"},
		{"--customer", "ffffffffeeeeddddccccbbbbbbbbbbb00000"},
		{"--partner", "4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01 "},
		{"--partner", "partner-a"},
	} {
		code, out, errs := vigil(t, "", "token", "create", "--data", data, tc.flag, tc.id)
		if code != 2 || out != "" || !strings.Contains(errs, tc.flag+" ") || !strings.Contains(errs, "is not a GUID") {
			t.Errorf("%s %q: exit %d, out %q, err %q", tc.flag, tc.id, code, out, errs)
		}
	}
	_, out, _ := vigil(t, "", "token", "list", "--data", data)
	if strings.Contains(out, "vgl_") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
		t.Errorf("a refused token was stored: %q", out)
	}
	// Either case is a GUID.
	if code, _, errs := vigil(t, "", "token", "create", "--data", data, "--partner", "4B1B6A9E-1F6F-4B0A-9D55-2B2F0C1A7E01"); code != 0 {
		t.Errorf("upper-case GUID refused: %d %s", code, errs)
	}
}
