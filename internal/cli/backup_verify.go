package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

type backupVerifyOptions struct {
	backupJob
	ID string
}

func newBackupVerifyCommand(f *Factory, runF func(*backupVerifyOptions) error) *cobra.Command {
	o := &backupVerifyOptions{backupJob: backupJob{common: f.common()}}
	cmd := &cobra.Command{
		Use:   "verify BACKUP",
		Short: "Check that a backup can be restored",
		Long: `Check a backup without touching its store: the backup repository is checked,
every byte of the backup is read back (which proves it is the data that was
backed up), and its database dump is loaded into a scratch database beside the
store's, which is dropped afterwards. The store must still exist and be READY:
the check runs in its namespace. A failed check is noted on the backup and in
the audit log; the backup stays listed.`,
		Example: `  urumi backup verify shop1-20260101-020000-ab12`,
		Args:    exactArgs(1, "BACKUP"),
	}
	cmd.RunE = runE(f, o, runF)
	o.addFlags(cmd)
	return cmd
}

func (o *backupVerifyOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.ID = args[0]
	return nil
}

func (o *backupVerifyOptions) Validate() error { return nil }

func (o *backupVerifyOptions) Run(ctx context.Context) error {
	return o.queue(ctx, "verification", func(svc *provision.Service) (store.Backup, store.Job, error) {
		return svc.Verify(ctx, o.Caller, o.ID)
	})
}
