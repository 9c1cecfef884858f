package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkGolden compares got with testdata/name, or rewrites the file with
// -update: output changes then show in review as changes to testdata.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test ./internal/cli -run %s -update after checking the change):\ngot:\n%s\nwant:\n%s", path, t.Name(), got, want)
	}
}

// commandPaths lists every command users can run, as its words after urumi.
func commandPaths(cmd *cobra.Command) [][]string {
	var paths [][]string
	for _, c := range cmd.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		path := strings.Fields(c.CommandPath())[1:]
		paths = append(paths, path)
		paths = append(paths, commandPaths(c)...)
	}
	return paths
}

// TestHelpGolden keeps every command's --help in testdata/help, so changes
// to flags and help text show in review.
func TestHelpGolden(t *testing.T) {
	r := newRunner(t)
	r.env["HOME"] = "/home/alice" // the defaults shown derive from it
	root := NewRootCommand(Env{Args: []string{"urumi"}, Getenv: func(string) string { return "" }})
	paths := append([][]string{{}}, commandPaths(root)...)
	for _, path := range paths {
		name := strings.Join(append([]string{"urumi"}, path...), "_")
		t.Run(name, func(t *testing.T) {
			out, errOut, code := r.run(append(path, "--help")...)
			if code != 0 || errOut != "" {
				t.Fatalf("urumi %s --help: exit %d, stderr %q", strings.Join(path, " "), code, errOut)
			}
			checkGolden(t, filepath.Join("help", name+".golden"), out)
		})
	}
}

// TestFlagUsage: a backquoted word in a flag's usage becomes its type name
// in help (`--default-max-stores urumi quota set`); no usage has one.
func TestFlagUsage(t *testing.T) {
	root := NewRootCommand(Env{Args: []string{"urumi"}, Getenv: func(string) string { return "" }})
	check := func(cmd *cobra.Command) func(*pflag.Flag) {
		return func(fl *pflag.Flag) {
			if strings.Contains(fl.Usage, "`") {
				t.Errorf("%s --%s: usage %q has a backquote, which help shows as the flag's type", cmd.CommandPath(), fl.Name, fl.Usage)
			}
		}
	}
	root.PersistentFlags().VisitAll(check(root))
	for _, path := range commandPaths(root) {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		cmd.LocalFlags().VisitAll(check(cmd))
	}
	for _, name := range []string{"namespace", "cache-dir"} {
		if fl := root.PersistentFlags().Lookup(name); fl == nil || !fl.Hidden {
			t.Errorf("--%s: want it accepted but hidden (urumi never uses it)", name)
		}
	}
	for _, name := range []string{"kubeconfig", "context", "cluster", "user", "server", "token", "certificate-authority", "insecure-skip-tls-verify", "request-timeout"} {
		if fl := root.PersistentFlags().Lookup(name); fl == nil || fl.Hidden {
			t.Errorf("--%s: kubectl users expect it in the help", name)
		}
	}
}
