//go:build !unix

package cli

import "os"

// segmentSignals end a profile segment (see profileRun): none where there
// is no SIGUSR1; the profile is then one segment.
func segmentSignals() []os.Signal { return nil }
