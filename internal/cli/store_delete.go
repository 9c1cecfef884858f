package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newStoreDeleteCommand(f *Factory) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:               "delete NAME",
		Aliases:           []string{"rm"},
		Short:             "Delete a store and everything it has on the cluster",
		Long:              "Uninstall the store's release, delete its namespace and wait until it is gone. Its history stays in the audit log. Works for FAILED and half-made stores too.",
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			svc, err := f.Service(ctx)
			if err != nil {
				return err
			}
			if wait {
				if err := f.preflight(ctx); err != nil {
					return err
				}
			}
			st, job, err := svc.Delete(ctx, f.caller(), args[0])
			if err != nil {
				return err
			}
			if !wait {
				fmt.Fprintf(f.Streams.ErrOut, "store %s is DELETING; a `urumi serve` worker will finish it\n", st.Name)
				return nil
			}
			fmt.Fprintf(f.Streams.ErrOut, "deleting store %s\n", st.Name)
			if _, err := f.driveJob(ctx, job); err != nil {
				return err
			}
			fmt.Fprintf(f.Streams.ErrOut, "store %s deleted\n", st.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", true, "delete now and wait until the namespace is gone")
	return cmd
}
