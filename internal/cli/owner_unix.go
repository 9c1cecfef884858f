//go:build !windows

package cli

import (
	"os"
	"syscall"
)

// unixModes: files are kept private by their mode bits.
const unixModes = true

// ownedByCurrentUser says whether the file belongs to this process's user.
func ownedByCurrentUser(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
