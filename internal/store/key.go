package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadAuditKey reads the audit key from the file at path: the key as hex
// (64 hex digits for a 32-byte key; surrounding whitespace ignored), so that
// `openssl rand -hex 32` makes one and a Kubernetes Secret can hold it as
// text. With create, a missing file is made with a new 32-byte key from
// crypto/rand, mode 0600 in a directory made 0700.
//
// Whoever reads the key can rewrite the audit log undetected, so the file
// must be private. A file that others may read or write is tightened to
// 0600 when this user owns it, and refused otherwise, naming the chmod to
// run. One exception: a file on a read-only file system is accepted as it
// is. That is how Kubernetes mounts a Secret (a read-only volume, the file
// behind a symlink, 0644 unless the volume's defaultMode says otherwise):
// nobody can change it there, and who may read it is decided by the pod
// spec, where defaultMode 0400 is the recommended setting.
func LoadAuditKey(path string, create bool) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no audit key file is set: name the file that holds the audit key")
	}
	fi, err := os.Stat(path) // through the symlinks a Secret mount has
	if errors.Is(err, fs.ErrNotExist) && create {
		return createAuditKey(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("audit key file %s does not exist: create one with `openssl rand -hex 32 > %s` "+
			"and `chmod 600 %s`, or use the file the audit log is written with", path, path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read audit key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("audit key file %s is not a regular file: name the key file itself", path)
	}
	if err := checkKeyFileMode(path, fi); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audit key file %s: %w", path, err)
	}
	return parseAuditKey(path, b)
}

// keepPrivate makes a file of the current user's that others may read or
// change private (mode 0600), and refuses one of someone else's, giving the
// chmod to run. A file that does not exist is fine.
func keepPrivate(path, what string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s %s: %w", what, path, err)
	}
	if !UnixModes || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if OwnedByCurrentUser(fi) {
		if err := os.Chmod(path, 0o600); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s %s can be read or changed by other users (mode %04o): run `chmod 600 %s` as its owner",
		what, path, fi.Mode().Perm(), path)
}

// checkKeyFileMode tightens or refuses a key file others may use.
func checkKeyFileMode(path string, fi fs.FileInfo) error {
	if !UnixModes || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if onReadOnlyFS(path) {
		return nil // a mounted Secret: see LoadAuditKey
	}
	if OwnedByCurrentUser(fi) {
		if err := os.Chmod(path, 0o600); err == nil {
			return nil
		}
	}
	return fmt.Errorf("audit key file %s can be read or changed by other users (mode %04o): "+
		"run `chmod 600 %s` as its owner (for a Kubernetes Secret, mount it with defaultMode 0400)",
		path, fi.Mode().Perm(), path)
}

func parseAuditKey(path string, b []byte) ([]byte, error) {
	text := strings.TrimSpace(string(b))
	key, err := hex.DecodeString(text)
	if err != nil || len(key) < MinAuditKeyLen {
		// Never quote the file: it is a secret, however malformed.
		return nil, fmt.Errorf("audit key file %s does not hold a key: it must hold at least %d random bytes "+
			"as hex (make one with `openssl rand -hex 32`)", path, MinAuditKeyLen)
	}
	return key, nil
}

// createAuditKey writes a new key to path unless another process just did:
// the key goes to a private temporary file first, which is then linked to
// path, and linking never replaces a file.
func createAuditKey(path string) ([]byte, error) {
	createErr := func(err error) error {
		return fmt.Errorf("create audit key file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, createErr(err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, createErr(err)
	}
	tmp, err := os.CreateTemp(dir, ".audit-key-*")
	if err != nil {
		return nil, createErr(err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(hex.EncodeToString(key) + "\n")
	serr := tmp.Sync()
	if err := errors.Join(werr, serr, tmp.Close()); err != nil {
		return nil, createErr(err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return LoadAuditKey(path, false) // another process made it first
	} else if err != nil {
		return nil, createErr(err)
	}
	return key, nil
}
