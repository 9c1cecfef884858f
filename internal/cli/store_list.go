package cli

import (
	"context"

	"github.com/spf13/cobra"
)

type storeListOptions struct {
	common
	out   *outputFlag
	Owner string
	All   bool
}

func newStoreListCommand(f *Factory, runF func(*storeListOptions) error) *cobra.Command {
	o := &storeListOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List stores (yours by default)",
		Example: `  urumi store list
  urumi store list -A -o wide
  kubectl urumi store list --owner alice -o json`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.Owner, "owner", "", "list this owner's stores (default: the configured owner)")
	cmd.Flags().BoolVarP(&o.All, "all-owners", "A", false, "list every owner's stores")
	o.out = addOutputFlag(cmd, " (wide adds namespace and error)")
	return cmd
}

func (o *storeListOptions) Complete(f *Factory, _ *cobra.Command, _ []string) error {
	if o.Owner == "" && !o.All {
		o.Owner = f.Config.Owner
	}
	return nil
}

func (o *storeListOptions) Validate() error {
	if o.All && o.Owner != "" {
		return usageError{errUsage("--owner and --all-owners cannot be used together")}
	}
	return nil
}

func (o *storeListOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	list, err := svc.List(ctx, o.Caller, o.Owner, o.All)
	if err != nil {
		return err
	}
	return o.printer(o.out).print(list, storeTable(list, o.out.isWide()))
}
