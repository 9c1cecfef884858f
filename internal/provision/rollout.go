package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// Bounds of a rollout's waves.
const (
	DefaultBatchSize = 5
	MaxBatchSize     = 100
	MaxCanary        = 100
)

// RolloutRequest asks for an upgrade of many stores to the chart built into
// this urumi: the READY stores that match the filters, by name, the canary
// stores first, then waves of BatchSize. It halts when more than
// MaxFailures stores have failed (a store rolled back counts as failed).
type RolloutRequest struct {
	// Owner and Plan, when set, select the stores of that owner, on that plan.
	Owner string `json:"owner,omitempty"`
	Plan  string `json:"plan,omitempty"`
	// Canary is how many stores are upgraded first, on their own (0: none).
	Canary int `json:"canary,omitempty"`
	// BatchSize is the number of stores of each later wave; 0 is 5.
	BatchSize   int `json:"batchSize,omitempty"`
	MaxFailures int `json:"maxFailures,omitempty"`
	// Set and Timeout are each store's upgrade's, as for UpgradeRequest.
	Set     []string `json:"set,omitempty"`
	Timeout string   `json:"timeout,omitempty"`
}

// planWaves gives each of n stores its wave: the first canary stores wave
// 0, then batch stores each to waves 1, 2, ...
func planWaves(n, canary, batch int) []int {
	waves := make([]int, n)
	for i := range n {
		if i < canary {
			continue
		}
		waves[i] = 1 + (i-canary)/batch
	}
	return waves
}

func (s *Service) validateRollout(req *RolloutRequest) error {
	if req.Owner != "" {
		if err := ValidateOwner(req.Owner); err != nil {
			return err
		}
	}
	if req.Plan != "" {
		if _, err := s.Plans.Get(req.Plan); err != nil {
			return err
		}
	}
	if req.BatchSize == 0 {
		req.BatchSize = DefaultBatchSize
	}
	switch {
	case req.Canary < 0 || req.Canary > MaxCanary:
		return errorf(ErrInvalid, "canary %d is invalid: give 0 (no canary) to %d stores", req.Canary, MaxCanary)
	case req.BatchSize < 1 || req.BatchSize > MaxBatchSize:
		return errorf(ErrInvalid, "batch size %d is invalid: give 1 to %d stores", req.BatchSize, MaxBatchSize)
	case req.MaxFailures < 0:
		return errorf(ErrInvalid, "max failures %d is invalid: give 0 or more", req.MaxFailures)
	}
	_, err := parseTimeout(req.Timeout)
	return err
}

