package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/server"
)

type serveOptions struct {
	common
	f      *Factory // serve builds the whole process: database, cluster, server
	Config ServeConfig
	Lease  time.Duration // the global --lease, which serve's workers hold
}

func newServeCommand(f *Factory, runF func(*serveOptions) error) *cobra.Command {
	o := &serveOptions{common: f.common(), f: f}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the store API over HTTP and run provisioning workers",
		Long: `Serve urumi's store operations over an authenticated JSON API (described at
/openapi.json) and run a pool of workers that provision and delete the stores
requested through it (or with "urumi store create --wait=false").

Clients authenticate with tokens from "urumi token create". Several replicas
may share one PostgreSQL database (--db postgres://...): they share its job
queue and quotas. With SQLite (the default), run a single process.

A drift reconciler watches the store namespaces (one watch per kind, not a
request per store): a READY store whose objects no longer match what urumi
made is marked DEGRADED with the reason and audited, and with --drift=repair
(the default) given a repair job; --drift=report only marks it; --drift=off
does neither. A store a person mends goes back to READY on its own.

Plans with a backup schedule ("backup": {"every": "daily", "keep": 7}) get
their stores backed up by the workers: every --backup-schedule-interval serve
queues the scheduled backups that are due (once, whatever the number of
replicas), and after each one the store's retention keeps its newest backups.

Also served: a dashboard for store owners at /, /healthz, /readyz (database
and cluster reachable) and /metrics (Prometheus). SIGTERM or SIGINT stops
accepting requests and claiming jobs, lets running jobs finish within
--shutdown-grace, then releases the rest to the queue. Settings come from
flags, URUMI_* variables (URUMI_ADDR, URUMI_WORKERS, ...) or the config file.`,
		Example: `  urumi serve
  urumi serve --addr :8080 --workers 8 --db postgres://urumi@db/urumi --log-format json
  urumi serve --workers 0     # an API-only replica`,
		GroupID: "admin",
		Args:    cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	fl := cmd.Flags()
	fl.String("addr", "127.0.0.1:8080", "address to listen on (host:port)")
	fl.Int("workers", 4, "provisioning workers in this process (0: API only)")
	fl.Int("create-rate", server.DefaultLimits().CreatesPerMinute, "store creations allowed per token per minute (0: unlimited)")
	fl.Int("credentials-rate", server.DefaultLimits().CredentialsPerMinute, "store password reveals and resets allowed per token per minute (0: unlimited)")
	fl.Duration("shutdown-grace", 30*time.Second, "on SIGTERM, how long running jobs may take before they are released")
	fl.String("log-format", "text", "log format: text|json")
	fl.String("log-level", "info", "log level: debug|info|warn|error")
	fl.String("drift", string(provision.DriftRepair), "what to do when a store drifts from what urumi made: repair|report|off")
	fl.Duration("backup-schedule-interval", time.Minute, "how often to queue the scheduled backups that are due (0: none are taken)")
	fl.String("bootstrap-token-file", "", "file holding an admin API token to register at start if it is not known yet (in a cluster: mounted from a Secret)")
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("drift", cobra.FixedCompletions([]string{"repair", "report", "off"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	f.bindLocal("addr", "workers", "create-rate", "credentials-rate", "shutdown-grace", "log-format", "log-level", "drift", "bootstrap-token-file", "backup-schedule-interval")
	return cmd
}

// Complete takes serve's settings, resolved with the others.
func (o *serveOptions) Complete(f *Factory, _ *cobra.Command, _ []string) error {
	o.Config, o.Lease = f.Config.Serve, f.Config.Lease
	return nil
}

// Validate says which setting is out of range.
func (o *serveOptions) Validate() error {
	c := o.Config
	switch {
	case c.Workers < 0:
		return usageError{fmt.Errorf("--workers %d is invalid: use 0 or more", c.Workers)}
	case c.CreateRate < 0:
		return usageError{fmt.Errorf("--create-rate %d is invalid: use 0 (unlimited) or more", c.CreateRate)}
	case c.CredentialsRate < 0:
		return usageError{fmt.Errorf("--credentials-rate %d is invalid: use 0 (unlimited) or more", c.CredentialsRate)}
	case c.ShutdownGrace < 0:
		return usageError{fmt.Errorf("--shutdown-grace %s is invalid: use 0 or more", c.ShutdownGrace)}
	case c.LogFormat != "text" && c.LogFormat != "json":
		return usageError{fmt.Errorf("--log-format %q is invalid: use text or json", c.LogFormat)}
	case c.Drift != string(provision.DriftRepair) && c.Drift != string(provision.DriftReport) && c.Drift != string(provision.DriftOff):
		return usageError{fmt.Errorf("--drift %q is invalid: use repair, report or off", c.Drift)}
	case c.BackupSchedule < 0:
		return usageError{fmt.Errorf("--backup-schedule-interval %s is invalid: use 0 (no scheduled backups) or more", c.BackupSchedule)}
	case o.Lease < time.Second:
		return usageError{fmt.Errorf("--lease %s is too short: use 1s or more (workers renew it every third of it)", o.Lease)}
	}
	return nil
}

func (o *serveOptions) Run(ctx context.Context) error { return runServe(ctx, o.f, o.Config) }

func runServe(ctx context.Context, f *Factory, cfg ServeConfig) error {
	log, err := newServerLogger(f.Streams.ErrOut, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	// For benchmarks and developers: CPU and heap profiles of the run.
	if path := f.Getenv("URUMI_CPU_PROFILE"); path != "" {
		stop, err := profileRun(path, f.Getenv("URUMI_HEAP_PROFILE"), log)
		if err != nil {
			return err
		}
		defer stop()
	} else if path := f.Getenv("URUMI_HEAP_PROFILE"); path != "" {
		defer writeHeapProfile(path, log) // the heap alone, as the server stops
	}
	// In a container with a memory limit, the collector keeps the heap
	// under it (GOMEMLIMIT, when set, wins).
	if f.Getenv("GOMEMLIMIT") == "" {
		if limit, ok := cgroupMemoryLimit(os.DirFS("/sys/fs/cgroup")); ok {
			heap := serveMemoryLimit(limit)
			debug.SetMemoryLimit(heap)
			log.Info("heap limit set from the container's memory limit", "limit_bytes", limit, "heap_limit_bytes", heap)
		}
	}
	// A long-lived server with a small heap: collect less often than
	// Go's default would (GOGC, when set, wins).
	if f.Getenv("GOGC") == "" {
		defer startGCHeadroom(serveGCHeadroom)()
	}
	svc, err := f.Service(ctx)
	if err != nil {
		return err
	}
	if err := bootstrapToken(ctx, svc, cfg.BootstrapTokenFile, log); err != nil {
		return err
	}
	runner, err := f.Runner(ctx, log)
	if err != nil {
		return err
	}
	if err := startupPreflight(ctx, runner.Kube, cfg.Workers, log); err != nil {
		return err
	}
	// Tokens and the stores' generation, which every request reads, are
	// answered from memory while the database notifies their changes.
	followCtx, stopFollowing := context.WithCancel(context.WithoutCancel(ctx)) // on through the drain
	followDone := make(chan struct{})
	go func() { defer close(followDone); svc.DB.FollowChanges(followCtx, log.With("component", "change-feed")) }()
	defer func() { stopFollowing(); <-followDone }()
	metrics := server.NewMetrics(svc.DB, log)
	runner.Events, runner.Drift, runner.Backups = metrics, metrics, metrics
	pool := &provision.Pool{
		DB:    svc.DB,
		Size:  cfg.Workers,
		ID:    workerID("serve"),
		Lease: f.Config.Lease,
		NewRunner: func(worker string) provision.JobRunner {
			r := *runner
			r.Worker, r.Log = worker, log.With("worker", worker)
			return &r
		},
		Log:     log,
		Metrics: metrics,
	}
	limits := server.DefaultLimits()
	limits.CreatesPerMinute = cfg.CreateRate
	limits.CredentialsPerMinute = cfg.CredentialsRate
	handler := server.NewServer(server.Deps{
		Service: svc,
		Log:     log,
		Metrics: metrics,
		Limits:  limits,
		Checks:  []server.Check{server.ClusterCheck(runner.Kube)},
		Kube:    runner.Kube,
		Wake:    pool.Wake,
	})
	log.Info("starting urumi serve", "version", f.Build.Version, "db", dbKind(f.Config.DB),
		"base_domain", f.Config.BaseDomain, "route", f.Config.Route, "ingress_class", f.Config.IngressClass,
		"lease", f.Config.Lease, "timeout", f.Config.Timeout, "create_rate_per_min", cfg.CreateRate, "drift", cfg.Drift)
	if mode := provision.DriftMode(cfg.Drift); mode != provision.DriftOff {
		drift := &provision.Reconciler{Service: svc, Kube: runner.Kube, Mode: mode, Log: log.With("component", "drift"), Metrics: metrics, Wake: pool.Wake, Leases: runner.Leases}
		// On through the drain: the jobs still running after SIGTERM wait
		// for their objects through the reconciler's informers.
		driftCtx, stopDrift := context.WithCancel(context.WithoutCancel(ctx))
		driftDone := make(chan struct{})
		go func() {
			defer close(driftDone)
			if err := drift.Run(driftCtx); err != nil {
				log.Error("drift reconciler stopped: drift is not noticed until serve restarts", "err", err)
			}
		}()
		defer func() { stopDrift(); <-driftDone }()
	}
	if cfg.Workers > 0 {
		// Rollouts whose driver stopped (or that were started over the
		// API) are carried on here; their upgrades run on the pool.
		rollouts := &provision.RolloutDriver{Service: svc, Worker: workerID("serve-rollouts"), Lease: f.Config.Lease, Log: log}
		loopDone := make(chan struct{})
		go func() { defer close(loopDone); rollouts.Loop(ctx) }()
		defer func() { <-loopDone }()
		if cfg.BackupSchedule > 0 {
			scheduler := &provision.BackupScheduler{Service: svc, Log: log.With("component", "backup-schedule"), Wake: pool.Wake}
			schedDone := make(chan struct{})
			go func() { defer close(schedDone); scheduler.Run(ctx, cfg.BackupSchedule) }()
			defer func() { <-schedDone }()
		}
	}
	return server.Serve(ctx, server.Options{Addr: cfg.Addr, ShutdownGrace: cfg.ShutdownGrace, Log: log}, handler, pool)
}

// BootstrapTokenOwner is the owner a bootstrap token acts as.
const BootstrapTokenOwner = "admin"

// maxTokenFile bounds what is read of a bootstrap token file: a token is
// far shorter, and a wrong path should not read a large file into memory.
const maxTokenFile = 4096

// bootstrapToken registers the admin token in path, if any, unless it is
// known already. The token is never logged; its id is, as in token list.
func bootstrapToken(ctx context.Context, svc *provision.Service, path string, log *slog.Logger) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read the bootstrap token: %w (fix --bootstrap-token-file or URUMI_BOOTSTRAP_TOKEN_FILE)", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return fmt.Errorf("read the bootstrap token from %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return fmt.Errorf("bootstrap token file %s is larger than %d bytes: it should hold one token", path, maxTokenFile)
	}
	t, outcome, err := svc.BootstrapToken(ctx, string(b), BootstrapTokenOwner)
	if err != nil {
		return fmt.Errorf("bootstrap token in %s: %w", path, err)
	}
	switch outcome {
	case provision.BootstrapRegistered:
		log.Info("registered the bootstrap admin token", "token_id", t.ID, "owner", t.Owner)
	case provision.BootstrapRevoked:
		log.Warn("the bootstrap admin token was revoked and stays revoked: replace it in its Secret to bootstrap another", "token_id", t.ID)
	default:
		log.Debug("the bootstrap admin token is registered already", "token_id", t.ID)
	}
	return nil
}

// startupPreflight checks, when this process runs workers, that the
// cluster allows everything a job does. Missing permissions stop the server
// at once, naming them: every job would otherwise fail the same way, one by
// one. A cluster that does not answer yet is only logged: /readyz reports it
// until it does, and the workers' jobs wait in the queue.
func startupPreflight(ctx context.Context, k *provision.Kube, workers int, log *slog.Logger) error {
	if workers == 0 {
		return nil
	}
	err := k.Preflight(ctx)
	switch {
	case err == nil:
		log.Info("cluster preflight passed: the workers may do everything a store needs")
	case errors.Is(err, provision.ErrForbidden):
		return fmt.Errorf("the workers could not provision stores: %w", err)
	default:
		log.Warn("cluster preflight failed; /readyz reports the cluster until it answers", "err", err)
	}
	return nil
}

func newServerLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q is invalid: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// dbKind says which backend a --db value is, without its credentials.
func dbKind(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return "postgres"
	}
	return "sqlite:" + dsn
}

// envName is the URUMI_* variable of a config key.
func envName(key string) string {
	return strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}
