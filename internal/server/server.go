// Package server is `urumi serve`: the operations of internal/provision over
// an authenticated JSON API (every handler calls the same provision.Service
// function as the matching CLI command), a worker pool that runs the queued
// jobs, rate limits, health checks and Prometheus metrics.
//
// Several replicas may share one PostgreSQL database: jobs are claimed with
// leases (FOR UPDATE SKIP LOCKED), quotas are checked inside the database's
// transaction. SQLite supports one serving process only.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/urumi/urumi/internal/provision"
)

// Deps is what the HTTP API needs.
type Deps struct {
	// Service does the work; its DB also holds the API tokens.
	Service *provision.Service
	// Log receives one line per request; nil discards.
	Log *slog.Logger
	// Metrics, if nil, is created on Service.DB.
	Metrics *Metrics
	// Limits of the API; the zero value means DefaultLimits.
	Limits Limits
	// Checks are readiness checks besides the database's (the cluster's).
	Checks []Check
	// Kube is the cluster `GET /v1/stores/{name}/check` reads; without it
	// the check answers 503.
	Kube *provision.Kube
	// Wake, if set, is called after a job was queued so that an idle worker
	// claims it at once instead of at its next poll.
	Wake func()
}

// Limits guard the server.
type Limits struct {
	// CreatesPerMinute is each token's store creation rate (and burst);
	// 0 or less means unlimited.
	CreatesPerMinute int
	// CredentialsPerMinute is each token's rate (and burst) of store
	// password reads and resets together; 0 or less means unlimited.
	CredentialsPerMinute int
	// UnauthenticatedPerSecond and UnauthenticatedBurst limit requests
	// without a valid token (failed logins, probes, scrapes), per client IP.
	UnauthenticatedPerSecond float64
	UnauthenticatedBurst     int
	// MaxBodyBytes bounds request bodies (413 beyond).
	MaxBodyBytes int64
}

// DefaultLimits are the limits of `urumi serve` unless configured: 5
// creates per minute per token, as the seeds had.
func DefaultLimits() Limits {
	return Limits{
		CreatesPerMinute:         5,
		CredentialsPerMinute:     5,
		UnauthenticatedPerSecond: 10,
		UnauthenticatedBurst:     40,
		MaxBodyBytes:             64 << 10,
	}
}

// Check is one readiness check.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// checkTimeout bounds each readiness check.
const checkTimeout = 2 * time.Second

// NewServer is the whole HTTP API as one handler.
func NewServer(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Limits == (Limits{}) {
		d.Limits = DefaultLimits()
	}
	if d.Limits.MaxBodyBytes <= 0 {
		d.Limits.MaxBodyBytes = DefaultLimits().MaxBodyBytes
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(d.Service.DB, d.Log)
	}
	if d.Wake == nil {
		d.Wake = func() {}
	}
	rt := newRouter()
	addRoutes(rt, d)
	return logRequests(d.Log, d.Metrics, rt)
}
