//go:build unix

package cli

import (
	"compress/gzip"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestProfileRun: SIGUSR1 ends a profile segment (CPU and heap, each a
// whole profile) and the next goes on; stop ends the last.
func TestProfileRun(t *testing.T) {
	dir := t.TempDir()
	cpu, heap := filepath.Join(dir, "cpu"), filepath.Join(dir, "heap")
	stop, err := profileRun(cpu, heap, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 2; n++ {
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(dir, "cpu."+string(rune('0'+n)))
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(want); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("segment %d: %s was not written", n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	stop()
	for _, name := range []string{"cpu.1", "cpu.2", "cpu", "heap.1", "heap.2", "heap"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// A profile is gzipped protocol buffers.
		n, err := func() (int64, error) {
			z, err := gzip.NewReader(f)
			if err != nil {
				return 0, err
			}
			return io.Copy(io.Discard, z)
		}()
		f.Close()
		if err != nil || n == 0 {
			t.Errorf("%s: %d bytes, %v", name, n, err)
		}
	}
}