// StartRollout records a rollout of the stores req selects (admins only).
// Every store's upgrade is checked first: one the upgrade would refuse
// refuses the rollout. It is driven by a RolloutDriver: the caller's, or
// any `urumi serve`.
func (s *Service) StartRollout(ctx context.Context, c Caller, req RolloutRequest) (store.Rollout, error) {
	start := time.Now()
	if !c.Admin {
		err := errorf(ErrForbidden, "only an admin may upgrade the fleet")
		s.deny(ctx, c, "rollout.start", "", err.Error(), start)
		return store.Rollout{}, err
	}
	if err := s.validateRollout(&req); err != nil {
		return store.Rollout{}, err
	}
	list, err := s.DB.ListStores(ctx, store.ListFilter{Owner: req.Owner})
	if err != nil {
		return store.Rollout{}, fmt.Errorf("list stores: %w", err)
	}
	var names []string
	for _, st := range list {
		if (st.Status == store.StatusReady || st.Status == store.StatusDegraded) && (req.Plan == "" || st.Plan == req.Plan) {
			names = append(names, st.Name)
		}
	}
	if len(names) == 0 {
		return store.Rollout{}, errorf(ErrInvalid, "no READY store matches%s: nothing to upgrade", describeFilters(req.Owner, req.Plan))
	}
	slices.Sort(names)
	waves := planWaves(len(names), req.Canary, req.BatchSize)
	stores := make([]store.RolloutStore, len(names))
	for i, name := range names {
		st, err := s.DB.GetStore(ctx, name)
		if err != nil {
			return store.Rollout{}, fmt.Errorf("read store %s: %w", name, err)
		}
		if _, err := s.ValidateUpgrade(c, st, UpgradeRequest{Set: req.Set, Timeout: req.Timeout}); err != nil {
			return store.Rollout{}, fmt.Errorf("store %s: %w", name, err)
		}
		stores[i] = store.RolloutStore{Store: name, Wave: waves[i], State: store.RolloutStorePending, FromRevision: st.Release.Revision}
	}
	params := store.RolloutParams{
		Owner: req.Owner, Plan: req.Plan, Canary: req.Canary, BatchSize: req.BatchSize,
		MaxFailures: req.MaxFailures, Set: slices.Clone(req.Set), Timeout: req.Timeout, Chart: s.chartVersion(),
	}
	detail := fmt.Sprintf("%d stores%s to %s; canary %d, batch size %d, max failures %d",
		len(names), describeFilters(req.Owner, req.Plan), params.Chart, req.Canary, req.BatchSize, req.MaxFailures)
	if len(req.Set) > 0 {
		detail += "; " + describeSet(req.Set)
	}
	var r store.Rollout
	err = s.record(ctx, c, "rollout.start", "", "requested", detail, start, func(tx store.DB) error {
		var err error
		r, err = tx.CreateRollout(ctx, store.Rollout{Actor: c.Name, Params: params}, stores)
		return err
	})
	if err != nil {
		return store.Rollout{}, err
	}
	return r, nil
}

func describeFilters(owner, plan string) string {
	var f []string
	if owner != "" {
		f = append(f, "owner "+owner)
	}
	if plan != "" {
		f = append(f, "plan "+plan)
	}
	if len(f) == 0 {
		return ""
	}
	return " (" + strings.Join(f, ", ") + ")"
}

// GetRollout reads a rollout and its stores (admins only).
func (s *Service) GetRollout(ctx context.Context, c Caller, id int64) (store.Rollout, error) {
	if !c.Admin {
		return store.Rollout{}, errorf(ErrForbidden, "only an admin may read fleet rollouts")
	}
	r, err := s.DB.GetRollout(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Rollout{}, errorf(ErrNotFound, "rollout %d not found: list rollouts with urumi fleet status", id)
	}
	if err != nil {
		return store.Rollout{}, err
	}
	return r, nil
}

// ListRollouts lists every rollout, newest first (admins only).
func (s *Service) ListRollouts(ctx context.Context, c Caller) ([]store.Rollout, error) {
	if !c.Admin {
		return nil, errorf(ErrForbidden, "only an admin may read fleet rollouts")
	}
	return s.DB.ListRollouts(ctx)
}

// ResumeRollout carries a rollout on (admins only). A halted one runs
// again, its failed stores first; a running one whose driver stopped is
// left for the next driver to claim.
func (s *Service) ResumeRollout(ctx context.Context, c Caller, id int64) (store.Rollout, error) {
	start := time.Now()
	if !c.Admin {
		err := errorf(ErrForbidden, "only an admin may resume a fleet rollout")
		s.deny(ctx, c, "rollout.resume", "", err.Error(), start)
		return store.Rollout{}, err
	}
	r, err := s.GetRollout(ctx, c, id)
	if err != nil {
		return store.Rollout{}, err
	}
	switch r.State {
	case store.RolloutCompleted, store.RolloutAborted:
		return store.Rollout{}, errorf(ErrConflict, "rollout %d is %s: start a new one with urumi fleet upgrade", id, r.State)
	}
	var retried []string
	err = s.record(ctx, c, "rollout.resume", "", "requested", "", start, func(tx store.DB) error {
		cur, err := tx.GetRollout(ctx, id)
		if err != nil {
			return err
		}
		if cur.State != store.RolloutHalted {
			return nil
		}
		for _, rs := range cur.Stores {
			if !rs.State.Failed() {
				continue
			}
			retried = append(retried, rs.Store)
			rs.State, rs.JobID, rs.Reason = store.RolloutStorePending, 0, "retried after: "+rs.Reason
			if err := tx.UpdateRolloutStore(ctx, id, rs); err != nil {
				return err
			}
		}
		r, err = tx.SetRolloutState(ctx, id, []store.RolloutState{store.RolloutHalted}, store.RolloutRunning, "")
		return err
	})
	if err != nil {
		return store.Rollout{}, fmt.Errorf("resume rollout %d: %w", id, err)
	}
	return s.GetRollout(ctx, c, id)
}

