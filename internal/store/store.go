// Package store keeps urumi's state: stores, durable jobs with leases,
// per-owner quotas, the hash-chained audit log and API tokens. SQLite
// (default) and PostgreSQL implement the same DB interface and run the same
// test suite.
package store

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Status is where a store is in its lifecycle.
type Status string

// Store statuses, as users see them.
const (
	StatusQueued       Status = "QUEUED"
	StatusProvisioning Status = "PROVISIONING"
	StatusReady        Status = "READY"
	StatusFailed       Status = "FAILED"
	StatusDeleting     Status = "DELETING"
	// StatusUpgrading is a store being upgraded or rolled back: it serves
	// on its old version until the change is ready, and returns to READY
	// (on the new version, or rolled back to the old one) when it ends.
	StatusUpgrading Status = "UPGRADING"
	// StatusDegraded is a READY store whose objects on the cluster drifted
	// from what urumi made; Error says what. It serves as before; a repair
	// (by `urumi store repair` or serve's reconciler) returns it to READY.
	StatusDegraded Status = "DEGRADED"
)

// Phase is one timed step of provisioning or deletion.
type Phase struct {
	Name       string    `json:"name"`
	StartedAt  time.Time `json:"startedAt"`
	DurationMS int64     `json:"durationMs"`
}

// Store is one WooCommerce store. Its JSON form is what `-o json` and the
// HTTP API print. It never holds a credential.
type Store struct {
	Name      string    `json:"name"`
	Owner     string    `json:"owner"`
	Plan      string    `json:"plan"`
	Status    Status    `json:"status"`
	Namespace string    `json:"namespace"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Error     string    `json:"error,omitempty"`
	Phases    []Phase   `json:"phases,omitempty"`
	// Release is what the store runs, as of its last change. UpdateStore
	// leaves it alone; SetRelease writes it.
	Release Release `json:"release"`
	// LastBackup is the store's newest backup, with its error when it
	// failed (a scheduled one too). Get fills it; it is not stored with
	// the store.
	LastBackup *Backup `json:"lastBackup,omitempty"`
	// Options are non-secret provisioning settings fixed at create time
	// (base domain, ingress class, chart value overrides), as JSON.
	Options []byte `json:"-"`
}

// Release is what a store runs: its Helm revision, the versions of its
// chart and applications, and how its last change ended.
type Release struct {
	// Revision is the store's Helm release revision; 0 before its first
	// install completes (or for a store made before urumi recorded it).
	Revision int      `json:"revision"`
	Versions Versions `json:"versions"`
	// LastChange is the store's last create, upgrade or rollback.
	LastChange *Change `json:"lastChange,omitempty"`
	// UpgradeAvailable is the chart version built into the urumi that
	// answers, when it is newer than the store's. It is not stored.
	UpgradeAvailable string `json:"upgradeAvailable,omitempty"`
}

// Versions are the chart and application versions a store runs.
type Versions struct {
	Chart       string `json:"chart,omitempty"`
	WordPress   string `json:"wordpress,omitempty"` // image tags
	MariaDB     string `json:"mariadb,omitempty"`
	WPCLI       string `json:"wpcli,omitempty"`
	WooCommerce string `json:"woocommerce,omitempty"` // "latest": the newest when installed
}

// Change is how a store's last create, upgrade or rollback ended.
type Change struct {
	Kind JobKind `json:"kind"`
	// Outcome is succeeded, rolled-back (an upgrade that failed and was
	// undone: the store runs what it ran before) or failed.
	Outcome string `json:"outcome"`
	// From and To are the revisions before and after, 0 when there was none.
	From   int       `json:"from,omitempty"`
	To     int       `json:"to,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
}

// Change outcomes.
const (
	ChangeSucceeded  = "succeeded"
	ChangeRolledBack = "rolled-back"
	ChangeFailed     = "failed"
)

// Revision is urumi's record of one Helm revision of a store: its status
// and versions as Helm has them, and who made it, by which job, with which
// plan and options, so that history can say who and rollback can restore
// the plan's namespace objects along with the chart values.
type Revision struct {
	Store    string   `json:"store"`
	Revision int      `json:"revision"`
	Kind     JobKind  `json:"kind,omitempty"` // empty: not made by urumi's jobs
	JobID    int64    `json:"jobId,omitempty"`
	Actor    string   `json:"actor,omitempty"`
	Plan     string   `json:"plan,omitempty"`
	Versions Versions `json:"versions"`
	// Status is Helm's: deployed, superseded, failed, pending-upgrade, ...
	Status      string    `json:"status"`
	Description string    `json:"description,omitempty"`
	Options     []byte    `json:"-"`
	At          time.Time `json:"at"`
}

