package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

type storeUpgradeOptions struct {
	common
	out     *outputFlag
	Name    string
	Plan    string
	Set     []string
	Timeout time.Duration
	Wait    bool
}

func newStoreUpgradeCommand(f *Factory, runF func(*storeUpgradeOptions) error) *cobra.Command {
	o := &storeUpgradeOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "upgrade NAME",
		Short: "Bring a store to this urumi's chart, another plan or new values; a failure rolls back",
		Long: `Upgrade a store to the store chart built into this urumi, optionally moving it
to another plan (--plan, as the operator defines it now) or changing chart
values (--set, merged over the store's overrides: an entry for a key the
store has replaces it). The namespace's quota, limits and network policies
follow the plan; the credentials Secret is kept as it is.

The upgrade waits until every workload, and the setup Job that updates
WordPress core and WooCommerce, is ready. If it is not ready within half the
timeout, it is rolled back to the revision that was running, and the store
is READY again on its old version, with the reason in 'urumi store get'.
Interrupted (Ctrl-C, a killed process), the upgrade is handed back: run the
same command again, or 'urumi store retry NAME', to carry it on.`,
		Example: `  urumi store upgrade shop1
  urumi store upgrade shop1 --set images.wordpress.tag=7.1.3-php8.3-apache
  urumi store upgrade shop1 --plan large --timeout 15m`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.Plan, "plan", "", "move the store to this plan (see urumi plan list)")
	addSetFlag(cmd, &o.Set, "; merged over the store's overrides")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "how long the upgrade and, if it fails, its rollback may take (default: the timeout setting)")
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "run now and wait for the result")
	_ = cmd.RegisterFlagCompletionFunc("plan", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return f.Plans.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *storeUpgradeOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeUpgradeOptions) Validate() error {
	return validateTimeout(o.Timeout)
}

// validateTimeout checks a --timeout flag: 0 is the setting's.
func validateTimeout(d time.Duration) error {
	if d != 0 && (d < provision.MinChangeTimeout || d > provision.MaxChangeTimeout) {
		return usageError{errUsage(fmt.Sprintf("--timeout %s is out of range: give %s to %s", d, provision.MinChangeTimeout, provision.MaxChangeTimeout))}
	}
	return nil
}

func timeoutString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func (o *storeUpgradeOptions) Run(ctx context.Context) error {
	if o.Wait {
		if err := o.Preflight(ctx); err != nil {
			return err
		}
	}
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	st, job, err := svc.Upgrade(ctx, o.Caller, o.Name, provision.UpgradeRequest{
		Plan: o.Plan, Set: o.Set, Timeout: timeoutString(o.Timeout),
	})
	if err != nil {
		return err
	}
	return o.change(ctx, st, job, o.out, o.Wait)
}

// change drives an upgrade or rollback job here while the user waits, or
// leaves it queued, and prints the store as it ends.
func (c common) change(ctx context.Context, st store.Store, job store.Job, out *outputFlag, wait bool) error {
	if !wait {
		c.say("store %s: %s queued for a `urumi serve` worker (job %d)", st.Name, job.Kind, job.ID)
		return c.printer(out).print(st, storeDetail(st))
	}
	c.say("%s of store %s (job %d)", job.Kind, st.Name, job.ID)
	final, err := c.Drive(ctx, job)
	if err != nil {
		return err
	}
	c.say("store %s is %s on revision %d", final.Name, final.Status, final.Release.Revision)
	return c.printer(out).print(final, storeDetail(final))
}

type storeRollbackOptions struct {
	common
	out      *outputFlag
	Name     string
	Revision int
	Timeout  time.Duration
	Wait     bool
}

func newStoreRollbackCommand(f *Factory, runF func(*storeRollbackOptions) error) *cobra.Command {
	o := &storeRollbackOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "rollback NAME",
		Short: "Return a store to an earlier revision (its chart, values and plan)",
		Long: `Return a store to one of its earlier revisions (see 'urumi store history'):
its chart and values as Helm recorded them, and the plan and overrides urumi
recorded with them, which bring back its quota and network policies. The
rollback is a new revision. If it does not become ready within half the
timeout, the store is returned to the revision it ran before.`,
		Example: `  urumi store rollback shop1
  urumi store rollback shop1 --revision 1`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().IntVar(&o.Revision, "revision", 0, "the revision to return to (default: the one before the current revision)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "how long the rollback may take (default: the timeout setting)")
	cmd.Flags().BoolVar(&o.Wait, "wait", true, "run now and wait for the result")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *storeRollbackOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeRollbackOptions) Validate() error {
	if o.Revision < 0 {
		return usageError{errUsage(fmt.Sprintf("--revision %d is invalid: give a revision from urumi store history", o.Revision))}
	}
	return validateTimeout(o.Timeout)
}

func (o *storeRollbackOptions) Run(ctx context.Context) error {
	if o.Wait {
		if err := o.Preflight(ctx); err != nil {
			return err
		}
	}
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	st, job, err := svc.Rollback(ctx, o.Caller, o.Name, provision.RollbackRequest{
		Revision: o.Revision, Timeout: timeoutString(o.Timeout),
	})
	if err != nil {
		return err
	}
	return o.change(ctx, st, job, o.out, o.Wait)
}

type storeHistoryOptions struct {
	common
	out  *outputFlag
	Name string
}

func newStoreHistoryCommand(f *Factory, runF func(*storeHistoryOptions) error) *cobra.Command {
	o := &storeHistoryOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:               "history NAME",
		Short:             "List a store's revisions: chart and app versions, status, when and who",
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *storeHistoryOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeHistoryOptions) Validate() error { return nil }

func (o *storeHistoryOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	revs, err := svc.History(ctx, o.Caller, o.Name)
	if err != nil {
		return err
	}
	return o.printer(o.out).print(revs, historyTable(revs))
}

// historyTable fills a table with a store's revisions.
func historyTable(revs []store.Revision) func(*table) {
	return func(t *table) {
		t.headers("REVISION", "STATUS", "CHART", "WORDPRESS", "WOOCOMMERCE", "MARIADB", "BY", "ACTOR", "UPDATED", "DESCRIPTION")
		for _, r := range revs {
			by := string(r.Kind)
			if by == "" {
				by = "-"
			}
			actor := r.Actor
			if actor == "" {
				actor = "-"
			}
			updated := "-"
			if !r.At.IsZero() {
				updated = r.At.Format(time.RFC3339)
			}
			t.row(strconv.Itoa(r.Revision), r.Status, r.Versions.Chart, r.Versions.WordPress, r.Versions.WooCommerce,
				r.Versions.MariaDB, by, actor, updated, r.Description)
		}
	}
}
