package cli

import (
	"context"

	"github.com/spf13/cobra"
)

type backupListOptions struct {
	common
	out   *outputFlag
	Store string
}

func newBackupListCommand(f *Factory, runF func(*backupListOptions) error) *cobra.Command {
	o := &backupListOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:     "list [STORE]",
		Aliases: []string{"ls"},
		Short:   "List backups, newest first (of your stores; admins see all)",
		Example: `  urumi backup list
  urumi backup list shop1 -o json`,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *backupListOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Store = args[0]
	}
	return nil
}

func (o *backupListOptions) Validate() error { return nil }

func (o *backupListOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	list, err := svc.Backups(ctx, o.Caller, o.Store)
	if err != nil {
		return err
	}
	return o.printer(o.out).print(list, backupTable(list))
}
