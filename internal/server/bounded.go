package server

import (
	"net/http"
	"runtime"
)

// listSlots bounds how many list requests (stores, audit entries, backups,
// rollouts, quotas) run at once; the rest wait their turn holding nothing
// but their connection. A list is CPU and database work: more at once than
// the machine has cores only queues inside the process instead, and each
// one waiting there holds its rows and its encoded page. At a thousand
// stores under 200 requests a second that was hundreds of pages in memory.
func listSlots() chan struct{} {
	return make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))
}

// bounded runs h when one of slots is free; a request whose client goes
// away while it waits is dropped.
func bounded(slots chan struct{}, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-slots }()
		h.ServeHTTP(w, r)
	})
}
