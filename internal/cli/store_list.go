package cli

import (
	"github.com/spf13/cobra"
)

func newStoreListCommand(f *Factory) *cobra.Command {
	var (
		owner string
		all   bool
		out   outputFlag
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List stores (yours by default)",
		Example: `  urumi store list
  urumi store list -A -o wide
  kubectl urumi store list --owner alice -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if all && owner != "" {
				return usageError{errUsage("--owner and --all-owners cannot be used together")}
			}
			svc, err := f.Service(cmd.Context())
			if err != nil {
				return err
			}
			if owner == "" && !all {
				owner = f.Config.Owner
			}
			list, err := svc.List(cmd.Context(), f.caller(), owner, all)
			if err != nil {
				return err
			}
			term := newTerminal(f.Streams.Out, f.Getenv)
			return out.print(f.Streams.Out, list, storeTable(term, list, out.isWide()))
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "list this owner's stores (default: the configured owner)")
	cmd.Flags().BoolVarP(&all, "all-owners", "A", false, "list every owner's stores")
	out.add(cmd, " (wide adds namespace and error)")
	return cmd
}
