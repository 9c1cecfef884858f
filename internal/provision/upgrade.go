package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/urumi/urumi/internal/store"
)

// Bounds of a change's timeout.
const (
	MinChangeTimeout = 30 * time.Second
	MaxChangeTimeout = 2 * time.Hour
)

// UpgradeRequest asks for a store to run the chart built into this urumi,
// on its plan or another, with more chart value overrides.
type UpgradeRequest struct {
	// Plan, when set, moves the store to that plan as the operator defines
	// it now; empty keeps the store's plan as it was when it was made.
	Plan string `json:"plan,omitempty"`
	// Set are chart value overrides, "key=value" each, merged over the
	// store's: an entry for a key the store has replaces it.
	Set []string `json:"set,omitempty"`
	// Timeout bounds the upgrade and, when it fails, its rollback, as a Go
	// duration ("10m"); empty is the server's timeout.
	Timeout string `json:"timeout,omitempty"`

	// rollout is the fleet rollout the upgrade belongs to, if any.
	rollout int64
}

// RollbackRequest asks for a store to return to one of its revisions.
type RollbackRequest struct {
	// Revision is the revision to return to; 0 is the one before the
	// store's current revision.
	Revision int `json:"revision,omitempty"`
	// Timeout bounds the rollback, as for an upgrade.
	Timeout string `json:"timeout,omitempty"`
}

// changeParams are an upgrade or rollback job's params.
type changeParams struct {
	// Plan and Options are what an upgrade brings the store to.
	Plan    string   `json:"plan,omitempty"`
	Options *Options `json:"options,omitempty"`
	// Revision is the revision a rollback returns to; 0 the previous one.
	Revision int `json:"revision,omitempty"`
	// TimeoutSeconds, when not 0, replaces the server's timeout.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
	// Rollout is the fleet rollout an upgrade belongs to.
	Rollout int64 `json:"rollout,omitempty"`
}

func decodeChangeParams(b []byte) (changeParams, error) {
	var p changeParams
	if len(b) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode job params: %w", err)
	}
	return p, nil
}

func (p changeParams) timeout(fallback time.Duration) time.Duration {
	if p.TimeoutSeconds > 0 {
		return time.Duration(p.TimeoutSeconds) * time.Second
	}
	return fallback
}

// parseTimeout reads a change's timeout: empty is 0 (the server's).
func parseTimeout(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinChangeTimeout || d > MaxChangeTimeout {
		return 0, errorf(ErrInvalid, "timeout %q is invalid: give a duration from %s to %s, such as 10m", s, MinChangeTimeout, MaxChangeTimeout)
	}
	return int(d / time.Second), nil
}

