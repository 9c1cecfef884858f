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

type auditOptions struct {
	common
	out    *outputFlag
	Filter store.AuditFilter
	// ChunkSize is the page size the log is read in (kubectl's flag).
	ChunkSize int
}

func newAuditCommand(f *Factory, runF func(*auditOptions) error) *cobra.Command {
	o := &auditOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:     "audit",
		Short:   "Show the audit log (append-only, hash-chained)",
		GroupID: "admin",
		Example: `  urumi audit --store shop1
  urumi audit --limit 20 -o json
  urumi audit verify`,
		Args: noArgs,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.Filter.Store, "store", "", "only entries about this store")
	cmd.Flags().StringVar(&o.Filter.Actor, "actor", "", "only entries by this actor")
	cmd.Flags().IntVar(&o.Filter.Limit, "limit", 0, "only the newest N entries (0: all)")
	cmd.Flags().IntVar(&o.ChunkSize, "chunk-size", defaultChunkSize, "read the log in pages of this many entries")
	o.out = addOutputFlag(cmd, "")
	cmd.AddCommand(newAuditVerifyCommand(f, nil))
	return cmd
}

func (o *auditOptions) Complete(*Factory, *cobra.Command, []string) error { return nil }

func (o *auditOptions) Validate() error {
	if o.Filter.Limit < 0 {
		return usageError{errUsage(fmt.Sprintf("--limit %d is invalid: use 0 (all) or more", o.Filter.Limit))}
	}
	return validChunkSize(o.ChunkSize, provision.MaxAuditPageSize)
}

func (o *auditOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	// Pages go back in time, each oldest first; printed oldest first.
	var pages [][]store.AuditEntry
	total, cont := 0, ""
	for {
		f := o.Filter
		f.Limit = o.ChunkSize
		if o.Filter.Limit > 0 {
			f.Limit = min(o.ChunkSize, o.Filter.Limit-total)
		}
		page, err := svc.ListAuditPage(ctx, o.Caller, f, cont)
		if err != nil {
			return err
		}
		pages = append(pages, page.Entries)
		total += len(page.Entries)
		if page.Continue == "" || (o.Filter.Limit > 0 && total >= o.Filter.Limit) {
			break
		}
		cont = page.Continue
	}
	entries := make([]store.AuditEntry, 0, total)
	for i := len(pages) - 1; i >= 0; i-- {
		entries = append(entries, pages[i]...)
	}
	return o.printer(o.out).print(entries, auditTable(entries))
}

func auditTable(entries []store.AuditEntry) func(*table) {
	return func(t *table) {
		t.headers("ID", "TIME", "ACTOR", "ACTION", "STORE", "OUTCOME", "DURATION", "DETAIL")
		for _, e := range entries {
			t.row(strconv.FormatInt(e.ID, 10), e.Time.Format(time.RFC3339), e.Actor, e.Action, e.Store, e.Outcome,
				(time.Duration(e.DurationMS) * time.Millisecond).String(), e.Detail)
		}
	}
}

type auditVerifyOptions struct {
	common
	out *outputFlag
}

func newAuditVerifyCommand(f *Factory, runF func(*auditVerifyOptions) error) *cobra.Command {
	o := &auditVerifyOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain: exit 1 if an entry was edited or deleted",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *auditVerifyOptions) Complete(*Factory, *cobra.Command, []string) error { return nil }
func (o *auditVerifyOptions) Validate() error                                   { return nil }

func (o *auditVerifyOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	res, err := svc.VerifyAudit(ctx, o.Caller)
	if err != nil {
		return err
	}
	if err := o.printer(o.out).print(res, verifyTable(res)); err != nil {
		return err
	}
	if !res.OK {
		return fmt.Errorf("audit log verification failed at entry %d: %s", res.BadID, res.Problem)
	}
	return nil
}

func verifyTable(res store.VerifyResult) func(*table) {
	return func(t *table) {
		if res.OK {
			t.row(fmt.Sprintf("audit log intact: %d entries, hash chain verified", res.Entries))
		} else {
			t.row(fmt.Sprintf("audit log TAMPERED at entry %d: %s", res.BadID, res.Problem))
		}
	}
}
