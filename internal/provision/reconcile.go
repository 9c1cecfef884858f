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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"

	"github.com/urumi/urumi/internal/store"
)

// The drift reconciler of `urumi serve`: informers over the kinds a store
// check reads notice a change in a store's namespace within a second; the
// store is then judged from memory, as `store check` judges it, and a
// READY store that fails is marked DEGRADED with the reason, audited, and
// (with DriftRepair) given a durable repair job. A DEGRADED store that
// passes again (a person mended it) goes back to READY. Several replicas
// may each run one: marking a store is a conditional update, so only one
// of them marks it, audits it and queues its repair.

// DriftMode is what the reconciler does about drift.
type DriftMode string

// Drift modes.
const (
	DriftRepair DriftMode = "repair" // mark DEGRADED and queue a repair
	DriftReport DriftMode = "report" // mark DEGRADED only; change nothing on the cluster
	DriftOff    DriftMode = "off"    // no reconciler
)

// ReconcilerActor is the audit log's actor for what the reconciler does.
const ReconcilerActor = "urumi-reconciler"

// DriftMetrics counts what the reconciler finds; the server's metrics
// implement it.
type DriftMetrics interface {
	// DriftFound counts one failed finding of kind on a store newly
	// marked DEGRADED.
	DriftFound(kind string)
	// DriftRepaired counts one failed finding of kind a repair mended.
	DriftRepaired(kind string)
	// SetOrphans says how many orphans of a kind (orphan-namespace,
	// orphan-record) the last look found.
	SetOrphans(kind string, n int)
}

// Reconciler watches the store namespaces and acts on drift.
type Reconciler struct {
	Service *Service
	Kube    *Kube
	Mode    DriftMode
	Log     *slog.Logger
	Metrics DriftMetrics
	// Wake, if set, makes an idle worker claim the repair just queued.
	Wake func()
	// Settle is how long after a change in a namespace its store is
	// judged, so that a burst of events is judged once (default 500ms).
	Settle time.Duration
	// Grace is how long a store may fail only on health (a workload not
	// ready, a claim not bound, with nothing changed) before it counts as
	// drift: pods restart on their own (default 2m).
	Grace time.Duration
	// Resync is how often every store is judged again from memory (each
	// at its own moment within the period), and orphans counted (default
	// 10m).
	Resync time.Duration
	// Workers judge stores in parallel (default 2).
	Workers int
	// Leases, if set, are those of this process's workers: a store one of
	// them is running a job for is left to the job, which judges its end,
	// without reading the database (as it would find the job, or the
	// store in flight, and do nothing). Events come by the dozen while a
	// store is made.
	Leases *Leases

	cache *driftCache
	queue workqueue.TypedRateLimitingInterface[string]

	mu        sync.Mutex
	unhealthy map[string]time.Time // store: when it first failed on health alone
	orphans   map[string]Finding   // orphans found, by "kind object"
}

func (r *Reconciler) defaults() {
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if r.Settle <= 0 {
		r.Settle = 500 * time.Millisecond
	}
	if r.Grace <= 0 {
		r.Grace = 2 * time.Minute
	}
	if r.Resync <= 0 {
		r.Resync = 10 * time.Minute
	}
	if r.Workers <= 0 {
		r.Workers = 2
	}
	r.unhealthy = map[string]time.Time{}
	r.orphans = map[string]Finding{}
}

// Run watches until ctx ends. It returns early only when the watches
// cannot start.
func (r *Reconciler) Run(ctx context.Context) error {
	if r.Mode == DriftOff {
		return nil
	}
	r.defaults()
	c, kinds, err := newDriftCache(r.Kube, r.notice)
	if err != nil {
		return err
	}
	r.cache = c
	r.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "urumi-drift"})
	defer r.queue.ShutDown()
	defer c.stop()
	start := time.Now()
	if err := c.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the first lists came
		}
		return err
	}
	r.Kube.waitCache.Store(c)
	defer r.Kube.waitCache.Store(nil)
	r.Log.Info("drift reconciler watching the store namespaces", "mode", r.Mode, "kinds", len(kinds),
		"namespaces", len(c.namespaceNames()), "synced_in", time.Since(start).Round(time.Millisecond))
	var wg sync.WaitGroup
	for range r.Workers {
		wg.Go(func() {
			for r.next(ctx) {
			}
		})
	}
	wg.Go(func() { r.revisitEvery(ctx) })
	<-ctx.Done()
	r.queue.ShutDown()
	wg.Wait()
	return nil
}

