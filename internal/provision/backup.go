package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urumi/urumi/internal/backup"
	"github.com/urumi/urumi/internal/store"
)

// `backup create`, `backup list`, `backup delete`, `backup restore`: the
// rules of store backups. Each change is a durable job of the store (one
// at a time, like every other job) whose steps the Runner runs
// (backuprun.go); the record of each backup lives in the database, its
// data in the operator's restic repository. Owners see and touch only their
// own stores' backups: another owner's is not found.

// BackupRepository is the operator's backup repository as configured:
// restic's URL (no credentials), the Secret holding its password and
// credentials as NAMESPACE/NAME, and the comma-separated endpoints the
// backup Jobs may reach it on. No URL: backups are off.
type BackupRepository struct {
	URL       string
	Secret    string
	Endpoints string
}

// repositorySecretName is the copy of the operator's Secret in a store's
// namespace.
const repositorySecretName = "urumi-backup-repository"

// resolved is the repository as the Jobs see it, and where the operator's
// Secret is. The credential keys are filled in from that Secret by the
// runner; the password is under backup's default key, "password".
func (b BackupRepository) resolved() (repo backup.Repository, secretNamespace, secretName string, err error) {
	if b.URL == "" {
		return backup.Repository{}, "", "", errorf(ErrConflict,
			"backups are not configured: set backup-repository, backup-secret and backup-endpoints (ask your administrator)")
	}
	ns, name, ok := strings.Cut(b.Secret, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return backup.Repository{}, "", "", errorf(ErrInvalid,
			"backup-secret %q is invalid: write NAMESPACE/NAME of the Secret holding the repository's password", b.Secret)
	}
	repo = backup.Repository{URL: b.URL, Secret: repositorySecretName}
	for _, e := range strings.Split(b.Endpoints, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		ep, err := backup.ParseEndpoint(e)
		if err != nil {
			return backup.Repository{}, "", "", errorf(ErrInvalid, "backup-endpoints: %w", err)
		}
		repo.Endpoints = append(repo.Endpoints, ep)
	}
	if len(repo.Endpoints) == 0 {
		return backup.Repository{}, "", "", errorf(ErrInvalid,
			"backup-endpoints is empty: say which ADDRESS:PORT the backup jobs may reach the repository on")
	}
	return repo, ns, name, nil
}

// backupParams are a backup or restore job's params: which operation, on
// which backup. Never a credential.
type backupParams struct {
	Operation backup.Operation `json:"operation"`
	BackupID  string           `json:"backupId"`
	// NewStore marks a restore into a store it creates first.
	NewStore bool `json:"newStore,omitempty"`
	// Keep, after a scheduled backup, is how many of the store's newest
	// backups the retention keeps.
	Keep int `json:"keep,omitempty"`
}

// newBackupID names a backup: its store, the time, and a random suffix, so
// two urumi installations sharing a repository never collide. It is a
// restic tag and a label value (at most 63 characters: store names are
// at most 40).
func newBackupID(storeName string, t time.Time) (string, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make a backup ID: %w", err)
	}
	return storeName + "-" + t.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:]), nil
}

// Backup queues a backup of the caller's store (any store for an admin).
func (s *Service) Backup(ctx context.Context, c Caller, name string) (store.Backup, store.Job, error) {
	return s.backup(ctx, c, name, store.BackupManual, 0, nil)
}

