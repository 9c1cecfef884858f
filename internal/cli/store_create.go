package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

type storeCreateOptions struct {
	common
	out *outputFlag

	// From flags and arguments.
	Name    string
	Owner   string
	Plan    string
	Set     []string
	Wait    bool
	Timeout time.Duration
}

func newStoreCreateCommand(f *Factory, runF func(*storeCreateOptions) error) *cobra.Command {
	o := &storeCreateOptions{common: f.common()}
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
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.Owner, "owner", "", "owner of the store (default: the configured owner, else the OS user)")
	cmd.Flags().StringVar(&o.Plan, "plan", "", `plan that sizes the store (see "urumi plan list"; default: the configured default plan)`)
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "provision now and wait until the store is READY or FAILED")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "how long provisioning may take (default: the configured timeout, 5m)")
	addSetFlag(cmd, &o.Set, "")
	o.out = addOutputFlag(cmd, "")
	_ = cmd.RegisterFlagCompletionFunc("plan", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return f.Plans.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (o *storeCreateOptions) Complete(f *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	if o.Owner == "" {
		o.Owner = f.Config.Owner
	}
	// The command's --timeout is the global setting's flag here: resolved
	// with it (flag > URUMI_TIMEOUT > file > default), it reaches the
	// cluster client through the settings.
	o.Timeout = f.Config.Timeout
	return nil
}

func (o *storeCreateOptions) Validate() error { return nil }

func (o *storeCreateOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	req := provision.CreateRequest{Name: o.Name, Owner: o.Owner, Plan: o.Plan, Set: o.Set}
	if err := svc.ValidateCreate(o.Caller, &req); err != nil {
		return err
	}
	if o.Wait {
		if err := o.Preflight(ctx); err != nil {
			return err
		}
	}
	var (
		st      store.Store
		job     store.Job
		resumed bool
	)
	if o.Wait {
		// A create that an earlier run did not finish is resumed.
		st, job, resumed, err = svc.CreateOrResume(ctx, o.Caller, req)
	} else {
		st, job, err = svc.Create(ctx, o.Caller, req)
	}
	if err != nil {
		return err
	}
	if resumed {
		o.say("store %s exists and is still %s: resuming its creation", st.Name, st.Status)
	}
	if !o.Wait {
		o.say("store %s queued; a `urumi serve` worker will provision it (or run `urumi store retry %s`)", st.Name, st.Name)
		return o.printer(o.out).print(st, storeDetail(st))
	}
	o.say("creating store %s (plan %s, owner %s)", st.Name, st.Plan, st.Owner)
	final, err := o.Drive(ctx, job)
	if err != nil {
		return err
	}
	o.say("store %s is READY at %s", final.Name, final.URL)
	return o.printer(o.out).print(final, storeDetail(final))
}