// notice queues the store whose namespace obj is in (or is).
func (r *Reconciler) notice(obj any) {
	name, ok := strings.CutPrefix(eventNamespace(obj), Namespace(""))
	if !ok || name == "" {
		return
	}
	r.queue.AddAfter(name, r.Settle)
}

// next judges one queued store; false once the queue shuts down.
func (r *Reconciler) next(ctx context.Context) bool {
	name, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(name)
	again, err := r.reconcile(ctx, name)
	switch {
	case err != nil && ctx.Err() == nil:
		r.Log.Warn("drift reconcile failed; trying again", "store", name, "err", err)
		r.queue.AddRateLimited(name)
	case again > 0:
		r.queue.Forget(name)
		r.queue.AddAfter(name, again)
	default:
		r.queue.Forget(name)
	}
	return true
}

// reconcile judges store name and acts on what it finds. It returns when
// to look again, when it is waiting for something to settle.
func (r *Reconciler) reconcile(ctx context.Context, name string) (time.Duration, error) {
	ns := Namespace(name)
	if r.Leases.Running(name) {
		r.setOrphan(orphanNamespaceKey(ns), false, nil) // a job has it
		return 0, nil
	}
	st, err := r.Service.DB.GetStore(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		n := r.cache.namespace(ns)
		r.setOrphan(orphanNamespaceKey(ns), n != nil && n.DeletionTimestamp == nil, func() Finding { return orphanNamespace(n) })
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read store %s: %w", name, err)
	}
	r.setOrphan(orphanNamespaceKey(ns), false, nil)
	if st.Status != store.StatusReady && st.Status != store.StatusDegraded {
		r.forgetHealth(name)
		return 0, nil // in flight, or failed: its job, or a person, has it
	}
	if _, err := r.Service.DB.ActiveJob(ctx, name); err == nil {
		return 0, nil // a job is changing it; the job judges its end
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("read the jobs of %s: %w", name, err)
	}
	if r.cache.namespace(ns) == nil {
		return 0, r.namespaceGone(ctx, st)
	}
	r.setOrphan(orphanRecordKey(ns), false, nil)
	sc := r.Kube.judge(ctx, r.cache.snapshot(ns), st)
	failed := failing(sc)
	switch {
	case len(failed) == 0 && st.Status == store.StatusReady:
		r.forgetHealth(name)
		return 0, nil
	case len(failed) > 0 && st.Status == store.StatusDegraded && !newDrift(failed, st.Error):
		return 0, nil // known: a repair or a person has it
	case len(failed) > 0 && healthOnly(failed):
		if wait := r.healthWait(name); wait > 0 {
			return wait, nil
		}
	}
	r.forgetHealth(name)
	// Before changing anything, ask the cluster itself: the informers
	// of different kinds may be a moment apart (a cron Job's pod seen
	// before its Job), and drift is rare enough to afford one look.
	snap, err := r.Kube.takeSnapshot(ctx, ns)
	if err != nil {
		return 0, err
	}
	sc = r.Kube.judge(ctx, snap, st)
	switch failed := failing(sc); {
	case len(failed) == 0 && st.Status == store.StatusDegraded:
		return 0, r.mended(ctx, st)
	case len(failed) > 0 && (st.Status == store.StatusReady || newDrift(failed, st.Error)):
		return 0, r.drifted(ctx, st, sc)
	}
	return 0, nil
}

// newDrift says whether a DEGRADED store whose error is reason fails a
// check its reason does not name: drift beside the drift already known.
// (A repair that leaves something names it in the store's error, so what
// it could not mend is not drift anew.)
func newDrift(failed []Finding, reason string) bool {
	if strings.HasPrefix(reason, repairFailedPrefix) {
		return false // a person has it: repairing again would fail again
	}
	return slices.ContainsFunc(failed, func(f Finding) bool { return !strings.Contains(reason, findingName(f)) })
}