// backup queues a backup of kind; keep, when set, applies the retention
// after it. claim, when set, runs first in the transaction that queues
// it: false rolls it back as errNotDue (a scheduled backup already taken).
func (s *Service) backup(ctx context.Context, c Caller, name string, kind store.BackupKind, keep int,
	claim func(tx store.DB) (bool, error)) (store.Backup, store.Job, error) {
	start := time.Now()
	if _, _, _, err := s.Settings.Backup.resolved(); err != nil {
		return store.Backup{}, store.Job{}, err
	}
	st, err := s.Get(ctx, c, name)
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	if st.Status != store.StatusReady && st.Status != store.StatusDegraded {
		return store.Backup{}, store.Job{}, errorf(ErrConflict, "store %q is %s: it can be backed up once it is READY", name, st.Status)
	}
	id, err := newBackupID(name, start)
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	params, err := json.Marshal(backupParams{Operation: backup.OpBackup, BackupID: id, Keep: keep})
	if err != nil {
		return store.Backup{}, store.Job{}, fmt.Errorf("encode backup params: %w", err)
	}
	var (
		b   store.Backup
		job store.Job
	)
	detail := "backup " + id
	if kind == store.BackupScheduled {
		detail = fmt.Sprintf("scheduled backup %s, keep %d", id, keep)
	}
	err = s.record(ctx, c, "backup.create", name, "requested", detail, start, func(tx store.DB) error {
		if claim != nil {
			ok, err := claim(tx)
			if err != nil {
				return err
			}
			if !ok {
				return errNotDue
			}
		}
		if job, err = enqueueStoreJob(ctx, tx, name, store.JobBackup, c.Name, params, "backup of "+name); err != nil {
			return err
		}
		b, err = tx.CreateBackup(ctx, store.Backup{ID: id, Store: name, Owner: st.Owner, Kind: kind,
			Status: store.BackupQueued, Actor: c.Name, JobID: job.ID, CreatedAt: start})
		if err != nil {
			return fmt.Errorf("record backup of %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	return b, job, nil
}

// Backups lists backups, newest first: of one store when name is set, else
// all the caller's (all owners' for an admin). A store the caller does not
// own is not found, unless it is gone and they own backups of it.
func (s *Service) Backups(ctx context.Context, c Caller, name string) ([]store.Backup, error) {
	f := store.BackupFilter{Store: name}
	if !c.Admin {
		f.Owner = c.Name
	}
	list, err := s.DB.ListBackups(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	if name != "" && len(list) == 0 {
		if _, err := s.Get(ctx, c, name); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// GetBackup reads one backup; another owner's is not found.
func (s *Service) GetBackup(ctx context.Context, c Caller, id string) (store.Backup, error) {
	b, err := s.DB.GetBackup(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.Admin && b.Owner != c.Name) {
		return store.Backup{}, errorf(ErrNotFound, "backup %q not found: urumi backup list shows yours", id)
	}
	if err != nil {
		return store.Backup{}, fmt.Errorf("get backup %s: %w", id, err)
	}
	return b, nil
}

// DeleteBackup queues the removal of a backup's snapshots from the
// repository; its record goes when they are gone. The Job runs in the
// store's namespace, so the store must still exist.
func (s *Service) DeleteBackup(ctx context.Context, c Caller, id string) (store.Backup, store.Job, error) {
	start := time.Now()
	b, err := s.GetBackup(ctx, c, id)
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	if _, _, _, err := s.Settings.Backup.resolved(); err != nil {
		return store.Backup{}, store.Job{}, err
	}
	switch b.Status {
	case store.BackupQueued, store.BackupRunning:
		return store.Backup{}, store.Job{}, errorf(ErrConflict, "backup %q is %s: wait for it to end, then delete it", id, b.Status)
	}
	if _, err := s.DB.GetStore(ctx, b.Store); errors.Is(err, store.ErrNotFound) {
		return store.Backup{}, store.Job{}, errorf(ErrConflict,
			"store %q of backup %q is gone, and its backups are deleted from the store's namespace: "+
				"the repository's retention removes them", b.Store, id)
	} else if err != nil {
		return store.Backup{}, store.Job{}, fmt.Errorf("get store %s: %w", b.Store, err)
	}
	params, err := json.Marshal(backupParams{Operation: backup.OpDelete, BackupID: id})
	if err != nil {
		return store.Backup{}, store.Job{}, fmt.Errorf("encode backup params: %w", err)
	}
	var job store.Job
	err = s.record(ctx, c, "backup.delete", b.Store, "requested", "backup "+id, start, func(tx store.DB) error {
		if job, err = enqueueStoreJob(ctx, tx, b.Store, store.JobBackup, c.Name, params, "deletion of backup "+id); err != nil {
			return err
		}
		b.Status, b.JobID = store.BackupDeleting, job.ID
		return tx.UpdateBackup(ctx, b)
	})
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	return b, job, nil
}

// Restore queues the restore of a backup: into its own store (to empty or
// that store's name: WordPress scaled down, the database and files
// replaced, WordPress scaled up, the store READY), or into a new store
// named to (restoreNew).
func (s *Service) Restore(ctx context.Context, c Caller, id, to string) (store.Backup, store.Job, error) {
	start := time.Now()
	b, err := s.succeededBackup(ctx, c, id, "restored")
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	if to != "" && to != b.Store {
		return s.restoreNew(ctx, c, b, to, start)
	}
	st, err := s.Get(ctx, c, b.Store)
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	if st.Status != store.StatusReady && st.Status != store.StatusDegraded {
		return store.Backup{}, store.Job{}, errorf(ErrConflict, "store %q is %s: it can be restored once it is READY", st.Name, st.Status)
	}
	params, err := json.Marshal(backupParams{Operation: backup.OpRestore, BackupID: id})
	if err != nil {
		return store.Backup{}, store.Job{}, fmt.Errorf("encode restore params: %w", err)
	}
	var job store.Job
	err = s.record(ctx, c, "backup.restore", st.Name, "requested", "backup "+id, start, func(tx store.DB) error {
		if job, err = enqueueStoreJob(ctx, tx, st.Name, store.JobRestore, c.Name, params, "restore of "+st.Name); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	return b, job, nil
}

// restoreNew records a new store named to, of the backup's owner and
// counted against their store limit like any create, whose one job
// creates it (its own namespace, credentials and host name) and then
// restores the backup into it, rewriting the site's URL to the new host.
// It gets the plan and value overrides of the backup's store when that
// store is still there (the restored database fits its WooCommerce
// release), else the default plan.
func (s *Service) restoreNew(ctx context.Context, c Caller, b store.Backup, to string, start time.Time) (store.Backup, store.Job, error) {
	if err := ValidateName(to); err != nil {
		return store.Backup{}, store.Job{}, err
	}
	if err := checkNotReserved(to); err != nil {
		return store.Backup{}, store.Job{}, err
	}
	planName, set := s.Plans.Default(), []string(nil)
	source, err := s.DB.GetStore(ctx, b.Store)
	switch {
	case err == nil:
		o, err := decodeOptions(source.Options)
		if err != nil {
			return store.Backup{}, store.Job{}, err
		}
		planName, set = source.Plan, o.Set
	case !errors.Is(err, store.ErrNotFound):
		return store.Backup{}, store.Job{}, fmt.Errorf("get store %s: %w", b.Store, err)
	}
	plan, err := s.Plans.Get(planName)
	if err != nil {
		return store.Backup{}, store.Job{}, fmt.Errorf("the plan %q of store %s: %w", planName, b.Store, err)
	}
	// The overrides are the backup's store's, accepted when it was made
	// (some perhaps by an admin): judged again only as values and for the
	// new host name, not for who may set them.
	if _, err := s.checkOverrides(Caller{Name: c.Name, Admin: true}, to, plan, set); err != nil {
		return store.Backup{}, store.Job{}, err
	}
	opts, err := encodeOptions(s.options(plan, set))
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	params, err := json.Marshal(backupParams{Operation: backup.OpRestore, BackupID: b.ID, NewStore: true})
	if err != nil {
		return store.Backup{}, store.Job{}, fmt.Errorf("encode restore params: %w", err)
	}
	var job store.Job
	detail := fmt.Sprintf("backup %s of store %s into a new store; %s", b.ID, b.Store, describeCreate(planName, set))
	err = s.record(ctx, c, "backup.restore", to, "requested", detail, start, func(tx store.DB) error {
		_, job, err = tx.CreateStoreJob(ctx, store.Store{
			Name: to, Owner: b.Owner, Plan: planName, Namespace: Namespace(to), Options: opts,
		}, c.Name, store.JobRestore, params)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNameTaken):
		s.deny(ctx, c, "backup.restore", to, "name taken", start)
		return store.Backup{}, store.Job{}, errorf(ErrConflict, "store %q already exists: restore into a new name, or leave out --to to restore into %s", to, b.Store)
	case errors.Is(err, store.ErrQuotaExceeded):
		s.deny(ctx, c, "backup.restore", to, err.Error(), start)
		return store.Backup{}, store.Job{}, s.quotaExceeded(ctx, b.Owner)
	case err != nil:
		return store.Backup{}, store.Job{}, fmt.Errorf("restore backup %s into new store %s: %w", b.ID, to, err)
	}
	return b, job, nil
}

// Verify queues a check of a backup: restic checks the repository and
// reads the whole backup back (which authenticates every byte), and the
// dump is loaded into a scratch database on the store's MariaDB, dropped
// afterwards. It runs as a Job in the backup's store's namespace, so that
// store must be there and READY. The backup's record keeps a failure as
// its error; the audit log has each outcome.
func (s *Service) Verify(ctx context.Context, c Caller, id string) (store.Backup, store.Job, error) {
	start := time.Now()
	b, err := s.succeededBackup(ctx, c, id, "verified")
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	st, err := s.DB.GetStore(ctx, b.Store)
	if errors.Is(err, store.ErrNotFound) {
		return store.Backup{}, store.Job{}, errorf(ErrConflict,
			"store %q of backup %q is gone, and a verification loads the dump into its database server: "+
				"restore the backup into a new store (urumi backup restore %s --to NAME) to check it", b.Store, id, id)
	}
	if err != nil {
		return store.Backup{}, store.Job{}, fmt.Errorf("get store %s: %w", b.Store, err)
	}
	if st.Status != store.StatusReady && st.Status != store.StatusDegraded {
		return store.Backup{}, store.Job{}, errorf(ErrConflict, "store %q is %s: its backups can be verified once it is READY", st.Name, st.Status)
	}
	params, err := json.Marshal(backupParams{Operation: backup.OpVerify, BackupID: id})
	if err != nil {
		return store.Backup{}, store.Job{}, fmt.Errorf("encode verify params: %w", err)
	}
	var job store.Job
	err = s.record(ctx, c, "backup.verify", st.Name, "requested", "backup "+id, start, func(tx store.DB) error {
		if job, err = enqueueStoreJob(ctx, tx, st.Name, store.JobBackup, c.Name, params, "verification of backup "+id); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return store.Backup{}, store.Job{}, err
	}
	return b, job, nil
}

// succeededBackup is backup id, which c may see, when backups are set up
// and it succeeded: only such a backup can be done (restored, verified).
func (s *Service) succeededBackup(ctx context.Context, c Caller, id, done string) (store.Backup, error) {
	b, err := s.GetBackup(ctx, c, id)
	if err != nil {
		return store.Backup{}, err
	}
	if _, _, _, err := s.Settings.Backup.resolved(); err != nil {
		return store.Backup{}, err
	}
	if b.Status != store.BackupSucceeded {
		return store.Backup{}, errorf(ErrConflict, "backup %q is %s: only a succeeded backup can be %s", id, b.Status, done)
	}
	return b, nil
}

// enqueueStoreJob queues a backup, restore or verification job on a store
// inside tx; a store with a job in flight is a conflict the caller can act
// on.
func enqueueStoreJob(ctx context.Context, tx store.DB, name string, kind store.JobKind, actor string, params []byte, what string) (store.Job, error) {
	job, err := tx.EnqueueJob(ctx, name, kind, actor, params)
	if errors.Is(err, store.ErrJobActive) {
		return store.Job{}, errorf(ErrConflict, "store %q has a job in flight: wait for it (urumi store get %s), then try again", name, name)
	}
	if err != nil {
		return store.Job{}, fmt.Errorf("queue %s: %w", what, err)
	}
	return job, nil
}
