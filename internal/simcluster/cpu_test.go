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
	// Hash until the count moves on by 50 ms (it counts 10 ms ticks), or
	// give up after 20 s of wall time, which would mean it does not count.
	deadline, sum := time.Now().Add(20*time.Second), sha256.Sum256(nil)
	for {
		for range 10000 {
			sum = sha256.Sum256(sum[:])
		}
		after, err := ProcessCPUTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after-before >= 50*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s of hashing counted as %s of CPU", after-before)
		}
	}
	if _, err := ProcessCPUTime(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
