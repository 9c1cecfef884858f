package cli

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

func newQuotaCommand(f *Factory) *cobra.Command {
	cmd := newGroupCommand("quota", "Read and set owners' store limits", "admin")

	var getOwner string
	var getOut outputFlag
	get := &cobra.Command{
		Use:   "get",
		Short: "Show an owner's store limit and use (default: yours)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := getOut.validate(); err != nil {
				return err
			}
			svc, err := f.Service(cmd.Context())
			if err != nil {
				return err
			}
			if getOwner == "" {
				getOwner = f.Config.Owner
			}
			q, err := svc.Quota(cmd.Context(), f.caller(), getOwner)
			if err != nil {
				return err
			}
			return getOut.print(f.Streams.Out, q, quotaTable(newTerminal(f.Streams.Out, f.Getenv), []store.Quota{q}))
		},
	}
	get.Flags().StringVar(&getOwner, "owner", "", "owner to show")
	getOut.add(get, "")

	var setOwner string
	var maxStores int
	var setOut outputFlag
	set := &cobra.Command{
		Use:     "set --owner OWNER --max-stores N",
		Short:   "Set an owner's maximum number of active stores",
		Example: "  urumi quota set --owner alice --max-stores 10",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := setOut.validate(); err != nil {
				return err
			}
			svc, err := f.Service(cmd.Context())
			if err != nil {
				return err
			}
			q, err := svc.SetQuota(cmd.Context(), f.caller(), setOwner, maxStores)
			if err != nil {
				return err
			}
			return setOut.print(f.Streams.Out, q, quotaTable(newTerminal(f.Streams.Out, f.Getenv), []store.Quota{q}))
		},
	}
	set.Flags().StringVar(&setOwner, "owner", "", "owner whose limit to set (required)")
	set.Flags().IntVar(&maxStores, "max-stores", -1, "maximum active stores (required, 0 or more)")
	_ = set.MarkFlagRequired("owner")
	_ = set.MarkFlagRequired("max-stores")
	setOut.add(set, "")

	list := newListCommand(f, "List owners with a limit or with stores",
		(*provision.Service).ListQuotas, quotaTable)
	cmd.AddCommand(get, set, list)
	return cmd
}

func quotaTable(term *terminal, qs []store.Quota) func(*table) {
	return func(t *table) {
		t.term = term
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
