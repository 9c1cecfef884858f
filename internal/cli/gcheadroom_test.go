package cli

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		scanned, headroom uint64
		base, want        int
	}{
		{16 * mb, 32 * mb, 100, 200}, // a small fleet: twice the default
		{20 * mb, 32 * mb, 100, 160}, // rounded up
		{40 * mb, 32 * mb, 100, 100}, // a large one: the default
		{16 * mb, 32 * mb, 300, 300}, // never below what was set
		{1 * mb, 32 * mb, 100, 1000}, // at most 1,000
		{0, 32 * mb, 100, 1000},      // nothing live yet
		{16 * mb, 32 * mb, -1, -1},   // collection off stays off
		{16 * mb, 0, 100, 100},       // no headroom asked
	} {
		if got := gcPercentFor(c.scanned, c.headroom, c.base); got != c.want {
			t.Errorf("gcPercentFor(%d MB, %d MB, %d) = %d, want %d", c.scanned/mb, c.headroom/mb, c.base, got, c.want)
		}
	}
}

// TestGCHeadroom runs the adjustment for real: after a collection the heap
// goal is the headroom past what is live, and stopping puts the default
// back. Not parallel: the GC percentage is the process's.
func TestGCHeadroom(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const headroom = 16 << 20 // the test binary keeps 3–5 MB live
	stop := startGCHeadroom(headroom)
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the cleanup runs on its own goroutine
		metrics.Read(samples)
		percent, goal, live := samples[0].Value.Uint64(), samples[1].Value.Uint64(), samples[2].Value.Uint64()
		if percent > 100 && goal >= live+headroom*9/10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after collections: GC percent %d, heap goal %d with %d live; want the goal %d past the live heap", percent, goal, live, headroom)
		}
	}
	stop()
	metrics.Read(samples)
	if p := samples[0].Value.Uint64(); p != 100 {
		t.Errorf("GC percent after stop = %d, want 100", p)
	}
	// Stopped: a collection no longer changes it.
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	metrics.Read(samples)
	if p := samples[0].Value.Uint64(); p != 100 {
		t.Errorf("GC percent a collection after stop = %d, want 100", p)
	}
}
