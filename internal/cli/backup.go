package cli

import (
	"context"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

func newBackupCommand(f *Factory) *cobra.Command {
	cmd := newGroupCommand("backup", "Back up a store, list, restore, verify and delete its backups", "stores")
	cmd.AddCommand(
		newBackupCreateCommand(f, nil),
		newBackupListCommand(f, nil),
		newBackupDeleteCommand(f, nil),
		newBackupRestoreCommand(f, nil),
		newBackupVerifyCommand(f, nil),
	)
	return cmd
}

func backupTable(list []store.Backup) func(*table) {
	return func(t *table) {
		t.headers("ID", "STORE", "STATUS", "KIND", "SIZE", "AGE", "ACTOR")
		for _, b := range list {
			size := "-"
			if b.Size > 0 {
				size = strconv.FormatInt(b.Size, 10)
			}
			t.row(b.ID, b.Store, t.term.statusText(string(b.Status)), string(b.Kind), size, t.age(b.CreatedAt), b.Actor)
		}
	}
}

func backupDetail(b store.Backup) func(*table) {
	return func(t *table) {
		t.row("ID:", b.ID)
		t.row("Store:", b.Store)
		t.row("Owner:", b.Owner)
		t.row("Status:", t.term.statusText(string(b.Status)))
		t.row("Kind:", string(b.Kind))
		t.row("Actor:", b.Actor)
		t.row("Created:", b.CreatedAt.Format(time.RFC3339))
		if !b.FinishedAt.IsZero() {
			t.row("Finished:", b.FinishedAt.Format(time.RFC3339))
		}
		if b.Size > 0 {
			t.row("Size:", strconv.FormatInt(b.Size, 10)+" bytes")
		}
		if b.DBSnapshot != "" {
			t.row("Snapshots:", "database "+b.DBSnapshot+", files "+b.FilesSnapshot)
		}
		if b.Error != "" {
			t.row("Error:", t.term.red(b.Error))
		}
	}
}

// backupJob is what the backup commands that queue a job share: run it
// here and wait (with --wait), or leave it to `urumi serve`.
type backupJob struct {
	common
	out  *outputFlag
	Wait bool
}

func (o *backupJob) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "run now and wait for the result")
	o.out = addOutputFlag(cmd, "")
}

// queue asks the core for the job, drives it when waiting, and prints the
// backup as it ended (gone, after a deletion: then as it was).
func (o *backupJob) queue(ctx context.Context, what string, ask func(*provision.Service) (store.Backup, store.Job, error)) error {
	if o.Wait {
		if err := o.Preflight(ctx); err != nil {
			return err
		}
	}
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	b, job, err := ask(svc)
	if err != nil {
		return err
	}
	if !o.Wait {
		o.say("%s of backup %s queued for a `urumi serve` worker (job %d)", what, b.ID, job.ID)
		return o.printer(o.out).print(b, backupDetail(b))
	}
	o.say("%s of backup %s (job %d)", what, b.ID, job.ID)
	if _, err := o.Drive(ctx, job); err != nil {
		return err
	}
	final, err := svc.GetBackup(ctx, o.Caller, b.ID)
	if err != nil {
		o.say("backup %s is gone", b.ID)
		return nil
	}
	o.say("backup %s is %s", final.ID, final.Status)
	return o.printer(o.out).print(final, backupDetail(final))
}
