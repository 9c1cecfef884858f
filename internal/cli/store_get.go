package cli

import (
	"github.com/spf13/cobra"
)

func newStoreGetCommand(f *Factory) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:               "get NAME",
		Short:             "Show one store: status, URL, error and phase timings",
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			svc, err := f.Service(cmd.Context())
			if err != nil {
				return err
			}
			st, err := svc.Get(cmd.Context(), f.caller(), args[0])
			if err != nil {
				return err
			}
			return out.print(f.Streams.Out, st, storeDetail(newTerminal(f.Streams.Out, f.Getenv), st))
		},
	}
	out.add(cmd, "")
	return cmd
}

// completeStoreNames completes store names from the database.
func (f *Factory) completeStoreNames(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	svc, err := f.Service(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	list, err := svc.List(cmd.Context(), f.caller(), "", true)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	names := make([]string, 0, len(list))
	for _, s := range list {
		names = append(names, s.Name+"\t"+string(s.Status))
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
