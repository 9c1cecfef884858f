package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// testLease is the tests' lease: renewed every 300 ms.
const testLease = 900 * time.Millisecond

// newLeasesTest is a SQLite database and a Leases renewing in it.
func newLeasesTest(t *testing.T) (store.DB, *Leases) {
	t.Helper()
	db, err := store.Open(context.Background(), storetest.SQLiteDSN(t), store.Options{AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, &Leases{DB: db, Lease: testLease, Log: slog.New(slog.DiscardHandler)}
}

// TestLeases holds three jobs' leases through one Leases: it keeps the
// held ones alive well past their length, cancels the job a delete took
// with ErrLeaseLost, leaves a released one alone, and stops renewing when
// nothing is held.
func TestLeases(t *testing.T) {
	ctx := context.Background()
	db, l := newLeasesTest(t)
	type held struct {
		job     store.Job
		ctx     context.Context
		release func()
	}
	var jobs []held
	for i := range 3 {
		if _, _, err := db.CreateStore(ctx, store.Store{Name: fmt.Sprintf("shop-%d", i), Owner: "alice", Plan: "small"}, "alice"); err != nil {
			t.Fatal(err)
		}
		job, err := db.ClaimJob(ctx, fmt.Sprintf("w%d", i), testLease)
		if err != nil {
			t.Fatal(err)
		}
		jctx, cancel := context.WithCancelCause(ctx)
		t.Cleanup(func() { cancel(nil) })
		jobs = append(jobs, held{job, jctx, l.hold(job.ID, job.Store, job.LeaseOwner, cancel)})
	}
	kept, taken, released := jobs[0], jobs[1], jobs[2]
	released.release()
	if err := db.CancelJob(ctx, taken.job.ID); err != nil { // as a delete does
		t.Fatal(err)
	}
	select {
	case <-taken.ctx.Done():
		if !errors.Is(context.Cause(taken.ctx), ErrLeaseLost) {
			t.Errorf("the cancelled job ended with %v, want ErrLeaseLost", context.Cause(taken.ctx))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled job's context was not cancelled")
	}

	// Two lease lengths later the held job's lease has moved on with
	// them, and the released one's has run out.
	time.Sleep(2 * testLease)
	if kept.ctx.Err() != nil || released.ctx.Err() != nil {
		t.Errorf("held and released jobs cancelled: %v, %v", context.Cause(kept.ctx), context.Cause(released.ctx))
	}
	if j, err := db.GetJob(ctx, kept.job.ID); err != nil || !j.LeaseExpiresAt.After(kept.job.LeaseExpiresAt.Add(testLease)) {
		t.Errorf("held job = %+v, %v; want its lease renewed past %s", j, err, kept.job.LeaseExpiresAt.Add(testLease))
	}
	if _, err := db.ClaimJobByID(ctx, released.job.ID, "other", testLease); err != nil {
		t.Errorf("ClaimJobByID of the released job: %v, want its lease run out", err)
	}

	kept.release()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		renewing := l.renewer
		l.mu.Unlock()
		if !renewing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewer still runs with nothing held")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLeasesOfOneJobTwice: a job taken over by another worker of the same
// process while its first run still holds it (a lease that ran out during
// a stall). The first hold is cancelled, the second is renewed, and
// releasing the first leaves the second alone.
func TestLeasesOfOneJobTwice(t *testing.T) {
	ctx := context.Background()
	db, l := newLeasesTest(t)
	if _, _, err := db.CreateStore(ctx, store.Store{Name: "shop", Owner: "alice", Plan: "small"}, "alice"); err != nil {
		t.Fatal(err)
	}
	job, err := db.ClaimJob(ctx, "w-new", testLease)
	if err != nil {
		t.Fatal(err)
	}
	oldCtx, cancelOld := context.WithCancelCause(ctx)
	defer cancelOld(nil)
	newCtx, cancelNew := context.WithCancelCause(ctx)
	defer cancelNew(nil)
	releaseOld := l.hold(job.ID, job.Store, "w-old", cancelOld)
	releaseNew := l.hold(job.ID, job.Store, "w-new", cancelNew)
	defer releaseNew()
	select {
	case <-oldCtx.Done():
		if !errors.Is(context.Cause(oldCtx), ErrLeaseLost) {
			t.Errorf("the first hold ended with %v, want ErrLeaseLost", context.Cause(oldCtx))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first hold of a job another worker took was not cancelled")
	}
	releaseOld()
	time.Sleep(2 * testLease)
	if newCtx.Err() != nil {
		t.Errorf("the second hold was cancelled: %v", context.Cause(newCtx))
	}
	if j, err := db.GetJob(ctx, job.ID); err != nil || !j.LeaseExpiresAt.After(job.LeaseExpiresAt.Add(testLease)) {
		t.Errorf("job = %+v, %v; want its lease renewed past %s", j, err, job.LeaseExpiresAt.Add(testLease))
	}
}