// healthOnly says whether every failure is a workload or claim not ready
// with nothing changed: what a pod restart or a slow node looks like.
func healthOnly(failed []Finding) bool {
	return !slices.ContainsFunc(failed, func(f Finding) bool { return !f.health })
}

// healthWait is how much longer store name may stay unhealthy before it
// counts as drift.
func (r *Reconciler) healthWait(name string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	first, ok := r.unhealthy[name]
	if !ok {
		first = time.Now()
		r.unhealthy[name] = first
	}
	return time.Until(first.Add(r.Grace))
}

func (r *Reconciler) forgetHealth(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.unhealthy, name)
}

// drifted marks a READY store DEGRADED with what failed (or gives a
// DEGRADED one its new reason), audits it, and in repair mode queues its
// repair in the same transaction when urumi made something that failed.
// Another replica that got there first leaves nothing to do.
func (r *Reconciler) drifted(ctx context.Context, st store.Store, sc StoreCheck) error {
	reason := DriftReason(sc)
	repair := r.Mode == DriftRepair && slices.ContainsFunc(failing(sc), func(f Finding) bool { return f.Managed })
	var job store.Job
	marked := false
	err := r.Service.DB.Atomic(ctx, func(tx store.DB) error {
		ok, err := tx.MarkStore(ctx, st.Name, st.Status, store.StatusDegraded, reason)
		if err != nil || !ok {
			return err
		}
		detail := reason
		switch {
		case repair:
			job, err = tx.EnqueueJob(ctx, st.Name, store.JobRepair, ReconcilerActor, nil)
			if errors.Is(err, store.ErrJobActive) {
				return errAlreadyHandled
			}
			if err != nil {
				return fmt.Errorf("queue the repair of %s: %w", st.Name, err)
			}
			detail += fmt.Sprintf("; repair queued (job %d)", job.ID)
		case r.Mode == DriftReport:
			detail += "; reported only (--drift=report): `urumi store repair " + st.Name + "` mends it"
		default:
			detail += "; nothing urumi made drifted: left for a person"
		}
		if _, err := tx.AppendAudit(ctx, store.AuditEntry{Actor: ReconcilerActor, Action: "drift", Store: st.Name,
			Outcome: "found", Detail: detail}); err != nil {
			return fmt.Errorf("record drift of %s in the audit log: %w", st.Name, err)
		}
		marked = true
		return nil
	})
	if errors.Is(err, errAlreadyHandled) {
		return nil
	}
	if err != nil {
		return err
	}
	if !marked {
		return nil
	}
	r.Log.Warn("store drifted", "store", st.Name, "reason", reason, "repair_job", job.ID)
	if r.Metrics != nil {
		for _, f := range failing(sc) {
			r.Metrics.DriftFound(f.Kind)
		}
	}
	if job.ID != 0 && r.Wake != nil {
		r.Wake()
	}
	return nil
}

var errAlreadyHandled = errors.New("already handled by another process")

// mended returns a DEGRADED store that passes again to READY.
func (r *Reconciler) mended(ctx context.Context, st store.Store) error {
	return r.Service.DB.Atomic(ctx, func(tx store.DB) error {
		ok, err := tx.MarkStore(ctx, st.Name, store.StatusDegraded, store.StatusReady, "")
		if err != nil || !ok {
			return err
		}
		r.Log.Info("store passes its check again", "store", st.Name)
		_, err = tx.AppendAudit(ctx, store.AuditEntry{Actor: ReconcilerActor, Action: "drift", Store: st.Name,
			Outcome: "resolved", Detail: "the store passes its check again (was: " + st.Error + ")"})
		return err
	})
}

