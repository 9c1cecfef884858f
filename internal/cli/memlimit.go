package cli

import (
	"io/fs"
	"strconv"
	"strings"
)

// cgroupMemoryLimit is the memory limit of the container this process runs
// in, read from its cgroup (v2's memory.max, else v1's
// memory.limit_in_bytes, under fsys: /sys/fs/cgroup), or false when there
// is none.
func cgroupMemoryLimit(fsys fs.FS) (int64, bool) {
	for _, name := range []string{"memory.max", "memory/memory.limit_in_bytes"} {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		// cgroup v1 writes "no limit" as the largest page-aligned value.
		if err != nil || n <= 0 || n >= 1<<62 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// serveMemoryLimit is the soft limit `urumi serve` gives Go's collector in
// a container of limit bytes: nine tenths, leaving the rest for what the
// runtime does not count (stacks, the binary, kernel buffers). Without it
// the collector lets the heap grow to twice what is live before
// collecting, and the kernel would end the pod first.
func serveMemoryLimit(limit int64) int64 { return limit / 10 * 9 }
