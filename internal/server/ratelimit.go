package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/urumi/urumi/internal/store"
)

// limiterSet is a token bucket per key (a token id, a client IP), in this
// process. Buckets that have refilled are dropped now and then, so the set
// stays as small as the set of recently active keys.
type limiterSet struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// sweepEvery is how often full buckets are dropped.
const sweepEvery = time.Minute

// newLimiterSet makes buckets of burst refilled at limit per second; a
// limit of 0 or less means no limit.
func newLimiterSet(limit rate.Limit, burst int) *limiterSet {
	if limit <= 0 {
		limit = rate.Inf
	}
	return &limiterSet{limit: limit, burst: max(burst, 1), buckets: map[string]*rate.Limiter{}, lastSweep: time.Now()}
}

// perMinute is n events a minute.
func perMinute(n int) rate.Limit {
	if n <= 0 {
		return rate.Inf
	}
	return rate.Every(time.Minute / time.Duration(n))
}

func (s *limiterSet) bucket(key string, now time.Time) *rate.Limiter {
	if now.Sub(s.lastSweep) > sweepEvery {
		for k, l := range s.buckets {
			if l.TokensAt(now) >= float64(s.burst) {
				delete(s.buckets, k)
			}
		}
		s.lastSweep = now
	}
	l, ok := s.buckets[key]
	if !ok {
		l = rate.NewLimiter(s.limit, s.burst)
		s.buckets[key] = l
	}
	return l
}

// reserve takes one event from key's bucket, or says how long until one
// is available. undo gives a taken event back.
func (s *limiterSet) reserve(key string) (ok bool, wait time.Duration, undo func()) {
	if s.limit == rate.Inf {
		return true, 0, func() {}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	r := s.bucket(key, now).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, nil
	}
	return true, 0, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		r.CancelAt(now) // at the time it was taken: later, the event counts as spent
	}
}

// describe says what a limiter allows, for messages.
func (s *limiterSet) describe() string {
	perMin := float64(s.limit) * 60
	return fmt.Sprintf("%g stores per minute", perMin)
}

// limitTimeout bounds the database's answer to a rate limit question.
const limitTimeout = 2 * time.Second

// sharedLimiter is a rate limit every replica on the database counts
// against together: the database's count (store.RateLimits, GCRA) is the
// authority. Two checks in this process spare it most questions, both
// exact: a key whose bucket this process alone has spent is spent
// everywhere (the local bucket only counts events the database allowed),
// and a key the database refused stays refused until the wait it gave
// (its budget only grows back with time). So each process asks the
// database at most once per allowed event, plus once per refusal window,
// for any key.
//
// When the database cannot answer, a limiter that fails closed (creates)
// returns the error, and the caller answers 503; one that does not
// (requests without a valid token, probes) goes by this process's own
// bucket alone, so /readyz can still say the database is down and a token
// guesser is still held to the limit per replica.
type sharedLimiter struct {
	db         store.RateLimits
	prefix     string // keeps the limits' keys apart in the database
	every      time.Duration
	local      *limiterSet
	failClosed bool
	log        *slog.Logger

	mu        sync.Mutex
	refused   map[string]time.Time // key -> refused until
	lastSweep time.Time
}

func newSharedLimiter(db store.RateLimits, prefix string, limit rate.Limit, burst int, failClosed bool,
	log *slog.Logger) *sharedLimiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &sharedLimiter{
		db: db, prefix: prefix, local: newLimiterSet(limit, burst), failClosed: failClosed, log: log,
		refused: map[string]time.Time{}, lastSweep: time.Now(),
	}
	if l.local.limit != rate.Inf {
		l.every = time.Duration(float64(time.Second) / float64(l.local.limit))
	}
	return l
}

// allow counts one event for key. err is set only when the database could
// not answer and the limiter fails closed.
func (l *sharedLimiter) allow(ctx context.Context, key string) (ok bool, wait time.Duration, err error) {
	if l.every <= 0 {
		return true, 0, nil
	}
	now := time.Now()
	if until, refused := l.refusedUntil(key, now); refused {
		return false, until.Sub(now), nil
	}
	ok, wait, undo := l.local.reserve(key)
	if !ok {
		return false, wait, nil
	}
	dctx, cancel := context.WithTimeout(ctx, limitTimeout)
	defer cancel()
	ok, wait, err = l.db.Allow(dctx, l.prefix+key, l.every, l.local.burst)
	switch {
	case err != nil && l.failClosed:
		undo()
		l.log.Warn("rate limit unavailable", "limit", l.prefix, "err", err)
		return false, 0, err
	case err != nil:
		l.log.Warn("rate limit unavailable: counting in this process only", "limit", l.prefix, "err", err)
		return true, 0, nil
	case !ok:
		undo()
		l.mu.Lock()
		l.refused[key] = now.Add(wait)
		l.mu.Unlock()
	}
	return ok, wait, nil
}

// refusedUntil says whether the database refused key until a time still
// to come; now and then it forgets refusals that have passed.
func (l *sharedLimiter) refusedUntil(key string, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > sweepEvery {
		for k, until := range l.refused {
			if !now.Before(until) {
				delete(l.refused, k)
			}
		}
		l.lastSweep = now
	}
	until, ok := l.refused[key]
	return until, ok && now.Before(until)
}

// errLimitUnavailable answers a create whose rate limit could not be
// checked: the limit holds, so the create waits.
var errLimitUnavailable = &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
	msg: "store creation is paused for a moment (the rate limit cannot be checked): retry after 5s", retryAfter: 5 * time.Second}
