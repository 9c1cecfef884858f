package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
)

func newStoreRetryCommand(f *Factory) *cobra.Command {
	var (
		set   []string
		clear bool
		wait  bool
		out   outputFlag
	)
	cmd := &cobra.Command{
		Use:   "retry NAME",
		Short: "Resume a FAILED or interrupted store's creation (or deletion)",
		Long: `Resume a store whose creation or deletion failed or was interrupted. Every
step is idempotent: what exists is kept, what is missing is made. --set
replaces the store's chart value overrides first (to fix what failed).`,
		Example: `  urumi store retry shop1
  urumi store retry shop1 --set resources.wordpress.requests.cpu=500m
  urumi store retry shop1 --clear-set`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			svc, err := f.Service(ctx)
			if err != nil {
				return err
			}
			var req provision.RetryRequest
			switch {
			case clear && len(set) > 0:
				return usageError{errUsage("--set and --clear-set cannot be used together")}
			case clear:
				req.Set = &[]string{}
			case len(set) > 0:
				req.Set = &set
			}
			st, job, err := svc.Retry(ctx, f.caller(), args[0], req)
			if err != nil {
				return err
			}
			if !wait {
				fmt.Fprintf(f.Streams.ErrOut, "store %s queued for a `urumi serve` worker\n", st.Name)
				return out.print(f.Streams.Out, st, storeDetail(newTerminal(f.Streams.Out, f.Getenv), st))
			}
			fmt.Fprintf(f.Streams.ErrOut, "retrying %s of store %s\n", job.Kind, st.Name)
			final, err := f.driveJob(ctx, job)
			if err != nil {
				return err
			}
			if final.Name == "" {
				fmt.Fprintf(f.Streams.ErrOut, "store %s deleted\n", st.Name)
				return nil
			}
			fmt.Fprintf(f.Streams.ErrOut, "store %s is %s\n", final.Name, final.Status)
			return out.print(f.Streams.Out, final, storeDetail(newTerminal(f.Streams.Out, f.Getenv), final))
		},
	}
	addSetFlag(cmd, &set, "; replaces the store's overrides")
	cmd.Flags().BoolVar(&clear, "clear-set", false, "drop the store's chart value overrides")
	cmd.Flags().BoolVar(&wait, "wait", true, "run now and wait for the result")
	out.add(cmd, "")
	return cmd
}