// AbortRollout stops a rollout (admins only): no more upgrades are queued,
// those in flight finish, its pending stores are skipped.
func (s *Service) AbortRollout(ctx context.Context, c Caller, id int64) (store.Rollout, error) {
	start := time.Now()
	if !c.Admin {
		err := errorf(ErrForbidden, "only an admin may abort a fleet rollout")
		s.deny(ctx, c, "rollout.abort", "", err.Error(), start)
		return store.Rollout{}, err
	}
	if _, err := s.GetRollout(ctx, c, id); err != nil {
		return store.Rollout{}, err
	}
	err := s.record(ctx, c, "rollout.abort", "", "succeeded", fmt.Sprintf("rollout %d", id), start, func(tx store.DB) error {
		cur, err := tx.SetRolloutState(ctx, id, []store.RolloutState{store.RolloutRunning, store.RolloutHalted},
			store.RolloutAborted, "aborted by "+c.Name)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(ErrConflict, "rollout %d has ended: %v", id, err)
		}
		if err != nil {
			return err
		}
		full, err := tx.GetRollout(ctx, cur.ID)
		if err != nil {
			return err
		}
		for _, rs := range full.Stores {
			if rs.State == store.RolloutStorePending {
				rs.State, rs.Reason = store.RolloutStoreSkipped, "the rollout was aborted"
				if err := tx.UpdateRolloutStore(ctx, id, rs); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return store.Rollout{}, err
	}
	return s.GetRollout(ctx, c, id)
}

// bound is s on db (a transaction): its operations run in it.
func (s *Service) bound(db store.DB) *Service {
	t := &Service{DB: db, Settings: s.Settings, Plans: s.Plans}
	ch, err := s.storeChart()
	t.chartOnce.Do(func() { t.chart, t.chartErr = ch, err })
	return t
}

// RolloutEvent reports a rollout's progress: a wave started or ended, or the
// rollout stopped (State not running).
type RolloutEvent struct {
	Rollout int64
	Wave    int
	// Stores are the wave's stores as they are now.
	Stores []store.RolloutStore
	// Done is set when the wave ended.
	Done  bool
	State store.RolloutState
	// Reason is why the rollout halted.
	Reason string
}

// RolloutDriver steps rollouts: it holds a rollout's lease, queues each
// wave's upgrades, waits for them, and halts or completes the rollout. A
// killed driver's rollout is taken over by the next one once its lease
// expires.
type RolloutDriver struct {
	Service *Service
	Worker  string
	Lease   time.Duration
	// Poll is how often a wave's jobs are read; 0 is 2s.
	Poll time.Duration
	// RunJobs, when set, runs a wave's upgrade jobs in this process and
	// returns when they have ended (the CLI's --wait); when nil the
	// driver waits for serve's workers to run them.
	RunJobs func(ctx context.Context, jobs []store.Job)
	// Progress, when set, sees each wave start and end.
	Progress func(RolloutEvent)
	Log      *slog.Logger
}

func (d *RolloutDriver) poll() time.Duration {
	if d.Poll <= 0 {
		return 2 * time.Second
	}
	return d.Poll
}

func (d *RolloutDriver) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Drive drives rollout id until it completes, halts or is aborted; while
// another live driver holds it, it waits, and takes over when that
// driver's lease expires. It returns the rollout as it ended.
func (d *RolloutDriver) Drive(ctx context.Context, id int64) (store.Rollout, error) {
	for {
		r, err := d.Service.DB.ClaimRollout(ctx, id, d.Worker, d.Lease)
		if err == nil {
			return d.step(ctx, r)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Rollout{}, err
		}
		r, err = d.Service.DB.GetRollout(ctx, id)
		if err != nil {
			return store.Rollout{}, err
		}
		if r.State != store.RolloutRunning {
			return r, nil
		}
		wait := d.poll()
		if until := time.Until(r.LeaseExpiresAt); until > 0 && until < wait {
			wait = until + 10*time.Millisecond
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// DriveNext claims a running rollout no live driver holds and drives it;
// ErrNotFound when there is none. Serve's rollout loop calls it.
func (d *RolloutDriver) DriveNext(ctx context.Context) (store.Rollout, error) {
	r, err := d.Service.DB.ClaimRollout(ctx, 0, d.Worker, d.Lease)
	if err != nil {
		return store.Rollout{}, err
	}
	return d.step(ctx, r)
}

// Loop drives rollouts whose driver stopped, one at a time, until ctx ends.
func (d *RolloutDriver) Loop(ctx context.Context) {
	for ctx.Err() == nil {
		r, err := d.DriveNext(ctx)
		switch {
		case err == nil:
			d.log().Info("rollout driven", "rollout", r.ID, "state", r.State)
			continue
		case errors.Is(err, store.ErrNotFound), ctx.Err() != nil:
		default:
			d.log().Warn("drive rollout", "rollout", r.ID, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(d.poll()):
		}
	}
}

// step drives a claimed rollout under its lease.
func (d *RolloutDriver) step(parent context.Context, r store.Rollout) (store.Rollout, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	var wg sync.WaitGroup
	// In-process jobs run under parent: an abort or a lost lease stops the
	// queuing, not the upgrades in flight, which are waited for.
	defer wg.Wait()
	heartbeatDone := make(chan struct{})
	go func() {
		defer close(heartbeatDone)
		t := time.NewTicker(max(d.Lease/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := d.Service.DB.RenewRolloutLease(ctx, r.ID, d.Worker, d.Lease); errors.Is(err, store.ErrLeaseLost) {
					cancel(err)
					return
				}
			}
		}
	}()
	defer func() { cancel(nil); <-heartbeatDone }()
	ran := map[int64]bool{} // jobs handed to RunJobs
	for {
		cur, err := d.Service.DB.GetRollout(ctx, r.ID)
		if err != nil {
			return d.stopped(parent, ctx, r, err)
		}
		r = cur
		if r.State != store.RolloutRunning {
			return r, nil
		}
		wave, ok := currentWave(r.Stores)
		if !ok {
			return d.complete(parent, r)
		}
		started := time.Now()
		if d.Progress != nil {
			d.Progress(RolloutEvent{Rollout: r.ID, Wave: wave, Stores: waveStores(r.Stores, wave), State: r.State})
		}
		for _, rs := range waveStores(r.Stores, wave) {
			if rs.State != store.RolloutStorePending {
				continue
			}
			if err := d.queue(ctx, r, rs); err != nil {
				return d.stopped(parent, ctx, r, err)
			}
		}
		if d.RunJobs != nil {
			var jobs []store.Job
			if cur, err := d.Service.DB.GetRollout(ctx, r.ID); err == nil {
				for _, rs := range waveStores(cur.Stores, wave) {
					if rs.State == store.RolloutStoreRunning && !ran[rs.JobID] {
						if job, err := d.Service.DB.GetJob(ctx, rs.JobID); err == nil {
							ran[rs.JobID] = true
							jobs = append(jobs, job)
						}
					}
				}
			}
			if len(jobs) > 0 {
				wg.Go(func() { d.RunJobs(parent, jobs) })
			}
		}
		stores, err := d.waitWave(ctx, r.ID, wave)
		if err != nil {
			return d.stopped(parent, ctx, r, err)
		}
		if r, err = d.waveEnded(ctx, r, wave, stores, started); err != nil {
			return d.stopped(parent, ctx, r, err)
		}
		if r.State != store.RolloutRunning {
			return d.Service.DB.GetRollout(parent, r.ID) // halted, with its stores
		}
	}
}

// stopped explains why driving r stopped: its lease was lost (an abort, or
// another driver took it over) or ctx ended.
func (d *RolloutDriver) stopped(parent, ctx context.Context, r store.Rollout, err error) (store.Rollout, error) {
	if cause := context.Cause(ctx); errors.Is(cause, store.ErrLeaseLost) && parent.Err() == nil {
		cur, gerr := d.Service.DB.GetRollout(parent, r.ID)
		if gerr == nil && cur.State != store.RolloutRunning {
			return cur, nil // aborted or halted elsewhere
		}
		return cur, fmt.Errorf("rollout %d: %w", r.ID, cause)
	}
	if parent.Err() != nil {
		// Interrupted: hand the rollout to the next driver at once.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
		defer cancel()
		_ = d.Service.DB.ReleaseRollout(rctx, r.ID, d.Worker)
		return r, parent.Err()
	}
	return r, err
}

// currentWave is the lowest wave with a store whose part has not ended.
func currentWave(stores []store.RolloutStore) (int, bool) {
	wave, ok := 0, false
	for _, rs := range stores {
		if !rs.State.Done() && (!ok || rs.Wave < wave) {
			wave, ok = rs.Wave, true
		}
	}
	return wave, ok
}

func waveStores(stores []store.RolloutStore, wave int) []store.RolloutStore {
	var out []store.RolloutStore
	for _, rs := range stores {
		if rs.Wave == wave {
			out = append(out, rs)
		}
	}
	return out
}

// queue queues one store's upgrade and records its job in the rollout in
// one transaction that also renews the driver's lease: a driver killed
// between the two cannot leave a store upgraded without the rollout
// knowing, and a driver that lost the lease queues nothing.
func (d *RolloutDriver) queue(ctx context.Context, r store.Rollout, rs store.RolloutStore) error {
	caller := Caller{Name: r.Actor, Admin: true}
	err := d.Service.DB.Atomic(ctx, func(tx store.DB) error {
		if err := tx.RenewRolloutLease(ctx, r.ID, d.Worker, d.Lease); err != nil {
			return err
		}
		st, job, err := d.Service.bound(tx).Upgrade(ctx, caller, rs.Store, UpgradeRequest{
			Set: r.Params.Set, Timeout: r.Params.Timeout, rollout: r.ID,
		})
		if err != nil {
			return err
		}
		rs.State, rs.JobID, rs.Reason = store.RolloutStoreRunning, job.ID, ""
		if st.Release.Revision != 0 {
			rs.FromRevision = st.Release.Revision
		}
		return tx.UpdateRolloutStore(ctx, r.ID, rs)
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrForbidden) {
		// The store was deleted, is busy or no longer takes the upgrade:
		// it is passed over, and the rollout goes on.
		d.log().Warn("rollout passes over a store", "rollout", r.ID, "store", rs.Store, "err", err)
		rs.State, rs.Reason = store.RolloutStoreSkipped, err.Error()
		return d.Service.DB.UpdateRolloutStore(ctx, r.ID, rs)
	}
	if err != nil {
		return fmt.Errorf("queue the upgrade of %s: %w", rs.Store, err)
	}
	return nil
}

// waitWave waits until every store of the wave has ended, recording each
// as its job ends.
func (d *RolloutDriver) waitWave(ctx context.Context, id int64, wave int) ([]store.RolloutStore, error) {
	for {
		r, err := d.Service.DB.GetRollout(ctx, id)
		if err != nil {
			return nil, err
		}
		stores := waveStores(r.Stores, wave)
		pending := 0
		for i, rs := range stores {
			if rs.State != store.RolloutStoreRunning {
				continue
			}
			ended, err := d.storeResult(ctx, &rs)
			if err != nil {
				return nil, err
			}
			if !ended {
				pending++
				continue
			}
			if err := d.Service.DB.UpdateRolloutStore(ctx, id, rs); err != nil {
				return nil, err
			}
			stores[i] = rs
		}
		if pending == 0 {
			return stores, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d.poll()):
		}
	}
}

// storeResult reads how a running store's upgrade ended, if it has.
func (d *RolloutDriver) storeResult(ctx context.Context, rs *store.RolloutStore) (bool, error) {
	job, err := d.Service.DB.GetJob(ctx, rs.JobID)
	if err != nil {
		return false, fmt.Errorf("read the upgrade job of %s: %w", rs.Store, err)
	}
	if job.State == store.JobQueued || job.State == store.JobRunning {
		return false, nil
	}
	st, err := d.Service.DB.GetStore(ctx, rs.Store)
	if errors.Is(err, store.ErrNotFound) {
		rs.State, rs.Reason = store.RolloutStoreSkipped, "the store was deleted during its upgrade"
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("read store %s: %w", rs.Store, err)
	}
	rs.ToRevision = st.Release.Revision
	switch {
	case job.State == store.JobSucceeded:
		rs.State, rs.Reason = store.RolloutStoreSucceeded, ""
	case job.State == store.JobCanceled:
		rs.State, rs.Reason = store.RolloutStoreFailed, "the upgrade job was cancelled"
	case st.Release.LastChange != nil && st.Release.LastChange.Outcome == store.ChangeRolledBack &&
		!st.Release.LastChange.At.Before(job.CreatedAt):
		// This job's own rollback, not an earlier one's.
		rs.State, rs.Reason = store.RolloutStoreRolledBack, st.Release.LastChange.Reason
	default:
		rs.State, rs.Reason = store.RolloutStoreFailed, job.LastError
	}
	return true, nil
}

// waveCounts counts a wave's stores by how they ended.
func waveCounts(stores []store.RolloutStore) map[store.RolloutStoreState]int {
	n := map[store.RolloutStoreState]int{}
	for _, rs := range stores {
		n[rs.State]++
	}
	return n
}

// failedStores names the rollout's failed stores, with how they failed.
func failedStores(stores []store.RolloutStore) []string {
	var out []string
	for _, rs := range stores {
		if rs.State.Failed() {
			out = append(out, fmt.Sprintf("%s (%s: %s)", rs.Store, rs.State, rs.Reason))
		}
	}
	return out
}

// haltReason says why a rollout must halt, or "" when it goes on: more
// stores have failed than it allows.
func haltReason(stores []store.RolloutStore, maxFailures int) string {
	failed := failedStores(stores)
	if len(failed) <= maxFailures {
		return ""
	}
	return fmt.Sprintf("%d of its stores failed, more than the %d allowed: %s", len(failed), maxFailures, strings.Join(failed, "; "))
}

// waveEnded audits a wave's result, and halts the rollout when more of its
// stores have failed than it allows.
func (d *RolloutDriver) waveEnded(ctx context.Context, r store.Rollout, wave int, stores []store.RolloutStore, started time.Time) (store.Rollout, error) {
	full, err := d.Service.DB.GetRollout(ctx, r.ID)
	if err != nil {
		return r, err
	}
	// A wave's duration runs from its first job, even across drivers.
	for _, rs := range stores {
		if rs.JobID == 0 {
			continue
		}
		if job, err := d.Service.DB.GetJob(ctx, rs.JobID); err == nil && job.CreatedAt.Before(started) {
			started = job.CreatedAt
		}
	}
	n := waveCounts(stores)
	outcome := "succeeded"
	if n[store.RolloutStoreRolledBack]+n[store.RolloutStoreFailed] > 0 {
		outcome = "failed"
	}
	name := fmt.Sprintf("wave %d", wave)
	if wave == 0 {
		name = "canary wave"
	}
	detail := fmt.Sprintf("rollout %d %s: %d stores from %s to %s: %d succeeded, %d rolled back, %d failed, %d skipped",
		r.ID, name, len(stores), d.fromVersions(ctx, stores), r.Params.Chart, n[store.RolloutStoreSucceeded],
		n[store.RolloutStoreRolledBack], n[store.RolloutStoreFailed], n[store.RolloutStoreSkipped])
	if failed := failedStores(stores); len(failed) > 0 {
		detail += "; " + strings.Join(failed, "; ")
	}
	halt := haltReason(full.Stores, r.Params.MaxFailures)
	err = d.Service.DB.Atomic(ctx, func(tx store.DB) error {
		if err := tx.RenewRolloutLease(ctx, r.ID, d.Worker, d.Lease); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(ctx, store.AuditEntry{Actor: r.Actor, Action: "rollout.wave", Outcome: outcome,
			Detail: detail, DurationMS: time.Since(started).Milliseconds()}); err != nil {
			return fmt.Errorf("record the %s of rollout %d in the audit log: %w", name, r.ID, err)
		}
		if halt == "" {
			return nil
		}
		var err error
		r, err = tx.SetRolloutState(ctx, r.ID, []store.RolloutState{store.RolloutRunning}, store.RolloutHalted, halt)
		if err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditEntry{Actor: r.Actor, Action: "rollout.halt", Outcome: "failed",
			Detail: fmt.Sprintf("rollout %d halted after its %s: %s; fix the cause, then urumi fleet resume %d", r.ID, name, halt, r.ID)})
		return err
	})
	if err != nil {
		return r, err
	}
	if d.Progress != nil {
		d.Progress(RolloutEvent{Rollout: r.ID, Wave: wave, Stores: stores, Done: true, State: r.State, Reason: r.Reason})
	}
	return r, nil
}

// fromVersions names the chart versions a wave's stores ran before, as
// urumi recorded their revisions.
func (d *RolloutDriver) fromVersions(ctx context.Context, stores []store.RolloutStore) string {
	var versions []string
	for _, rs := range stores {
		revs, err := d.Service.DB.Revisions(ctx, rs.Store)
		if err != nil {
			continue
		}
		for _, rev := range revs {
			if rev.Revision == rs.FromRevision && rev.Versions.Chart != "" && !slices.Contains(versions, rev.Versions.Chart) {
				versions = append(versions, rev.Versions.Chart)
			}
		}
	}
	if len(versions) == 0 {
		return "unrecorded versions"
	}
	slices.Sort(versions)
	return strings.Join(versions, ", ")
}

// complete marks r completed once every store's part has ended.
func (d *RolloutDriver) complete(ctx context.Context, r store.Rollout) (store.Rollout, error) {
	n := waveCounts(r.Stores)
	detail := fmt.Sprintf("rollout %d to %s: %d stores: %d succeeded, %d rolled back, %d failed, %d skipped",
		r.ID, r.Params.Chart, len(r.Stores), n[store.RolloutStoreSucceeded], n[store.RolloutStoreRolledBack],
		n[store.RolloutStoreFailed], n[store.RolloutStoreSkipped])
	caller := Caller{Name: r.Actor, Admin: true}
	err := d.Service.record(ctx, caller, "rollout.complete", "", "succeeded", detail, r.CreatedAt, func(tx store.DB) error {
		var err error
		r.Stores = nil
		r, err = tx.SetRolloutState(ctx, r.ID, []store.RolloutState{store.RolloutRunning}, store.RolloutCompleted, "")
		return err
	})
	if err != nil {
		return r, fmt.Errorf("complete rollout %d: %w", r.ID, err)
	}
	if d.Progress != nil {
		d.Progress(RolloutEvent{Rollout: r.ID, State: r.State})
	}
	return d.Service.DB.GetRollout(ctx, r.ID)
}