// namespaceGone handles a READY or DEGRADED store whose namespace the
// watch no longer sees: the label was taken off (drift: repair puts it
// back), or the namespace is gone (an orphan record: a person decides,
// since making it anew would make an empty store).
func (r *Reconciler) namespaceGone(ctx context.Context, st store.Store) error {
	ns := Namespace(st.Name)
	_, err := r.Kube.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case err == nil:
		// There, without urumi's label: judge it as `store check` would.
		snap, err := r.Kube.takeSnapshot(ctx, ns)
		if err != nil {
			return err
		}
		sc := r.Kube.judge(ctx, snap, st)
		if st.Status == store.StatusReady && len(failing(sc)) > 0 {
			return r.drifted(ctx, st, sc)
		}
		return nil
	case !isNotFound(err):
		return fmt.Errorf("read namespace %s: %w", ns, describeAPIError(err))
	}
	f := orphanRecord(st)
	r.setOrphan(orphanRecordKey(ns), true, func() Finding { return f })
	if st.Status != store.StatusReady {
		return nil
	}
	return r.Service.DB.Atomic(ctx, func(tx store.DB) error {
		ok, err := tx.MarkStore(ctx, st.Name, store.StatusReady, store.StatusDegraded, f.Message+": "+f.Fix)
		if err != nil || !ok {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditEntry{Actor: ReconcilerActor, Action: "drift", Store: st.Name,
			Outcome: "found", Detail: f.Message + "; left for a person: " + f.Fix})
		return err
	})
}

// setOrphan records whether the orphan under key is there, logging it
// when it is first found; find describes it.
func (r *Reconciler) setOrphan(key string, there bool, find func() Finding) {
	r.mu.Lock()
	_, known := r.orphans[key]
	switch {
	case there && !known:
		f := find()
		r.orphans[key] = f
		r.Log.Warn("orphan found: nothing is deleted until a person decides", "kind", f.Kind, "object", f.Object, "message", f.Message, "fix", f.Fix)
	case !there && known:
		delete(r.orphans, key)
	}
	counts := map[string]int{FindingOrphanNS: 0, FindingOrphanRecord: 0}
	for _, f := range r.orphans {
		counts[f.Kind]++
	}
	r.mu.Unlock()
	if r.Metrics != nil && there != known {
		for kind, n := range counts {
			r.Metrics.SetOrphans(kind, n)
		}
	}
}

func orphanNamespaceKey(ns string) string { return FindingOrphanNS + " " + ns }
func orphanRecordKey(ns string) string    { return FindingOrphanRecord + " " + ns }

// revisitEvery looks for orphans now and every Resync, and every Resync
// queues every store to be judged again from memory, spread over the
// period. (The informers' own resync did this at one moment: some 35
// events a store delivered at once, and a thousand stores judged in one
// burst, whose garbage the collector then counted as live.)
func (r *Reconciler) revisitEvery(ctx context.Context) {
	t := time.NewTicker(r.Resync)
	defer t.Stop()
	for first := true; ; first = false {
		if err := r.lookForOrphans(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("look for orphans", "err", err)
		}
		if !first { // the first lists queued every store already
			r.revisit()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// revisit queues every store with a namespace, each at its own moment
// within the next Resync. An event queues a store sooner, and the earlier
// of the two is kept.
func (r *Reconciler) revisit() {
	var names []string
	for _, ns := range r.cache.namespaceNames() {
		if name, ok := strings.CutPrefix(ns, Namespace("")); ok && name != "" {
			names = append(names, name)
		}
	}
	for i, name := range names {
		r.queue.AddAfter(name, time.Duration(i)*r.Resync/time.Duration(len(names)))
	}
}

func (r *Reconciler) lookForOrphans(ctx context.Context) error {
	stores, err := r.Service.DB.ListStores(ctx, store.ListFilter{})
	if err != nil {
		return fmt.Errorf("list stores: %w", err)
	}
	known := map[string]bool{}
	for _, st := range stores {
		known[Namespace(st.Name)] = true
		if (st.Status == store.StatusReady || st.Status == store.StatusDegraded) && r.cache.namespace(Namespace(st.Name)) == nil {
			r.queue.Add(st.Name)
		}
	}
	for _, ns := range r.cache.namespaceNames() {
		if name, ok := strings.CutPrefix(ns, Namespace("")); ok && !known[ns] {
			r.queue.Add(name)
		}
	}
	return nil
}
