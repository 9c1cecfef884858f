package cli

import (
	"context"

	"github.com/spf13/cobra"
)

type storeDeleteOptions struct {
	common
	Name string
	Wait bool
}

func newStoreDeleteCommand(f *Factory, runF func(*storeDeleteOptions) error) *cobra.Command {
	o := &storeDeleteOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:               "delete NAME",
		Aliases:           []string{"rm"},
		Short:             "Delete a store and everything it has on the cluster",
		Long:              "Uninstall the store's release, delete its namespace and wait until it is gone. Its history stays in the audit log. Works for FAILED and half-made stores too.",
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "delete now and wait until the namespace is gone")
	return cmd
}

func (o *storeDeleteOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeDeleteOptions) Validate() error { return nil }

func (o *storeDeleteOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	if o.Wait {
		if err := o.Preflight(ctx); err != nil {
			return err
		}
	}
	st, job, err := svc.Delete(ctx, o.Caller, o.Name)
	if err != nil {
		return err
	}
	if !o.Wait {
		o.say("store %s is DELETING; a `urumi serve` worker will finish it", st.Name)
		return nil
	}
	o.say("deleting store %s", st.Name)
	if _, err := o.Drive(ctx, job); err != nil {
		return err
	}
	o.say("store %s deleted", st.Name)
	return nil
}
