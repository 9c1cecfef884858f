package cli

import (
	"context"
	"errors"
	"fmt"
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
	)
	return cmd
}

// storeTable fills a table with stores.
func storeTable(stores []store.Store, wide bool) func(*table) {
	return func(t *table) {
		h := []string{"NAME", "OWNER", "PLAN", "STATUS", "URL", "AGE"}
		if wide {
			h = append(h, "NAMESPACE", "ERROR")
		}
		t.headers(h...)
		for _, s := range stores {
			r := []string{s.Name, s.Owner, s.Plan, t.term.statusText(string(s.Status)), s.URL, t.age(s.CreatedAt)}
			if wide {
				r = append(r, s.Namespace, s.Error)
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
// phases, and explains what state an interrupted run left the store in.
func (f *Factory) driveJob(ctx context.Context, job store.Job) (store.Store, error) {
	runner, err := f.Runner(ctx, f.quietLogger())
	if err != nil {
		return store.Store{}, err
	}
	p := newProgress(f.Streams.ErrOut, f.ErrOut)
	_, runErr := runner.Drive(ctx, job.ID, p)
	p.finish()
	svc, err := f.Service(ctx)
	if err != nil {
		return store.Store{}, err
	}
	st, getErr := svc.Get(context.WithoutCancel(ctx), f.caller(), job.Store)
	if ctx.Err() != nil {
		state := "unknown"
		if getErr == nil {
			state = string(st.Status)
		}
		verb := "retry"
		if job.Kind == store.JobDelete {
			verb = "delete"
		}
		return st, fmt.Errorf("interrupted: store %s is left %s and its job was handed back; run `urumi store %s %s` to resume it: %w",
			job.Store, state, verb, job.Store, ctx.Err())
	}
	if job.Kind == store.JobDelete && errors.Is(getErr, provision.ErrNotFound) && runErr == nil {
		return store.Store{}, nil
	}
	if errors.Is(runErr, provision.ErrLeaseLost) {
		state := "deleted"
		if getErr == nil {
			state = string(st.Status)
		}
		return st, fmt.Errorf("stopped: another request took over store %s (it is now %s): see `urumi store get %s`", job.Store, state, job.Store)
	}
	if runErr != nil {
		hint := fmt.Sprintf("inspect it with `kubectl -n %s get all,events`, fix the cause, then `urumi store retry %s`", provision.Namespace(job.Store), job.Store)
		return st, fmt.Errorf("store %s %s failed: %w\n%s", job.Store, job.Kind, runErr, hint)
	}
	if getErr != nil {
		return st, getErr
	}
	return st, nil
}
