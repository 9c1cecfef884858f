package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

const longLease = time.Minute

// expireLease moves job id's lease into the past, as if its worker had
// stopped renewing it.
func expireLease(t *testing.T, tdb testDB, db DB, id int64) {
	t.Helper()
	tdb.mustExec(t, db, `UPDATE jobs SET lease_expires_at = $1 WHERE id = $2`,
		toMicros(time.Now().Add(-time.Second)), id)
}

func TestJobLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		_, createJob, err := db.CreateStore(ctx, newStore("shop", "alice"), "alice")
		if err != nil {
			t.Fatal(err)
		}

		// One active job per store.
		active, err := db.EnqueueJob(ctx, "shop", JobDelete, "alice", nil)
		if !errors.Is(err, ErrJobActive) || active.ID != createJob.ID {
			t.Errorf("EnqueueJob with a queued job: %+v, %v; want job %d and ErrJobActive", active, err, createJob.ID)
		}
		if _, err := db.EnqueueJob(ctx, "nope", JobDelete, "alice", nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("EnqueueJob for a missing store: err = %v, want ErrNotFound", err)
		}

		job, err := db.ClaimJob(ctx, "w1", longLease)
		if err != nil {
			t.Fatalf("ClaimJob: %v", err)
		}
		if job.ID != createJob.ID || job.State != JobRunning || job.LeaseOwner != "w1" || job.Attempts != 1 ||
			!job.LeaseExpiresAt.After(time.Now()) {
			t.Errorf("claimed %+v", job)
		}
		if _, err := db.ClaimJob(ctx, "w2", longLease); !errors.Is(err, ErrNotFound) {
			t.Errorf("ClaimJob with nothing claimable: err = %v, want ErrNotFound", err)
		}
		if _, err := db.ClaimJobByID(ctx, job.ID, "w2", longLease); !errors.Is(err, ErrNotFound) {
			t.Errorf("ClaimJobByID of a leased job: err = %v, want ErrNotFound", err)
		}
		if err := db.RenewLease(ctx, job.ID, "w1", 2*longLease); err != nil {
			t.Errorf("RenewLease: %v", err)
		}
		if err := db.RenewLease(ctx, job.ID, "w2", longLease); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("RenewLease by another worker: err = %v, want ErrLeaseLost", err)
		}

		// Release hands it back; the next claim is attempt 2.
		if err := db.ReleaseJob(ctx, job.ID, "w1"); err != nil {
			t.Fatalf("ReleaseJob: %v", err)
		}
		if j, _ := db.GetJob(ctx, job.ID); j.State != JobQueued || j.LeaseOwner != "" || !j.LeaseExpiresAt.IsZero() {
			t.Errorf("released job = %+v", j)
		}
		job, err = db.ClaimJobByID(ctx, job.ID, "w2", longLease)
		if err != nil || job.Attempts != 2 || job.LeaseOwner != "w2" {
			t.Fatalf("ClaimJobByID after release = %+v, %v", job, err)
		}
		if err := db.FinishJob(ctx, job.ID, "w1", JobSucceeded, ""); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("FinishJob by the old worker: err = %v, want ErrLeaseLost", err)
		}
		if err := db.FinishJob(ctx, job.ID, "w2", JobRunning, ""); err == nil {
			t.Error("FinishJob with a non-final state succeeded")
		}
		if err := db.FinishJob(ctx, job.ID, "w2", JobFailed, "helm: timed out"); err != nil {
			t.Fatalf("FinishJob: %v", err)
		}
		if err := db.FinishJob(ctx, job.ID, "w2", JobSucceeded, ""); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("second FinishJob: err = %v, want ErrLeaseLost", err)
		}
		if err := db.RenewLease(ctx, 9999, "w2", longLease); !errors.Is(err, ErrNotFound) {
			t.Errorf("RenewLease of a missing job: err = %v, want ErrNotFound", err)
		}
		done, err := db.GetJob(ctx, job.ID)
		if err != nil || done.State != JobFailed || done.LastError != "helm: timed out" || done.Attempts != 2 {
			t.Errorf("finished job = %+v, %v", done, err)
		}
		if _, err := db.ActiveJob(ctx, "shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ActiveJob with none: err = %v, want ErrNotFound", err)
		}
		if _, err := db.ClaimJobByID(ctx, job.ID, "w3", longLease); !errors.Is(err, ErrNotFound) {
			t.Errorf("ClaimJobByID of a finished job: err = %v, want ErrNotFound", err)
		}

		attempts, err := db.Attempts(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantAttempts := []struct {
			worker, outcome string
		}{{"w1", "released"}, {"w2", "failed"}}
		if len(attempts) != len(wantAttempts) {
			t.Fatalf("Attempts = %+v, want %d", attempts, len(wantAttempts))
		}
		for i, w := range wantAttempts {
			a := attempts[i]
			if a.JobID != job.ID || a.Attempt != i+1 || a.Worker != w.worker || a.Outcome != w.outcome || a.EndedAt.Before(a.StartedAt) {
				t.Errorf("attempt %d = %+v, want worker %s outcome %s", i+1, a, w.worker, w.outcome)
			}
		}
		if _, err := db.Attempts(ctx, 9999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Attempts of a missing job: err = %v, want ErrNotFound", err)
		}

		// A retry is a new job on the same store.
		retry, err := db.EnqueueJob(ctx, "shop", JobCreate, "admin", nil)
		if err != nil || retry.State != JobQueued || retry.Actor != "admin" || retry.Store != "shop" {
			t.Fatalf("EnqueueJob = %+v, %v", retry, err)
		}
		if a, err := db.ActiveJob(ctx, "shop"); err != nil || a.ID != retry.ID {
			t.Errorf("ActiveJob = %+v, %v; want job %d", a, err, retry.ID)
		}
		jobs, err := db.ListJobs(ctx, "shop")
		if err != nil || len(jobs) != 2 || jobs[0].ID != job.ID || jobs[1].ID != retry.ID {
			t.Errorf("ListJobs = %+v, %v", jobs, err)
		}
	})
}

