package cli

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for the integrity check

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// TestStateDiskFaults: with the SQLite database's disk read-only or full,
// commands that write fail with a message that says which database, what
// is wrong and what to do, exit non-zero, and leave nothing half-written:
// once the disk is writable again the state is what it was, the audit log
// verifies, and the same commands succeed.
func TestStateDiskFaults(t *testing.T) {
	tests := []struct {
		name  string
		dir   func(t *testing.T) string
		fault func(t *testing.T, dir string) (undo func())
		want  []string // in every failing command's message
	}{
		{
			name:  "read-only",
			dir:   func(t *testing.T) string { return t.TempDir() },
			fault: func(t *testing.T, dir string) func() { return storetest.ReadOnly(t, dir) },
			want:  []string{"is read-only", "make the file and its directory writable"},
		},
		{
			name:  "disk full",
			dir:   func(t *testing.T) string { return storetest.SmallDisk(t, "2m") },
			fault: func(t *testing.T, dir string) func() { return storetest.FillDisk(t, dir) },
			want:  []string{"no space left on the device holding the state database", "free space there"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			dir := tt.dir(t)
			db := filepath.Join(dir, "urumi.db")
			r.env["URUMI_DB"] = db
			r.mustRun("quota", "set", "--owner", "bob", "--max-stores", "3")
			r.mustRun("store", "create", "shop1", "--owner", "bob", "--wait=false")
			before := r.snapshot()

			undo := tt.fault(t, dir)
			writes := [][]string{
				{"store", "create", "shop2", "--owner", "bob", "--wait=false"},
				{"quota", "set", "--owner", "carol", "--max-stores", "2"},
				{"store", "delete", "shop1", "--wait=false"},
				{"token", "create", "--owner", "bob"},
			}
			for _, args := range writes {
				out, errOut, code := r.run(args...)
				if code == 0 {
					t.Errorf("urumi %s succeeded on a %s database:\n%s", strings.Join(args, " "), tt.name, out)
					continue
				}
				t.Logf("urumi %s: exit %d: %s", strings.Join(args, " "), code, errOut)
				for _, w := range append(tt.want, db, "Hint: another database is chosen with --db") {
					if !strings.Contains(errOut, w) {
						t.Errorf("urumi %s: the message should contain %q:\n%s", strings.Join(args, " "), w, errOut)
					}
				}
				if strings.Count(errOut, "Error:") != 1 || strings.Contains(errOut, "goroutine") {
					t.Errorf("urumi %s: the error should be printed once, plainly:\n%s", strings.Join(args, " "), errOut)
				}
			}
			undo()

			if after := r.snapshot(); after != before {
				t.Errorf("the failed commands changed the state:\nbefore: %s\nafter:  %s", before, after)
			}
			raw, err := sql.Open("sqlite", db)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var integrity string
			if err := raw.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
				t.Errorf("integrity check: %q, %v", integrity, err)
			}
			// Writable again, the same commands work.
			for _, args := range writes {
				r.mustRun(args...)
			}
			r.mustRun("audit", "verify")
		})
	}
}

func (r *runner) mustRun(args ...string) string {
	r.t.Helper()
	out, errOut, code := r.run(args...)
	if code != 0 {
		r.t.Fatalf("urumi %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// snapshot is what the state database holds, as the commands show it,
// with the audit log verified.
func (r *runner) snapshot() string {
	r.t.Helper()
	var stores []store.Store
	if err := json.Unmarshal([]byte(r.mustRun("store", "list", "-A", "-o", "json")), &stores); err != nil {
		r.t.Fatal(err)
	}
	var b strings.Builder
	for _, s := range stores {
		b.WriteString(s.Name + " " + string(s.Status) + "; ")
	}
	b.WriteString("quotas: " + strings.ReplaceAll(r.mustRun("quota", "list", "-o", "json"), "\n", "; "))
	b.WriteString("tokens: " + strings.ReplaceAll(r.mustRun("token", "list", "-o", "json"), "\n", "; "))
	b.WriteString("audit: " + strings.TrimSpace(r.mustRun("audit", "verify")))
	return b.String()
}
