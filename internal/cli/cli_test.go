package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs urumi in-process with a fresh SQLite database per test.
type runner struct {
	t   *testing.T
	env map[string]string
}

func newRunner(t *testing.T) *runner {
	dir := t.TempDir()
	return &runner{t: t, env: map[string]string{
		"HOME": dir, "USER": "alice", "URUMI_DB": filepath.Join(dir, "urumi.db"),
	}}
}

func (r *runner) run(args ...string) (stdout, stderr string, code int) {
	r.t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{
		Args:    append([]string{"urumi"}, args...),
		Streams: Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errb},
		Getenv:  func(k string) string { return r.env[k] },
		Build:   BuildInfo{Version: "v1.2.3", Commit: "abc", Date: "2026-11-22"},
	})
	return out.String(), errb.String(), code
}

func TestStoreOutput(t *testing.T) {
	r := newRunner(t)
	out, errOut, code := r.run("store", "create", "shop1", "--wait=false", "-o", "json")
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("create -o json is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"name", "owner", "plan", "status", "namespace", "url", "createdAt", "updatedAt"} {
		if _, ok := m[k]; !ok {
			t.Errorf("store JSON lacks %q: %s", k, out)
		}
	}
	if m["status"] != "QUEUED" || m["owner"] != "alice" || m["namespace"] != "store-shop1" {
		t.Errorf("store JSON: %s", out)
	}
	if strings.Contains(out, "queued") || !strings.Contains(errOut, "queued") {
		t.Errorf("messages belong on stderr, data on stdout: stdout %q stderr %q", out, errOut)
	}

	// Piped: no header, tab-separated, no colour.
	out, _, _ = r.run("store", "list")
	if strings.Contains(out, "NAME") || !strings.HasPrefix(out, "shop1\talice\tmedium\tQUEUED\t\t") || strings.Contains(out, "\x1b[") {
		t.Errorf("piped list: %q", out)
	}
	out, _, _ = r.run("store", "list", "-o", "yaml")
	if !strings.Contains(out, "name: shop1") {
		t.Errorf("yaml list: %q", out)
	}
	out, _, _ = r.run("store", "list", "--owner", "bob", "-o", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("another owner's list should be empty: %q", out)
	}
}

