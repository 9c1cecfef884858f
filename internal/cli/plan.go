package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
)

func newPlanCommand(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "plan", Short: "Show the plans that size stores", GroupID: "stores"}
	var out outputFlag
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List plans with their namespace quota and per-container resources",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plans := provision.Plans()
			term := newTerminal(f.Streams.Out, f.Getenv)
			return out.print(f.Streams.Out, plans, func(t *table) {
				t.term = term
				t.headers("NAME", "CPU", "MEMORY", "STORAGE", "WORDPRESS (REQ/LIMIT)", "MARIADB (REQ/LIMIT)", "DESCRIPTION")
				for _, p := range plans {
					t.row(p.Name, p.Quota.CPU, p.Quota.Memory, p.Quota.Storage,
						fmt.Sprintf("%s/%s cpu %s/%s mem", p.WordPress.RequestCPU, p.WordPress.LimitCPU, p.WordPress.RequestMemory, p.WordPress.LimitMemory),
						fmt.Sprintf("%s/%s cpu %s/%s mem", p.MariaDB.RequestCPU, p.MariaDB.LimitCPU, p.MariaDB.RequestMemory, p.MariaDB.LimitMemory),
						p.Description)
				}
			})
		},
	}
	out.add(list, "")
	cmd.AddCommand(list)
	return cmd
}