// mergeSet is old's overrides with set's over them: an entry for a key old
// has replaces it, in its place; new keys follow in order.
func mergeSet(old, set []string) []string {
	out := slices.Clone(old)
	key := func(e string) string { k, _, _ := strings.Cut(e, "="); return k }
	for _, e := range set {
		if i := slices.IndexFunc(out, func(o string) bool { return key(o) == key(e) }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

// ValidateUpgrade checks an upgrade of st without touching the database and
// returns its job's params: the plan and options the store will have.
func (s *Service) ValidateUpgrade(c Caller, st store.Store, req UpgradeRequest) (changeParams, error) {
	opts, err := decodeOptions(st.Options)
	if err != nil {
		return changeParams{}, err
	}
	plan, err := storePlan(st.Plan, opts)
	if err != nil {
		return changeParams{}, err
	}
	planName := st.Plan
	if req.Plan != "" {
		if plan, err = s.Plans.Get(req.Plan); err != nil {
			return changeParams{}, err
		}
		planName = req.Plan
	}
	ch, err := s.storeChart()
	if err != nil {
		return changeParams{}, err
	}
	// What the caller may set is judged on what they set now: an owner's
	// upgrade is not refused for overrides an admin made before.
	if len(req.Set) > 0 {
		newOnly := opts
		newOnly.Plan, newOnly.Set = &plan, req.Set
		if _, err := checkOverrides(&s.schemas, ch, c, st.Name, plan, newOnly); err != nil {
			return changeParams{}, err
		}
	}
	target := opts
	target.Plan, target.Set = &plan, mergeSet(opts.Set, req.Set)
	if _, err := checkOverrides(&s.schemas, ch, Caller{Name: c.Name, Admin: true}, st.Name, plan, target); err != nil {
		return changeParams{}, err
	}
	timeout, err := parseTimeout(req.Timeout)
	if err != nil {
		return changeParams{}, err
	}
	return changeParams{Plan: planName, Options: &target, TimeoutSeconds: timeout, Rollout: req.rollout}, nil
}

// Upgrade queues an upgrade of the store to the chart built into this urumi
// with req's plan and values. When the store already has an upgrade with
// the same target in flight (a process killed during it), that job is
// returned to be driven on.
func (s *Service) Upgrade(ctx context.Context, c Caller, name string, req UpgradeRequest) (store.Store, store.Job, error) {
	start := time.Now()
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	params, err := s.ValidateUpgrade(c, st, req)
	if err != nil {
		if errors.Is(err, ErrForbidden) {
			s.deny(ctx, c, "upgrade", name, err.Error(), start)
		}
		return store.Store{}, store.Job{}, err
	}
	detail := "to " + s.chartVersion()
	if req.Plan != "" {
		detail += "; plan " + req.Plan
	}
	if len(req.Set) > 0 {
		detail += "; " + describeSet(req.Set)
	}
	if params.Rollout != 0 {
		detail += fmt.Sprintf("; rollout %d", params.Rollout)
	}
	return s.queueChange(ctx, c, st, store.JobUpgrade, params, detail, start)
}

// Rollback queues a rollback of the store to one of its revisions.
func (s *Service) Rollback(ctx context.Context, c Caller, name string, req RollbackRequest) (store.Store, store.Job, error) {
	start := time.Now()
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	if req.Revision < 0 {
		return store.Store{}, store.Job{}, errorf(ErrInvalid, "revision %d is invalid: give a revision from urumi store history, or none for the previous one", req.Revision)
	}
	if req.Revision != 0 && st.Release.Revision != 0 && req.Revision >= st.Release.Revision {
		return store.Store{}, store.Job{}, errorf(ErrInvalid, "store %q runs revision %d: roll back to an earlier revision (see urumi store history)", name, st.Release.Revision)
	}
	timeout, err := parseTimeout(req.Timeout)
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	detail := "to the previous revision"
	if req.Revision != 0 {
		detail = fmt.Sprintf("to revision %d", req.Revision)
	}
	return s.queueChange(ctx, c, st, store.JobRollback, changeParams{Revision: req.Revision, TimeoutSeconds: timeout}, detail, start)
}

// queueChange records an upgrade or rollback job and marks the store
// UPGRADING, or returns the same change already in flight.
func (s *Service) queueChange(ctx context.Context, c Caller, st store.Store, kind store.JobKind, params changeParams, detail string, start time.Time) (store.Store, store.Job, error) {
	action := string(kind)
	encoded, err := json.Marshal(params)
	if err != nil {
		return store.Store{}, store.Job{}, fmt.Errorf("encode %s params: %w", kind, err)
	}
	active, err := s.DB.ActiveJob(ctx, st.Name)
	switch {
	case err == nil && active.Kind == kind && bytes.Equal(active.Params, encoded):
		// The same change, left by a process that stopped: carry it on.
		err := s.record(ctx, c, action, st.Name, "requested", fmt.Sprintf("%s; resume job %d", detail, active.ID), start, func(store.DB) error { return nil })
		return st, active, err
	case err == nil:
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q has a %s job (%d) in flight: wait for it (urumi store get %s), then try again", st.Name, active.Kind, active.ID, st.Name)
	case !errors.Is(err, store.ErrNotFound):
		return store.Store{}, store.Job{}, fmt.Errorf("read the jobs of %s: %w", st.Name, err)
	}
	switch {
	case st.Status == store.StatusReady, st.Status == store.StatusUpgrading, st.Status == store.StatusDegraded:
	case st.Status == store.StatusFailed && st.Release.Revision > 0:
		// A change whose rollback failed too: another change may mend it.
	case st.Status == store.StatusFailed:
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q failed before it was ever ready: fix it with urumi store retry %s", st.Name, st.Name)
	default:
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q is %s: it can be changed once it is READY", st.Name, st.Status)
	}
	var job store.Job
	err = s.record(ctx, c, action, st.Name, "requested", detail, start, func(tx store.DB) error {
		var err error
		job, err = tx.EnqueueJob(ctx, st.Name, kind, c.Name, encoded)
		if errors.Is(err, store.ErrJobActive) {
			return errorf(ErrConflict, "store %q has a %s job (%d) in flight: wait for it, then try again", st.Name, job.Kind, job.ID)
		}
		if err != nil {
			return fmt.Errorf("queue %s of %s: %w", kind, st.Name, err)
		}
		st.Status, st.Options = store.StatusUpgrading, nil
		if err := tx.UpdateStore(ctx, st); err != nil {
			return fmt.Errorf("mark %s upgrading: %w", st.Name, err)
		}
		return nil
	})
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	s.decorate(&st)
	return st, job, nil
}

// History lists a store's revisions, oldest first, as urumi recorded them
// (the runner copies Helm's history into the record after every change).
func (s *Service) History(ctx context.Context, c Caller, name string) ([]store.Revision, error) {
	if _, err := s.Get(ctx, c, name); err != nil {
		return nil, err
	}
	revs, err := s.DB.Revisions(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", name, err)
	}
	return revs, nil
}

// chartVersion is the version of the store chart built into this urumi.
func (s *Service) chartVersion() string {
	ch, err := s.storeChart()
	if err != nil || ch.Metadata == nil {
		return ""
	}
	return ch.Metadata.Version
}

// decorate fills in what is not stored: whether this urumi's chart is newer
// than the store's.
func (s *Service) decorate(st *store.Store) {
	st.Release.UpgradeAvailable = ""
	if st.Status == store.StatusDeleting || st.Status == store.StatusQueued {
		return
	}
	if v := s.chartVersion(); v != "" && newerVersion(v, st.Release.Versions.Chart) {
		st.Release.UpgradeAvailable = v
	}
}

// newerVersion says whether version a (MAJOR.MINOR.PATCH) is newer than b;
// an unknown b (a store made before urumi recorded versions) is older.
func newerVersion(a, b string) bool {
	if b == "" {
		return true
	}
	pa, pb := versionParts(a), versionParts(b)
	return slices.Compare(pa, pb) > 0
}

func versionParts(v string) []int {
	v, _, _ = strings.Cut(strings.TrimPrefix(v, "v"), "-")
	var parts []int
	for _, p := range strings.SplitN(v, ".", 3) {
		n, err := strconv.Atoi(p)
		if err != nil {
			n = -1
		}
		parts = append(parts, n)
	}
	return parts
}

// change is what an upgrade or rollback job moves a store between.
type change struct {
	kind                  store.JobKind
	from                  store.Release
	oldPlanName, planName string
	oldPlan, plan         Plan
	oldOptions, options   Options
	timeout               time.Duration
	route                 storeRoute
	helmRan               bool
	result                changeResult
	start                 time.Time
	rollTo                int
}

// newChange reads the store's present plan and options.
func (r *Runner) newChange(job store.Job, s store.Store, p changeParams) (*change, error) {
	old, err := decodeOptions(s.Options)
	if err != nil {
		return nil, err
	}
	oldPlan, err := storePlan(s.Plan, old)
	if err != nil {
		return nil, err
	}
	return &change{
		kind: job.Kind, from: s.Release, start: time.Now(),
		oldPlanName: s.Plan, planName: s.Plan, oldPlan: oldPlan, plan: oldPlan,
		oldOptions: old, options: old,
		timeout: p.timeout(r.Kube.Settings.Timeout), route: routeOf(s.Name, old),
	}, nil
}

// upgrade runs an upgrade job: the namespace objects brought to the target
// plan (the quota to the larger of both plans while the change runs), then
// a Helm upgrade that rolls back by itself when it fails, then the quota to
// the target plan. A failed upgrade leaves the store READY on what it ran
// before, with the failure in its last change and the audit log.
func (r *Runner) upgrade(ctx context.Context, job store.Job, s store.Store, events Events) error {
	p, err := decodeChangeParams(job.Params)
	if err != nil {
		return r.fail(ctx, job, s, time.Now(), err)
	}
	ch, err := r.newChange(job, s, p)
	if err != nil {
		return r.fail(ctx, job, s, time.Now(), err)
	}
	if p.Options == nil || p.Options.Plan == nil {
		return r.changeFailed(ctx, job, s, ch, errors.New("the upgrade job has no target plan: request the upgrade again"))
	}
	ch.planName, ch.plan, ch.options = p.Plan, *p.Options.Plan, *p.Options
	vals, err := r.Kube.chartValues(s.Name, ch.plan, ch.options)
	if err != nil {
		return r.changeFailed(ctx, job, s, ch, err)
	}
	return r.runChange(ctx, job, s, ch, events, "helm-upgrade", func(ctx context.Context, timeout time.Duration) (changeResult, error) {
		return r.Kube.helmUpgrade(ctx, Namespace(s.Name), ch.route, vals, timeout)
	})
}

// rollback runs a rollback job: as an upgrade, to the plan, options and
// chart values of an earlier revision.
func (r *Runner) rollback(ctx context.Context, job store.Job, s store.Store, events Events) error {
	p, err := decodeChangeParams(job.Params)
	if err != nil {
		return r.fail(ctx, job, s, time.Now(), err)
	}
	ch, err := r.newChange(job, s, p)
	if err != nil {
		return r.fail(ctx, job, s, time.Now(), err)
	}
	ch.rollTo = p.Revision
	if ch.rollTo == 0 {
		history, err := r.Kube.releaseHistory(ctx, Namespace(s.Name))
		if err != nil {
			return r.changeFailed(ctx, job, s, ch, err)
		}
		if ch.rollTo = previousRevision(history, deployedRevision(history)); ch.rollTo == 0 {
			return r.changeFailed(ctx, job, s, ch, errors.New("the store has no earlier deployed revision to roll back to"))
		}
	}
	// The plan and options the revision was made with, when urumi made it.
	revs, err := r.DB.Revisions(ctx, s.Name)
	if err != nil {
		return fmt.Errorf("read the revisions of %s: %w", s.Name, err)
	}
	if i := slices.IndexFunc(revs, func(rv store.Revision) bool { return rv.Revision == ch.rollTo }); i >= 0 && len(revs[i].Options) > 0 {
		o, err := decodeOptions(revs[i].Options)
		if err != nil {
			return r.changeFailed(ctx, job, s, ch, err)
		}
		if plan, err := storePlan(revs[i].Plan, o); err == nil {
			ch.planName, ch.plan, ch.options = revs[i].Plan, plan, o
		}
	}
	return r.runChange(ctx, job, s, ch, events, "helm-rollback", func(ctx context.Context, timeout time.Duration) (changeResult, error) {
		return r.Kube.helmRollback(ctx, Namespace(s.Name), ch.rollTo, timeout)
	})
}

// runChange runs the steps of an upgrade or rollback around helm, the
// Helm step, and records how it ended. The Helm step gets half the time
// left for itself and half for undoing itself when it fails; it runs under
// the job's context, not the deadline, so that the undoing has its time.
func (r *Runner) runChange(ctx context.Context, job store.Job, s store.Store, ch *change, events Events,
	helmStep string, helm func(ctx context.Context, timeout time.Duration) (changeResult, error)) error {
	deadlineCtx, cancel := context.WithTimeout(ctx, ch.timeout)
	defer cancel()
	s.Options = nil // written when the change ends
	s.Status, s.Error, s.Phases = store.StatusUpgrading, "", nil
	if err := r.DB.UpdateStore(ctx, s); err != nil {
		return fmt.Errorf("mark %s upgrading: %w", s.Name, err)
	}
	k := r.Kube
	during := widerPlan(ch.oldPlan, ch.plan)
	steps := []step{
		{"namespace", func(ctx context.Context) error { return k.ensureNamespace(ctx, s.Name, s.Owner) }},
		{"quota", func(ctx context.Context) error { return k.ensureQuota(ctx, s.Name, s.Owner, during) }},
		{"network-policies", func(ctx context.Context) error {
			return k.ensureNetworkPolicies(ctx, s.Name, s.Owner, ch.options, ch.plan.Egress)
		}},
		{"credentials", func(ctx context.Context) error { return k.ensureCredentials(ctx, s.Name, s.Owner) }},
		{helmStep, func(stepCtx context.Context) error {
			ch.helmRan = true
			left := time.Until(deadlineOf(stepCtx, ch.timeout))
			var err error
			ch.result, err = helm(ctx, max(left/2, 10*time.Second))
			return err
		}},
		{"plan-quota", func(ctx context.Context) error { return k.ensureQuota(ctx, s.Name, s.Owner, ch.plan) }},
	}
	if err := r.runSteps(deadlineCtx, job, &s, steps, events); err != nil {
		if ctx.Err() != nil {
			return err // interrupted or lease lost: the job resumes later
		}
		if ch.result.Reason != "" {
			err = errors.New(ch.result.Reason)
		}
		return r.changeFailed(ctx, job, s, ch, err)
	}
	rel := ch.result.Release
	if rel == nil {
		return r.changeFailed(ctx, job, s, ch, errors.New("helm reported no release after the change"))
	}
	versions, err := releaseVersions(rel)
	if err != nil {
		return r.changeFailed(ctx, job, s, ch, err)
	}
	opts, err := encodeOptions(ch.options)
	if err != nil {
		return r.changeFailed(ctx, job, s, ch, err)
	}
	history := r.readHistory(ctx, s.Name)
	s.Status, s.Error, s.Options, s.Plan = store.StatusReady, "", opts, ch.planName
	last := &store.Change{Kind: ch.kind, Outcome: store.ChangeSucceeded, From: ch.from.Revision, To: rel.Version, Actor: job.Actor, At: time.Now().UTC()}
	release := store.Release{Revision: rel.Version, Versions: versions, LastChange: last}
	detail := fmt.Sprintf("from %s to %s", describeFrom(ch.from), describeVersions(rel.Version, versions))
	return r.outcome(ctx, job, store.JobSucceeded, "", func(tx store.DB) error {
		if err := tx.UpdateStore(ctx, s); err != nil {
			return fmt.Errorf("mark %s ready: %w", s.Name, err)
		}
		if err := tx.SetRelease(ctx, s.Name, release); err != nil {
			return err
		}
		if err := r.recordRevisions(ctx, tx, job, s.Name, history, ch.from.Revision, map[int]revisionMeta{rel.Version: {ch.planName, opts}}); err != nil {
			return err
		}
		return r.audit(ctx, tx, job, string(ch.kind), s.Name, "succeeded", detail, time.Since(ch.start))
	})
}

// changeFailed records an upgrade or rollback that failed. When nothing in
// Helm changed, or Helm undid what it did, the store is READY on what it
// ran before (its namespace objects are put back to its old plan): the
// change is "rolled-back". Otherwise the store is FAILED with the reason,
// and another upgrade or rollback may mend it.
func (r *Runner) changeFailed(ctx context.Context, job store.Job, s store.Store, ch *change, cause error) error {
	r.Log.Warn("store change failed", "store", s.Name, "job", job.ID, "kind", job.Kind, "err", cause)
	reason := withoutAddresses(cause.Error())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := r.DB.RenewLease(dctx, job.ID, r.Worker, r.Lease); errors.Is(err, store.ErrLeaseLost) {
		return fmt.Errorf("%w (%s)", ErrLeaseLost, reason)
	}
	undone := !ch.helmRan || ch.result.RolledBack
	release := ch.from
	meta := map[int]revisionMeta{}
	if ch.result.Release != nil {
		if v, err := releaseVersions(ch.result.Release); err == nil {
			release.Revision, release.Versions = ch.result.Release.Version, v
		}
	}
	if undone {
		// Put the namespace objects back to the plan the store still has.
		k := r.Kube
		if err := k.ensureQuota(dctx, s.Name, s.Owner, ch.oldPlan); err != nil {
			undone, reason = false, reason+"; putting the quota back failed: "+withoutAddresses(err.Error())
		} else if err := k.ensureNetworkPolicies(dctx, s.Name, s.Owner, ch.oldOptions, ch.oldPlan.Egress); err != nil {
			undone, reason = false, reason+"; putting the network policies back failed: "+withoutAddresses(err.Error())
		}
		if ch.result.Release != nil && ch.result.RolledBack {
			if opts, err := encodeOptions(ch.oldOptions); err == nil {
				meta[ch.result.Release.Version] = revisionMeta{ch.oldPlanName, opts}
			}
		}
	}
	outcome, status, what := store.ChangeRolledBack, store.StatusReady, "rolled back: the store runs "+describeFrom(release)
	if !undone {
		outcome, status, what = store.ChangeFailed, store.StatusFailed, "not rolled back"
	}
	release.LastChange = &store.Change{Kind: ch.kind, Outcome: outcome, From: ch.from.Revision, To: release.Revision, Reason: reason, Actor: job.Actor, At: time.Now().UTC()}
	s.Status, s.Options = status, nil
	s.Error = ""
	if status == store.StatusFailed {
		s.Error = fmt.Sprintf("%s failed and was not rolled back: %s", ch.kind, reason)
	}
	history := r.readHistory(dctx, s.Name)
	detail := fmt.Sprintf("%s; %s", reason, what)
	if err := r.outcome(dctx, job, store.JobFailed, reason, func(tx store.DB) error {
		if err := tx.UpdateStore(dctx, s); err != nil {
			return fmt.Errorf("record the failed %s of %s: %w (after: %s)", ch.kind, s.Name, err, reason)
		}
		if err := tx.SetRelease(dctx, s.Name, release); err != nil {
			return err
		}
		if err := r.recordRevisions(dctx, tx, job, s.Name, history, ch.from.Revision, meta); err != nil {
			return err
		}
		return r.audit(dctx, tx, job, string(ch.kind), s.Name, "failed", detail, time.Since(ch.start))
	}); err != nil {
		return err
	}
	return errors.New(reason)
}

func describeFrom(r store.Release) string {
	if r.Revision == 0 && r.Versions == (store.Versions{}) {
		return "an unrecorded revision"
	}
	return describeVersions(r.Revision, r.Versions)
}

// readHistory is the store's Helm history, or nil when it cannot be read
// (the record then waits for the next change).
func (r *Runner) readHistory(ctx context.Context, name string) []*release.Release {
	history, err := r.Kube.releaseHistory(ctx, Namespace(name))
	if err != nil {
		r.Log.Warn("read helm history", "store", name, "err", err)
		return nil
	}
	return history
}

// revisionMeta is urumi's part of a revision's record: the plan and
// options it was made with.
type revisionMeta struct {
	plan    string
	options []byte
}

// recordRevisions copies Helm's history into urumi's record of the store's
// revisions. The revisions newer than since (the store's revision when the
// job began; 0 when unknown) were made by this job and get its kind, id
// and actor, and those in made their plan and options too.
func (r *Runner) recordRevisions(ctx context.Context, db store.DB, job store.Job, name string, history []*release.Release, since int, made map[int]revisionMeta) error {
	for _, rel := range history {
		versions, err := releaseVersions(rel)
		if err != nil {
			return err
		}
		rev := store.Revision{Store: name, Revision: rel.Version, Versions: versions}
		if rel.Info != nil {
			rev.Status, rev.Description = string(rel.Info.Status), withoutAddresses(rel.Info.Description)
			rev.At = rel.Info.LastDeployed.UTC()
		}
		m, ok := made[rel.Version]
		if ok || (since > 0 && rel.Version > since) {
			rev.Kind, rev.JobID, rev.Actor, rev.Plan, rev.Options = job.Kind, job.ID, job.Actor, m.plan, m.options
		}
		if err := db.AddRevision(ctx, rev); err != nil {
			return err
		}
	}
	return nil
}

// maxQuantity is the larger of two resource quantities.
func maxQuantity(a, b string) string {
	qa, errA := resource.ParseQuantity(a)
	qb, errB := resource.ParseQuantity(b)
	if errA != nil || errB != nil || qa.Cmp(qb) >= 0 {
		return a
	}
	return b
}

// widerPlan is a plan whose quota allows what either plan allows, for the
// time a change moves a store between them: old and new pods may run side
// by side.
func widerPlan(a, b Plan) Plan {
	w := b
	w.Quota.CPU = maxQuantity(a.Quota.CPU, b.Quota.CPU)
	w.Quota.Memory = maxQuantity(a.Quota.Memory, b.Quota.Memory)
	w.Quota.Storage = maxQuantity(a.Quota.Storage, b.Quota.Storage)
	w.Quota.Pods = max(a.Quota.Pods, b.Quota.Pods)
	w.Quota.Claims = max(a.Quota.Claims, b.Quota.Claims)
	return w
}
