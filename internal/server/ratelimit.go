package server

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiterSet is a token bucket per key (a token id, a client IP). Buckets
// that have refilled are dropped now and then, so the set stays as small
// as the set of recently active keys.
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

// allow takes one event from key's bucket, or says how long until one is
// available.
func (s *limiterSet) allow(key string) (bool, time.Duration) {
	if s.limit == rate.Inf {
		return true, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	r := s.bucket(key, now).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// describe says what a limiter allows, for messages.
func (s *limiterSet) describe() string {
	perMin := float64(s.limit) * 60
	return fmt.Sprintf("%g stores per minute", perMin)
}
