package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// Scheduled backups: a plan says how often its stores are backed up and
// how many backups each keeps; `urumi serve` runs a BackupScheduler that
// queues the backups that are due. Each store's next due time is in the
// database and moved forward by a conditional write in the transaction
// that queues the backup, so of several replicas exactly one queues each
// scheduled backup, and a backup that cannot be queued (the store has a
// job in flight) leaves it due for the next look.

// BackupSchedule is a plan's backup schedule and retention.
type BackupSchedule struct {
	// Every is how often: "hourly", "daily", "weekly", or a duration
	// ("12h", at least 1s).
	Every string `json:"every"`
	// Keep is how many of a store's newest backups (scheduled or taken by
	// hand) the retention keeps after each scheduled backup: restic's
	// forget --keep-last, and the records of the others go too.
	Keep int `json:"keep"`
}

// Interval is how long between two scheduled backups.
func (b BackupSchedule) Interval() (time.Duration, error) {
	switch b.Every {
	case "hourly":
		return time.Hour, nil
	case "daily":
		return 24 * time.Hour, nil
	case "weekly":
		return 7 * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(b.Every)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("every %q is invalid: use hourly, daily, weekly or a duration of at least 1s (like 12h)", b.Every)
	}
	return d, nil
}

func (b BackupSchedule) check() error {
	if _, err := b.Interval(); err != nil {
		return err
	}
	if b.Keep < 1 || b.Keep > 9999 {
		return fmt.Errorf("keep %d is invalid: keep 1 to 9999 backups", b.Keep)
	}
	return nil
}

// String is the schedule as people read it: "daily, keep 7".
func (b BackupSchedule) String() string { return fmt.Sprintf("%s, keep %d", b.Every, b.Keep) }

// SchedulerActor is who the audit log says queued a scheduled backup.
const SchedulerActor = "urumi-scheduler"

// errNotDue rolls back a scheduled backup another process queued first.
var errNotDue = errors.New("the scheduled backup is not due")

// BackupScheduler queues the scheduled backups that are due.
type BackupScheduler struct {
	Service *Service
	Log     *slog.Logger
	// Wake, if set, makes an idle worker claim what was queued.
	Wake func()
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Tick queues every scheduled backup due now and says how many it queued.
// Stores that are not READY (or DEGRADED), or whose plan has no schedule,
// are left alone; a store with a job in flight stays due.
func (b *BackupScheduler) Tick(ctx context.Context) (int, error) {
	svc := b.Service
	if svc.Settings.Backup.URL == "" {
		return 0, nil
	}
	list, err := svc.DB.ListStores(ctx, store.ListFilter{})
	if err != nil {
		return 0, fmt.Errorf("list stores for scheduled backups: %w", err)
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	queued := 0
	for _, st := range list {
		if st.Status != store.StatusReady && st.Status != store.StatusDegraded {
			continue
		}
		plan, err := svc.Plans.Get(st.Plan)
		if err != nil || plan.Backup == nil {
			continue
		}
		every, err := plan.Backup.Interval()
		if err != nil {
			continue
		}
		t := now()
		claim := func(tx store.DB) (bool, error) { return tx.ClaimBackupSlot(ctx, st.Name, t, t.Add(every)) }
		bk, _, err := svc.backup(ctx, Caller{Name: SchedulerActor, Admin: true}, st.Name, store.BackupScheduled, plan.Backup.Keep, claim)
		switch {
		case errors.Is(err, errNotDue):
		case errors.Is(err, ErrConflict):
			b.log().Debug("scheduled backup waits for the store's job", "store", st.Name)
		case err != nil:
			if ctx.Err() != nil {
				return queued, ctx.Err()
			}
			b.log().Warn("queue scheduled backup", "store", st.Name, "err", err)
		default:
			b.log().Info("scheduled backup queued", "store", st.Name, "backup", bk.ID)
			queued++
		}
	}
	if queued > 0 && b.Wake != nil {
		b.Wake()
	}
	return queued, nil
}

// Run ticks every interval until ctx ends.
func (b *BackupScheduler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := b.Tick(ctx); err != nil && ctx.Err() == nil {
			b.log().Warn("scheduled backups", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *BackupScheduler) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}
