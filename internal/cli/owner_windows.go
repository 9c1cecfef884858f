//go:build windows

package cli

import "os"

// unixModes: Windows keeps who may read a file in its ACL, not in mode
// bits, which say nothing about other users there.
const unixModes = false

func ownedByCurrentUser(os.FileInfo) bool { return true }
