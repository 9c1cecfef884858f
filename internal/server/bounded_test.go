package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBounded: no more requests run than there are slots; the others wait,
// and one whose client leaves while it waits never runs.
func TestBounded(t *testing.T) {
	slots := make(chan struct{}, 2)
	release := make(chan struct{})
	var running, most, ran atomic.Int32
	h := bounded(slots, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		ran.Add(1)
		<-release
		running.Add(-1)
	}))
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/stores", nil)) })
	}
	// Two run; three wait for a slot.
	for len(slots) < 2 || ran.Load() < 2 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/stores", nil).WithContext(ctx))
	if got := ran.Load(); got != 2 {
		t.Fatalf("%d requests ran, want 2 (and none of a client gone)", got)
	}
	close(release)
	wg.Wait()
	if ran.Load() != 5 || most.Load() != 2 || len(slots) != 0 {
		t.Errorf("ran %d, at most %d at once, %d slots held after", ran.Load(), most.Load(), len(slots))
	}
}
