package cli

import (
	"context"

	"github.com/spf13/cobra"
)

type storeGetOptions struct {
	common
	out  *outputFlag
	Name string
}

func newStoreGetCommand(f *Factory, runF func(*storeGetOptions) error) *cobra.Command {
	o := &storeGetOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:               "get NAME",
		Short:             "Show one store: status, URL, error and phase timings",
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *storeGetOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeGetOptions) Validate() error { return nil }

func (o *storeGetOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	st, err := svc.Get(ctx, o.Caller, o.Name)
	if err != nil {
		return err
	}
	return o.printer(o.out).print(st, storeDetail(st))
}
