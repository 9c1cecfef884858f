package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// JobRunner runs one claimed job until it ends; cancelling ctx hands the
// job back to the queue. *Runner is one.
type JobRunner interface {
	RunJob(ctx context.Context, job store.Job, events Events) error
}

// The Runner is the workers' JobRunner.
var _ JobRunner = (*Runner)(nil)

// WorkerGauges count a pool's workers, and those running a job.
type WorkerGauges interface {
	SetWorkers(n int)
	AddBusy(delta int)
}

// Pool is a process's workers: each claims the oldest claimable job (a
// queued one, or a running one whose worker's lease expired), runs it, and
// claims again; idle workers poll in turn, and Wake or a worker's claim
// makes one claim at once.
type Pool struct {
	DB store.Jobs
	// Size is the number of workers; 0 makes an API-only replica.
	Size int
	// ID prefixes the workers' IDs (ID-w0, ID-w1, ...); it must be unique
	// per process.
	ID string
	// Lease is how long a claim lasts unless renewed.
	Lease time.Duration
	// Poll is the mean wait between an idle process's claims (each of
	// Size idle workers waits Size × Poll, jittered ±50%); a claim that
	// finds a job has another worker claim at once.
	Poll time.Duration
	// NewRunner makes the runner of one worker.
	NewRunner func(worker string) JobRunner
	Log       *slog.Logger
	// Metrics, if set, counts busy workers.
	Metrics WorkerGauges

	once sync.Once
	wake chan struct{}
}

// claimTimeout bounds one claim in the database.
const claimTimeout = 10 * time.Second

func (p *Pool) init() {
	p.once.Do(func() {
		p.wake = make(chan struct{}, max(p.Size, 1))
		if p.Log == nil {
			p.Log = slog.New(slog.DiscardHandler)
		}
		if p.Poll <= 0 {
			p.Poll = 500 * time.Millisecond
		}
	})
}

// Wake makes one idle worker claim now rather than at its next poll.
func (p *Pool) Wake() {
	p.init()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run runs the workers until claims is done, then waits for the running
// jobs to end. Jobs run under jobs: cancelling it interrupts them, and
// their runners release them to the queue.
func (p *Pool) Run(claims, jobs context.Context) {
	p.init()
	if p.Metrics != nil {
		p.Metrics.SetWorkers(p.Size)
	}
	var wg sync.WaitGroup
	for i := range p.Size {
		id := fmt.Sprintf("%s-w%d", p.ID, i)
		wg.Go(func() { p.work(claims, jobs, id) })
	}
	wg.Wait()
}

func (p *Pool) work(claims, jobs context.Context, id string) {
	runner := p.NewRunner(id)
	log := p.Log.With("worker", id)
	failures := 0
	for claims.Err() == nil {
		// The claim itself is not interrupted by shutdown: a claim that
		// committed must reach RunJob, or its job waits out the lease.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(claims), claimTimeout)
		job, err := p.DB.ClaimJob(cctx, id, p.Lease)
		cancel()
		if err == nil {
			failures = 0
			// There may be more: another idle worker looks now. Jobs
			// queued by another replica (which cannot wake this one's
			// workers) fan out this way, one claim after another.
			p.Wake()
			p.run(jobs, runner, job, log)
			continue
		}
		var wait time.Duration
		if errors.Is(err, store.ErrNotFound) {
			// Idle workers poll in turn: the process claims about once
			// per Poll however many workers it has (16 idle workers
			// polling each were 32 database transactions a second at
			// rest).
			every := p.Poll * time.Duration(max(p.Size, 1))
			wait = every/2 + rand.N(every)
		} else {
			// The database is failing: each worker backs off, up to 32
			// polls (a worker that then claims a job wakes another).
			failures++
			wait = (p.Poll/2 + rand.N(p.Poll)) * time.Duration(1<<min(failures, 5))
			log.Warn("claim job", "err", err, "retry_in", wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-claims.Done():
		case <-p.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (p *Pool) run(ctx context.Context, runner JobRunner, job store.Job, log *slog.Logger) {
	if p.Metrics != nil {
		p.Metrics.AddBusy(1)
		defer p.Metrics.AddBusy(-1)
	}
	log = log.With("job", job.ID, "store", job.Store, "kind", job.Kind, "attempt", job.Attempts)
	if job.Attempts > 1 {
		log.Info("resuming job an earlier attempt left unfinished")
	}
	start := time.Now()
	err := runner.RunJob(ctx, job, nil)
	elapsed := time.Since(start).Round(time.Millisecond)
	switch {
	case err == nil:
		log.Info("job done", "duration", elapsed)
	case ctx.Err() != nil:
		log.Info("job interrupted by shutdown and released", "duration", elapsed)
	default:
		log.Warn("job ended with an error", "duration", elapsed, "err", err)
	}
}
