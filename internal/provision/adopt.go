package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// `store adopt` and `store forget` resolve the two kinds of orphan that
// `store check --all` and serve's reconciler report. Neither deletes
// anything on the cluster: adopt takes a namespace labelled urumi's back
// as a store (its data, credentials and release kept), and forget closes
// the record of a store whose namespace is already gone.

// AdoptRequest names an orphan namespace's store and what urumi should
// want for it from now on.
type AdoptRequest struct {
	Name  string   `json:"name"`
	Owner string   `json:"owner,omitempty"` // default: the namespace's owner label
	Plan  string   `json:"plan,omitempty"`  // default: the operator's default plan
	Set   []string `json:"set,omitempty"`   // chart value overrides, key=value
}

// Adopt records a store for the orphan namespace of req.Name, counted
// against its owner's store limit, with a create job that brings the
// namespace to the plan through the same idempotent steps as a create:
// the credentials Secret keeps its values (they open the database), the
// claims keep their data, and the Helm release found there is upgraded in
// place. Admins only.
func (s *Service) Adopt(ctx context.Context, c Caller, k *Kube, req AdoptRequest) (store.Store, store.Job, error) {
	start := time.Now()
	if !c.Admin {
		err := errorf(ErrForbidden, "only an admin may adopt a namespace as a store")
		s.deny(ctx, c, "adopt", req.Name, err.Error(), start)
		return store.Store{}, store.Job{}, err
	}
	if err := ValidateName(req.Name); err != nil {
		return store.Store{}, store.Job{}, err
	}
	if k == nil {
		return store.Store{}, store.Job{}, errors.New("adopting a store needs the cluster: no cluster connection is configured")
	}
	if _, err := s.DB.GetStore(ctx, req.Name); err == nil {
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q already has a record: nothing to adopt (`urumi store check %s` compares it with the cluster)", req.Name, req.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Store{}, store.Job{}, fmt.Errorf("read store %s: %w", req.Name, err)
	}
	ns := Namespace(req.Name)
	n, err := k.Client.CoreV1().Namespaces().Get(ctx, ns, metaGet)
	switch {
	case isNotFound(err):
		return store.Store{}, store.Job{}, errorf(ErrNotFound, "namespace %s is not there: nothing to adopt (create the store instead)", ns)
	case err != nil:
		return store.Store{}, store.Job{}, fmt.Errorf("read namespace %s: %w", ns, describeAPIError(err))
	case n.DeletionTimestamp != nil:
		return store.Store{}, store.Job{}, errorf(ErrConflict, "namespace %s is being deleted: nothing to adopt", ns)
	case n.Labels[LabelManagedBy] != ManagedBy:
		return store.Store{}, store.Job{}, errorf(ErrConflict, "namespace %s is not labelled as urumi's (%s=%s): urumi adopts only what it made", ns, LabelManagedBy, ManagedBy)
	case n.Labels[LabelStore] != "" && n.Labels[LabelStore] != req.Name:
		return store.Store{}, store.Job{}, errorf(ErrConflict, "namespace %s is labelled as store %q, not %q", ns, n.Labels[LabelStore], req.Name)
	}
	if req.Owner == "" {
		req.Owner = n.Labels[LabelOwner]
	}
	if req.Owner == "" {
		return store.Store{}, store.Job{}, errorf(ErrInvalid, "namespace %s names no owner: say who owns the store", ns)
	}
	if err := ValidateOwner(req.Owner); err != nil {
		return store.Store{}, store.Job{}, err
	}
	if req.Plan == "" {
		req.Plan = s.Plans.Default()
	}
	plan, err := s.Plans.Get(req.Plan)
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	if _, err := s.checkOverrides(c, req.Name, plan, req.Set); err != nil {
		return store.Store{}, store.Job{}, err
	}
	opts, err := encodeOptions(s.options(plan, req.Set))
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	detail := fmt.Sprintf("namespace %s adopted for owner %s; %s", ns, req.Owner, describeCreate(req.Plan, req.Set))
	return s.recordStore(ctx, c, "adopt", store.Store{
		Name: req.Name, Owner: req.Owner, Plan: req.Plan, Namespace: ns, Options: opts,
	}, detail, start, func() error {
		return errorf(ErrConflict, "store %q was recorded meanwhile: nothing to adopt", req.Name)
	})
}

// Forget closes the record of a store whose namespace is gone, with an
// audit entry. It refuses while the namespace is there (`store delete`
// removes a store) or a job is changing the store. Admins only.
func (s *Service) Forget(ctx context.Context, c Caller, k *Kube, name string) (store.Store, error) {
	start := time.Now()
	if !c.Admin {
		err := errorf(ErrForbidden, "only an admin may forget a store")
		s.deny(ctx, c, "forget", name, err.Error(), start)
		return store.Store{}, err
	}
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return store.Store{}, err
	}
	if k == nil {
		return store.Store{}, errors.New("forgetting a store needs the cluster: no cluster connection is configured")
	}
	ns := Namespace(name)
	n, err := k.Client.CoreV1().Namespaces().Get(ctx, ns, metaGet)
	switch {
	case err == nil && n.DeletionTimestamp != nil:
		return store.Store{}, errorf(ErrConflict, "namespace %s is still being deleted: forget the store once it is gone", ns)
	case err == nil:
		return store.Store{}, errorf(ErrConflict, "namespace %s still exists: forget is for a store whose namespace is gone; to remove the store and its namespace, use urumi store delete %s", ns, name)
	case !isNotFound(err):
		return store.Store{}, fmt.Errorf("read namespace %s: %w", ns, describeAPIError(err))
	}
	if job, err := s.DB.ActiveJob(ctx, name); err == nil {
		return store.Store{}, errorf(ErrConflict, "store %q has a %s job (%d) in flight: wait for it, then forget the store", name, job.Kind, job.ID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Store{}, fmt.Errorf("read the jobs of %s: %w", name, err)
	}
	err = s.record(ctx, c, "forget", name, "succeeded", fmt.Sprintf("record closed: the store was %s and its namespace %s is gone", st.Status, ns), start, func(tx store.DB) error {
		return tx.RemoveStore(ctx, name)
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Store{}, errorf(ErrNotFound, "store %q is already gone", name)
	}
	if err != nil {
		return store.Store{}, fmt.Errorf("forget store %s: %w", name, err)
	}
	return st, nil
}
