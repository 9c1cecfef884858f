package cli

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// serveGCHeadroom is how far past what is live `urumi serve` lets its heap
// grow before it collects, at the least. Go's default (GOGC=100) lets it
// grow by as much as is live: with a small fleet serve keeps 15–20 MB
// live and allocates steadily (watch events, installs), so it collected
// every two seconds or so, a tenth of its CPU at 200 stores. From a live
// heap of this size on, the default applies unchanged: at 1,000 stores
// serve keeps 35–40 MB live, and its peak RSS is where it was.
const serveGCHeadroom = 32 << 20

// gcHeadroom keeps the collector's heap goal at least headroom bytes past
// what the last collection left live (with the stacks and globals it
// scans), by raising the GC percentage after each collection when the
// default would give less. It never lowers it below base, the percentage
// it found. A memory limit (GOMEMLIMIT, or the container's) still bounds
// the heap: the collector runs earlier when it nears it.
type gcHeadroom struct {
	headroom uint64
	base     int

	mu      sync.Mutex
	stopped bool
	percent int
	samples []metrics.Sample
}

// startGCHeadroom starts adjusting the GC percentage after each collection;
// stop ends it and puts the percentage back.
func startGCHeadroom(headroom uint64) (stop func()) {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	g := &gcHeadroom{headroom: headroom, base: base, percent: base, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	g.adjust()
	g.arm()
	return g.stop
}

// arm runs adjust once the next collection has run: a cleanup runs after
// the collection that finds its object unreachable.
func (g *gcHeadroom) arm() {
	// Large enough not to share a tiny-allocator block with objects that
	// live on.
	marker := new([32]byte)
	runtime.AddCleanup(marker, func(g *gcHeadroom) {
		if g.adjust() {
			g.arm()
		}
	}, g)
}

// adjust sets the percentage for the heap the last collection left; false
// once stopped.
func (g *gcHeadroom) adjust() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	metrics.Read(g.samples)
	var scanned uint64
	for _, s := range g.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			scanned += s.Value.Uint64()
		}
	}
	p := gcPercentFor(scanned, g.headroom, g.base)
	// Small moves are not worth a change of the collector's pacing.
	if p != g.percent && (p > g.percent*21/20 || p < g.percent*19/20 || p == g.base) {
		debug.SetGCPercent(p)
		g.percent = p
	}
	return true
}

func (g *gcHeadroom) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.stopped {
		g.stopped = true
		debug.SetGCPercent(g.base)
	}
}

// gcPercentFor is the GC percentage that lets a heap whose collection
// scans scanned bytes grow by headroom bytes at the least, and by base
// percent when that is more; at most 1,000 (a heap not yet grown).
func gcPercentFor(scanned, headroom uint64, base int) int {
	if base <= 0 {
		return base // off: leave it so
	}
	if scanned == 0 {
		return max(base, 1000)
	}
	p := int(min((headroom*100+scanned-1)/scanned, 1000))
	return max(p, base)
}
