package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/store"
)

// `store repair`: a durable job that brings back what a store check found
// drifted, through the same idempotent steps as a create, re-applies the
// Helm release at its recorded revision when its objects drifted, deletes
// what widens access only when urumi made it, and reports the rest for a
// person. The store ends READY when everything urumi can fix passes, and
// DEGRADED with what is left in its error otherwise.

// Repair queues a repair of the store. Admins only: it changes the
// cluster beyond what the store's owner may ask for. A repair already in
// flight is returned to be driven on.
func (s *Service) Repair(ctx context.Context, c Caller, name string) (store.Store, store.Job, error) {
	start := time.Now()
	if !c.Admin {
		err := errorf(ErrForbidden, "only an admin may repair a store: ask one to run urumi store repair %s", name)
		s.deny(ctx, c, "repair", name, err.Error(), start)
		return store.Store{}, store.Job{}, err
	}
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	return s.queueRepair(ctx, c, st, "requested", start)
}

// queueRepair records a repair job for st, or returns the one in flight.
func (s *Service) queueRepair(ctx context.Context, c Caller, st store.Store, detail string, start time.Time) (store.Store, store.Job, error) {
	active, err := s.DB.ActiveJob(ctx, st.Name)
	switch {
	case err == nil && active.Kind == store.JobRepair:
		err := s.record(ctx, c, "repair", st.Name, "requested", fmt.Sprintf("%s; resume job %d", detail, active.ID), start, func(store.DB) error { return nil })
		return st, active, err
	case err == nil:
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q has a %s job (%d) in flight: wait for it (urumi store get %s), then try again", st.Name, active.Kind, active.ID, st.Name)
	case !errors.Is(err, store.ErrNotFound):
		return store.Store{}, store.Job{}, fmt.Errorf("read the jobs of %s: %w", st.Name, err)
	}
	switch {
	case st.Status == store.StatusReady, st.Status == store.StatusDegraded:
	case st.Status == store.StatusFailed && st.Release.Revision > 0:
		// A change that failed and was not undone: repair may mend it.
	case st.Status == store.StatusFailed:
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q failed before it was ever ready: fix it with urumi store retry %s", st.Name, st.Name)
	default:
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q is %s: it can be repaired once it is READY or DEGRADED", st.Name, st.Status)
	}
	var job store.Job
	err = s.record(ctx, c, "repair", st.Name, "requested", detail, start, func(tx store.DB) error {
		var err error
		job, err = tx.EnqueueJob(ctx, st.Name, store.JobRepair, c.Name, nil)
		if errors.Is(err, store.ErrJobActive) {
			return errorf(ErrConflict, "store %q has a job in flight: wait for it, then try again", st.Name)
		}
		if err != nil {
			return fmt.Errorf("queue repair of %s: %w", st.Name, err)
		}
		return nil
	})
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	s.decorate(&st)
	return st, job, nil
}

// Kinds of finding a re-apply of the Helm release brings back.
var releaseKinds = []string{FindingRelease, FindingReleaseObject, FindingWorkload, FindingExposedService}

// mariadbKeys are the credentials keys the database already holds: a new
// random value would not open it, so repair leaves them to a person.
var mariadbKeys = []string{charts.SecretKeyMariaDBRootPassword, charts.SecretKeyMariaDBPassword}

// checkStore is one store's findings, read from the cluster now.
func (k *Kube) checkStore(ctx context.Context, s store.Store) (StoreCheck, error) {
	snap, err := k.takeSnapshot(ctx, Namespace(s.Name))
	if err != nil {
		return StoreCheck{}, err
	}
	return k.judge(ctx, snap, s), nil
}

// failing are the findings that failed.
func failing(sc StoreCheck) []Finding {
	var out []Finding
	for _, f := range sc.Findings {
		if f.Status == CheckFail {
			out = append(out, f)
		}
	}
	return out
}

func findingName(f Finding) string {
	if f.Object != "" {
		return f.Kind + " " + f.Object
	}
	return f.Kind
}

// DriftReason is a store's error while it is DEGRADED: its failed findings.
func DriftReason(sc StoreCheck) string {
	var parts []string
	for _, f := range failing(sc) {
		parts = append(parts, findingName(f)+": "+f.Message)
	}
	return strings.Join(parts, "; ")
}

