//go:build !windows

package store

import (
	"os"
	"path/filepath"
	"syscall"
)

// lowOnSpace says whether the file system holding path has less than a
// megabyte left that this process may use.
func lowOnSpace(path string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return false
	}
	free := uint64(st.Bavail)
	if os.Geteuid() == 0 {
		free = uint64(st.Bfree) // root may use the blocks kept in reserve
	}
	return free*uint64(st.Bsize) < 1<<20
}
