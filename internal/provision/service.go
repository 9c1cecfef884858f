package provision

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/store"
)

// Caller is who asks: the actor written to the audit log, and whether they
// may act on every owner's stores.
type Caller struct {
	Name  string
	Admin bool
}

// Service is the set of operations urumi offers; the CLI and the HTTP API
// call it alike. It validates, enforces ownership and quotas, records jobs
// and audit entries. Running the jobs is the Runner's work.
type Service struct {
	DB       store.DB
	Settings Settings
	// Plans are the operator's plans; the zero value is the built-in three.
	Plans Plans

	chartOnce sync.Once
	chart     *chart.Chart
	chartErr  error
	// schemas holds the chart's values schema compiled.
	schemas schemaCache
	// pages keeps the store list pages read last.
	pages pageCache
}

// storeChart loads the embedded store chart once, for checking overrides.
func (s *Service) storeChart() (*chart.Chart, error) {
	s.chartOnce.Do(func() { s.chart, s.chartErr = charts.Store() })
	return s.chart, s.chartErr
}

// CreateRequest asks for a new store.
type CreateRequest struct {
	Name  string   `json:"name"`
	Owner string   `json:"owner,omitempty"` // default: the caller
	Plan  string   `json:"plan,omitempty"`  // default: the operator's default plan
	Set   []string `json:"set,omitempty"`   // chart value overrides, key=value
}

// ValidateCreate checks req without touching the database, filling in its
// defaults: the name, the owner, the plan, and every value override
// against what the caller may set. Create calls it; callers may call it
// first to fail fast.
func (s *Service) ValidateCreate(c Caller, req *CreateRequest) error {
	if err := ValidateName(req.Name); err != nil {
		return err
	}
	if err := checkNotReserved(req.Name); err != nil {
		return err
	}
	if req.Owner == "" {
		req.Owner = c.Name
	}
	if err := ValidateOwner(req.Owner); err != nil {
		return err
	}
	if req.Owner != c.Name && !c.Admin {
		return errorf(ErrForbidden, "only an admin may create stores for another owner")
	}
	if req.Plan == "" {
		req.Plan = s.Plans.Default()
	}
	plan, err := s.Plans.Get(req.Plan)
	if err != nil {
		return err
	}
	_, err = s.checkOverrides(c, req.Name, plan, req.Set)
	return err
}

// checkOverrides judges set entries for a store of plan as the caller.
func (s *Service) checkOverrides(c Caller, name string, plan Plan, set []string) (map[string]any, error) {
	ch, err := s.storeChart()
	if err != nil {
		return nil, err
	}
	if err := s.Settings.checkRoute(); err != nil {
		return nil, err
	}
	opts := s.options(plan, set)
	if host := storeHost(name, opts); !hostRE.MatchString(host) || len(host) > 253 {
		return nil, fmt.Errorf("store host %q is not a valid DNS name: the base domain setting %q is wrong", host, opts.BaseDomain)
	}
	return checkOverrides(&s.schemas, ch, c, name, plan, opts)
}

