package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// hint is the CLI's advice for an error of the core: which command shows
// or fixes it. The core's messages name no command or flag (the API gives
// them too), so the CLI adds its own here, once, where errors are printed.
// cmd is the command that failed; owner is the configured owner.
func hint(cmd *cobra.Command, owner string, err error) string {
	if cmd == nil {
		return ""
	}
	urumi := cmd.Root().DisplayName()
	ownerFlag := cmd.Flags().Lookup("owner")
	if ownerFlag != nil && ownerFlag.Changed {
		owner = ownerFlag.Value.String()
	}
	switch {
	case errors.Is(err, provision.ErrInvalidOwner):
		if ownerFlag != nil && ownerFlag.Changed {
			return "give a valid owner with --owner"
		}
		return "set a valid owner with --owner, URUMI_OWNER or the config file's `owner`"
	case errors.Is(err, provision.ErrNotFound):
		if under(cmd, "token") {
			return fmt.Sprintf("see `%s token list`", urumi)
		}
		return fmt.Sprintf("see `%s store list`", urumi)
	case errors.Is(err, provision.ErrQuotaExceeded):
		if owner == "" || provision.ValidateOwner(owner) != nil {
			owner = "OWNER"
		}
		return fmt.Sprintf("an admin can raise the limit with `%s quota set --owner %s --max-stores N`", urumi, owner)
	case errors.Is(err, store.ErrReadOnly), errors.Is(err, store.ErrDiskFull):
		return "another database is chosen with --db, URUMI_DB or the config file's `db`"
	}
	return ""
}

// under reports whether cmd is group or one of its subcommands.
func under(cmd *cobra.Command, group string) bool {
	for c := cmd; c != nil && c.HasParent(); c = c.Parent() {
		if c.Name() == group {
			return true
		}
	}
	return false
}

// withHint is the printed form of err: its line, then the hint, if any.
func (t *terminal) withHint(line, hint string) string {
	if hint == "" {
		return line
	}
	return line + "\n" + t.dim("Hint: "+hint)
}
