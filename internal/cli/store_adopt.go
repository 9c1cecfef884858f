package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
)

type storeAdoptOptions struct {
	common
	// Kube connects to the cluster, as the configuration says.
	Kube  func() (*provision.Kube, error)
	out   *outputFlag
	Name  string
	Owner string
	Plan  string
	Set   []string
	Wait  bool
}

func newStoreAdoptCommand(f *Factory, runF func(*storeAdoptOptions) error) *cobra.Command {
	o := &storeAdoptOptions{common: f.common(), Kube: func() (*provision.Kube, error) { return f.Kube(f.quietLogger()) }}
	cmd := &cobra.Command{
		Use:   "adopt NAME",
		Short: "Take back an orphan namespace as a store (admins)",
		Long: `Adopt the namespace of store NAME: a namespace labelled as urumi's that urumi
has no record of ("urumi store check --all" reports it as an orphan, for
example after urumi's database was restored from an older backup).

Adopt records the store, counted against its owner's store limit, and runs the
same idempotent steps as a create: the namespace, quota and network policies
are brought to the plan, the credentials Secret keeps its values (they open
the store's database), the volumes keep their data, and the Helm release
found there is upgraded in place. Nothing is deleted. The owner defaults to
the namespace's owner label.`,
		Example: `  urumi store check --all
  urumi store adopt shop1
  urumi store adopt shop2 --owner alice --plan large`,
		Args: exactArgs(1, "NAME"),
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.Owner, "owner", "", "owner of the store (default: the namespace's owner label)")
	cmd.Flags().StringVar(&o.Plan, "plan", "", `plan the store is brought to (see "urumi plan list"; default: the configured default plan)`)
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "run now and wait until the store is READY or FAILED")
	addSetFlag(cmd, &o.Set, "")
	o.out = addOutputFlag(cmd, "")
	_ = cmd.RegisterFlagCompletionFunc("plan", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return f.Plans.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (o *storeAdoptOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeAdoptOptions) Validate() error { return nil }

func (o *storeAdoptOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	k, err := o.Kube()
	if err != nil {
		return err
	}
	if o.Wait {
		if err := o.Preflight(ctx); err != nil {
			return err
		}
	}
	st, job, err := svc.Adopt(ctx, o.Caller, k, provision.AdoptRequest{Name: o.Name, Owner: o.Owner, Plan: o.Plan, Set: o.Set})
	if err != nil {
		return err
	}
	if !o.Wait {
		o.say("store %s adopted; a `urumi serve` worker will bring it to its plan (job %d)", st.Name, job.ID)
		return o.printer(o.out).print(st, storeDetail(st))
	}
	o.say("adopting store %s (plan %s, owner %s; job %d)", st.Name, st.Plan, st.Owner, job.ID)
	final, err := o.Drive(ctx, job)
	if err != nil {
		return err
	}
	o.say("store %s is %s", final.Name, final.Status)
	return o.printer(o.out).print(final, storeDetail(final))
}

type storeForgetOptions struct {
	common
	// Kube connects to the cluster, as the configuration says.
	Kube func() (*provision.Kube, error)
	out  *outputFlag
	Name string
}

func newStoreForgetCommand(f *Factory, runF func(*storeForgetOptions) error) *cobra.Command {
	o := &storeForgetOptions{common: f.common(), Kube: func() (*provision.Kube, error) { return f.Kube(f.quietLogger()) }}
	cmd := &cobra.Command{
		Use:   "forget NAME",
		Short: "Close the record of a store whose namespace is gone (admins)",
		Long: `Forget store NAME: close urumi's record of a store whose namespace is already
gone ("urumi store check --all" reports it as an orphan record, for example
after someone ran kubectl delete namespace). The record leaves the store list,
its name becomes free, and its history stays in the audit log.

Forget deletes nothing on the cluster, and refuses while the namespace still
exists (use "urumi store delete" to remove a store) or a job is running.`,
		Example: `  urumi store check --all
  urumi store forget shop1`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *storeForgetOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeForgetOptions) Validate() error { return nil }

func (o *storeForgetOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	k, err := o.Kube()
	if err != nil {
		return err
	}
	st, err := svc.Forget(ctx, o.Caller, k, o.Name)
	if err != nil {
		return err
	}
	o.say("store %s forgotten: its record is closed (its history stays in the audit log)", st.Name)
	return o.printer(o.out).print(st, storeDetail(st))
}
