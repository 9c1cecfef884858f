package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDatabaseFileKeptPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "urumi.db")
	db, err := Open(context.Background(), path, Options{AuditKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(context.Background(), path, Options{AuditKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("a database file others could read was not made private: %v %v", fi.Mode(), err)
	}
	if os.Geteuid() != 0 {
		return // only root can hand the file to another user
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), path, Options{AuditKey: make([]byte, 32)})
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("someone else's readable database: %v", err)
	}
}
