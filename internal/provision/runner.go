package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"time"

	release "helm.sh/helm/v4/pkg/release/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/urumi/urumi/internal/store"
)

// Event reports progress of a job: a phase started, finished or failed.
type Event struct {
	Store   string
	Job     int64
	Kind    store.JobKind
	Phase   string
	State   EventState
	Elapsed time.Duration // of the phase, when it ends
	Err     error
}

// EventState is what happened to a phase.
type EventState string

// Event states.
const (
	PhaseStarted  EventState = "started"
	PhaseDone     EventState = "done"
	PhaseFailed   EventState = "failed"
	JobSucceeded  EventState = "succeeded"
	JobFailed     EventState = "job-failed"
	JobReleased   EventState = "released"
	JobLeaseLost  EventState = "lease-lost"
	JobWaiting    EventState = "waiting" // another process holds the job
	JobTakingOver EventState = "taking-over"
)

// Events receives progress; the CLI prints it, the server turns it into
// metrics. Implementations must be safe for concurrent use.
type Events interface {
	Event(Event)
}

// Runner runs durable jobs: it holds a job's lease while it works, renews it,
// and runs the idempotent steps of a create or delete, recording each
// phase's duration on the store.
type Runner struct {
	DB     store.DB
	Kube   *Kube
	Worker string
	// Lease is how long a claim lasts without renewal; a killed worker's
	// job is claimable again after it.
	Lease time.Duration
	// Leases, if set, renews this runner's leases together with those of
	// the other runners that share it; without it each job renews its own.
	Leases *Leases
	Log    *slog.Logger
	// Events, if set, sees every job's progress.
	Events Events
	// Drift, if set, counts what repairs mend.
	Drift DriftMetrics
	// Backups, if set, counts the backups taken and failed.
	Backups BackupMetrics
}

// BackupMetrics counts backups as they end; the server's metrics
// implement it.
type BackupMetrics interface {
	// BackupFinished counts one backup of kind (manual, scheduled) that
	// ended with outcome (succeeded, failed).
	BackupFinished(kind store.BackupKind, outcome string)
}

// ErrLeaseLost ends a run whose job was taken over by another worker or
// cancelled (a delete supersedes a create).
var ErrLeaseLost = errors.New("the job was taken over or cancelled elsewhere")

// step is one idempotent part of a job.
type step struct {
	name string
	run  func(ctx context.Context) error
}

func (r *Runner) emit(extra Events, e Event) {
	if r.Events != nil {
		r.Events.Event(e)
	}
	if extra != nil {
		extra.Event(e)
	}
}

