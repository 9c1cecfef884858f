package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/store"
)

func newAuditCommand(f *Factory) *cobra.Command {
	var (
		filter store.AuditFilter
		out    outputFlag
	)
	cmd := &cobra.Command{
		Use:     "audit",
		Short:   "Show the audit log (append-only, hash-chained)",
		GroupID: "admin",
		Example: `  urumi audit --store shop1
  urumi audit --limit 20 -o json
  urumi audit verify`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			svc, err := f.Service(cmd.Context())
			if err != nil {
				return err
			}
			entries, err := svc.Audit(cmd.Context(), f.caller(), filter)
			if err != nil {
				return err
			}
			term := newTerminal(f.Streams.Out, f.Getenv)
			return out.print(f.Streams.Out, entries, func(t *table) {
				t.term = term
				t.headers("ID", "TIME", "ACTOR", "ACTION", "STORE", "OUTCOME", "DURATION", "DETAIL")
				for _, e := range entries {
					t.row(strconv.FormatInt(e.ID, 10), e.Time.Format(time.RFC3339), e.Actor, e.Action, e.Store, e.Outcome,
						(time.Duration(e.DurationMS) * time.Millisecond).String(), e.Detail)
				}
			})
		},
	}
	cmd.Flags().StringVar(&filter.Store, "store", "", "only entries about this store")
	cmd.Flags().StringVar(&filter.Actor, "actor", "", "only entries by this actor")
	cmd.Flags().IntVar(&filter.Limit, "limit", 0, "only the newest N entries (0: all)")
	out.add(cmd, "")

	var vout outputFlag
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain: exit 1 if an entry was edited or deleted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := vout.validate(); err != nil {
				return err
			}
			svc, err := f.Service(cmd.Context())
			if err != nil {
				return err
			}
			res, err := svc.VerifyAudit(cmd.Context(), f.caller())
			if err != nil {
				return err
			}
			if err := vout.print(f.Streams.Out, res, func(t *table) {
				if res.OK {
					t.row(fmt.Sprintf("audit log intact: %d entries, hash chain verified", res.Entries))
				} else {
					t.row(fmt.Sprintf("audit log TAMPERED at entry %d: %s", res.BadID, res.Problem))
				}
			}); err != nil {
				return err
			}
			if !res.OK {
				return fmt.Errorf("audit log verification failed at entry %d: %s", res.BadID, res.Problem)
			}
			return nil
		},
	}
	vout.add(verify, "")
	cmd.AddCommand(verify)
	return cmd
}
