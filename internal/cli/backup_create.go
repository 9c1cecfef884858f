package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

type backupCreateOptions struct {
	backupJob
	Store string
}

func newBackupCreateCommand(f *Factory, runF func(*backupCreateOptions) error) *cobra.Command {
	o := &backupCreateOptions{backupJob: backupJob{common: f.common()}}
	cmd := &cobra.Command{
		Use:   "create STORE",
		Short: "Back up a store's database and files",
		Long: `Back up a store: its database, dumped consistently, and its WordPress files,
as restic snapshots in the backup repository the operator configured. The
backup runs as a job in the store's namespace; the store keeps serving.`,
		Example: `  urumi backup create shop1
  urumi backup create shop1 --wait=false`,
		Args:              exactArgs(1, "STORE"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	o.addFlags(cmd)
	return cmd
}

func (o *backupCreateOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Store = args[0]
	return nil
}

func (o *backupCreateOptions) Validate() error { return nil }

func (o *backupCreateOptions) Run(ctx context.Context) error {
	return o.queue(ctx, "backup", func(svc *provision.Service) (store.Backup, store.Job, error) {
		return svc.Backup(ctx, o.Caller, o.Store)
	})
}