// RunJob runs a job this worker has claimed until it ends, fails, is
// cancelled or loses its lease. Cancelling ctx hands the job back to the
// queue (its steps resume where they stopped) and returns ctx's error.
func (r *Runner) RunJob(ctx context.Context, job store.Job, events Events) error {
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	leases := r.Leases
	if leases == nil {
		leases = &Leases{DB: r.DB, Lease: r.Lease, Log: r.Log}
	}
	defer leases.hold(job.ID, job.Store, r.Worker, cancel)()

	log := r.Log.With("job", job.ID, "store", job.Store, "kind", job.Kind, "attempt", job.Attempts)
	log.Info("job started")
	var s store.Store
	err := r.write(ctx, func(ctx context.Context) (err error) {
		s, err = r.DB.GetStore(ctx, job.Store)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		// The store is gone: a delete that finished its work but not its
		// bookkeeping, or a create overtaken by a delete.
		return r.finish(ctx, job, store.JobSucceeded, "")
	}
	if err != nil {
		return fmt.Errorf("job %d: %w", job.ID, err)
	}

	var runErr error
	switch job.Kind {
	case store.JobCreate:
		runErr = r.create(jobCtx, job, s, events)
	case store.JobDelete:
		runErr = r.delete(jobCtx, job, s, events)
	case store.JobUpgrade:
		runErr = r.upgrade(jobCtx, job, s, events)
	case store.JobRollback:
		runErr = r.rollback(jobCtx, job, s, events)
	case store.JobRepair:
		runErr = r.repair(jobCtx, job, s, events)
	case store.JobBackup:
		runErr = r.backupJob(jobCtx, job, s, events)
	case store.JobRestore:
		runErr = r.restoreJob(jobCtx, job, s, events)
	default:
		runErr = fmt.Errorf("unknown job kind %q", job.Kind)
	}
	switch {
	case runErr == nil:
		log.Info("job succeeded")
		r.emit(events, Event{Store: job.Store, Job: job.ID, Kind: job.Kind, State: JobSucceeded})
		return nil
	case errors.Is(context.Cause(jobCtx), ErrLeaseLost), errors.Is(runErr, ErrLeaseLost):
		log.Warn("job lease lost; another worker has it")
		r.emit(events, Event{Store: job.Store, Job: job.ID, Kind: job.Kind, State: JobLeaseLost, Err: ErrLeaseLost})
		return fmt.Errorf("store %s: %w", job.Store, ErrLeaseLost)
	case ctx.Err() != nil:
		// Interrupted: give the job back so the next run resumes it.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer rcancel()
		if err := r.DB.ReleaseJob(rctx, job.ID, r.Worker); err != nil && !errors.Is(err, store.ErrLeaseLost) {
			log.Error("release job", "err", err)
		}
		log.Info("job released", "reason", ctx.Err())
		r.emit(events, Event{Store: job.Store, Job: job.ID, Kind: job.Kind, State: JobReleased, Err: ctx.Err()})
		return ctx.Err()
	default:
		log.Warn("job failed", "err", runErr)
		r.emit(events, Event{Store: job.Store, Job: job.ID, Kind: job.Kind, State: JobFailed, Err: runErr})
		return runErr
	}
}

// runSteps runs steps in order, recording each phase on the store as it
// ends so `store get` shows progress.
func (r *Runner) runSteps(ctx context.Context, job store.Job, s *store.Store, steps []step, events Events) error {
	for _, st := range steps {
		r.emit(events, Event{Store: s.Name, Job: job.ID, Kind: job.Kind, Phase: st.name, State: PhaseStarted})
		start := time.Now()
		err := r.runStep(ctx, s.Name, st)
		elapsed := time.Since(start)
		if err != nil {
			r.emit(events, Event{Store: s.Name, Job: job.ID, Kind: job.Kind, Phase: st.name, State: PhaseFailed, Elapsed: elapsed, Err: err})
			return fmt.Errorf("%s: %w", st.name, err)
		}
		s.Phases = append(s.Phases, store.Phase{Name: st.name, StartedAt: start.UTC(), DurationMS: elapsed.Milliseconds()})
		if err := r.write(ctx, func(ctx context.Context) error { return r.DB.UpdateStore(ctx, *s) }); err != nil {
			return fmt.Errorf("record phase %s: %w", st.name, err)
		}
		r.emit(events, Event{Store: s.Name, Job: job.ID, Kind: job.Kind, Phase: st.name, State: PhaseDone, Elapsed: elapsed})
	}
	return nil
}

// runStep runs a step, and runs it again while the cluster is unreachable
// or overloaded (an API server restarting): steps are idempotent, so an
// outage costs the store a wait within its deadline, not its creation.
func (r *Runner) runStep(ctx context.Context, name string, st step) error {
	wait := 500 * time.Millisecond
	for {
		err := st.run(ctx)
		if err == nil || ctx.Err() != nil || !clusterUnavailable(err) {
			return err
		}
		r.Log.Warn("cluster unavailable; the step runs again", "store", name, "phase", st.name,
			"retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// clusterUnavailable says whether err means the API server could not be
// reached or asked to be tried again, rather than refusing the request.
// Helm flattens some of its errors (it joins those of several objects), so
// the transport's failures are also recognised by their words; its wait
// reports a watch the API server's restart cut as a resource whose status
// is Unknown.
//
// A wait that ran out of time (context.DeadlineExceeded is a net.Error
// whose Timeout is true), or a change Helm rolled back, is never an
// outage, whatever the resources' statuses read: running it again would
// only make more revisions and spend the deadline again.
func clusterUnavailable(err error) bool {
	if msg := err.Error(); errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "context deadline exceeded") ||
		strings.Contains(msg, "has been rolled back") {
		return false
	}
	var netErr net.Error
	if apierrors.IsServiceUnavailable(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsTimeout(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		(errors.As(err, &netErr) && netErr.Timeout()) || isUnreachable(err) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset by peer", "TLS handshake timeout",
		"i/o timeout", "http2: client connection lost", "unexpected EOF", "status: Unknown"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func (r *Runner) create(ctx context.Context, job store.Job, s store.Store, events Events) error {
	start := time.Now()
	c, err := r.creation(ctx, job, &s)
	if err != nil {
		return r.fail(ctx, job, s, start, err)
	}
	if err := c.run(ctx, r, job, &s, events); err != nil {
		if ctx.Err() != nil {
			return err // interrupted or lease lost: not a failure of the store
		}
		return r.fail(ctx, job, s, start, err)
	}
	return c.finish(ctx, r, job, s, start, nil)
}

// creation is what creating a store does: the steps that make its
// namespace and install its release, and the records of a store made.
// create runs it alone; a restore into a new store runs it first.
type creation struct {
	opts      Options
	timeout   time.Duration
	steps     []step
	installed *release.Release
}

// creation reads s's plan and options, marks it PROVISIONING and returns
// its create steps.
func (r *Runner) creation(ctx context.Context, job store.Job, s *store.Store) (*creation, error) {
	opts, err := decodeOptions(s.Options)
	if err != nil {
		return nil, err
	}
	plan, err := storePlan(s.Plan, opts)
	if err != nil {
		return nil, err
	}
	vals, err := r.Kube.chartValues(s.Name, plan, opts)
	if err != nil {
		return nil, err
	}
	s.Options = nil // not ours to rewrite: a retry may be changing them
	c := &creation{opts: opts, timeout: r.Kube.Settings.Timeout}

	s.Status, s.Error, s.Phases = store.StatusProvisioning, "", nil
	s.Namespace = Namespace(s.Name)
	if err := r.write(ctx, func(ctx context.Context) error { return r.DB.UpdateStore(ctx, *s) }); err != nil {
		return nil, fmt.Errorf("mark %s provisioning: %w", s.Name, err)
	}
	name, owner, ns, k := s.Name, s.Owner, s.Namespace, r.Kube
	var fresh bool
	c.steps = []step{
		{"namespace", func(ctx context.Context) (err error) {
			fresh, err = k.createNamespace(ctx, name, owner)
			return err
		}},
		{"quota", func(ctx context.Context) error { return k.ensureQuota(ctx, name, owner, plan) }},
		{"network-policies", func(ctx context.Context) error {
			return k.ensureNetworkPolicies(ctx, name, owner, opts, plan.Egress)
		}},
		{"credentials", func(ctx context.Context) error { return k.ensureCredentials(ctx, name, owner) }},
		{"helm-install", func(ctx context.Context) error {
			remaining := time.Until(deadlineOf(ctx, c.timeout))
			// Only the first try may skip looking for a release: a try
			// cut short (the API server restarting) may have left one.
			first := fresh
			fresh = false
			var err error
			c.installed, err = k.helmInstall(ctx, ns, first, routeOf(name, opts), vals, remaining)
			return err
		}},
	}
	return c, nil
}

// run runs the create steps within the create timeout.
func (c *creation) run(ctx context.Context, r *Runner, job store.Job, s *store.Store, events Events) error {
	deadlineCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := r.runSteps(deadlineCtx, job, s, c.steps, events); err != nil {
		if ctx.Err() == nil && deadlineCtx.Err() != nil {
			err = fmt.Errorf("not ready within %s: %w", c.timeout, err)
		}
		return err
	}
	return nil
}

// finish records the store READY on its first revision, with the create's
// audit entry and, in the same transaction, what also is (more, when set).
func (c *creation) finish(ctx context.Context, r *Runner, job store.Job, s store.Store, start time.Time, more func(tx store.DB) error) error {
	s.Status, s.URL, s.Error = store.StatusReady, storeURL(s.Name, c.opts), ""
	versions, err := releaseVersions(c.installed)
	if err != nil {
		return r.fail(ctx, job, s, start, err)
	}
	rev := c.installed.Version
	rel := store.Release{Revision: rev, Versions: versions, LastChange: &store.Change{
		Kind: store.JobCreate, Outcome: store.ChangeSucceeded, To: rev, Actor: job.Actor, At: time.Now().UTC(),
	}}
	encoded, err := encodeOptions(c.opts)
	if err != nil {
		return r.fail(ctx, job, s, start, err)
	}
	record := store.Revision{
		Store: s.Name, Revision: rev, Kind: store.JobCreate, JobID: job.ID, Actor: job.Actor, Plan: s.Plan,
		Versions: versions, Status: string(c.installed.Info.Status), Description: c.installed.Info.Description,
		Options: encoded, At: c.installed.Info.LastDeployed.UTC(),
	}
	return r.outcome(ctx, job, store.JobSucceeded, "", func(tx store.DB) error {
		if err := tx.UpdateStore(ctx, s); err != nil {
			return fmt.Errorf("mark %s ready: %w", s.Name, err)
		}
		if err := tx.SetRelease(ctx, s.Name, rel); err != nil {
			return err
		}
		if err := tx.AddRevision(ctx, record); err != nil {
			return err
		}
		if err := r.audit(ctx, tx, job, "create", s.Name, "succeeded", describeVersions(rev, versions), time.Since(start)); err != nil {
			return err
		}
		if more != nil {
			return more(tx)
		}
		return nil
	})
}

func deadlineOf(ctx context.Context, fallback time.Duration) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(fallback)
}

func storeURL(name string, o Options) string {
	scheme := "http"
	if o.TLSIssuer != "" {
		scheme = "https"
	}
	return scheme + "://" + storeHost(name, o)
}

// storeHost is the store's public host name, <name>.<base domain>.
func storeHost(name string, o Options) string {
	return name + "." + strings.TrimPrefix(o.BaseDomain, ".")
}

// fail records a failed create with the cluster's explanation and keeps
// every resource for inspection; `urumi store retry` resumes it.
func (r *Runner) fail(ctx context.Context, job store.Job, s store.Store, start time.Time, cause error) error {
	if store.Unavailable(cause) {
		// urumi's own database failed, not the store: the job stays
		// claimed until its lease runs out, then resumes.
		r.Log.Warn("state database unreachable; the job resumes when its lease runs out", "store", s.Name, "job", job.ID, "err", cause)
		return fmt.Errorf("store %s: the state database is unreachable, so the job stopped and resumes once it is back: %w", s.Name, cause)
	}
	r.Log.Warn("store failed", "store", s.Name, "job", job.ID, "err", cause)
	// Store owners read the reason: it keeps what went wrong and drops
	// the cluster's internal addresses, which the log above still has.
	reason := withoutAddresses(cause.Error())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	// A job cancelled (by a delete) or taken over is no longer ours to
	// mark FAILED: its failure is most likely that very takeover.
	if err := r.DB.RenewLease(dctx, job.ID, r.Worker, r.Lease); errors.Is(err, store.ErrLeaseLost) {
		return fmt.Errorf("%w (%s)", ErrLeaseLost, reason)
	}
	switch {
	case job.Kind == store.JobDelete:
		// What blocks a delete is what is left, not why pods did not start.
		if d := r.Kube.leftBehind(dctx, Namespace(s.Name)); d != "" {
			reason += "; left in the namespace: " + withoutAddresses(d)
		}
	case s.Namespace != "":
		if d := r.Kube.diagnose(dctx, s.Namespace); d != "" {
			reason = withoutAddresses(d) + " (" + reason + ")"
		}
	}
	s.Status, s.Error = store.StatusFailed, reason
	if err := r.outcome(dctx, job, store.JobFailed, reason, func(tx store.DB) error {
		if err := tx.UpdateStore(dctx, s); err != nil {
			return fmt.Errorf("mark %s failed: %w (after: %s)", s.Name, err, reason)
		}
		return r.audit(dctx, tx, job, string(job.Kind), s.Name, "failed", reason, time.Since(start))
	}); err != nil {
		return err
	}
	return errors.New(reason)
}

func (r *Runner) delete(ctx context.Context, job store.Job, s store.Store, events Events) error {
	start := time.Now()
	timeout := r.Kube.Settings.Timeout
	deadlineCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.Status, s.Error, s.Phases = store.StatusDeleting, "", nil
	if err := r.write(ctx, func(ctx context.Context) error { return r.DB.UpdateStore(ctx, s) }); err != nil {
		return fmt.Errorf("mark %s deleting: %w", s.Name, err)
	}
	ns, k := Namespace(s.Name), r.Kube
	steps := []step{
		{"helm-uninstall", func(ctx context.Context) error {
			return k.helmUninstall(ctx, ns, time.Until(deadlineOf(ctx, timeout)))
		}},
		{"namespace-delete", func(ctx context.Context) error { return k.deleteNamespace(ctx, ns) }},
	}
	if err := r.runSteps(deadlineCtx, job, &s, steps, events); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return r.fail(ctx, job, s, start, err)
	}
	return r.outcome(ctx, job, store.JobSucceeded, "", func(tx store.DB) error {
		if err := tx.RemoveStore(ctx, s.Name); err != nil {
			return fmt.Errorf("remove %s: %w", s.Name, err)
		}
		return r.audit(ctx, tx, job, "delete", s.Name, "succeeded", "", time.Since(start))
	})
}

func (r *Runner) finish(ctx context.Context, job store.Job, state store.JobState, lastErr string) error {
	return r.finishIn(ctx, r.DB, job, state, lastErr)
}

func (r *Runner) finishIn(ctx context.Context, db store.DB, job store.Job, state store.JobState, lastErr string) error {
	err := db.FinishJob(ctx, job.ID, r.Worker, state, lastErr)
	if errors.Is(err, store.ErrLeaseLost) {
		return fmt.Errorf("finish job %d: %w", job.ID, ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("finish job %d: %w", job.ID, err)
	}
	return nil
}

// outcome records a job's end in one transaction: the job's final state
// and record (the store's new state, then its audit entry) commit together
// or not at all. If any of it fails (the lease was lost, the audit log
// cannot be written), nothing is recorded and the job stays running until
// its lease expires, when a worker runs its idempotent steps again. The
// job goes first, which checks the lease before anything else, and the
// audit entry last: it locks the log's head until commit.
func (r *Runner) outcome(ctx context.Context, job store.Job, state store.JobState, lastErr string, record func(tx store.DB) error) error {
	return r.write(ctx, func(ctx context.Context) error {
		return r.DB.Atomic(ctx, func(tx store.DB) error {
			if err := r.finishIn(ctx, tx, job, state, lastErr); err != nil {
				return err
			}
			return record(tx)
		})
	})
}

// write runs a database operation of a job again while the database is
// unreachable (PostgreSQL restarting or failing over), for up to a lease
// or 15 seconds, whichever is longer: an outage that short costs the job a
// pause, not its store. Any other error, or a longer outage, it returns.
// A transaction that failed this way rolled back, so it is safe to run
// again; one whose commit was lost on the way back and had in fact
// committed fails again on the lease it no longer holds.
func (r *Runner) write(ctx context.Context, op func(ctx context.Context) error) error {
	deadline := time.Now().Add(max(r.Lease, 15*time.Second))
	wait := 100 * time.Millisecond
	for {
		err := op(ctx)
		if err == nil || !store.Unavailable(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (r *Runner) audit(ctx context.Context, db store.DB, job store.Job, action, name, outcome, detail string, d time.Duration) error {
	_, err := db.AppendAudit(ctx, store.AuditEntry{
		Actor: job.Actor, Action: action, Store: name, Outcome: outcome,
		Detail: detail, DurationMS: d.Milliseconds(),
	})
	if err != nil {
		return fmt.Errorf("record %s of %s in the audit log: %w", action, name, err)
	}
	return nil
}

// Drive runs job id to its end from this process, as the CLI does while it
// waits: it claims the job when it can, waits while another live worker
// holds it, and takes over once that worker's lease expires (a process
// killed mid-job). It returns the job as it ended.
func (r *Runner) Drive(ctx context.Context, id int64, events Events) (store.Job, error) {
	waiting := false
	for {
		job, err := r.DB.ClaimJobByID(ctx, id, r.Worker, r.Lease)
		if err == nil {
			if job.Attempts > 1 {
				r.emit(events, Event{Store: job.Store, Job: job.ID, Kind: job.Kind, State: JobTakingOver})
			}
			runErr := r.RunJob(ctx, job, events)
			final, err := r.DB.GetJob(context.WithoutCancel(ctx), id)
			if err != nil {
				return job, errors.Join(runErr, err)
			}
			return final, runErr
		}
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrJobActive) {
			return store.Job{}, fmt.Errorf("claim job %d: %w", id, err)
		}
		job, err = r.DB.GetJob(ctx, id)
		if err != nil {
			return store.Job{}, fmt.Errorf("read job %d: %w", id, err)
		}
		switch job.State {
		case store.JobSucceeded:
			return job, nil
		case store.JobFailed, store.JobCanceled:
			return job, fmt.Errorf("job %d %s: %s", id, job.State, job.LastError)
		}
		if !waiting {
			waiting = true
			r.emit(events, Event{Store: job.Store, Job: job.ID, Kind: job.Kind, State: JobWaiting})
		}
		wait := time.Second
		if d := time.Until(job.LeaseExpiresAt); d > 0 && d < wait {
			wait = d + 10*time.Millisecond
		}
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// addressRE finds URLs and IP addresses (with a port, if any) in an error.
var addressRE = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^\s"']+|\[[0-9a-fA-F:.]+\](:[0-9]+)?|\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?::[0-9]+)?\b`)

// withoutAddresses replaces the URLs and IP addresses in an error's text,
// which would tell a store owner where the cluster's API server and
// services live.
func withoutAddresses(s string) string {
	return addressRE.ReplaceAllString(s, "<cluster address>")
}
