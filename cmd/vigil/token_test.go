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
