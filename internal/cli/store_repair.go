package cli

import (
	"context"

	"github.com/spf13/cobra"
)

type storeRepairOptions struct {
	common
	out  *outputFlag
	Name string
	Wait bool
}

func newStoreRepairCommand(f *Factory, runF func(*storeRepairOptions) error) *cobra.Command {
	o := &storeRepairOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "repair NAME",
		Short: "Bring back what 'urumi store check' found drifted (admins)",
		Long: `Repair a store: check it, then run the same idempotent steps as a create
(namespace labels, quota and limits to the store's plan, urumi's network
policies, the credentials Secret's missing keys), delete extra network
policies only when they carry urumi's labels, and, when objects of the Helm
release drifted or its workloads are not as the chart says, re-apply the
release at its recorded revision (a new revision). Then it checks again: the
store is READY when everything urumi can fix passes, and DEGRADED with what
is left for a person in its error otherwise.

What repair leaves to a person: objects urumi did not make (an extra policy,
a RoleBinding, a NodePort Service, a stray pod: it never deletes them), and a
lost database password: a new random one would not open the database, so
restore the Secret from a backup, or reset the password in MariaDB and in the
Secret. Other lost keys (WordPress salts, the admin password) are refilled
with new random values, which signs users out.`,
		Example: `  urumi store check shop1
  urumi store repair shop1`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "run now and wait for the result")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *storeRepairOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeRepairOptions) Validate() error { return nil }

func (o *storeRepairOptions) Run(ctx context.Context) error {
	if o.Wait {
		if err := o.Preflight(ctx); err != nil {
			return err
		}
	}
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	st, job, err := svc.Repair(ctx, o.Caller, o.Name)
	if err != nil {
		return err
	}
	if !o.Wait {
		o.say("store %s: repair queued for a `urumi serve` worker (job %d)", st.Name, job.ID)
		return o.printer(o.out).print(st, storeDetail(st))
	}
	o.say("repair of store %s (job %d)", st.Name, job.ID)
	final, err := o.Drive(ctx, job)
	if err != nil {
		return err
	}
	o.say("store %s is %s", final.Name, final.Status)
	return o.printer(o.out).print(final, storeDetail(final))
}
