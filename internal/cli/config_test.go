package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestConfigPrecedence: flag > URUMI_* environment > config file > default,
// for global settings and a command-local one alike.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte("base-domain: file.example\nowner: file-owner\ntimeout: 7m\ningress-class: file-class\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantBase string
		wantOwn  string
		wantTO   time.Duration
		wantIC   string
	}{
		{"defaults without a file", nil, nil, "", "", 0, ""},
		{"file over defaults", []string{"--config", file}, nil, "file.example", "file-owner", 7 * time.Minute, "file-class"},
		{"env over file", []string{"--config", file}, map[string]string{"URUMI_BASE_DOMAIN": "env.example", "URUMI_TIMEOUT": "9m"}, "env.example", "file-owner", 9 * time.Minute, "file-class"},
		{"flag over env", []string{"--config", file, "--base-domain", "flag.example", "--owner", "flag-owner"}, map[string]string{"URUMI_BASE_DOMAIN": "env.example"}, "flag.example", "flag-owner", 7 * time.Minute, "file-class"},
		{"URUMI_CONFIG names the file", nil, map[string]string{"URUMI_CONFIG": file}, "file.example", "file-owner", 7 * time.Minute, "file-class"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"USER": "os-user", "HOME": dir}
			for k, v := range tt.env {
				vars[k] = v
			}
			env := Env{
				Args:    append([]string{"urumi", "probe"}, tt.args...),
				Streams: Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}},
				Getenv:  func(k string) string { return vars[k] },
			}
			root, f := newRoot(env)
			root.AddCommand(&cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error { return nil }})
			root.SetArgs(env.Args[1:])
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := f.Config
			want := func(field, got, dflt, want string) {
				t.Helper()
				if want == "" {
					want = dflt
				}
				if got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			wantTO := tt.wantTO
			if wantTO == 0 {
				wantTO = 5 * time.Minute
			}
			want("base-domain", got.BaseDomain, "localhost", tt.wantBase)
			want("owner", got.Owner, "os-user", tt.wantOwn)
			want("ingress-class", got.IngressClass, "nginx", tt.wantIC)
			if got.Timeout != wantTO {
				t.Errorf("timeout = %s, want %s", got.Timeout, wantTO)
			}
			if !strings.HasPrefix(got.DB, dir) {
				t.Errorf("db default %q should be under HOME %s", got.DB, dir)
			}
		})
	}
}

// TestConfigFileErrors: a named config file must exist and parse.
func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("timeout: [not a duration\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--config", filepath.Join(dir, "missing.yaml")}, {"--config", bad}} {
		var errOut bytes.Buffer
		code := Main(context.Background(), Env{
			Args:    append([]string{"urumi", "plan", "list"}, args...),
			Streams: Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &errOut},
			Getenv:  func(k string) string { return map[string]string{"HOME": dir}[k] },
		})
		if code != 1 || !strings.Contains(errOut.String(), "config file") {
			t.Errorf("urumi %v: exit %d, %q", args, code, errOut.String())
		}
	}
}

// TestConfigFilePermissions: the config file may hold the database's
// password. Open to others, it is made private when it is the user's, and
// refused with the command that fixes it when it is not.
func TestConfigFilePermissions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     os.FileMode
		otherUID bool // the file belongs to someone else
		code     int
		want     string
		wantMode os.FileMode
	}{
		{"private", 0o600, false, 0, "", 0o600},
		{"owner read-only", 0o400, false, 0, "", 0o400},
		{"readable by others", 0o644, false, 0, "made it private (0600)", 0o600},
		{"writable by the group", 0o620, false, 0, "made it private (0600)", 0o600},
		{"someone else's", 0o644, true, 1, "have its owner run `chmod 600 ", 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "my config")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(file, []byte("db: postgres://urumi:s3cret@db.example/urumi\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.otherUID {
				if os.Getuid() != 0 {
					t.Skip("giving a file to another user needs root")
				}
				if err := os.Chown(file, 65534, 65534); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(file, tc.mode); err != nil {
				t.Fatal(err)
			}
			var errOut bytes.Buffer
			code := Main(context.Background(), Env{
				Args:    []string{"urumi", "version", "--config", file},
				Streams: Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &errOut},
				Getenv:  func(k string) string { return map[string]string{"HOME": dir}[k] },
			})
			if code != tc.code || !strings.Contains(errOut.String(), tc.want) || (tc.want == "" && errOut.Len() > 0) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut.String(), tc.code, tc.want)
			}
			if tc.otherUID && !strings.Contains(errOut.String(), "chmod 600 '"+file+"'") {
				t.Errorf("the refusal should give the command to run, quoted: %q", errOut.String())
			}
			if strings.Contains(errOut.String(), "s3cret") {
				t.Errorf("stderr shows the password: %q", errOut.String())
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.wantMode {
				t.Errorf("mode %04o, want %04o", fi.Mode().Perm(), tc.wantMode)
			}
		})
	}
}
