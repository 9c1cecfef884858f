package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
)

type storeCheckOptions struct {
	common
	out  *outputFlag
	Name string
	All  bool
	// Kube connects to the cluster, as the configuration says.
	Kube func() (*provision.Kube, error)
}

func newStoreCheckCommand(f *Factory, runF func(*storeCheckOptions) error) *cobra.Command {
	o := &storeCheckOptions{common: f.common(), Kube: func() (*provision.Kube, error) { return f.Kube(f.quietLogger()) }}
	cmd := &cobra.Command{
		Use:   "check NAME | --all",
		Short: "Compare a store on the cluster with what urumi made, and test its isolation",
		Long: `Compare a store's objects on the cluster with what urumi wants for it, and
report each check as pass, warn or fail, with what is wrong and how to fix it:

  - the namespace's labels and Pod Security level, the ResourceQuota and
    LimitRange of the store's plan, urumi's NetworkPolicies, the credentials
    Secret's keys (never their values);
  - the Helm release deployed, and every object of it as the chart set it;
  - the workloads ready, the setup Job complete, the volumes bound;
  - nothing that widens access: NetworkPolicies beside urumi's, RoleBindings,
    NodePort or LoadBalancer Services, pods the chart does not run;
  - an isolation self-test: the namespace's live NetworkPolicies evaluated
    over a table of who may reach whom (the ingress controller, the store's
    pods, another store, other namespaces, the internet, the cluster's
    private ranges); the table is printed when it fails.

With --all, every store is checked from one read of the cluster, and
orphans are reported: a namespace labelled as urumi's without a store, and
a READY or FAILED store whose namespace is gone.

Exits 0 when nothing failed (warnings allowed) and 6 when a check failed,
for CI.`,
		Example: `  urumi store check shop
  urumi store check --all -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all, _ := cmd.Flags().GetBool("all"); all {
				if len(args) > 0 {
					return usageError{fmt.Errorf("%s takes NAME or --all, not both", cmd.CommandPath())}
				}
				return nil
			}
			return exactArgs(1, "NAME (or --all)")(cmd, args)
		},
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().BoolVar(&o.All, "all", false, "check every store and report orphans")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *storeCheckOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	if len(args) > 0 {
		o.Name = args[0]
	}
	return nil
}

func (o *storeCheckOptions) Validate() error {
	if o.Name != "" {
		return provision.ValidateName(o.Name)
	}
	return nil
}

func (o *storeCheckOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	k, err := o.Kube()
	if err != nil {
		return err
	}
	var r provision.CheckReport
	if o.All {
		r, err = svc.CheckAll(ctx, o.Caller, k)
	} else {
		r, err = svc.Check(ctx, o.Caller, k, o.Name)
	}
	if err != nil {
		return err
	}
	if err := o.printer(o.out).print(r, checkTable(r, !o.All)); err != nil {
		return err
	}
	if o.out.format == FormatTable {
		printIsolationTables(o.Streams.ErrOut, r)
	}
	return checkOutcome(r)
}

// checkFailed is a check that found failures (exit code 6).
type checkFailed struct{ msg string }

func (e checkFailed) Error() string { return e.msg }

func checkOutcome(r provision.CheckReport) error {
	n := r.Failed()
	if n == 0 {
		return nil
	}
	stores := 0
	for _, s := range r.Stores {
		if s.Status == provision.CheckFail {
			stores++
		}
	}
	msg := fmt.Sprintf("%d checks failed", n)
	switch {
	case stores > 0 && len(r.Stores) > 1:
		msg += fmt.Sprintf(" in %d of %d stores", stores, len(r.Stores))
	case stores > 0:
		msg += " in store " + r.Stores[0].Store
	}
	if o := orphanFailures(r); o > 0 {
		msg += fmt.Sprintf(" (%d orphans)", o)
	}
	return checkFailed{msg + ": see each FIX"}
}

func orphanFailures(r provision.CheckReport) int {
	n := 0
	for _, f := range r.Orphans {
		if f.Status == provision.CheckFail {
			n++
		}
	}
	return n
}

// checkTable lists findings: every one for a single store; with --all,
// one row for a store that passes and the others' warnings and failures.
func checkTable(r provision.CheckReport, every bool) func(*table) {
	return func(t *table) {
		t.headers("STORE", "STATUS", "CHECK", "OBJECT", "MESSAGE", "FIX")
		for _, s := range r.Stores {
			if !every && s.Status == provision.CheckPass {
				t.row(s.Store, t.term.checkText(provision.CheckPass), "all", "-", fmt.Sprintf("%d checks pass", len(s.Findings)), "")
				continue
			}
			for _, f := range s.Findings {
				if !every && f.Status == provision.CheckPass {
					continue
				}
				t.row(s.Store, t.term.checkText(f.Status), f.Kind, dash(f.Object), oneLine(f.Message), oneLine(f.Fix))
			}
		}
		for _, f := range r.Orphans {
			t.row("-", t.term.checkText(f.Status), f.Kind, dash(f.Object), oneLine(f.Message), oneLine(f.Fix))
		}
	}
}

// printIsolationTables writes each failed isolation self-test's table.
func printIsolationTables(w io.Writer, r provision.CheckReport) {
	for _, s := range r.Stores {
		for _, f := range s.Findings {
			if f.Kind == provision.FindingIsolation && f.Table != "" {
				fmt.Fprintf(w, "\nIsolation self-test of store %s (live NetworkPolicies of %s):\n%s", s.Store, s.Namespace, f.Table)
			}
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a cell on one row: a tab or newline would break the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// checkText colours a check's verdict for a terminal.
func (t *terminal) checkText(s provision.CheckStatus) string {
	switch s {
	case provision.CheckPass:
		return t.green(string(s))
	case provision.CheckFail:
		return t.red(strings.ToUpper(string(s)))
	case provision.CheckWarn:
		return t.yellow(string(s))
	}
	return string(s)
}
