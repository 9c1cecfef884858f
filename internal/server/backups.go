package server

import (
	"context"
	"net/http"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// backupJobReply is what a request that queues a backup job answers: the
// backup and the job that works on it.
type backupJobReply struct {
	Backup store.Backup `json:"backup"`
	JobID  int64        `json:"jobId"`
}

// handleCreateBackup queues a backup of a store (its owner or an admin).
func handleCreateBackup(svc *provision.Service, wake func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		b, job, err := svc.Backup(r.Context(), principalFrom(r.Context()).caller, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		wake()
		encode(w, http.StatusAccepted, backupJobReply{Backup: b, JobID: job.ID})
	})
}

// handleListBackups lists the caller's backups, of one store with ?store=.
func handleListBackups(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("store")
		if name != "" {
			if err := provision.ValidateName(name); err != nil {
				writeError(w, r, err)
				return
			}
		}
		list, err := svc.Backups(r.Context(), principalFrom(r.Context()).caller, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, list)
	})
}

// handleBackupJob queues a job on one backup (delete, restore, verify).
func handleBackupJob(wake func(), queue func(ctx context.Context, c provision.Caller, id string, r *http.Request) (store.Backup, store.Job, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, job, err := queue(r.Context(), principalFrom(r.Context()).caller, r.PathValue("id"), r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		wake()
		encode(w, http.StatusAccepted, backupJobReply{Backup: b, JobID: job.ID})
	})
}

// restoreBody is a restore request's optional body.
type restoreBody struct {
	To string `json:"to,omitempty"`
}

func handleDeleteBackup(svc *provision.Service, wake func()) http.Handler {
	return handleBackupJob(wake, func(ctx context.Context, c provision.Caller, id string, _ *http.Request) (store.Backup, store.Job, error) {
		return svc.DeleteBackup(ctx, c, id)
	})
}

func handleVerifyBackup(svc *provision.Service, wake func()) http.Handler {
	return handleBackupJob(wake, func(ctx context.Context, c provision.Caller, id string, _ *http.Request) (store.Backup, store.Job, error) {
		return svc.Verify(ctx, c, id)
	})
}

func handleRestoreBackup(svc *provision.Service, limit int64, wake func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[restoreBody](w, r, limit, true)
		if err != nil {
			writeError(w, r, err)
			return
		}
		handleBackupJob(wake, func(ctx context.Context, c provision.Caller, id string, _ *http.Request) (store.Backup, store.Job, error) {
			return svc.Restore(ctx, c, id, req.To)
		}).ServeHTTP(w, r)
	})
}
