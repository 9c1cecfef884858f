package provision

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// TestDriveJobOutcomes: a job that ended elsewhere, or that the caller
// stopped waiting for, is told as its typed outcome. (Jobs run to their
// end here are the e2e tests'.)
func TestDriveJobOutcomes(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		r := &Runner{DB: s.DB, Worker: "cli-test", Lease: time.Minute}
		finishElsewhere := func(job store.Job, state store.JobState, lastErr string) {
			t.Helper()
			if _, err := s.DB.ClaimJobByID(ctx, job.ID, "other", time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.DB.FinishJob(ctx, job.ID, "other", state, lastErr); err != nil {
				t.Fatal(err)
			}
		}

		_, job, err := s.Create(ctx, callerAlice, CreateRequest{Name: "done"})
		if err != nil {
			t.Fatal(err)
		}
		finishElsewhere(job, store.JobSucceeded, "")
		out, err := s.DriveJob(ctx, callerAlice, r, job, nil)
		if err != nil || out.Kind != OutcomeDone || out.Store.Name != "done" {
			t.Errorf("succeeded job: %+v, %v; want done with its store", out, err)
		}

		_, job, err = s.Create(ctx, callerAlice, CreateRequest{Name: "failed"})
		if err != nil {
			t.Fatal(err)
		}
		finishElsewhere(job, store.JobFailed, "install: timed out")
		out, err = s.DriveJob(ctx, callerAlice, r, job, nil)
		if err != nil || out.Kind != OutcomeFailed || out.Cause == nil || out.Store.Name != "failed" {
			t.Errorf("failed job: %+v, %v; want failed with a cause", out, err)
		}

		_, job, err = s.Create(ctx, callerAlice, CreateRequest{Name: "waited"})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		out, err = s.DriveJob(cctx, callerAlice, r, job, nil)
		if err != nil || out.Kind != OutcomeInterrupted || out.State != string(store.StatusQueued) || !errors.Is(out.Cause, context.Canceled) {
			t.Errorf("interrupted: %+v, %v; want interrupted leaving it QUEUED", out, err)
		}

		// A create an earlier run left unfinished is resumed, not refused.
		st, again, resumed, err := s.CreateOrResume(ctx, callerAlice, CreateRequest{Name: "waited"})
		if err != nil || !resumed || again.ID != job.ID || st.Name != "waited" {
			t.Errorf("create again: %+v %+v %v %v; want job %d resumed", st, again, resumed, err, job.ID)
		}
		if _, _, _, err := s.CreateOrResume(ctx, callerAlice, CreateRequest{Name: "done"}); !errors.Is(err, ErrConflict) {
			t.Errorf("create of a READY or finished store: %v, want a conflict", err)
		}
	})
}