// credentialsRefill says whether the credentials step may fill in the
// Secret's missing keys: not when a database key is gone (or the Secret
// is), since a new password would not be the database's.
func (k *Kube) credentialsRefill(ctx context.Context, name string) (bool, error) {
	sec, err := k.Client.CoreV1().Secrets(Namespace(name)).Get(ctx, credentialsName, metav1.GetOptions{})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read secret %s: %w", credentialsName, describeAPIError(err))
	}
	return !slices.ContainsFunc(mariadbKeys, func(key string) bool { return len(sec.Data[key]) == 0 }), nil
}

// repair runs a repair job.
func (r *Runner) repair(ctx context.Context, job store.Job, s store.Store, events Events) error {
	start := time.Now()
	k := r.Kube
	opts, err := decodeOptions(s.Options)
	if err != nil {
		return r.repairFailed(ctx, job, s, start, err)
	}
	plan, err := storePlan(s.Plan, opts)
	if err != nil {
		return r.repairFailed(ctx, job, s, start, err)
	}
	timeout := r.Kube.Settings.Timeout
	deadlineCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	before := s
	s.Options, s.Phases = nil, nil
	var (
		found      StoreCheck
		left       []string // what repair would not do, for a person
		reapplied  *changeResult
		deletedPol []string
	)
	has := func(kinds ...string) bool {
		return slices.ContainsFunc(failing(found), func(f Finding) bool {
			return f.Managed && slices.Contains(kinds, f.Kind)
		})
	}
	steps := []step{
		{"check", func(ctx context.Context) error {
			found, err = k.checkStore(ctx, before)
			return err
		}},
		{"namespace", func(ctx context.Context) error { return k.ensureNamespace(ctx, s.Name, s.Owner) }},
		{"quota", func(ctx context.Context) error { return k.ensureQuota(ctx, s.Name, s.Owner, plan) }},
		{"network-policies", func(ctx context.Context) error {
			return k.ensureNetworkPolicies(ctx, s.Name, s.Owner, opts, plan.Egress)
		}},
		{"credentials", func(ctx context.Context) error {
			ok, err := k.credentialsRefill(ctx, s.Name)
			if err != nil {
				return err
			}
			if !ok {
				left = append(left, "the credentials Secret lost a database password: a new one would not open the database; restore the Secret from a backup, or set a new password in MariaDB and in the Secret, then repair again")
				return nil
			}
			return k.ensureCredentials(ctx, s.Name, s.Owner)
		}},
		{"access", func(ctx context.Context) error {
			for _, f := range failing(found) {
				if f.Kind != FindingExtraPolicy || !f.Managed {
					continue
				}
				name := strings.TrimPrefix(f.Object, "NetworkPolicy/")
				err := k.Client.NetworkingV1().NetworkPolicies(Namespace(s.Name)).Delete(ctx, name, metav1.DeleteOptions{})
				if err != nil && !isNotFound(err) {
					return fmt.Errorf("delete network policy %s: %w", name, describeAPIError(err))
				}
				deletedPol = append(deletedPol, name)
			}
			return nil
		}},
		{"helm-reapply", func(stepCtx context.Context) error {
			if !has(releaseKinds...) {
				return nil
			}
			if s.Release.Revision == 0 {
				left = append(left, "the release drifted but urumi recorded no revision to re-apply: upgrade the store")
				return nil
			}
			res, err := k.helmRollback(ctx, Namespace(s.Name), s.Release.Revision, max(time.Until(deadlineOf(stepCtx, timeout)), 10*time.Second))
			reapplied = &res
			if err != nil && res.Reason != "" {
				return errors.New(res.Reason)
			}
			return err
		}},
	}
	if err := r.runSteps(deadlineCtx, job, &s, steps, events); err != nil {
		if ctx.Err() != nil {
			return err // interrupted or lease lost: the job resumes later
		}
		return r.repairFailed(ctx, job, before, start, err)
	}
	checked := before
	if reapplied != nil && reapplied.Release != nil {
		// The release urumi records at the end is the one judged now.
		checked.Release.Revision = reapplied.Release.Version
	}
	after, err := k.checkStore(ctx, checked)
	if err != nil {
		return r.repairFailed(ctx, job, before, start, err)
	}
	// A re-applied release's workloads settle (their status catches up) a
	// moment after Helm returns: look again for a while before judging.
	settle := time.Now().Add(min(time.Minute, max(time.Until(deadlineOf(deadlineCtx, timeout)), 0)))
	for reapplied != nil && time.Now().Before(settle) && slices.ContainsFunc(failing(after), func(f Finding) bool {
		return slices.Contains(releaseKinds, f.Kind)
	}) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
		if after, err = k.checkStore(ctx, checked); err != nil {
			return r.repairFailed(ctx, job, before, start, err)
		}
	}
	still := map[string]bool{}
	for _, f := range failing(after) {
		still[findingName(f)] = true
	}
	var fixed []string
	for _, f := range failing(found) {
		if !still[findingName(f)] {
			fixed = append(fixed, findingName(f))
			if r.Drift != nil {
				r.Drift.DriftRepaired(f.Kind)
			}
		}
	}
	for _, f := range failing(after) {
		left = append(left, findingName(f)+": "+f.Message)
	}
	s.Status, s.Error = store.StatusReady, ""
	if len(failing(after)) > 0 {
		s.Status, s.Error = store.StatusDegraded, "repair left: "+DriftReason(after)
	}
	detail := "fixed: none"
	if len(fixed) > 0 {
		detail = "fixed: " + strings.Join(fixed, ", ")
	}
	if len(deletedPol) > 0 {
		detail += "; deleted urumi's extra network policies " + strings.Join(deletedPol, ", ")
	}
	if len(left) > 0 {
		detail += "; left for a person: " + strings.Join(left, "; ")
	}
	outcome := "succeeded"
	if s.Status == store.StatusDegraded {
		outcome = "incomplete"
	}
	history := r.readHistory(ctx, s.Name)
	var rel *store.Release
	if reapplied != nil && reapplied.Release != nil {
		versions, err := releaseVersions(reapplied.Release)
		if err != nil {
			return r.repairFailed(ctx, job, before, start, err)
		}
		detail += "; " + describeVersions(reapplied.Release.Version, versions) + " re-applied from revision " + fmt.Sprint(before.Release.Revision)
		rel = &store.Release{Revision: reapplied.Release.Version, Versions: versions, LastChange: before.Release.LastChange}
	}
	return r.outcome(ctx, job, store.JobSucceeded, "", func(tx store.DB) error {
		if err := tx.UpdateStore(ctx, s); err != nil {
			return fmt.Errorf("record the repair of %s: %w", s.Name, err)
		}
		if rel != nil {
			if err := tx.SetRelease(ctx, s.Name, *rel); err != nil {
				return err
			}
			if err := r.recordRevisions(ctx, tx, job, s.Name, history, before.Release.Revision,
				map[int]revisionMeta{rel.Revision: {s.Plan, before.Options}}); err != nil {
				return err
			}
		}
		return r.audit(ctx, tx, job, "repair", s.Name, outcome, detail, time.Since(start))
	})
}

