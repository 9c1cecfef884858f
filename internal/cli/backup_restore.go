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
		Short: "Restore a backup into its store, or into a new store",
		Long: `Restore a backup into the store it was taken of: WordPress is scaled down, the
database and files are replaced by the backup's, WordPress is scaled back up
and the store is READY. What the store held since the backup is lost.

With --to NEW-STORE, a new store is made for the backup's owner (it counts
against their store limit) with its own credentials and host name, on the plan
of the backup's store, and the backup is restored into it: a staging copy. The
site's address (WordPress' siteurl and home) is changed to the new host; links
inside posts still name the old one.`,
		Example: `  urumi backup list shop1
  urumi backup restore shop1-20260101-020000-ab12
  urumi backup restore shop1-20260101-020000-ab12 --to shop1-staging`,
		Args: exactArgs(1, "BACKUP"),
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.To, "to", "", "a new store to restore into, instead of the backup's own")
	o.addFlags(cmd)
	return cmd
}

func (o *backupRestoreOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.ID = args[0]
	return nil
}

func (o *backupRestoreOptions) Validate() error { return nil }

func (o *backupRestoreOptions) Run(ctx context.Context) error {
	what := "restore"
	if o.To != "" {
		what = "restore into store " + o.To
	}
	return o.queue(ctx, what, func(svc *provision.Service) (store.Backup, store.Job, error) {
		return svc.Restore(ctx, o.Caller, o.ID, o.To)
	})
}
