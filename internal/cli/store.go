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

func newStoreCommand(f *Factory) *cobra.Command {
	cmd := newGroupCommand("store", "Create, list, inspect and delete WooCommerce stores", "stores", "stores")
	cmd.AddCommand(
		newStoreCreateCommand(f, nil),
		newStoreListCommand(f, nil),
		newStoreGetCommand(f, nil),
		newStoreDeleteCommand(f, nil),
		newStoreRetryCommand(f, nil),
		newStoreUpgradeCommand(f, nil),
		newStoreRollbackCommand(f, nil),
		newStoreHistoryCommand(f, nil),
		newStoreCheckCommand(f, nil),
		newStoreRepairCommand(f, nil),
		newStoreAdoptCommand(f, nil),
		newStoreForgetCommand(f, nil),
		newStoreCredentialsCommand(f, nil),
		newStoreResetPasswordCommand(f, nil),
	)
	return cmd
}

// storeTable fills a table with stores.
func storeTable(stores []store.Store, wide bool) func(*table) {
	return func(t *table) {
		h := []string{"NAME", "OWNER", "PLAN", "STATUS", "URL", "AGE"}
		if wide {
			h = append(h, "NAMESPACE", "REVISION", "CHART", "WORDPRESS", "WOOCOMMERCE", "UPGRADE", "ERROR")
		}
		t.headers(h...)
		for _, s := range stores {
			r := []string{s.Name, s.Owner, s.Plan, t.term.statusText(string(s.Status)), s.URL, t.age(s.CreatedAt)}
			if wide {
				v := s.Release.Versions
				r = append(r, s.Namespace, orDash(revisionText(s.Release.Revision)), orDash(v.Chart), orDash(v.WordPress),
					orDash(v.WooCommerce), orDash(s.Release.UpgradeAvailable), s.Error)
			}
			t.row(r...)
		}
	}
}

// storeDetail fills a table with one store's fields and phases.
func storeDetail(s store.Store) func(*table) {
	return func(t *table) {
		t.row("Name:", s.Name)
		t.row("Owner:", s.Owner)
		t.row("Plan:", s.Plan)
		t.row("Status:", t.term.statusText(string(s.Status)))
		t.row("Namespace:", s.Namespace)
		t.row("URL:", s.URL)
		t.row("Created:", s.CreatedAt.Format(time.RFC3339)+" ("+t.age(s.CreatedAt)+" ago)")
		t.row("Updated:", s.UpdatedAt.Format(time.RFC3339))
		if s.Error != "" {
			t.row("Error:", t.term.red(s.Error))
		}
		rel := s.Release
		if rel.Revision > 0 {
			t.row("Revision:", strconv.Itoa(rel.Revision))
		}
		v := rel.Versions
		if v.Chart != "" {
			t.row("Chart:", v.Chart)
			t.row("Versions:", fmt.Sprintf("wordpress %s, woocommerce %s, mariadb %s, wp-cli %s", v.WordPress, v.WooCommerce, v.MariaDB, v.WPCLI))
		}
		if rel.UpgradeAvailable != "" {
			t.row("Upgrade:", "chart "+rel.UpgradeAvailable+" available: urumi store upgrade "+s.Name)
		}
		if c := rel.LastChange; c != nil {
			line := fmt.Sprintf("%s %s by %s at %s", c.Kind, c.Outcome, c.Actor, c.At.Format(time.RFC3339))
			if c.From != 0 || c.To != 0 {
				line += fmt.Sprintf(" (revision %d to %d)", c.From, c.To)
			}
			if c.Outcome != store.ChangeSucceeded {
				line = t.term.red(line)
			}
			t.row("Last change:", line)
			if c.Reason != "" {
				t.row("Reason:", c.Reason)
			}
		}
		if b := s.LastBackup; b != nil {
			line := fmt.Sprintf("%s %s %s at %s", b.ID, b.Kind, b.Status, b.CreatedAt.Format(time.RFC3339))
			if b.Status == store.BackupFailed {
				line = t.term.red(line)
			}
			t.row("Last backup:", line)
			if b.Error != "" {
				t.row("Backup error:", t.term.red(b.Error))
			}
		}
		for i, p := range s.Phases {
			label := ""
			if i == 0 {
				label = "Phases:"
			}
			t.row(label, fmt.Sprintf("%s %s", p.Name, (time.Duration(p.DurationMS)*time.Millisecond).String()))
		}
	}
}

// completeStoreNames completes store names from the database.
func (f *Factory) completeStoreNames(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	svc, err := f.Service(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	list, err := svc.List(cmd.Context(), f.caller(), "", true)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	names := make([]string, 0, len(list))
	for _, s := range list {
		names = append(names, s.Name+"\t"+string(s.Status))
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// driveJob runs a job in this process while the user waits, showing its
// phases; the core tells how it ended and this says it in the CLI's words.
func (f *Factory) driveJob(ctx context.Context, job store.Job) (store.Store, error) {
	runner, err := f.Runner(ctx, f.quietLogger())
	if err != nil {
		return store.Store{}, err
	}
	svc, err := f.Service(ctx)
	if err != nil {
		return store.Store{}, err
	}
	p := newProgress(f.Streams.ErrOut, f.ErrOut)
	out, err := svc.DriveJob(ctx, f.caller(), runner, job, p)
	p.finish()
	if err != nil {
		return out.Store, err
	}
	return out.Store, outcomeError(out)
}

// outcomeError words a driven job's outcome: nil when it is done, else what
// state the store was left in and the command that goes on from there.
func outcomeError(out provision.Outcome) error {
	name := out.Job.Store
	switch out.Kind {
	case provision.OutcomeInterrupted:
		verb := "retry"
		switch out.Job.Kind {
		case store.JobDelete:
			verb = "delete"
		case store.JobRepair:
			verb = "repair"
		}
		return fmt.Errorf("interrupted: store %s is left %s and its job was handed back; run `urumi store %s %s` to resume it: %w",
			name, out.State, verb, name, out.Cause)
	case provision.OutcomeTakenOver:
		return fmt.Errorf("stopped: another request took over store %s (it is now %s): see `urumi store get %s`", name, out.State, name)
	case provision.OutcomeFailed:
		if k := out.Job.Kind; k == store.JobUpgrade || k == store.JobRollback {
			if out.Store.Status == store.StatusReady {
				return fmt.Errorf("store %s %s failed and was rolled back: it runs revision %d as before: %w\nsee `urumi store get %s` and `urumi store history %s`",
					name, k, out.Store.Release.Revision, out.Cause, name, name)
			}
			return fmt.Errorf("store %s %s failed and could not be rolled back: %w\ninspect it with `kubectl -n %s get all,events`, then `urumi store rollback %s` or upgrade it again",
				name, k, out.Cause, provision.Namespace(name), name)
		}
		if out.Job.Kind == store.JobRepair {
			return fmt.Errorf("store %s repair failed (the store is %s): %w\ninspect it with `urumi store check %s`, fix the cause, then `urumi store repair %s` again",
				name, out.Store.Status, out.Cause, name, name)
		}
		hint := fmt.Sprintf("inspect it with `kubectl -n %s get all,events`, fix the cause, then `urumi store retry %s`", provision.Namespace(name), name)
		return fmt.Errorf("store %s %s failed: %w\n%s", name, out.Job.Kind, out.Cause, hint)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func revisionText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
