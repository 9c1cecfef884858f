package provision

import (
	"context"
	"errors"

	"github.com/urumi/urumi/internal/store"
)

// OutcomeKind is how a job driven to its end ended.
type OutcomeKind string

// The outcomes of DriveJob.
const (
	// OutcomeDone: the job succeeded. Store is the final store, zero once
	// a delete succeeded.
	OutcomeDone OutcomeKind = "done"
	// OutcomeFailed: the job failed; Cause says why and Store is the store
	// it left.
	OutcomeFailed OutcomeKind = "failed"
	// OutcomeInterrupted: ctx ended first and the job was handed back to
	// the queue; State is the status the store was left in.
	OutcomeInterrupted OutcomeKind = "interrupted"
	// OutcomeTakenOver: another worker or request took the job over;
	// State is the store's status now ("deleted" if it is gone).
	OutcomeTakenOver OutcomeKind = "taken over"
)

// Outcome is how a driven job ended, for the caller to word.
type Outcome struct {
	Kind  OutcomeKind
	Job   store.Job
	Store store.Store
	// State is the store's status as it was left, for Interrupted and
	// TakenOver: "unknown" when it could not be read, "deleted" when gone.
	State string
	// Cause is why the job failed (OutcomeFailed), or ctx's error
	// (OutcomeInterrupted).
	Cause error
}

// DriveJob runs job to its end with r from this process while the caller
// waits (claiming it, waiting while another live worker holds it, taking
// it over once that worker's lease expires) and reads the store it left, as
// c. The error is only for what stopped it from telling the outcome.
func (s *Service) DriveJob(ctx context.Context, c Caller, r *Runner, job store.Job, events Events) (Outcome, error) {
	_, runErr := r.Drive(ctx, job.ID, events)
	st, getErr := s.Get(context.WithoutCancel(ctx), c, job.Store)
	state := string(st.Status)
	out := Outcome{Job: job, Store: st, State: state}
	switch {
	case ctx.Err() != nil:
		out.Kind, out.Cause = OutcomeInterrupted, ctx.Err()
		if getErr != nil {
			out.State = "unknown"
		}
		return out, nil
	case job.Kind == store.JobDelete && errors.Is(getErr, ErrNotFound) && runErr == nil:
		out.Kind = OutcomeDone
		return out, nil
	case errors.Is(runErr, ErrLeaseLost):
		out.Kind = OutcomeTakenOver
		if getErr != nil {
			out.State = "deleted"
		}
		return out, nil
	case runErr != nil:
		out.Kind, out.Cause = OutcomeFailed, runErr
		return out, nil
	case getErr != nil:
		return out, getErr
	}
	out.Kind = OutcomeDone
	return out, nil
}

// CreateOrResume is Create, except that a store whose creation an earlier
// run left unfinished (see UnfinishedCreate) is returned with its job to
// drive, and resumed true, instead of a conflict.
func (s *Service) CreateOrResume(ctx context.Context, c Caller, req CreateRequest) (st store.Store, job store.Job, resumed bool, err error) {
	st, job, err = s.Create(ctx, c, req)
	if errors.Is(err, ErrConflict) {
		if est, ejob, uerr := s.UnfinishedCreate(ctx, c, req.Name); uerr == nil {
			return est, ejob, true, nil
		}
	}
	return st, job, false, err
}
