package cli

import (
	"strings"
	"testing"
)

// TestRulesAndHints: the core's rules hold for the CLI too (an owner the
// API refuses is refused here, with exit 2), and the CLI adds to the
// core's neutral messages the command that helps, once.
func TestRulesAndHints(t *testing.T) {
	r := newRunner(t)
	if _, errOut, code := r.run("quota", "set", "--owner", "full", "--max-stores", "0"); code != 0 {
		t.Fatalf("quota set: %s", errOut)
	}
	for _, tc := range []struct {
		args     []string
		code     int
		want     []string
		wantNone string
	}{
		{[]string{"store", "create", "shop1", "--owner", "al\nice", "--wait=false"}, 2,
			[]string{`owner "al\nice" is invalid`, "Hint: give a valid owner with --owner"}, ""},
		{[]string{"quota", "set", "--owner", "a b", "--max-stores", "3"}, 2, []string{`owner "a b" is invalid`}, ""},
		{[]string{"quota", "set", "--owner", "", "--max-stores", "3"}, 2, []string{`owner "" is invalid`}, ""},
		{[]string{"quota", "get", "--owner", "a\x1bb"}, 2, []string{`is invalid`}, ""},
		{[]string{"token", "create", "--owner", "a b"}, 2, []string{`owner "a b" is invalid`}, ""},
		{[]string{"store", "get", "nope"}, 3, []string{`store "nope" not found`, "Hint: see `urumi store list`"}, ""},
		{[]string{"store", "delete", "nope", "--wait=false"}, 3, []string{`store "nope" not found`, "see `urumi store list`"}, ""},
		{[]string{"token", "revoke", "000000000000"}, 3, []string{`token "000000000000" not found`, "Hint: see `urumi token list`"}, "store list"},
		{[]string{"store", "create", "shop2", "--owner", "full", "--wait=false"}, 4,
			[]string{`owner "full" has 0 of 0 stores`, "`urumi quota set --owner full --max-stores N`"}, ""},
	} {
		_, errOut, code := r.run(tc.args...)
		ok := code == tc.code && (tc.wantNone == "" || !strings.Contains(errOut, tc.wantNone))
		for _, w := range tc.want {
			ok = ok && strings.Contains(errOut, w)
		}
		if !ok {
			t.Errorf("urumi %q: exit %d %q, want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
		if strings.Count(errOut, "Hint:") > 1 {
			t.Errorf("urumi %q: more than one hint: %q", tc.args, errOut)
		}
	}
	// Nothing was recorded for the refused owners.
	out, _, _ := r.run("quota", "list")
	if strings.Contains(out, "a b") || strings.Contains(out, "ice") {
		t.Errorf("quota list after refused requests: %q", out)
	}
	out, _, _ = r.run("store", "list", "-A")
	if out != "" {
		t.Errorf("stores after refused requests: %q", out)
	}
}

// TestAuditThroughTheCore: audit and its verification go through the core
// as the local (admin) caller.
func TestAuditThroughTheCore(t *testing.T) {
	r := newRunner(t)
	if _, errOut, code := r.run("quota", "set", "--owner", "bob", "--max-stores", "2"); code != 0 {
		t.Fatalf("quota set: %s", errOut)
	}
	out, errOut, code := r.run("audit", "verify")
	if code != 0 || !strings.Contains(out, "audit log intact: 1 entries") {
		t.Errorf("audit verify: exit %d %q %q", code, out, errOut)
	}
	out, _, code = r.run("audit", "--actor", "alice")
	if code != 0 || !strings.Contains(out, "quota.set") || !strings.Contains(out, "owner bob max-stores 2") {
		t.Errorf("audit --actor alice: exit %d %q", code, out)
	}
}
