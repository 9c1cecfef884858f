package simcluster

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"
)

func TestProcessCPUTime(t *testing.T) {
	before, err := ProcessCPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn at least 100 ms of processor time.
	start, sum := time.Now(), sha256.Sum256(nil)
	for time.Since(start) < 200*time.Millisecond {
		sum = sha256.Sum256(sum[:])
	}
	after, err := ProcessCPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 50*time.Millisecond || d > 10*time.Second {
		t.Errorf("200 ms of hashing counted as %s of CPU", d)
	}
	if _, err := ProcessCPUTime(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
