package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// StatsWindow is how far back the fleet's figures look for ended jobs.
const StatsWindow = 24 * time.Hour

// maxStatsJobs bounds the jobs one Stats call reads.
const maxStatsJobs = 20000

// Stats are the fleet's figures, from the database (so every replica
// answers alike): what the dashboard's metrics view draws.
type Stats struct {
	At    time.Time `json:"at"`
	Since time.Time `json:"since"`
	// StoresByStatus counts live stores; every status is present.
	StoresByStatus map[store.Status]int `json:"storesByStatus"`
	// QueueDepth is the number of queued jobs, Running of running ones;
	// OldestQueuedSeconds is the age of the oldest queued job (0: none).
	QueueDepth          int     `json:"queueDepth"`
	Running             int     `json:"running"`
	OldestQueuedSeconds float64 `json:"oldestQueuedSeconds"`
	// Ended counts the jobs that ended since Since, by kind and state.
	Ended []JobCount `json:"ended"`
	// Phases are the durations of the phases of the creates that ended
	// since Since, in the order they run.
	Phases []PhaseStats `json:"phases"`
	// Failures are the jobs that failed since Since, newest first (at
	// most 20).
	Failures []Failure `json:"failures"`
}

// JobCount is how many jobs of a kind ended in a state.
type JobCount struct {
	Kind  store.JobKind  `json:"kind"`
	State store.JobState `json:"state"`
	Count int            `json:"count"`
}

// PhaseStats are one phase's durations: how many, the median, the 95th
// percentile and the longest, in milliseconds.
type PhaseStats struct {
	Phase string `json:"phase"`
	Count int    `json:"count"`
	P50MS int64  `json:"p50Ms"`
	P95MS int64  `json:"p95Ms"`
	MaxMS int64  `json:"maxMs"`
}

// Failure is one failed job.
type Failure struct {
	Store string        `json:"store"`
	Kind  store.JobKind `json:"kind"`
	At    time.Time     `json:"at"`
	Error string        `json:"error,omitempty"`
}

// maxFailures bounds the failures Stats lists.
const maxFailures = 20

// Stats computes the fleet's figures at now (admins only).
func (s *Service) Stats(ctx context.Context, c Caller, now time.Time) (Stats, error) {
	if !c.Admin {
		return Stats{}, errorf(ErrForbidden, "only an admin may read the fleet's figures")
	}
	q, err := s.DB.QueueStats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("fleet figures: %w", err)
	}
	since := now.Add(-StatsWindow)
	jobs, err := s.DB.EndedJobs(ctx, since, maxStatsJobs)
	if err != nil {
		return Stats{}, fmt.Errorf("fleet figures: %w", err)
	}
	st := Stats{
		At: now.UTC(), Since: since.UTC(),
		StoresByStatus:      q.StoresByStatus,
		QueueDepth:          q.ByState[store.JobQueued],
		Running:             q.ByState[store.JobRunning],
		OldestQueuedSeconds: q.OldestQueued.Seconds(),
		Ended:               []JobCount{},
		Phases:              []PhaseStats{},
		Failures:            []Failure{},
	}
	counts := map[JobCount]int{}
	var order []string
	durations := map[string][]int64{}
	for _, j := range jobs {
		counts[JobCount{Kind: j.Kind, State: j.State}]++
		if j.State == store.JobFailed && len(st.Failures) < maxFailures {
			st.Failures = append(st.Failures, Failure{Store: j.Store, Kind: j.Kind, At: j.EndedAt, Error: j.LastError})
		}
		if j.Kind != store.JobCreate {
			continue
		}
		for _, p := range j.Phases {
			if _, seen := durations[p.Name]; !seen {
				order = append(order, p.Name)
			}
			durations[p.Name] = append(durations[p.Name], p.DurationMS)
		}
	}
	for k, n := range counts {
		k.Count = n
		st.Ended = append(st.Ended, k)
	}
	slices.SortFunc(st.Ended, func(a, b JobCount) int {
		if a.Kind != b.Kind {
			return strings.Compare(string(a.Kind), string(b.Kind))
		}
		return strings.Compare(string(a.State), string(b.State))
	})
	for _, name := range order {
		d := durations[name]
		slices.Sort(d)
		st.Phases = append(st.Phases, PhaseStats{Phase: name, Count: len(d),
			P50MS: percentile(d, 50), P95MS: percentile(d, 95), MaxMS: d[len(d)-1]})
	}
	return st, nil
}

// percentile is the nearest-rank p-th percentile of sorted, not empty.
func percentile(sorted []int64, p int) int64 {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}
