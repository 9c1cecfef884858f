package provision

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// Leases renews the leases of every job a process's workers run, all in
// one database round trip per tick: 16 workers each renewing its own
// every two seconds were 8 statements a second. A lease found gone
// (another worker took the job over, a delete cancelled it) cancels its
// job with ErrLeaseLost.
//
// Share one among the runners of a process; it renews only while some
// job holds a lease, so it needs no start or stop.
type Leases struct {
	DB store.Jobs
	// Lease is how long a renewal extends a lease; renewals come every
	// third of it, and at least every two seconds so that a job cancelled
	// by a delete stops promptly.
	Lease time.Duration
	Log   *slog.Logger

	mu      sync.Mutex
	held    map[uint64]heldLease // by hold: a job may be held again, by another worker, before its first hold ends
	holds   uint64               // holds so far, each hold's number
	renewer bool                 // a renewing goroutine runs
}

type heldLease struct {
	lease store.Lease
	store string
	lost  context.CancelCauseFunc
}

// renewal is what one tick renews.
type renewal struct {
	leases []store.Lease
	holds  []uint64 // the hold of each lease
}

// every is the renewal period.
func (l *Leases) every() time.Duration {
	return max(min(l.Lease/3, 2*time.Second), time.Millisecond)
}

// hold renews worker's lease of job, a job of store storeName, until
// release is called, and calls lost(ErrLeaseLost) if the lease is found
// gone.
func (l *Leases) hold(job int64, storeName, worker string, lost context.CancelCauseFunc) (release func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = map[uint64]heldLease{}
	}
	l.holds++
	n := l.holds
	l.held[n] = heldLease{lease: store.Lease{Job: job, Worker: worker}, store: storeName, lost: lost}
	if !l.renewer {
		l.renewer = true
		go l.renew()
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.held, n)
	}
}

// Running says whether a worker sharing these leases holds a job of store
// storeName, one whose lease has not been found gone.
func (l *Leases) Running(storeName string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.held {
		if h.store == storeName {
			return true
		}
	}
	return false
}

// renew renews what is held every period, and ends when nothing is.
func (l *Leases) renew() {
	t := time.NewTicker(l.every())
	defer t.Stop()
	for range t.C {
		r := l.snapshot()
		if len(r.leases) == 0 {
			return
		}
		// A renewal slower than a lease is too late anyway.
		ctx, cancel := context.WithTimeout(context.Background(), l.Lease)
		renewed, err := l.DB.RenewLeases(ctx, r.leases, l.Lease)
		cancel()
		if err != nil {
			if l.Log != nil {
				l.Log.Warn("renew leases", "jobs", len(r.leases), "err", err)
			}
			continue
		}
		l.forget(r, renewed)
	}
}

// snapshot is what is held now; with nothing held the renewer ends
// (under the lock, so a hold that comes after starts another).
func (l *Leases) snapshot() renewal {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r renewal
	if len(l.held) == 0 {
		l.renewer = false
		return r
	}
	for n, h := range l.held {
		r.leases = append(r.leases, h.lease)
		r.holds = append(r.holds, n)
	}
	return r
}

// forget cancels the jobs of r that were not renewed and are still held
// (one released in the meantime has ended).
func (l *Leases) forget(r renewal, renewed []store.Lease) {
	ok := make(map[store.Lease]bool, len(renewed))
	for _, lease := range renewed {
		ok[lease] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, lease := range r.leases {
		if h, still := l.held[r.holds[i]]; still && !ok[lease] {
			delete(l.held, r.holds[i])
			h.lost(ErrLeaseLost)
		}
	}
}
