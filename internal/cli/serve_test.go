package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeConfigPrecedence: serve's own settings follow flag > URUMI_*
// environment > config file > default. Each case sets an invalid --workers
// somewhere so serve stops at validation (before any database or cluster)
// and says which value won.
func TestServeConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte("workers: -3\nlog-format: yaml\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag beats env and file", []string{"--workers", "-1"}, map[string]string{"URUMI_WORKERS": "-2"}, "--workers -1 is invalid"},
		{"env beats file", nil, map[string]string{"URUMI_WORKERS": "-2"}, "--workers -2 is invalid"},
		{"file", nil, nil, "--workers -3 is invalid"},
		{"file value of another key", []string{"--workers", "1"}, nil, `--log-format "yaml" is invalid`},
		{"unparsable env", nil, map[string]string{"URUMI_WORKERS": "many"}, "URUMI_WORKERS"},
		{"bad duration", []string{"--workers", "1", "--log-format", "text", "--shutdown-grace", "-1s"}, nil, "--shutdown-grace -1s is invalid"},
		{"short lease", []string{"--workers", "1", "--log-format", "text", "--lease", "10ms"}, nil, "--lease 10ms is too short"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"HOME": dir, "URUMI_DB": filepath.Join(dir, "never-opened.db")}
			for k, v := range c.env {
				env[k] = v
			}
			var out, errOut bytes.Buffer
			code := Main(context.Background(), Env{
				Args:    append([]string{"urumi", "serve", "--config", config}, c.args...),
				Streams: Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
				Getenv:  func(k string) string { return env[k] },
			})
			if code != exitUsage || !strings.Contains(errOut.String(), c.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, errOut.String(), exitUsage, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "never-opened.db")); err == nil {
				t.Error("serve opened the database before validating its settings")
			}
		})
	}
}

func TestServeFlags(t *testing.T) {
	runParseCases(t, newServeCommand, []parseCase[*serveOptions]{
		{args: []string{"serve"}, check: func(t *testing.T, o *serveOptions) {
			c := o.Config
			if c.Addr != "127.0.0.1:8080" || c.Workers != 4 || c.ShutdownGrace != 30*time.Second || c.LogFormat != "text" || c.LogLevel != "info" || o.Lease != 30*time.Second {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{args: []string{"serve", "--addr", ":9090", "--workers", "0", "--create-rate", "0", "--log-format", "json", "--lease", "5s"},
			env: map[string]string{"URUMI_LOG_LEVEL": "debug", "URUMI_SHUTDOWN_GRACE": "1m"}, check: func(t *testing.T, o *serveOptions) {
				c := o.Config
				if c.Addr != ":9090" || c.Workers != 0 || c.CreateRate != 0 || c.LogFormat != "json" || o.Lease != 5*time.Second ||
					c.LogLevel != "debug" || c.ShutdownGrace != time.Minute {
					t.Errorf("flags and env: %+v", c)
				}
			}},
		{args: []string{"serve", "--workers", "-1"}, wantErr: "--workers -1 is invalid"},
		{args: []string{"serve", "--create-rate", "-1"}, wantErr: "--create-rate -1 is invalid"},
	})
}