func TestJobLeaseTakeover(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		other := tdb.open(t, Options{})
		if _, _, err := db.CreateStore(ctx, newStore("shop", "alice"), "alice"); err != nil {
			t.Fatal(err)
		}
		first, err := db.ClaimJob(ctx, "w1", longLease)
		if err != nil {
			t.Fatal(err)
		}
		expireLease(t, tdb, db, first.ID)
		second, err := other.ClaimJob(ctx, "w2", longLease)
		if err != nil {
			t.Fatalf("ClaimJob of an expired lease: %v", err)
		}
		if second.ID != first.ID || second.LeaseOwner != "w2" || second.Attempts != 2 {
			t.Errorf("took over %+v", second)
		}
		for name, err := range map[string]error{
			"RenewLease": db.RenewLease(ctx, first.ID, "w1", longLease),
			"ReleaseJob": db.ReleaseJob(ctx, first.ID, "w1"),
			"FinishJob":  db.FinishJob(ctx, first.ID, "w1", JobSucceeded, ""),
		} {
			if !errors.Is(err, ErrLeaseLost) {
				t.Errorf("%s by the worker that lost the lease: err = %v, want ErrLeaseLost", name, err)
			}
		}
		if err := other.FinishJob(ctx, second.ID, "w2", JobSucceeded, ""); err != nil {
			t.Fatalf("FinishJob: %v", err)
		}
		attempts, err := db.Attempts(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(attempts) != 2 || attempts[0].Outcome != "lost" || attempts[0].Worker != "w1" || attempts[0].EndedAt.IsZero() ||
			attempts[1].Outcome != "succeeded" || attempts[1].Worker != "w2" {
			t.Errorf("Attempts = %+v, want w1 lost then w2 succeeded", attempts)
		}
	})
}

// TestJobLeaseExpiresInTime lets a real, short lease run out.
func TestJobLeaseExpiresInTime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		if _, _, err := db.CreateStore(ctx, newStore("shop", "alice"), "alice"); err != nil {
			t.Fatal(err)
		}
		first, err := db.ClaimJob(ctx, "w1", 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		second, err := db.ClaimJob(ctx, "w2", longLease)
		if err != nil || second.ID != first.ID || second.Attempts != 2 {
			t.Fatalf("ClaimJob after the lease ran out = %+v, %v", second, err)
		}
		if err := db.RenewLease(ctx, first.ID, "w1", longLease); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("RenewLease: err = %v, want ErrLeaseLost", err)
		}
	})
}

func TestCancelJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		_, queued, err := db.CreateStore(ctx, newStore("queued", "alice"), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.CreateStore(ctx, newStore("running", "alice"), "alice"); err != nil {
			t.Fatal(err)
		}
		if err := db.CancelJob(ctx, queued.ID); err != nil {
			t.Fatalf("CancelJob of a queued job: %v", err)
		}
		running, err := db.ClaimJob(ctx, "w1", longLease)
		if err != nil || running.Store != "running" {
			t.Fatalf("ClaimJob = %+v, %v; want the other store's job", running, err)
		}
		if err := db.CancelJob(ctx, running.ID); err != nil {
			t.Fatalf("CancelJob of a running job: %v", err)
		}
		if err := db.RenewLease(ctx, running.ID, "w1", longLease); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("RenewLease of a canceled job: err = %v, want ErrLeaseLost", err)
		}
		for _, id := range []int64{queued.ID, running.ID} {
			if j, err := db.GetJob(ctx, id); err != nil || j.State != JobCanceled || j.LeaseOwner != "" {
				t.Errorf("canceled job = %+v, %v", j, err)
			}
		}
		if a, err := db.Attempts(ctx, running.ID); err != nil || len(a) != 1 || a[0].Outcome != "canceled" || a[0].EndedAt.IsZero() {
			t.Errorf("Attempts = %+v, %v; want one, canceled", a, err)
		}
		if _, err := db.ClaimJob(ctx, "w2", longLease); !errors.Is(err, ErrNotFound) {
			t.Errorf("ClaimJob after cancels: err = %v, want ErrNotFound", err)
		}
		if err := db.CancelJob(ctx, running.ID); err != nil {
			t.Errorf("CancelJob of a finished job: %v, want a no-op", err)
		}
		if err := db.CancelJob(ctx, 9999); !errors.Is(err, ErrNotFound) {
			t.Errorf("CancelJob of a missing job: err = %v, want ErrNotFound", err)
		}
		// A canceled job no longer blocks new ones.
		if _, err := db.EnqueueJob(ctx, "running", JobDelete, "alice", nil); err != nil {
			t.Errorf("EnqueueJob after cancel: %v", err)
		}
	})
}

// TestClaimJobConcurrent claims from several handles at once: each job goes
// to exactly one worker.
func TestClaimJobConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		const handles, workersPerHandle, jobs = 4, 3, 30
		dbs := make([]DB, handles)
		for i := range dbs {
			dbs[i] = tdb.open(t, Options{DefaultMaxStores: jobs})
		}
		for i := range jobs {
			if _, _, err := dbs[0].CreateStore(ctx, newStore(fmt.Sprintf("shop-%02d", i), "alice"), "alice"); err != nil {
				t.Fatal(err)
			}
		}
		var (
			mu      sync.Mutex
			claimed = map[int64][]string{}
			wg      sync.WaitGroup
		)
		for h := range handles {
			for w := range workersPerHandle {
				worker := fmt.Sprintf("w%d-%d", h, w)
				wg.Go(func() {
					for {
						j, err := dbs[h].ClaimJob(ctx, worker, longLease)
						if errors.Is(err, ErrNotFound) {
							return
						}
						if err != nil {
							t.Errorf("ClaimJob: %v", err)
							return
						}
						mu.Lock()
						claimed[j.ID] = append(claimed[j.ID], worker)
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		if len(claimed) != jobs {
			t.Errorf("%d jobs claimed, want %d", len(claimed), jobs)
		}
		for id, workers := range claimed {
			if len(workers) != 1 {
				t.Errorf("job %d claimed by %v", id, workers)
			}
		}
	})
}

func TestQueueStats(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		st, err := db.QueueStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.OldestQueued != 0 || len(st.ByState) != len(jobStates) || len(st.StoresByStatus) != len(statuses) {
			t.Errorf("empty QueueStats = %+v", st)
		}
		for _, name := range []string{"a", "b", "c"} {
			if _, _, err := db.CreateStore(ctx, newStore(name, "alice"), "alice"); err != nil {
				t.Fatal(err)
			}
		}
		j, err := db.ClaimJob(ctx, "w1", longLease)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.FinishJob(ctx, j.ID, "w1", JobSucceeded, ""); err != nil {
			t.Fatal(err)
		}
		s, _ := db.GetStore(ctx, j.Store)
		s.Status = StatusReady
		if err := db.UpdateStore(ctx, s); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ClaimJob(ctx, "w1", longLease); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		st, err = db.QueueStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantJobs := map[JobState]int{JobQueued: 1, JobRunning: 1, JobSucceeded: 1, JobFailed: 0, JobCanceled: 0}
		wantStores := map[Status]int{StatusQueued: 2, StatusReady: 1, StatusProvisioning: 0, StatusFailed: 0, StatusDeleting: 0}
		for k, v := range wantJobs {
			if st.ByState[k] != v {
				t.Errorf("ByState[%s] = %d, want %d", k, st.ByState[k], v)
			}
		}
		for k, v := range wantStores {
			if st.StoresByStatus[k] != v {
				t.Errorf("StoresByStatus[%s] = %d, want %d", k, st.StoresByStatus[k], v)
			}
		}
		if st.OldestQueued < 10*time.Millisecond {
			t.Errorf("OldestQueued = %v, want at least 10ms", st.OldestQueued)
		}
	})
}

