package provision

import (
	"context"
	"errors"
	"testing"

	"github.com/urumi/urumi/internal/store"
)

func TestUnfinishedCreate(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		st, job, err := s.Create(ctx, callerAlice, CreateRequest{Name: "half-made"})
		if err != nil {
			t.Fatal(err)
		}
		got, gotJob, err := s.UnfinishedCreate(ctx, callerAlice, "half-made")
		if err != nil || got.Name != st.Name || gotJob.ID != job.ID {
			t.Fatalf("unfinished create: %+v %+v %v, want job %d", got, gotJob, err, job.ID)
		}
		if _, _, err := s.UnfinishedCreate(ctx, callerAdmin, "half-made"); err != nil {
			t.Errorf("an admin may resume anyone's: %v", err)
		}
		if _, _, err := s.UnfinishedCreate(ctx, callerBob, "half-made"); !errors.Is(err, ErrNotFound) {
			t.Errorf("another owner's store: %v, want not found", err)
		}
		if _, _, err := s.UnfinishedCreate(ctx, callerAlice, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing store: %v, want not found", err)
		}
		// Once READY, there is nothing to resume.
		st.Status = store.StatusReady
		if err := s.DB.UpdateStore(ctx, st); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.UnfinishedCreate(ctx, callerAlice, "half-made"); !errors.Is(err, ErrConflict) {
			t.Errorf("READY store: %v, want a conflict", err)
		}
		// A store being deleted has a delete job, not a create.
		if _, _, err := s.Delete(ctx, callerAlice, "half-made"); err != nil {
			t.Fatal(err)
		}
		st, _ = s.DB.GetStore(ctx, "half-made")
		st.Status = store.StatusQueued
		if err := s.DB.UpdateStore(ctx, st); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.UnfinishedCreate(ctx, callerAlice, "half-made"); !errors.Is(err, ErrConflict) {
			t.Errorf("store with a delete job: %v, want a conflict", err)
		}
	})
}
