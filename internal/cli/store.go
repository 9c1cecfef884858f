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
		newStoreCreateCommand(f),
		newStoreListCommand(f),
		newStoreGetCommand(f),
		newStoreDeleteCommand(f),
		newStoreRetryCommand(f),
	)
	return cmd
}

// storeTable fills a table with stores.
func storeTable(term *terminal, stores []store.Store, wide bool) func(*table) {
	return func(t *table) {
		t.term = term
		h := []string{"NAME", "OWNER", "PLAN", "STATUS", "URL", "AGE"}
		if wide {
			h = append(h, "NAMESPACE", "ERROR")
		}
		t.headers(h...)
		for _, s := range stores {
			r := []string{s.Name, s.Owner, s.Plan, term.statusText(string(s.Status)), s.URL, age(s.CreatedAt)}
			if wide {
				r = append(r, s.Namespace, s.Error)
			}
			t.row(r...)
		}
	}
}

// storeDetail fills a table with one store's fields and phases.
func storeDetail(term *terminal, s store.Store) func(*table) {
	return func(t *table) {
		t.term = term
		t.row("Name:", s.Name)
		t.row("Owner:", s.Owner)
		t.row("Plan:", s.Plan)
		t.row("Status:", term.statusText(string(s.Status)))
		t.row("Namespace:", s.Namespace)
		t.row("URL:", s.URL)
		t.row("Created:", s.CreatedAt.Format(time.RFC3339)+" ("+age(s.CreatedAt)+" ago)")
		t.row("Updated:", s.UpdatedAt.Format(time.RFC3339))
		if s.Error != "" {
			t.row("Error:", term.red(s.Error))
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

func age(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// driveJob runs a job in this process while the user waits, showing its
// phases, and explains what state an interrupted run left the store in.
func (f *Factory) driveJob(ctx context.Context, job store.Job) (store.Store, error) {
	runner, err := f.Runner(ctx, f.quietLogger())
	if err != nil {
		return store.Store{}, err
	}
	term := newTerminal(f.Streams.ErrOut, f.Getenv)
	p := newProgress(f.Streams.ErrOut, term)
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

// setFlag is --set key=value, repeatable.
func addSetFlag(cmd *cobra.Command, set *[]string, what string) {
	cmd.Flags().StringArrayVar(set, "set", nil, "override a store chart value (key=value, repeatable; e.g. images.wordpress.tag=6.9.0)"+what)
}
