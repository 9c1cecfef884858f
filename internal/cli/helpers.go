package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
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