// hostRE is a DNS name of lowercase labels.
var hostRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`)

// options are what a new store keeps: the cluster-wide settings of today,
// its plan and its overrides.
func (s *Service) options(plan Plan, set []string) Options {
	o := Options{
		BaseDomain: s.Settings.BaseDomain, IngressClass: s.Settings.IngressClass,
		TLSIssuer: s.Settings.TLSIssuer, Plan: &plan, Set: slices.Clone(set),
	}
	if s.Settings.Route == RouteGateway {
		gw := s.Settings.Gateway
		o.Route, o.Gateway = RouteGateway, &gw
	}
	return o
}

// describeCreate is the audit detail of a create: the plan and every
// override as given.
func describeCreate(plan string, set []string) string {
	d := "plan " + plan
	if len(set) > 0 {
		d += "; " + describeSet(set)
	}
	return d
}

func describeSet(set []string) string {
	quoted := make([]string, len(set))
	for i, e := range set {
		quoted[i] = strconv.Quote(e)
	}
	return "set " + strings.Join(quoted, " ")
}

// Create validates req and records the store as QUEUED with its create job.
func (s *Service) Create(ctx context.Context, c Caller, req CreateRequest) (store.Store, store.Job, error) {
	start := time.Now()
	if err := s.ValidateCreate(c, &req); err != nil {
		if errors.Is(err, ErrForbidden) {
			s.deny(ctx, c, "create", req.Name, err.Error(), start)
		}
		return store.Store{}, store.Job{}, err
	}
	plan, err := s.Plans.Get(req.Plan)
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	opts, err := encodeOptions(s.options(plan, req.Set))
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	return s.recordStore(ctx, c, "create", store.Store{
		Name: req.Name, Owner: req.Owner, Plan: req.Plan, Namespace: Namespace(req.Name), Options: opts,
	}, describeCreate(req.Plan, req.Set), start, func() error {
		s.deny(ctx, c, "create", req.Name, "name taken", start)
		return errorf(ErrConflict, "store %q already exists: choose another name, or delete it first", req.Name)
	})
}

// recordStore records a new store, its create job and the audit entry of
// action in one transaction. A store limit reached is audited as denied;
// taken says what a name already in use means to the caller.
func (s *Service) recordStore(ctx context.Context, c Caller, action string, rec store.Store, detail string, start time.Time, taken func() error) (store.Store, store.Job, error) {
	var (
		st  store.Store
		job store.Job
	)
	err := s.record(ctx, c, action, rec.Name, "requested", detail, start, func(tx store.DB) error {
		var err error
		st, job, err = tx.CreateStore(ctx, rec, c.Name)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNameTaken):
		return store.Store{}, store.Job{}, taken()
	case errors.Is(err, store.ErrQuotaExceeded):
		s.deny(ctx, c, action, rec.Name, err.Error(), start)
		return store.Store{}, store.Job{}, s.quotaExceeded(ctx, rec.Owner)
	case err != nil:
		return store.Store{}, store.Job{}, fmt.Errorf("%s store %s: %w", action, rec.Name, err)
	}
	return st, job, nil
}

// Get returns a store the caller may see; others' stores are ErrNotFound.
func (s *Service) Get(ctx context.Context, c Caller, name string) (store.Store, error) {
	st, err := s.DB.GetStore(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.Admin && st.Owner != c.Name) {
		return store.Store{}, errorf(ErrNotFound, "store %q not found: list your stores to see their names", name)
	}
	if err != nil {
		return store.Store{}, fmt.Errorf("get store %s: %w", name, err)
	}
	s.decorate(&st)
	backups, err := s.DB.ListBackups(ctx, store.BackupFilter{Store: name})
	if err != nil {
		return store.Store{}, fmt.Errorf("get store %s: %w", name, err)
	}
	if len(backups) > 0 && !backups[0].CreatedAt.Before(st.CreatedAt) {
		st.LastBackup = &backups[0]
	}
	return st, nil
}

// List returns the caller's stores; an admin may list one owner's or, with
// owner empty and all set, everyone's. It reads them all at once:
// ListPage (list.go) is for lists that may be long.
func (s *Service) List(ctx context.Context, c Caller, owner string, all bool) ([]store.Store, error) {
	owner, err := listOwner(c, owner, all)
	if err != nil {
		return nil, err
	}
	list, err := s.DB.ListStores(ctx, store.ListFilter{Owner: owner})
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	for i := range list {
		s.decorate(&list[i])
	}
	return list, nil
}

// Delete marks a store DELETING and queues its delete job. A create still
// queued or whose worker died is superseded; a create running elsewhere
// must end (or be interrupted) first.
func (s *Service) Delete(ctx context.Context, c Caller, name string) (store.Store, store.Job, error) {
	start := time.Now()
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	var job store.Job
	err = s.record(ctx, c, "delete", name, "requested", "", start, func(tx store.DB) error {
		// A create, upgrade or rollback in flight is superseded: its
		// worker stops at its next lease renewal, and the delete removes
		// whatever it left.
		if active, err := tx.ActiveJob(ctx, name); err == nil && active.Kind != store.JobDelete {
			if err := tx.CancelJob(ctx, active.ID); err != nil {
				return fmt.Errorf("cancel the %s job of %s: %w", active.Kind, name, err)
			}
		}
		var err error
		job, err = tx.EnqueueJob(ctx, name, store.JobDelete, c.Name, nil)
		if err != nil && !errors.Is(err, store.ErrJobActive) {
			return fmt.Errorf("queue delete of %s: %w", name, err)
		}
		st.Status = store.StatusDeleting
		if err := tx.UpdateStore(ctx, st); err != nil {
			return fmt.Errorf("mark %s deleting: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	return st, job, nil
}

// RetryRequest resumes a store's unfinished or failed work. Set, when not
// nil, replaces the store's chart value overrides (fix what failed).
type RetryRequest struct {
	Set *[]string `json:"set,omitempty"`
}

// Retry queues the store's failed job again (a failed create or delete), or
// returns the job still in flight so the caller can drive or wait for it.
// A READY store has nothing to retry and is left as it is.
func (s *Service) Retry(ctx context.Context, c Caller, name string, req RetryRequest) (store.Store, store.Job, error) {
	start := time.Now()
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	active, activeErr := s.DB.ActiveJob(ctx, name)
	if activeErr != nil && !errors.Is(activeErr, store.ErrNotFound) {
		return store.Store{}, store.Job{}, fmt.Errorf("read the jobs of %s: %w", name, activeErr)
	}
	if activeErr != nil && (st.Status == store.StatusReady || st.Status == store.StatusDegraded) {
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q is READY: there is nothing to retry", name)
	}
	var details []string
	if req.Set != nil {
		if st.Status == store.StatusDeleting {
			return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q is being deleted: its values can no longer change", name)
		}
		opts, err := decodeOptions(st.Options)
		if err != nil {
			return store.Store{}, store.Job{}, err
		}
		plan, err := storePlan(st.Plan, opts)
		if err != nil {
			return store.Store{}, store.Job{}, err
		}
		opts.Set = slices.Clone(*req.Set)
		ch, err := s.storeChart()
		if err != nil {
			return store.Store{}, store.Job{}, err
		}
		if _, err := checkOverrides(&s.schemas, ch, c, name, plan, opts); err != nil {
			if errors.Is(err, ErrForbidden) {
				s.deny(ctx, c, "retry", name, err.Error(), start)
			}
			return store.Store{}, store.Job{}, err
		}
		if st.Options, err = encodeOptions(opts); err != nil {
			return store.Store{}, store.Job{}, err
		}
		details = append(details, describeSet(*req.Set))
	} else {
		st.Options = nil // UpdateStore leaves them as they are
	}
	job := active
	if activeErr == nil {
		details = append(details, fmt.Sprintf("resume job %d", active.ID))
	} else {
		kind := store.JobCreate
		if st.Status == store.StatusDeleting {
			kind = store.JobDelete
		}
		details = append(details, string(kind))
	}
	err = s.record(ctx, c, "retry", name, "requested", strings.Join(details, "; "), start, func(tx store.DB) error {
		if st.Options != nil {
			if err := tx.UpdateStore(ctx, st); err != nil {
				return fmt.Errorf("update %s: %w", name, err)
			}
		}
		if activeErr == nil {
			return nil
		}
		kind := store.JobCreate
		if st.Status == store.StatusDeleting {
			kind = store.JobDelete
		}
		var err error
		job, err = tx.EnqueueJob(ctx, name, kind, c.Name, nil)
		if err != nil && !errors.Is(err, store.ErrJobActive) {
			return fmt.Errorf("queue retry of %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	return st, job, nil
}

// storePlan is the plan a store was created with: the copy its options
// keep, or for a store made before urumi kept one, the built-in plan of
// that name.
func storePlan(name string, o Options) (Plan, error) {
	if o.Plan != nil {
		return *o.Plan, nil
	}
	return Plans{}.Get(name)
}

// record makes a change and appends its audit entry in one transaction:
// both are written, or neither is. The entry goes last, as the Runner's
// do: appending locks the log's head until commit.
func (s *Service) record(ctx context.Context, c Caller, action, name, outcome, detail string, start time.Time, change func(tx store.DB) error) error {
	return s.DB.Atomic(ctx, func(tx store.DB) error {
		if err := change(tx); err != nil {
			return err
		}
		_, err := tx.AppendAudit(ctx, store.AuditEntry{
			Actor: c.Name, Action: action, Store: name, Outcome: outcome, Detail: detail,
			DurationMS: time.Since(start).Milliseconds(),
		})
		if err != nil {
			return fmt.Errorf("record %s in the audit log: %w", action, err)
		}
		return nil
	})
}

// deny records a refused request. It changes nothing, so it is written on
// its own and best effort: the request is refused either way.
func (s *Service) deny(ctx context.Context, c Caller, action, name, reason string, start time.Time) {
	_, _ = s.DB.AppendAudit(ctx, store.AuditEntry{
		Actor: c.Name, Action: action, Store: name, Outcome: "denied", Detail: reason,
		DurationMS: time.Since(start).Milliseconds(),
	})
}