// repairFailedPrefix starts the error of a store whose repair failed: the
// reconciler leaves such a store to a person rather than repair it again.
const repairFailedPrefix = "repair failed: "

// repairFailed records a repair that could not run its steps: the store
// keeps its status (DEGRADED when it was READY: something is wrong) and
// the reason goes in its error and the audit log.
func (r *Runner) repairFailed(ctx context.Context, job store.Job, s store.Store, start time.Time, cause error) error {
	r.Log.Warn("store repair failed", "store", s.Name, "job", job.ID, "err", cause)
	reason := withoutAddresses(cause.Error())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := r.DB.RenewLease(dctx, job.ID, r.Worker, r.Lease); errors.Is(err, store.ErrLeaseLost) {
		return fmt.Errorf("%w (%s)", ErrLeaseLost, reason)
	}
	if s.Status == store.StatusReady {
		s.Status = store.StatusDegraded
	}
	s.Options = nil
	s.Error = repairFailedPrefix + reason
	if err := r.outcome(dctx, job, store.JobFailed, reason, func(tx store.DB) error {
		if err := tx.UpdateStore(dctx, s); err != nil {
			return fmt.Errorf("record the failed repair of %s: %w (after: %s)", s.Name, err, reason)
		}
		return r.audit(dctx, tx, job, "repair", s.Name, "failed", reason, time.Since(start))
	}); err != nil {
		return err
	}
	return errors.New(reason)
}
