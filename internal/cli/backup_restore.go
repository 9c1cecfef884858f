package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

type backupRestoreOptions struct {
	backupJob
	ID string
	To string
}

func newBackupRestoreCommand(f *Factory, runF func(*backupRestoreOptions) error) *cobra.Command {
	o := &backupRestoreOptions{backupJob: backupJob{common: f.common()}}
	cmd := &cobra.Command{
		Use:   "restore BACKUP",
		Short: "Restore a backup into its store",
		Long: `Restore a backup into the store it was taken of: WordPress is scaled down, the
database and files are replaced by the backup's, WordPress is scaled back up
and the store is READY. What the store held since the backup is lost.`,
		Example: `  urumi backup list shop1
  urumi backup restore shop1-20260101-020000-ab12`,
		Args: exactArgs(1, "BACKUP"),
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.To, "to", "", "the store to restore into (only the backup's own store, for now)")
	o.addFlags(cmd)
	return cmd
}

func (o *backupRestoreOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.ID = args[0]
	return nil
}

func (o *backupRestoreOptions) Validate() error { return nil }

func (o *backupRestoreOptions) Run(ctx context.Context) error {
	return o.queue(ctx, "restore", func(svc *provision.Service) (store.Backup, store.Job, error) {
		return svc.Restore(ctx, o.Caller, o.ID, o.To)
	})
}
