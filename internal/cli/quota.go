package cli

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

func newQuotaCommand(f *Factory) *cobra.Command {
	cmd := newGroupCommand("quota", "Read and set owners' store limits", "admin")
	cmd.AddCommand(
		newQuotaGetCommand(f, nil),
		newQuotaSetCommand(f, nil),
		newListCommand(f, "List owners with a limit or with stores", (*provision.Service).ListQuotas, quotaTable, nil),
	)
	return cmd
}

type quotaGetOptions struct {
	common
	out   *outputFlag
	Owner string
}

func newQuotaGetCommand(f *Factory, runF func(*quotaGetOptions) error) *cobra.Command {
	o := &quotaGetOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show an owner's store limit and use (default: yours)",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.Owner, "owner", "", "owner to show")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *quotaGetOptions) Complete(f *Factory, _ *cobra.Command, _ []string) error {
	if o.Owner == "" {
		o.Owner = f.Config.Owner
	}
	return nil
}

func (o *quotaGetOptions) Validate() error { return nil }

func (o *quotaGetOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	q, err := svc.Quota(ctx, o.Caller, o.Owner)
	if err != nil {
		return err
	}
	return o.printer(o.out).print(q, quotaTable([]store.Quota{q}))
}

type quotaSetOptions struct {
	common
	out       *outputFlag
	Owner     string
	MaxStores int
}

func newQuotaSetCommand(f *Factory, runF func(*quotaSetOptions) error) *cobra.Command {
	o := &quotaSetOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:     "set --owner OWNER --max-stores N",
		Short:   "Set an owner's maximum number of active stores",
		Example: "  urumi quota set --owner alice --max-stores 10",
		Args:    cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.Owner, "owner", "", "owner whose limit to set (required)")
	cmd.Flags().IntVar(&o.MaxStores, "max-stores", -1, "maximum active stores (required, 0 or more)")
	_ = cmd.MarkFlagRequired("owner")
	_ = cmd.MarkFlagRequired("max-stores")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *quotaSetOptions) Complete(*Factory, *cobra.Command, []string) error { return nil }
func (o *quotaSetOptions) Validate() error                                   { return nil }

func (o *quotaSetOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	q, err := svc.SetQuota(ctx, o.Caller, o.Owner, o.MaxStores)
	if err != nil {
		return err
	}
	return o.printer(o.out).print(q, quotaTable([]store.Quota{q}))
}

func quotaTable(qs []store.Quota) func(*table) {
	return func(t *table) {
		t.headers("OWNER", "USED", "MAX", "SOURCE")
		for _, q := range qs {
			src := "owner"
			if q.Default {
				src = "default"
			}
			t.row(q.Owner, strconv.Itoa(q.Used), strconv.Itoa(q.MaxStores), src)
		}
	}
}
