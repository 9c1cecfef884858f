package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
)

type storeCreateOptions struct {
	name    string
	owner   string
	plan    string
	set     []string
	wait    bool
	timeout time.Duration
	out     outputFlag
}

func newStoreCreateCommand(f *Factory) *cobra.Command {
	o := &storeCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a store and, by default, wait until it is READY",
		Long: `Create a WooCommerce store: a namespace with quota and network policies,
generated credentials kept in a Kubernetes Secret, and the store chart.

With --wait (the default) urumi provisions the store from this process and
shows each phase; Ctrl-C stops and leaves a job that "urumi store retry"
resumes. With --wait=false the store is queued for a "urumi serve" worker.
Running create --wait again for a store whose creation was interrupted
resumes it.`,
		Example: `  urumi store create shop1
  urumi store create shop2 --plan large --owner alice -o json
  urumi store create shop3 --set images.wordpress.tag=6.9.0-php8.3-apache`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if o.timeout > 0 {
				f.Config.Timeout = o.timeout
			}
			return o.run(cmd, f)
		},
	}
	cmd.Flags().StringVar(&o.owner, "owner", "", "owner of the store (default: the configured owner, else the OS user)")
	cmd.Flags().StringVar(&o.plan, "plan", "", `plan that sizes the store (see "urumi plan list"; default: the configured default plan)`)
	cmd.Flags().BoolVar(&o.wait, "wait", true, "provision now and wait until the store is READY or FAILED")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "how long provisioning may take (default: the configured timeout, 5m)")
	addSetFlag(cmd, &o.set, "")
	o.out.add(cmd, "")
	_ = cmd.RegisterFlagCompletionFunc("plan", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return f.Plans.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (o *storeCreateOptions) run(cmd *cobra.Command, f *Factory) error {
	if err := o.out.validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	svc, err := f.Service(ctx)
	if err != nil {
		return err
	}
	owner := o.owner
	if owner == "" {
		owner = f.Config.Owner
	}
	req := provision.CreateRequest{Name: o.name, Owner: owner, Plan: o.plan, Set: o.set}
	if err := svc.ValidateCreate(f.caller(), &req); err != nil {
		return err
	}
	if o.wait {
		if err := f.preflight(ctx); err != nil {
			return err
		}
	}
	st, job, err := svc.Create(ctx, f.caller(), req)
	if errors.Is(err, provision.ErrConflict) && o.wait {
		// A create that an earlier run did not finish is resumed.
		if est, ejob, uerr := svc.UnfinishedCreate(ctx, f.caller(), o.name); uerr == nil {
			st, job, err = est, ejob, nil
			fmt.Fprintf(f.Streams.ErrOut, "store %s exists and is still %s: resuming its creation\n", st.Name, st.Status)
		}
	}
	if err != nil {
		return err
	}
	if !o.wait {
		fmt.Fprintf(f.Streams.ErrOut, "store %s queued; a `urumi serve` worker will provision it (or run `urumi store retry %s`)\n", st.Name, st.Name)
		return o.out.print(f.Streams.Out, st, storeDetail(newTerminal(f.Streams.Out, f.Getenv), st))
	}
	fmt.Fprintf(f.Streams.ErrOut, "creating store %s (plan %s, owner %s)\n", st.Name, st.Plan, st.Owner)
	final, err := f.driveJob(ctx, job)
	if err != nil {
		return err
	}
	fmt.Fprintf(f.Streams.ErrOut, "store %s is READY at %s\n", final.Name, final.URL)
	return o.out.print(f.Streams.Out, final, storeDetail(newTerminal(f.Streams.Out, f.Getenv), final))
}
