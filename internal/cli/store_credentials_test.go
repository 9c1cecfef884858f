package cli

import (
	"strings"
	"testing"
)

// TestCredentialsRefusePipes: with stdout not a terminal, both commands
// refuse without --reveal, saying so, before reading or changing anything
// (here, before opening a cluster connection that does not exist).
func TestCredentialsRefusePipes(t *testing.T) {
	r := newRunner(t)
	r.env["KUBECONFIG"] = "/nonexistent"
	for _, cmd := range []string{"credentials", "reset-password"} {
		out, errOut, code := r.run("store", cmd, "shop1")
		if code != exitUsage || out != "" || !strings.Contains(errOut, "--reveal") || !strings.Contains(errOut, "not a terminal") {
			t.Errorf("%s piped: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
		// With --reveal it goes on, to the missing store.
		_, errOut, code = r.run("store", cmd, "shop1", "--reveal")
		if code == exitUsage || strings.Contains(errOut, "--reveal") {
			t.Errorf("%s --reveal: exit %d, stderr %q", cmd, code, errOut)
		}
		if _, errOut, code := r.run("store", cmd, "Bad_Name", "--reveal"); code != exitUsage || !strings.Contains(errOut, "invalid") {
			t.Errorf("%s with a bad name: exit %d, %q", cmd, code, errOut)
		}
	}
}
