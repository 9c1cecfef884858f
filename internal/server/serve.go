package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/urumi/urumi/internal/provision"
)

// Options are how Serve runs the process.
type Options struct {
	// Addr is the host:port to listen on (port 0 picks a free one; the
	// "listening" log line says which).
	Addr string
	// ShutdownGrace is how long running jobs and requests may take to end
	// after ctx is cancelled before jobs are interrupted and released.
	ShutdownGrace time.Duration
	Log           *slog.Logger
}

// Server timeouts: slow clients cannot hold connections or goroutines.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
)

// Serve runs handler and pool until ctx is cancelled (SIGTERM or SIGINT),
// then shuts down in order: it stops accepting connections and claiming
// jobs, lets requests and running jobs finish within the grace period,
// then interrupts the jobs still running, whose runners release them to
// the queue for another replica or the next start.
func Serve(ctx context.Context, opts Options, handler http.Handler, pool *provision.Pool) error {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (pick another --addr)", opts.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	claims, stopClaims := context.WithCancel(context.WithoutCancel(ctx))
	defer stopClaims()
	jobs, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	poolDone := make(chan struct{})
	go func() {
		defer close(poolDone)
		if pool != nil {
			pool.Run(claims, jobs)
		}
	}()
	workers := 0
	if pool != nil {
		workers = pool.Size
	}
	log.Info("listening", "addr", ln.Addr().String(), "workers", workers)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
		runErr = fmt.Errorf("serve HTTP: %w", runErr)
	}

	grace := max(opts.ShutdownGrace, 0)
	log.Info("shutting down", "grace", grace)
	deadline := time.Now().Add(grace)
	stopClaims()
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("HTTP requests still running at the end of the grace period", "err", err)
		_ = srv.Close()
	}
	select {
	case <-poolDone:
	case <-sctx.Done():
		log.Warn("grace period over: interrupting running jobs and releasing them to the queue")
		stopJobs()
		<-poolDone
	}
	log.Info("stopped")
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}
