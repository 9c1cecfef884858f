package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/urumi/urumi/internal/store"
)

// UnfinishedCreate returns a store the caller may see whose creation was
// left unfinished (QUEUED or PROVISIONING, with its create job still
// active), so that the caller can drive that job to its end. Any other
// store is ErrConflict; a store that is not there, or not theirs,
// ErrNotFound.
func (s *Service) UnfinishedCreate(ctx context.Context, c Caller, name string) (store.Store, store.Job, error) {
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return store.Store{}, store.Job{}, err
	}
	if st.Status != store.StatusQueued && st.Status != store.StatusProvisioning {
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q is %s: its creation is not unfinished", name, st.Status)
	}
	job, err := s.DB.ActiveJob(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && job.Kind != store.JobCreate):
		return store.Store{}, store.Job{}, errorf(ErrConflict, "store %q has no create job in flight", name)
	case err != nil:
		return store.Store{}, store.Job{}, fmt.Errorf("find the active job of %s: %w", name, err)
	}
	return st, job, nil
}
