//go:build windows

package store

import "io/fs"

// UnixModes: Windows keeps who may read a file in its ACL, not in mode
// bits, which say nothing about other users there.
const UnixModes = false

func OwnedByCurrentUser(fs.FileInfo) bool { return true }

func onReadOnlyFS(string) bool { return false }
