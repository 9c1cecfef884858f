package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

func TestServeBootstrapTokenFlag(t *testing.T) {
	runParseCases(t, newServeCommand, []parseCase[*serveOptions]{
		{args: []string{"serve"}, check: func(t *testing.T, o *serveOptions) {
			if o.Config.BootstrapTokenFile != "" {
				t.Errorf("default bootstrap token file %q, want none", o.Config.BootstrapTokenFile)
			}
		}},
		{args: []string{"serve"}, env: map[string]string{"URUMI_BOOTSTRAP_TOKEN_FILE": "/run/secrets/token"}, check: func(t *testing.T, o *serveOptions) {
			if o.Config.BootstrapTokenFile != "/run/secrets/token" {
				t.Errorf("from env: %q", o.Config.BootstrapTokenFile)
			}
		}},
		{args: []string{"serve", "--bootstrap-token-file", "/a"}, env: map[string]string{"URUMI_BOOTSTRAP_TOKEN_FILE": "/b"}, check: func(t *testing.T, o *serveOptions) {
			if o.Config.BootstrapTokenFile != "/a" {
				t.Errorf("flag over env: %q", o.Config.BootstrapTokenFile)
			}
		}},
	})
}

// TestServeBootstrapToken: serve's start registers the file's token once,
// logs its id but never its secret, and refuses a file that holds no token
// without repeating what it holds.
func TestServeBootstrapToken(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.SQLiteDSN(t), store.Options{DefaultMaxStores: 5, AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := &provision.Service{DB: db}
	dir := t.TempDir()
	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte(provision.FormatToken("abcdef012345", secret)+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for range 2 {
		if err := bootstrapToken(ctx, svc, path, log); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("log holds the token's secret:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "registered the bootstrap admin token") || !strings.Contains(logs.String(), "abcdef012345") ||
		strings.Count(logs.String(), "registered the bootstrap") != 1 {
		t.Errorf("want one registration logged with the token's id:\n%s", logs.String())
	}
	tok, err := db.GetToken(ctx, "abcdef012345")
	if err != nil || !tok.Admin || tok.Owner != BootstrapTokenOwner {
		t.Errorf("registered %+v %v", tok, err)
	}

	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("hunter2-is-my-password"), 0o400); err != nil {
		t.Fatal(err)
	}
	err = bootstrapToken(ctx, svc, bad, log)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "not an urumi API token") {
		t.Errorf("file without a token: %v", err)
	}
	err = bootstrapToken(ctx, svc, filepath.Join(dir, "missing"), log)
	if err == nil || !strings.Contains(err.Error(), "--bootstrap-token-file") {
		t.Errorf("missing file: %v", err)
	}
	if err := bootstrapToken(ctx, svc, "", log); err != nil {
		t.Errorf("no file: %v", err)
	}
}
