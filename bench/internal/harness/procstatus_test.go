package harness

import (
	"os"
	"testing"
	"time"
)

// TestMemory reads this process's own sizes from /proc.
func TestMemory(t *testing.T) {
	rss, hwm, err := Memory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || hwm < rss {
		t.Fatalf("RSS %.1f MB, peak %.1f MB", rss, hwm)
	}
	m := SampleMemory(os.Getpid(), 10*time.Millisecond)
	anon, file, both := m.Stop()
	if anon <= 0 || file <= 0 || both <= 0 || both > anon+file+0.01 {
		t.Fatalf("sampled anonymous %.1f MB, file-backed %.1f MB, together %.1f MB", anon, file, both)
	}
}
