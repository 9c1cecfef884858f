package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// Metrics are the server's Prometheus metrics, on a registry of their own.
// The queue's figures are read from the database at scrape time, so every
// replica reports the same shared queue. Metrics is a provision.Events.
type Metrics struct {
	reg          *prometheus.Registry
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	phases       *prometheus.HistogramVec
	jobs         *prometheus.CounterVec
	workers      prometheus.Gauge
	busy         prometheus.Gauge
	driftFound   *prometheus.CounterVec
	driftFixed   *prometheus.CounterVec
	orphans      *prometheus.GaugeVec
	backups      *prometheus.CounterVec
}

// NewMetrics registers the server's metrics, the queue collector on db, and
// the Go runtime's and process's metrics.
func NewMetrics(db store.Jobs, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "urumi_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "urumi_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "urumi_provision_phase_duration_seconds",
			Help:    "Duration of each phase of store jobs run by this process, by job kind, phase and result (done or failed).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"kind", "phase", "result"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "urumi_jobs_finished_total",
			Help: "Jobs this process's workers stopped running, by kind and outcome (succeeded, failed, released, lease_lost).",
		}, []string{"kind", "outcome"}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "urumi_workers",
			Help: "Workers in this process's pool.",
		}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "urumi_workers_busy",
			Help: "Workers of this process running a job now.",
		}),
		driftFound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "urumi_drift_found_total",
			Help: "Failed checks on stores this process's drift reconciler marked DEGRADED, by kind of finding.",
		}, []string{"kind"}),
		driftFixed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "urumi_drift_repaired_total",
			Help: "Failed checks this process's repair jobs mended, by kind of finding.",
		}, []string{"kind"}),
		orphans: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "urumi_orphans",
			Help: "Orphans the drift reconciler sees: namespaces labelled urumi's without a store (orphan-namespace), stores whose namespace is gone (orphan-record).",
		}, []string{"kind"}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "urumi_backups_total",
			Help: "Backups this process's workers took, by kind (manual, scheduled) and outcome (succeeded, failed).",
		}, []string{"kind", "outcome"}),
	}
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.phases, m.jobs, m.workers, m.busy, m.driftFound, m.driftFixed, m.orphans,
		m.backups, &queueCollector{db: db, log: log},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if f, ok := db.(feedReporter); ok {
		m.reg.MustRegister(feedCollector{f})
	}
	return m
}

// feedReporter is a database that keeps tokens in memory while it follows
// its changes (store.DB.FollowChanges).
type feedReporter interface{ FeedStats() store.FeedStats }

// feedCollector reports the change feed: whether requests are answered
// without a database round trip.
type feedCollector struct{ db feedReporter }

var (
	followingDesc = prometheus.NewDesc("urumi_change_feed_following",
		"1 while this process follows PostgreSQL's change notifications and answers tokens and the stores' generation from memory; "+
			"0 while it reads them from the database on every request (on SQLite, always).", nil, nil)
	tokenReadsDesc = prometheus.NewDesc("urumi_token_reads_total",
		"Token checks on PostgreSQL by where they were answered: from memory (while following the database's changes) or from the database (not counted on SQLite).", []string{"from"}, nil)
)

func (c feedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- followingDesc
	ch <- tokenReadsDesc
}

func (c feedCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.db.FeedStats()
	following := 0.0
	if s.Following {
		following = 1
	}
	ch <- prometheus.MustNewConstMetric(followingDesc, prometheus.GaugeValue, following)
	ch <- prometheus.MustNewConstMetric(tokenReadsDesc, prometheus.CounterValue, float64(s.FromMemory), "memory")
	ch <- prometheus.MustNewConstMetric(tokenReadsDesc, prometheus.CounterValue, float64(s.FromDatabase), "database")
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A database that cannot be read still leaves the other metrics.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
}

// Registry is the registry the metrics are on (for tests and embedding).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) observeRequest(route string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Event turns job progress into metrics.
func (m *Metrics) Event(e provision.Event) {
	kind := string(e.Kind)
	switch e.State {
	case provision.PhaseDone:
		m.phases.WithLabelValues(kind, e.Phase, "done").Observe(e.Elapsed.Seconds())
	case provision.PhaseFailed:
		m.phases.WithLabelValues(kind, e.Phase, "failed").Observe(e.Elapsed.Seconds())
	case provision.JobSucceeded:
		m.jobs.WithLabelValues(kind, "succeeded").Inc()
	case provision.JobFailed:
		m.jobs.WithLabelValues(kind, "failed").Inc()
	case provision.JobReleased:
		m.jobs.WithLabelValues(kind, "released").Inc()
	case provision.JobLeaseLost:
		m.jobs.WithLabelValues(kind, "lease_lost").Inc()
	}
}

