//go:build !windows

package store

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// UnixModes: files are kept private by their mode bits.
const UnixModes = true

// OwnedByCurrentUser says whether the file belongs to this process's user.
func OwnedByCurrentUser(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// onReadOnlyFS says whether path lives on a read-only file system (a
// mounted Kubernetes Secret), where nobody can change it.
func onReadOnlyFS(path string) bool {
	return errors.Is(syscall.Access(path, 2 /* W_OK */), syscall.EROFS)
}
