package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

type backupDeleteOptions struct {
	backupJob
	ID string
}

func newBackupDeleteCommand(f *Factory, runF func(*backupDeleteOptions) error) *cobra.Command {
	o := &backupDeleteOptions{backupJob: backupJob{common: f.common()}}
	cmd := &cobra.Command{
		Use:   "delete BACKUP",
		Short: "Delete a backup from the repository",
		Long: `Delete a backup: its snapshots are removed from the backup repository, then its
record. The store must still exist: the deletion runs in its namespace.`,
		Example: `  urumi backup delete shop1-20260101-020000-ab12`,
		Args:    exactArgs(1, "BACKUP"),
	}
	cmd.RunE = runE(f, o, runF)
	o.addFlags(cmd)
	return cmd
}

func (o *backupDeleteOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.ID = args[0]
	return nil
}

func (o *backupDeleteOptions) Validate() error { return nil }

func (o *backupDeleteOptions) Run(ctx context.Context) error {
	return o.queue(ctx, "deletion", func(svc *provision.Service) (store.Backup, store.Job, error) {
		return svc.DeleteBackup(ctx, o.Caller, o.ID)
	})
}
