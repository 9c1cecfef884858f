package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
)

func newPlanCommand(f *Factory) *cobra.Command {
	cmd := newGroupCommand("plan", "Show the plans that size stores", "stores")
	cmd.AddCommand(newPlanListCommand(f, nil))
	return cmd
}

type planListOptions struct {
	common
	out   *outputFlag
	Plans []provision.Plan
}

func newPlanListCommand(f *Factory, runF func(*planListOptions) error) *cobra.Command {
	o := &planListOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List plans with their namespace quota, per-container resources and egress",
		Args:    cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

// Complete takes the plans of the configuration.
func (o *planListOptions) Complete(f *Factory, _ *cobra.Command, _ []string) error {
	o.Plans = f.Plans.All()
	return nil
}

func (o *planListOptions) Validate() error { return nil }

func (o *planListOptions) Run(context.Context) error {
	return o.printer(o.out).print(o.Plans, planTable(o.Plans))
}

func planTable(plans []provision.Plan) func(*table) {
	return func(t *table) {
		t.headers("NAME", "CPU", "MEMORY", "STORAGE", "WORDPRESS (REQ/LIMIT)", "MARIADB (REQ/LIMIT)", "EGRESS", "DESCRIPTION")
		for _, p := range plans {
			t.row(p.Name, p.Quota.CPU, p.Quota.Memory, p.Quota.Storage,
				fmt.Sprintf("%s/%s cpu %s/%s mem", p.WordPress.RequestCPU, p.WordPress.LimitCPU, p.WordPress.RequestMemory, p.WordPress.LimitMemory),
				fmt.Sprintf("%s/%s cpu %s/%s mem", p.MariaDB.RequestCPU, p.MariaDB.LimitCPU, p.MariaDB.RequestMemory, p.MariaDB.LimitMemory),
				p.Egress.String(), p.Description)
		}
	}
}
