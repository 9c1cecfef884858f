package provision

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// fakeRunner stands in for Runner (whose real runs the e2e tests
// in test/server cover): it holds each job until told to finish it, or
// until its context ends, when it releases the job as the real one does.
type fakeRunner struct {
	db      store.DB
	worker  string
	started chan<- store.Job
	finish  <-chan struct{}
}

func (r *fakeRunner) RunJob(ctx context.Context, job store.Job, _ Events) error {
	r.started <- job
	select {
	case <-r.finish:
		return r.db.FinishJob(context.Background(), job.ID, r.worker, store.JobSucceeded, "")
	case <-ctx.Done():
		if err := r.db.ReleaseJob(context.Background(), job.ID, r.worker); err != nil {
			return err
		}
		return ctx.Err()
	}
}

func newPoolTest(t *testing.T, size, jobs int) (store.DB, *Pool, chan store.Job, chan struct{}, []store.Job) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "urumi.db"),
		store.Options{DefaultMaxStores: 100, AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var queued []store.Job
	for i := range jobs {
		_, job, err := db.CreateStore(context.Background(), store.Store{Name: fmt.Sprintf("shop-%d", i), Owner: "alice", Plan: "small"}, "alice")
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, job)
	}
	started := make(chan store.Job, jobs)
	finish := make(chan struct{})
	p := &Pool{
		DB: db, Size: size, ID: "test", Lease: time.Minute, Poll: 20 * time.Millisecond,
		NewRunner: func(worker string) JobRunner {
			return &fakeRunner{db: db, worker: worker, started: started, finish: finish}
		},
	}
	return db, p, started, finish, queued
}

func TestPoolRunsEveryJobOnDistinctWorkers(t *testing.T) {
	db, p, started, finish, jobs := newPoolTest(t, 3, 6)
	claims, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(claims, context.Background()); close(done) }()
	next := func() store.Job {
		t.Helper()
		select {
		case j := <-started:
			return j
		case <-time.After(10 * time.Second):
			t.Fatal("jobs not claimed")
		}
		return store.Job{}
	}
	// Jobs are held until told to finish: three running at once must be
	// on the three workers, each with its own ID.
	workers := map[string]bool{}
	for range 3 {
		workers[next().LeaseOwner] = true
	}
	if len(workers) != 3 {
		t.Errorf("3 concurrent jobs ran on workers %v", workers)
	}
	for w := range workers {
		if !strings.HasPrefix(w, "test-w") {
			t.Errorf("worker id %q", w)
		}
	}
	close(finish)
	for range 3 {
		next()
	}
	stop()
	<-done
	for _, j := range jobs {
		got, err := db.GetJob(context.Background(), j.ID)
		if err != nil || got.State != store.JobSucceeded {
			t.Fatalf("job %d: %+v %v", j.ID, got, err)
		}
	}
}

func TestPoolShutdownStopsClaimingThenReleases(t *testing.T) {
	db, p, started, _, jobs := newPoolTest(t, 2, 3)
	claims, stopClaims := context.WithCancel(context.Background())
	running, stopJobs := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(claims, running); close(done) }()
	held := map[int64]bool{}
	for range 2 {
		select {
		case j := <-started:
			held[j.ID] = true
		case <-time.After(10 * time.Second):
			t.Fatal("jobs not claimed")
		}
	}
	// Stop claiming: the running jobs go on, the third is never claimed.
	stopClaims()
	select {
	case <-done:
		t.Fatal("Run returned while jobs were running")
	case j := <-started:
		t.Fatalf("job %d claimed after claims stopped", j.ID)
	case <-time.After(300 * time.Millisecond):
	}
	// The grace period is over: jobs are interrupted and released.
	stopJobs()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after jobs were interrupted")
	}
	for _, j := range jobs {
		got, err := db.GetJob(context.Background(), j.ID)
		if err != nil || got.State != store.JobQueued {
			t.Fatalf("job %d: %+v %v, want queued again", j.ID, got, err)
		}
		attempts, err := db.Attempts(context.Background(), j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if held[j.ID] != (len(attempts) == 1 && attempts[0].Outcome == "released") || !held[j.ID] && len(attempts) != 0 {
			t.Errorf("job %d (held %v) attempts %+v", j.ID, held[j.ID], attempts)
		}
	}
}

func TestPoolWakeClaimsAtOnce(t *testing.T) {
	db, p, started, finish, _ := newPoolTest(t, 1, 0)
	close(finish)
	p.Poll = time.Hour
	claims, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(claims, context.Background()) })
	defer func() { stop(); wg.Wait() }()
	time.Sleep(50 * time.Millisecond) // the worker is idle until its hour-long poll
	if _, _, err := db.CreateStore(context.Background(), store.Store{Name: "late", Owner: "alice", Plan: "small"}, "alice"); err != nil {
		t.Fatal(err)
	}
	p.Wake()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("a woken worker did not claim the new job")
	}
}

// TestPoolClaimWakesAnother: jobs queued where no Wake reaches (another
// replica) are found by one worker's poll, and each claim has another idle
// worker claim at once: all run without waiting out their polls.
func TestPoolClaimWakesAnother(t *testing.T) {
	db, p, started, finish, _ := newPoolTest(t, 3, 0)
	p.Poll = time.Hour
	claims, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(claims, context.Background()) })
	// The jobs run until the end: three at once need three workers.
	defer func() { close(finish); stop(); wg.Wait() }()
	time.Sleep(50 * time.Millisecond) // the workers are idle until their polls
	for i := range 3 {
		if _, _, err := db.CreateStore(context.Background(), store.Store{Name: fmt.Sprintf("elsewhere-%d", i), Owner: "alice", Plan: "small"}, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	p.Wake() // as one worker's poll would
	for i := range 3 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 3 jobs claimed: a claim did not wake another worker", i)
		}
	}
}