func TestRenewLeases(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		claimed := map[string]Job{}
		for i, name := range []string{"one", "two", "three", "four"} {
			if _, _, err := db.CreateStore(ctx, newStore(name, "alice"), "alice"); err != nil {
				t.Fatal(err)
			}
			worker := fmt.Sprintf("w%d", i)
			j, err := db.ClaimJob(ctx, worker, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			claimed[j.Store] = j
		}
		one, two, three, four := claimed["one"], claimed["two"], claimed["three"], claimed["four"]
		if err := db.CancelJob(ctx, three.ID); err != nil { // a delete took it
			t.Fatal(err)
		}
		if err := db.FinishJob(ctx, four.ID, four.LeaseOwner, JobSucceeded, ""); err != nil {
			t.Fatal(err)
		}
		held := []Lease{
			{one.ID, one.LeaseOwner},
			{two.ID, "someone-else"}, // not two's worker
			{three.ID, three.LeaseOwner},
			{four.ID, four.LeaseOwner},
			{9999, "w0"}, // no such job
		}
		renewed, err := db.RenewLeases(ctx, held, longLease)
		if err != nil || len(renewed) != 1 || renewed[0] != held[0] {
			t.Fatalf("RenewLeases = %v, %v; want only %v", renewed, err, held[0])
		}
		// one's lease outlives its first 200 ms; two's does not.
		time.Sleep(300 * time.Millisecond)
		if j, err := db.GetJob(ctx, one.ID); err != nil || !j.LeaseExpiresAt.After(time.Now().Add(longLease/2)) {
			t.Errorf("renewed job = %+v, %v; want its lease a minute ahead", j, err)
		}
		if j, err := db.ClaimJob(ctx, "w9", longLease); err != nil || j.ID != two.ID {
			t.Errorf("ClaimJob = %+v, %v; want job %d, whose lease ran out", j, err, two.ID)
		}
		// More than one statement's worth: renewed in parts.
		var many []Lease
		for i := range 2*leasesPerStatement + 50 {
			many = append(many, Lease{int64(100000 + i), "w0"})
		}
		many = append(many, Lease{one.ID, one.LeaseOwner})
		if renewed, err := db.RenewLeases(ctx, many, longLease); err != nil || len(renewed) != 1 || renewed[0] != held[0] {
			t.Errorf("RenewLeases of %d = %v, %v; want only %v", len(many), renewed, err, held[0])
		}
		if renewed, err := db.RenewLeases(ctx, nil, longLease); err != nil || len(renewed) != 0 {
			t.Errorf("RenewLeases of nothing = %v, %v", renewed, err)
		}
		if _, err := db.RenewLeases(ctx, held, 0); err == nil {
			t.Error("RenewLeases with a zero lease succeeded")
		}
	})
}
