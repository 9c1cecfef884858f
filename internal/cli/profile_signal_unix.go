//go:build unix

package cli

import (
	"os"
	"syscall"
)

// segmentSignals end a profile segment (see profileRun).
func segmentSignals() []os.Signal { return []os.Signal{syscall.SIGUSR1} }