func TestUsageErrors(t *testing.T) {
	r := newRunner(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"store", "list", "-o", "xml"}, 2, `unknown output format "xml"`},
		{[]string{"store", "create"}, 2, "takes NAME"},
		{[]string{"store", "create", "a"}, 2, "is invalid"},
		{[]string{"store", "create", "shop1", "--plan", "huge", "--wait=false"}, 2, "unknown plan"},
		{[]string{"store", "get", "nope"}, 3, `store "nope" not found`},
		{[]string{"store", "list", "--nope"}, 2, "unknown flag"},
		{[]string{"quota", "set", "--owner", "x"}, 2, "max-stores"},
	} {
		_, errOut, code := r.run(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("urumi %v: exit %d %q, want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

func TestVersionAndCompletion(t *testing.T) {
	r := newRunner(t)
	out, _, code := r.run("version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"version": "v1.2.3"`) || !strings.Contains(out, `"commit": "abc"`) {
		t.Errorf("version: %d %s", code, out)
	}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		out, _, code := r.run("completion", sh)
		if code != 0 || !strings.Contains(out, "urumi") || len(out) < 500 {
			t.Errorf("completion %s: exit %d, %d bytes", sh, code, len(out))
		}
	}
	if _, _, code := r.run("completion", "tcsh"); code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2", code)
	}
}

func TestKubectlPluginName(t *testing.T) {
	var out bytes.Buffer
	Main(context.Background(), Env{
		Args:    []string{"/usr/local/bin/kubectl-urumi", "--help"},
		Streams: Streams{In: strings.NewReader(""), Out: &out, ErrOut: &out},
	})
	if !strings.Contains(out.String(), "kubectl urumi [command]") {
		t.Errorf("as kubectl-urumi, usage should say `kubectl urumi`:\n%s", out.String())
	}
}

func TestQuotaAndTokenLists(t *testing.T) {
	r := newRunner(t)
	if _, errOut, code := r.run("quota", "set", "--owner", "bob", "--max-stores", "3"); code != 0 {
		t.Fatalf("quota set: %s", errOut)
	}
	out, _, _ := r.run("quota", "list")
	if !strings.Contains(out, "bob\t0\t3\towner") {
		t.Errorf("quota list: %q", out)
	}
	secret, errOut, code := r.run("token", "create", "--owner", "bob")
	if code != 0 || !strings.Contains(errOut, "cannot be shown again") {
		t.Fatalf("token create: %d %s", code, errOut)
	}
	out, _, _ = r.run("token", "list", "-o", "json")
	if !strings.Contains(out, `"owner": "bob"`) || strings.Contains(out, strings.TrimSpace(secret)) {
		t.Errorf("token list should show the token but never its secret: %s", out)
	}
}

func TestAuditKeySetting(t *testing.T) {
	r := newRunner(t)
	if _, errOut, code := r.run("quota", "set", "--owner", "bob", "--max-stores", "3"); code != 0 {
		t.Fatalf("quota set: %s", errOut)
	}
	// The default key is made at first use, private, beside the database.
	keyPath := filepath.Join(r.env["HOME"], ".local", "share", "urumi", "audit.key")
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("default audit key: %v, %v; want a 0600 file", fi, err)
	}
	if out, errOut, code := r.run("audit", "verify"); code != 0 || !strings.Contains(out, "intact: 1 entries") {
		t.Fatalf("audit verify: %d %s %s", code, out, errOut)
	}

	r.env["URUMI_AUDIT_KEY"] = filepath.Join(t.TempDir(), "other.key")
	if _, errOut, code := r.run("audit", "verify"); code == 0 || !strings.Contains(errOut, "another audit key") {
		t.Errorf("audit verify with another key: %d %s", code, errOut)
	}

	loose := filepath.Join(t.TempDir(), "loose.key")
	if err := os.WriteFile(loose, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(loose, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(loose, 0o644); err != nil {
			t.Fatal(err)
		}
		r.env["URUMI_AUDIT_KEY"] = loose
		if _, errOut, code := r.run("audit", "verify"); code == 0 || !strings.Contains(errOut, "chmod 600 "+loose) {
			t.Errorf("audit verify with a key others can read: %d %s", code, errOut)
		}
	}
}

// TestUnknownSubcommand: a typo under a group fails like one at the top
// level (exit 2, with a suggestion), instead of printing help and passing.
func TestUnknownSubcommand(t *testing.T) {
	r := newRunner(t)
	for _, tc := range []struct {
		args    []string
		want    string
		suggest string
	}{
		{[]string{"stor"}, `unknown command "stor" for "urumi"`, "store"},
		{[]string{"store", "bogus"}, `unknown command "bogus" for "urumi store"`, ""},
		{[]string{"store", "delet", "shop1"}, `unknown command "delet" for "urumi store"`, "delete"},
		{[]string{"stores", "lst"}, `unknown command "lst" for "urumi store"`, "list"},
		{[]string{"quota", "frob"}, `unknown command "frob" for "urumi quota"`, ""},
		{[]string{"quota", "lis"}, `unknown command "lis" for "urumi quota"`, "list"},
		{[]string{"token", "revok", "t1"}, `unknown command "revok" for "urumi token"`, "revoke"},
		{[]string{"plan", "lsit"}, `unknown command "lsit" for "urumi plan"`, ""},
		{[]string{"audit", "verfy"}, `unknown command "verfy" for "urumi audit"`, "verify"},
	} {
		out, errOut, code := r.run(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("urumi %s: exit %d, stdout %q, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, out, errOut, tc.want)
		}
		if tc.suggest != "" && !strings.Contains(errOut, "Did you mean this?\n\t"+tc.suggest+"\n") {
			t.Errorf("urumi %s: stderr %q does not suggest %q", strings.Join(tc.args, " "), errOut, tc.suggest)
		}
	}
	// A group alone still shows its help.
	for _, group := range []string{"store", "quota", "token", "plan"} {
		out, errOut, code := r.run(group)
		if code != 0 || !strings.Contains(out, "Available Commands:") {
			t.Errorf("urumi %s: exit %d, stdout %q, stderr %q; want its help", group, code, out, errOut)
		}
	}
}

// TestListsFollowPages: store list and audit read page after page and
// print the whole list, the same whatever the page size.
func TestListsFollowPages(t *testing.T) {
	r := newRunner(t)
	if _, errOut, code := r.run("quota", "set", "--owner", "alice", "--max-stores", "20"); code != 0 {
		t.Fatalf("quota set: %s", errOut)
	}
	var want []string
	for _, name := range []string{"shop-g", "shop-c", "shop-a", "shop-f", "shop-b", "shop-e", "shop-d"} {
		if _, errOut, code := r.run("store", "create", name, "--wait=false"); code != 0 {
			t.Fatalf("create %s: %s", name, errOut)
		}
	}
	want = []string{"shop-a", "shop-b", "shop-c", "shop-d", "shop-e", "shop-f", "shop-g"}
	for _, args := range [][]string{{"store", "list"}, {"store", "list", "--chunk-size", "2"}, {"store", "list", "-A", "--chunk-size", "1"}, {"store", "list", "--chunk-size", "7"}} {
		out, errOut, code := r.run(args...)
		if code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
		var names []string
		for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			names = append(names, strings.Split(line, "\t")[0])
		}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("%v lists %v, want %v", args, names, want)
		}
	}
	if _, errOut, code := r.run("store", "list", "--chunk-size", "0"); code == 0 || !strings.Contains(errOut, "--chunk-size 0 is invalid") {
		t.Errorf("--chunk-size 0: exit %d: %s", code, errOut)
	}

	whole, errOut, code := r.run("audit")
	if code != 0 {
		t.Fatalf("audit: %s", errOut)
	}
	lines := strings.Split(strings.TrimSpace(whole), "\n")
	if len(lines) < 8 {
		t.Fatalf("audit has %d entries, want at least 8:\n%s", len(lines), whole)
	}
	for _, chunk := range []string{"1", "3", "100"} {
		if out, _, _ := r.run("audit", "--chunk-size", chunk); out != whole {
			t.Errorf("audit in pages of %s:\n%s\nwant\n%s", chunk, out, whole)
		}
	}
	last3 := strings.Join(lines[len(lines)-3:], "\n") + "\n"
	for _, chunk := range []string{"1", "2", "3", "10"} {
		if out, _, _ := r.run("audit", "--limit", "3", "--chunk-size", chunk); out != last3 {
			t.Errorf("audit --limit 3 in pages of %s:\n%s\nwant\n%s", chunk, out, last3)
		}
	}
}
