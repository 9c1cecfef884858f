//go:build windows

package store

func lowOnSpace(string) bool { return false }
