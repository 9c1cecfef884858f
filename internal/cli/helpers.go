package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// newGroupCommand is a command that only holds subcommands. Without
// arguments it shows its help; an unknown or misspelt subcommand is a usage
// error (exit 2) with cobra's suggestions, as at the top level, so a typo in
// a script fails instead of printing help and passing.
func newGroupCommand(use, short, groupID string, aliases ...string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   short,
		GroupID: groupID,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return unknownSubcommand(cmd, args[0])
		},
	}
}

// unknownSubcommand is cobra's own error for an unknown command, said of a
// group (`unknown command "delet" for "urumi store"`) with its suggestions;
// exitCode makes it a usage error.
func unknownSubcommand(cmd *cobra.Command, name string) error {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, set when it suggests
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		sb.WriteString("\n\nDid you mean this?\n")
		for _, c := range s {
			fmt.Fprintf(&sb, "\t%s\n", c)
		}
	}
	return errors.New(sb.String())
}

// noArgs is cobra.NoArgs, with suggestions when the command also has
// subcommands (`urumi audit verfy`).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && cmd.HasSubCommands() {
		return unknownSubcommand(cmd, args[0])
	}
	return cobra.NoArgs(cmd, args)
}

// exactArgs is cobra.ExactArgs with a message that names what is missing.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %s (got %d arguments): see `%s --help`", cmd.CommandPath(), names, len(args), cmd.CommandPath())}
		}
		return nil
	}
}

// options is the shape of every command: Complete resolves what the flags
// and arguments leave open (from the configuration), Validate rejects what
// cannot work before anything is done, Run calls the core and prints.
type options interface {
	Complete(f *Factory, cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runE runs o's steps for cmd. A non-nil runF replaces Run: tests pass one
// to stop after flag parsing and look at the options (cli/cli's
// NewCmdX(f, runF)).
func runE[T options](f *Factory, o T, runF func(T) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(f, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		if runF != nil {
			return runF(o)
		}
		return o.Run(cmd.Context())
	}
}

// common is what every command's options hold: the streams and what they
// are, the clock, the local caller, and the core, opened only when Run
// asks for it.
type common struct {
	Streams Streams
	Out     *terminal // stdout's
	ErrOut  *terminal // stderr's
	Now     func() time.Time
	Caller  provision.Caller
	Service func(context.Context) (*provision.Service, error)
	// Preflight checks the cluster allows what a job does; Drive runs a
	// job here while the user waits.
	Preflight func(context.Context) error
	Drive     func(context.Context, store.Job) (store.Store, error)
}

func (f *Factory) common() common {
	return common{
		Streams:   f.Streams,
		Out:       f.Out,
		ErrOut:    f.ErrOut,
		Now:       f.Now,
		Caller:    f.caller(),
		Service:   f.Service,
		Preflight: f.preflight,
		Drive:     f.driveJob,
	}
}

// printer prints to stdout in format out.
func (c common) printer(out *outputFlag) printer {
	return printer{w: c.Streams.Out, term: c.Out, now: c.Now, format: out.format}
}

// say writes a message for the user on stderr.
func (c common) say(format string, a ...any) {
	fmt.Fprintf(c.Streams.ErrOut, format+"\n", a...)
}

// listOptions are a `list` subcommand's that asks the core for rows as the
// local caller and prints them as a table or as data.
type listOptions[T any] struct {
	common
	out   *outputFlag
	fetch func(*provision.Service, context.Context, provision.Caller) ([]T, error)
	rows  func([]T) func(*table)
}

func newListCommand[T any](f *Factory, short string, fetch func(*provision.Service, context.Context, provision.Caller) ([]T, error), rows func([]T) func(*table), runF func(*listOptions[T]) error) *cobra.Command {
	o := &listOptions[T]{common: f.common(), fetch: fetch, rows: rows}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   short,
		Args:    cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *listOptions[T]) Complete(*Factory, *cobra.Command, []string) error { return nil }
func (o *listOptions[T]) Validate() error                                   { return nil }

func (o *listOptions[T]) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	items, err := o.fetch(svc, ctx, o.Caller)
	if err != nil {
		return err
	}
	return o.printer(o.out).print(items, o.rows(items))
}

// addSetFlag is --set key=value, repeatable.
func addSetFlag(cmd *cobra.Command, set *[]string, what string) {
	cmd.Flags().StringArrayVar(set, "set", nil, "set a store chart value, key=value with the value taken as written (repeatable; e.g. site.title=My Shop)"+what)
}
