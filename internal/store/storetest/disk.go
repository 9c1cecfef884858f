package storetest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallDisk mounts a file system of size bytes (tmpfs) for t and returns
// its directory, unmounted when the test ends. Mounting needs root: without
// it, or where mounts are not allowed (a container without the right), the
// test skips.
func SmallDisk(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a disk of its own needs root (mount -t tmpfs)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "urumi-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small disk here: %v: %s", err, out)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

// FillDisk writes a file in dir until the file system has no space left,
// and returns a function that removes it again.
func FillDisk(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for err == nil {
		_, err = f.Write(buf)
	}
	for size := len(buf) / 2; size > 0 && errors.Is(err, syscall.ENOSPC); size /= 2 {
		// Fill the last, partly free block too.
		for err = nil; err == nil; {
			_, err = f.Write(buf[:size])
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fill %s: %v", dir, err)
	}
	return func() {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// ReadOnly makes dir and everything in it read-only to this process until
// the returned function undoes it (and at the latest when the test ends).
// Root, whom file modes do not stop, gets a read-only bind mount of dir
// over itself; others get the write bits removed.
func ReadOnly(t testing.TB, dir string) (undo func()) {
	t.Helper()
	done := false
	if os.Geteuid() == 0 {
		if out, err := exec.Command("mount", "--bind", dir, dir).CombinedOutput(); err != nil {
			t.Skipf("cannot bind-mount here: %v: %s", err, out)
		}
		if out, err := exec.Command("mount", "-o", "remount,bind,ro", dir).CombinedOutput(); err != nil {
			unmount(t, dir)
			t.Skipf("cannot remount read-only here: %v: %s", err, out)
		}
		undo = func() {
			if !done {
				done = true
				unmount(t, dir)
			}
		}
	} else {
		modes := map[string]os.FileMode{}
		err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			modes[p] = fi.Mode().Perm()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for p, m := range modes {
			if err := os.Chmod(p, m&^0o222); err != nil {
				t.Fatal(err)
			}
		}
		undo = func() {
			if !done {
				done = true
				for p, m := range modes {
					_ = os.Chmod(p, m)
				}
			}
		}
	}
	t.Cleanup(undo)
	return undo
}

func unmount(t testing.TB, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Errorf("umount %s: %v: %s", dir, err, out)
	}
}