// JobKind is what a job does to its store.
type JobKind string

// Job kinds.
const (
	JobCreate   JobKind = "create"
	JobDelete   JobKind = "delete"
	JobUpgrade  JobKind = "upgrade"
	JobRollback JobKind = "rollback"
	// JobRepair brings back what a store check found drifted.
	JobRepair JobKind = "repair"
	// JobBackup takes a backup of the store, or deletes one of its
	// backups; its params name the backup.
	JobBackup JobKind = "backup"
	// JobRestore restores a backup into the store.
	JobRestore JobKind = "restore"
)

// JobState is where a durable job is.
type JobState string

// Job states. A running job whose lease has expired is claimable again.
const (
	JobQueued    JobState = "queued"
	JobRunning   JobState = "running"
	JobSucceeded JobState = "succeeded"
	JobFailed    JobState = "failed"
	JobCanceled  JobState = "canceled"
)

// Job is a durable request against one store, run by whichever worker holds
// its lease.
type Job struct {
	ID             int64     `json:"id"`
	Store          string    `json:"store"`
	Kind           JobKind   `json:"kind"`
	State          JobState  `json:"state"`
	LeaseOwner     string    `json:"leaseOwner,omitempty"`
	LeaseExpiresAt time.Time `json:"leaseExpiresAt,omitzero"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"lastError,omitempty"`
	Actor          string    `json:"actor"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	// Params are what the job was asked to do, as JSON (an upgrade's
	// target plan and values, a rollback's revision); nil for creates
	// and deletes. Never a credential.
	Params []byte `json:"-"`
}

// Attempt is one claim of a job by one worker: the record that shows no job
// ran in two places at once.
type Attempt struct {
	JobID     int64     `json:"jobId"`
	Attempt   int       `json:"attempt"`
	Worker    string    `json:"worker"`
	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
	Outcome   string    `json:"outcome,omitempty"` // succeeded, failed, released, lost (lease expired)
}

// Quota is an owner's store limit and current use.
type Quota struct {
	Owner     string `json:"owner"`
	MaxStores int    `json:"maxStores"`
	Used      int    `json:"used"`
	Default   bool   `json:"default"` // no owner-specific limit is set
}

// AuditEntry is one record of the append-only, hash-chained audit log.
type AuditEntry struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"` // create, delete, retry, quota.set, token.create, credentials.read, ...
	Store      string    `json:"store,omitempty"`
	Outcome    string    `json:"outcome"` // requested, succeeded, failed, denied
	Detail     string    `json:"detail,omitempty"`
	DurationMS int64     `json:"durationMs"`
	PrevHash   string    `json:"prevHash"`
	Hash       string    `json:"hash"`
}

