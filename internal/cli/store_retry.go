package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
)

type storeRetryOptions struct {
	common
	out   *outputFlag
	Name  string
	Set   []string
	Clear bool
	Wait  bool
}

func newStoreRetryCommand(f *Factory, runF func(*storeRetryOptions) error) *cobra.Command {
	o := &storeRetryOptions{common: f.common()}
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
	}
	cmd.RunE = runE(f, o, runF)
	addSetFlag(cmd, &o.Set, "; replaces the store's overrides")
	cmd.Flags().BoolVar(&o.Clear, "clear-set", false, "drop the store's chart value overrides")
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "run now and wait for the result")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *storeRetryOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeRetryOptions) Validate() error {
	if o.Clear && len(o.Set) > 0 {
		return usageError{errUsage("--set and --clear-set cannot be used together")}
	}
	return nil
}

// request is the retry the flags ask for: nil Set keeps the overrides.
func (o *storeRetryOptions) request() provision.RetryRequest {
	var req provision.RetryRequest
	switch {
	case o.Clear:
		req.Set = &[]string{}
	case len(o.Set) > 0:
		req.Set = &o.Set
	}
	return req
}

func (o *storeRetryOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	st, job, err := svc.Retry(ctx, o.Caller, o.Name, o.request())
	if err != nil {
		return err
	}
	if !o.Wait {
		o.say("store %s queued for a `urumi serve` worker", st.Name)
		return o.printer(o.out).print(st, storeDetail(st))
	}
	o.say("retrying %s of store %s", job.Kind, st.Name)
	final, err := o.Drive(ctx, job)
	if err != nil {
		return err
	}
	if final.Name == "" {
		o.say("store %s deleted", st.Name)
		return nil
	}
	o.say("store %s is %s", final.Name, final.Status)
	return o.printer(o.out).print(final, storeDetail(final))
}