// DriftFound counts drift the reconciler found (provision.DriftMetrics).
func (m *Metrics) DriftFound(kind string) { m.driftFound.WithLabelValues(kind).Inc() }

// DriftRepaired counts drift a repair mended.
func (m *Metrics) DriftRepaired(kind string) { m.driftFixed.WithLabelValues(kind).Inc() }

// BackupFinished counts a backup that ended (provision.BackupMetrics).
func (m *Metrics) BackupFinished(kind store.BackupKind, outcome string) {
	m.backups.WithLabelValues(string(kind), outcome).Inc()
}

// SetOrphans sets the orphans of a kind the reconciler sees.
func (m *Metrics) SetOrphans(kind string, n int) { m.orphans.WithLabelValues(kind).Set(float64(n)) }

// queueCollector reads the job queue and store counts at scrape time.
type queueCollector struct {
	db  store.Jobs
	log *slog.Logger
}

var (
	jobsDesc = prometheus.NewDesc("urumi_jobs",
		"Jobs in the database by state.", []string{"state"}, nil)
	storesDesc = prometheus.NewDesc("urumi_stores",
		"Live stores in the database by status.", []string{"status"}, nil)
	queueDepthDesc = prometheus.NewDesc("urumi_job_queue_depth",
		"Jobs waiting for a worker.", nil, nil)
	oldestDesc = prometheus.NewDesc("urumi_job_queue_oldest_age_seconds",
		"Age of the oldest job waiting for a worker (0 when none is).", nil, nil)
	lastBackupDesc = prometheus.NewDesc("urumi_backup_last_success_timestamp_seconds",
		"When the newest successful backup of any store finished, as a Unix time (0: none has).", nil, nil)
	failingBackupsDesc = prometheus.NewDesc("urumi_stores_backup_failing",
		"Live stores whose newest backup failed.", nil, nil)
)

// scrapeTimeout bounds the queue query of one scrape.
const scrapeTimeout = 3 * time.Second

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- storesDesc
	ch <- queueDepthDesc
	ch <- oldestDesc
	ch <- lastBackupDesc
	ch <- failingBackupsDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	if c.db == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	st, err := c.db.QueueStats(ctx)
	if err != nil {
		c.log.Warn("metrics: read queue stats", "err", err)
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	for state, n := range st.ByState {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), string(state))
	}
	for status, n := range st.StoresByStatus {
		ch <- prometheus.MustNewConstMetric(storesDesc, prometheus.GaugeValue, float64(n), string(status))
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(st.ByState[store.JobQueued]))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, st.OldestQueued.Seconds())
	// The backups' figures, when the database keeps them.
	if b, ok := c.db.(store.Backups); ok {
		bs, err := b.BackupStats(ctx)
		if err != nil {
			c.log.Warn("metrics: read backup stats", "err", err)
			ch <- prometheus.NewInvalidMetric(lastBackupDesc, err)
			return
		}
		last := 0.0
		if !bs.LastSuccess.IsZero() {
			last = float64(bs.LastSuccess.UnixMicro()) / 1e6
		}
		ch <- prometheus.MustNewConstMetric(lastBackupDesc, prometheus.GaugeValue, last)
		ch <- prometheus.MustNewConstMetric(failingBackupsDesc, prometheus.GaugeValue, float64(bs.StoresFailing))
	}
}

// SetWorkers records how many workers this process runs.
func (m *Metrics) SetWorkers(n int) { m.workers.Set(float64(n)) }

// AddBusy counts workers starting (1) or ending (-1) a job.
func (m *Metrics) AddBusy(delta int) { m.busy.Add(float64(delta)) }

// The backup counts are the server's metrics.
var _ provision.BackupMetrics = (*Metrics)(nil)

// The workers' gauges are the server's metrics.
var _ provision.WorkerGauges = (*Metrics)(nil)
