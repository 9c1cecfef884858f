package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPlanCommand(f *Factory) *cobra.Command {
	cmd := newGroupCommand("plan", "Show the plans that size stores", "stores")
	var out outputFlag
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List plans with their namespace quota, per-container resources and egress",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plans := f.Plans.All()
			term := newTerminal(f.Streams.Out, f.Getenv)
			return out.print(f.Streams.Out, plans, func(t *table) {
				t.term = term
				t.headers("NAME", "CPU", "MEMORY", "STORAGE", "WORDPRESS (REQ/LIMIT)", "MARIADB (REQ/LIMIT)", "EGRESS", "DESCRIPTION")
				for _, p := range plans {
					t.row(p.Name, p.Quota.CPU, p.Quota.Memory, p.Quota.Storage,
						fmt.Sprintf("%s/%s cpu %s/%s mem", p.WordPress.RequestCPU, p.WordPress.LimitCPU, p.WordPress.RequestMemory, p.WordPress.LimitMemory),
						fmt.Sprintf("%s/%s cpu %s/%s mem", p.MariaDB.RequestCPU, p.MariaDB.LimitCPU, p.MariaDB.RequestMemory, p.MariaDB.LimitMemory),
						p.Egress.String(), p.Description)
				}
			})
		},
	}
	out.add(list, "")
	cmd.AddCommand(list)
	return cmd
}
