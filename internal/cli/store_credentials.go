package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
)

// `store credentials` and `store reset-password` print a password: on a
// terminal, where a person reads it, or with --reveal, which says the
// caller means to send it to a pipe or a file (a script, a password
// manager). Without either they refuse before anything is read or changed.

type storeCredentialsOptions struct {
	common
	out    *outputFlag
	Name   string
	Reveal bool
	Reset  bool
	// Kube connects to the cluster, as the configuration says.
	Kube func() (*provision.Kube, error)
}

func newStoreCredentialsCommand(f *Factory, runF func(*storeCredentialsOptions) error) *cobra.Command {
	o := &storeCredentialsOptions{common: f.common(), Kube: func() (*provision.Kube, error) { return f.Kube(f.quietLogger()) }}
	cmd := &cobra.Command{
		Use:   "credentials NAME",
		Short: "Show the store's WordPress administrator user name and password",
		Long: `Show the user name and password of the store's WordPress administrator, read
from the store's credentials Secret, and the store's URL (its admin pages are
under /wp-admin/). Each reading is written to the audit log with who read it
(never the password).

The password is printed on a terminal. When stdout is a pipe or a file the
command refuses unless --reveal says that is meant.`,
		Example: `  urumi store credentials shop1
  urumi store credentials shop1 --reveal -o json | jq -r .password`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().BoolVar(&o.Reveal, "reveal", false, "print the password even when stdout is not a terminal")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func newStoreResetPasswordCommand(f *Factory, runF func(*storeCredentialsOptions) error) *cobra.Command {
	o := &storeCredentialsOptions{common: f.common(), Reset: true, Kube: func() (*provision.Kube, error) { return f.Kube(f.quietLogger()) }}
	cmd := &cobra.Command{
		Use:   "reset-password NAME",
		Short: "Give the store's WordPress administrator a new random password",
		Long: `Give the store's WordPress administrator a new random password: it is written
to the store's credentials Secret, and a one-shot Job in the store's namespace
applies it to WordPress with wp-cli. The command does not wait for the Job;
it prints the Job's name, to follow it with kubectl. A reset replaces one
still running. The store must be READY (or DEGRADED) with no other operation
in flight. The reset is written to the audit log with who asked (never the
password).

The new password is shown this once on a terminal (urumi store credentials
shows it again). When stdout is a pipe or a file the command refuses, before
changing anything, unless --reveal says that is meant.`,
		Example: `  urumi store reset-password shop1
  urumi store reset-password shop1 --reveal -o json > shop1-admin.json`,
		Args:              exactArgs(1, "NAME"),
		ValidArgsFunction: f.completeStoreNames,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().BoolVar(&o.Reveal, "reveal", false, "print the new password even when stdout is not a terminal")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *storeCredentialsOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	return nil
}

func (o *storeCredentialsOptions) Validate() error {
	if err := provision.ValidateName(o.Name); err != nil {
		return err
	}
	if !o.Reveal && (o.Out == nil || !o.Out.tty) {
		what := "store credentials"
		if o.Reset {
			what = "store reset-password"
		}
		return usageError{fmt.Errorf("stdout is not a terminal: %s prints a password, so it needs --reveal to print it to a pipe or a file", what)}
	}
	return nil
}

func (o *storeCredentialsOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	k, err := o.Kube()
	if err != nil {
		return err
	}
	if !o.Reset {
		c, err := svc.Credentials(ctx, o.Caller, k, o.Name)
		if err != nil {
			return err
		}
		return o.printer(o.out).print(c, func(t *table) {
			t.row("Store:", c.Store)
			t.row("URL:", c.URL)
			t.row("Username:", c.Username)
			t.row("Password:", c.Password)
		})
	}
	r, err := svc.ResetPassword(ctx, o.Caller, k, o.Name)
	if err != nil {
		return err
	}
	o.say("store %s: new administrator password set; job %s applies it to WordPress (kubectl -n %s get job %s); it is shown this once",
		r.Store, r.Job, provision.Namespace(r.Store), r.Job)
	return o.printer(o.out).print(r, func(t *table) {
		t.row("Store:", r.Store)
		t.row("Username:", r.Username)
		t.row("Password:", r.Password)
		t.row("Job:", r.Job)
	})
}