// Token is an API token's record. Only the hash of its secret is kept.
type Token struct {
	ID         string    `json:"id"`
	Owner      string    `json:"owner"`
	Admin      bool      `json:"admin"`
	SecretHash []byte    `json:"-"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
}

// Errors callers branch on.
var (
	ErrNotFound      = errors.New("not found")
	ErrNameTaken     = errors.New("name taken")
	ErrQuotaExceeded = errors.New("quota exceeded")
	ErrLeaseLost     = errors.New("lease lost")
	ErrJobActive     = errors.New("job already active")
)

// ListFilter selects stores, in name order. An empty Owner lists every
// owner's stores. After and Limit page through them by key: a page holds
// the first Limit stores whose names sort (bytewise) after After, so
// stores created or deleted between pages never make a page repeat or skip
// a store that lived throughout.
type ListFilter struct {
	Owner  string
	Status Status // only stores in this status ("": any)
	Plan   string // only stores on this plan ("": any)
	After  string // only names sorting after this one ("" : from the start)
	Limit  int    // 0 means all
}

// AuditFilter selects audit entries, newest last.
type AuditFilter struct {
	Store string
	Actor string
	Limit int // 0 means all; else the newest Limit entries
	// Before, if not 0, keeps only entries with an ID below it: the page
	// of older entries after one whose oldest ID was Before.
	Before int64
	// Since, if not zero, keeps only entries written at or after it.
	Since time.Time
}

// VerifyResult says whether the audit chain is intact and, if not, where it
// first breaks.
type VerifyResult struct {
	Entries int    `json:"entries"`
	OK      bool   `json:"ok"`
	BadID   int64  `json:"badId,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// QueueStats feeds the metrics endpoint.
type QueueStats struct {
	ByState        map[JobState]int
	OldestQueued   time.Duration // age of the oldest queued job, 0 if none
	StoresByStatus map[Status]int
}

// EndedJob is a job that ended (succeeded, failed or was canceled), for
// the fleet's figures. Phases are its store's recorded phases when the job
// is the store's latest (a store records the phases of its last operation
// only), else nil.
type EndedJob struct {
	ID        int64
	Store     string
	Kind      JobKind
	State     JobState
	EndedAt   time.Time
	LastError string
	Phases    []Phase
}

// Stores holds the live stores. Deleted stores leave it (their history stays
// in the audit log) and their names become free again.
type Stores interface {
	// CreateStore inserts s as QUEUED with a queued create job, atomically
	// checking that the name is free among live stores (ErrNameTaken) and
	// that the owner is under their store limit (ErrQuotaExceeded), so
	// concurrent creates on any number of processes never exceed it.
	CreateStore(ctx context.Context, s Store, actor string) (Store, Job, error)
	// CreateStoreJob is CreateStore with another first job: a restore
	// into a new store (kind JobRestore, with its params) creates it and
	// fills it from a backup in one job.
	CreateStoreJob(ctx context.Context, s Store, actor string, kind JobKind, params []byte) (Store, Job, error)
	GetStore(ctx context.Context, name string) (Store, error)
	// ListStores leaves Options out: GetStore has them.
	ListStores(ctx context.Context, f ListFilter) ([]Store, error)
	// StoresGeneration is a number that every committed change to any
	// store moves on. A list read after it is at least as new as it: a
	// page kept with the generation read before the page's query is
	// current for as long as the generation stays the same.
	StoresGeneration(ctx context.Context) (int64, error)
	// UpdateStore writes status, url, error and phases of a live store, and
	// its options and plan when s.Options is not nil.
	UpdateStore(ctx context.Context, s Store) error
	// MarkStore moves a live store from status from to status to with
	// reason as its error, and says whether it did: false when the store
	// is in another status (a job changed it meanwhile, or another
	// process marked it first) or already has that reason. Its phases and
	// options stay.
	MarkStore(ctx context.Context, name string, from, to Status, reason string) (bool, error)
	// ClaimBackupSlot takes the live store's scheduled backup due at or
	// before now, moving its next one to next, and says whether it did:
	// false when none is due (another process took it first). A store
	// never scheduled before is due at once.
	ClaimBackupSlot(ctx context.Context, name string, now, next time.Time) (bool, error)
	// RemoveStore drops a live store after its resources are gone.
	RemoveStore(ctx context.Context, name string) error
	// SetRelease records what a live store runs.
	SetRelease(ctx context.Context, name string, r Release) error
	// AddRevision records (or replaces) urumi's record of one revision of
	// a live store.
	AddRevision(ctx context.Context, r Revision) error
	// Revisions lists the live store's recorded revisions, oldest first.
	Revisions(ctx context.Context, name string) ([]Revision, error)
}

// Lease is a running job and the worker that holds it.
type Lease struct {
	Job    int64
	Worker string
}

// Jobs is the durable job queue.
type Jobs interface {
	// EnqueueJob adds a job for a live store, with its params (JSON or
	// nil); if the store already has a queued or running job it returns
	// that job and ErrJobActive.
	EnqueueJob(ctx context.Context, store string, kind JobKind, actor string, params []byte) (Job, error)
	// ClaimJob takes the oldest queued job, or a running job whose lease has
	// expired, for worker; it returns ErrNotFound when there is none.
	ClaimJob(ctx context.Context, worker string, lease time.Duration) (Job, error)
	// ClaimJobByID claims one job the same way, if it is claimable.
	ClaimJobByID(ctx context.Context, id int64, worker string, lease time.Duration) (Job, error)
	// RenewLease extends worker's lease; ErrLeaseLost if it no longer holds it.
	RenewLease(ctx context.Context, id int64, worker string, lease time.Duration) error
	// RenewLeases extends each of held that its worker still holds, in
	// one round trip, and returns those it extended.
	RenewLeases(ctx context.Context, held []Lease, lease time.Duration) ([]Lease, error)
	// FinishJob ends a job worker holds with a final state.
	FinishJob(ctx context.Context, id int64, worker string, state JobState, lastError string) error
	// ReleaseJob hands a job back to the queue (graceful shutdown).
	ReleaseJob(ctx context.Context, id int64, worker string) error
	// CancelJob ends a queued or running job as canceled whoever holds it
	// (its worker's next RenewLease returns ErrLeaseLost and it stops);
	// closes its open attempt with outcome "canceled". No-op on a finished job.
	CancelJob(ctx context.Context, id int64) error
	GetJob(ctx context.Context, id int64) (Job, error)
	// ActiveJob is the queued or running job of a store, if any.
	ActiveJob(ctx context.Context, store string) (Job, error)
	ListJobs(ctx context.Context, store string) ([]Job, error)
	Attempts(ctx context.Context, jobID int64) ([]Attempt, error)
	QueueStats(ctx context.Context) (QueueStats, error)
	// EndedJobs lists the jobs that ended at or after since, newest
	// first, at most limit of them (of live and deleted stores alike).
	EndedJobs(ctx context.Context, since time.Time, limit int) ([]EndedJob, error)
}

// Quotas holds per-owner store limits.
type Quotas interface {
	GetQuota(ctx context.Context, owner string) (Quota, error)
	SetQuota(ctx context.Context, owner string, maxStores int) (Quota, error)
	ListQuotas(ctx context.Context) ([]Quota, error)
}

// Audit is the append-only audit log, chained with HMAC-SHA256 under a key
// kept outside the database (Options.AuditKey): whoever can write the
// database cannot rewrite an entry and recompute the chain without it.
// AppendAudit and VerifyAudit need the key; ListAudit does not.
type Audit interface {
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	VerifyAudit(ctx context.Context) (VerifyResult, error)
}

// Tokens holds API tokens.
type Tokens interface {
	CreateToken(ctx context.Context, t Token) (Token, error)
	GetToken(ctx context.Context, id string) (Token, error)
	// GetTokenSeeing is GetToken, and the stores' generation (see
	// StoresGeneration) read in the same statement.
	GetTokenSeeing(ctx context.Context, id string) (Token, int64, error)
	ListTokens(ctx context.Context) ([]Token, error)
	RevokeToken(ctx context.Context, id string) error
	TouchToken(ctx context.Context, id string) error
}

// RateLimits are request limits shared by every process on the database.
type RateLimits interface {
	// Allow counts one event against key, allowing on average one per
	// every with bursts of up to burst (GCRA, the token bucket's twin). When
	// key is over its limit it answers false and how long until the next
	// event would be allowed; a refused event does not count.
	Allow(ctx context.Context, key string, every time.Duration, burst int) (ok bool, retryAfter time.Duration, err error)
}

// DB is everything urumi keeps, on one backend.
type DB interface {
	Stores
	Jobs
	Quotas
	Audit
	Tokens
	RateLimits
	Rollouts
	Backups
	// Atomic runs fn in one database transaction: every call fn makes on
	// tx commits together when fn returns nil, and none does when it
	// returns an error, which Atomic returns as is (errors.Is still finds
	// ErrNameTaken and the like). fn must use only tx, from its own
	// goroutine; a nested Atomic on tx joins the same transaction (in a
	// savepoint: a nested failure the caller handles undoes only its own
	// part). Append the audit entry last: it holds the log's head locked
	// until commit, and writers that take their locks in the same order
	// (jobs, stores, then the head) never deadlock each other.
	Atomic(ctx context.Context, fn func(tx DB) error) error
	// FollowChanges, until ctx ends, listens to the database's change
	// notifications so that a request's token and the stores' generation
	// are answered from memory (PostgreSQL; a no-op on SQLite). Run it in
	// its own goroutine in a long-lived server; changes other processes
	// commit are then seen when their notification arrives.
	FollowChanges(ctx context.Context, log *slog.Logger)
	Ping(ctx context.Context) error
	Close() error
}
