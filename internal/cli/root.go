// Package cli holds urumi's cobra commands. Commands turn flags into typed
// requests, call internal/provision (whose Service holds every rule, and the
// only path to the state database), and print what comes back: data on
// stdout, progress and messages on stderr.
package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/urumi/urumi/internal/provision"
)

// Streams are the standard streams a command reads and writes.
type Streams = genericiooptions.IOStreams

// BuildInfo is set at link time in cmd/urumi.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// Env is everything a run of urumi takes from its process.
type Env struct {
	Args    []string
	Streams Streams
	Getenv  func(string) string
	Build   BuildInfo
}

// Main runs urumi with env and returns the process exit code. Errors are
// printed once, here.
func Main(ctx context.Context, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	root, f := newRoot(env)
	root.SetArgs(env.Args[1:])
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(env.Streams.ErrOut, f.ErrOut.withHint(f.ErrOut.errorLine(err), hint(cmd, f.Config.Owner, err)))
	return exitCode(ctx, err)
}

// NewRootCommand builds the command tree. It is a function of env alone so
// tests can run any command in-process.
func NewRootCommand(env Env) *cobra.Command {
	root, _ := newRoot(env)
	return root
}

func newRoot(env Env) (*cobra.Command, *Factory) {
	// Installed as kubectl-urumi, help and completion say `kubectl urumi`.
	annotations := map[string]string{}
	if len(env.Args) > 0 && strings.HasPrefix(filepath.Base(env.Args[0]), "kubectl-") {
		annotations[cobra.CommandDisplayNameAnnotation] = "kubectl urumi"
	}
	f := &Factory{
		Streams:     env.Streams,
		Getenv:      env.Getenv,
		Build:       env.Build,
		KubeFlags:   genericclioptions.NewConfigFlags(true),
		Out:         newTerminal(env.Streams.Out, env.Getenv),
		ErrOut:      newTerminal(env.Streams.ErrOut, env.Getenv),
		Now:         time.Now,
		configFlags: &configFlags{},
	}
	root := &cobra.Command{
		Use:         "urumi",
		Annotations: annotations,
		Short:       "Provision isolated WooCommerce stores on Kubernetes",
		Long: `urumi provisions one isolated WooCommerce store (WordPress + MariaDB +
WooCommerce) per tenant on the current kubeconfig's cluster: a namespace per
store with quotas, default-deny network policies and generated credentials
kept only in Kubernetes. State lives in SQLite by default or PostgreSQL.

Settings come from flags, then URUMI_* environment variables, then the config
file, then defaults.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// A command run is short and allocates in bursts (listing
			// thousands of stores): collect garbage only when the heap
			// nears a bound, not every time it doubles. The server is
			// long-lived and keeps Go's default. GOGC/GOMEMLIMIT win.
			if cmd.Name() != "serve" && env.Getenv("GOGC") == "" && env.Getenv("GOMEMLIMIT") == "" {
				debug.SetGCPercent(-1)
				debug.SetMemoryLimit(256 << 20)
			}
			return f.loadConfig(cmd)
		},
	}
	root.SetIn(env.Streams.In)
	root.SetOut(env.Streams.Out)
	root.SetErr(env.Streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{err}
	})

	flags := root.PersistentFlags()
	f.KubeFlags.AddFlags(flags)
	hideUnusedKubeFlags(flags)
	f.configFlags.add(flags, env.Getenv)

	root.AddGroup(
		&cobra.Group{ID: "stores", Title: "Stores:"},
		&cobra.Group{ID: "admin", Title: "Administration:"},
	)
	root.AddCommand(
		newStoreCommand(f),
		newBackupCommand(f),
		newPlanCommand(f),
		newQuotaCommand(f),
		newFleetCommand(f),
		newAuditCommand(f, nil),
		newServeCommand(f, nil),
		newTokenCommand(f),
		newRBACCommand(f, nil),
		newDoctorCommand(f, nil),
		newVersionCommand(f, nil),
		newCompletionCommand(f, nil),
	)
	root.PersistentPostRunE = func(*cobra.Command, []string) error { return f.Close() }
	return root, f
}

// hideUnusedKubeFlags hides kubectl's flags urumi accepts (a kubectl user may
// pass them by habit) but need not show: -n/--namespace, because every
// store has its own namespace and urumi never reads it; the rest because
// they tune kubectl's client in ways urumi's users do not need. The
// connection and identity flags kubectl users expect (--kubeconfig,
// --context, --cluster, --user, --server, --token, --certificate-authority,
// --client-certificate, --client-key, --insecure-skip-tls-verify,
// --request-timeout, --as, --as-group) stay in the help.
func hideUnusedKubeFlags(flags *pflag.FlagSet) {
	for _, name := range []string{"namespace", "cache-dir", "as-uid", "as-user-extra", "disable-compression", "tls-server-name", "proxy-url"} {
		if flags.Lookup(name) != nil {
			_ = flags.MarkHidden(name)
		}
	}
}

// usageError marks a mistake in how urumi was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// Exit codes. Scripts may rely on them; the README lists them.
const (
	exitError       = 1   // anything else: cluster, database, a failed store
	exitUsage       = 2   // bad flags or arguments, invalid name or plan
	exitNotFound    = 3   // no such store
	exitConflict    = 4   // name taken, store busy, owner's quota reached
	exitForbidden   = 5   // not allowed for this caller
	exitCheckFailed = 6   // store check or doctor found a failed check
	exitInterrupted = 130 // Ctrl-C
)

func exitCode(ctx context.Context, err error) int {
	var ue usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, provision.ErrInvalid), isCobraUsage(err):
		return exitUsage
	case errors.Is(err, provision.ErrNotFound):
		return exitNotFound
	case errors.Is(err, provision.ErrConflict), errors.Is(err, provision.ErrQuotaExceeded):
		return exitConflict
	case errors.Is(err, provision.ErrForbidden):
		return exitForbidden
	case errors.As(err, new(checkFailed)):
		return exitCheckFailed
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitInterrupted
	default:
		return exitError
	}
}

func errUsage(msg string) error { return errors.New(msg) }

// isCobraUsage recognises the usage errors cobra returns without a type:
// an unknown command, a missing required flag, or flags of a group (one
// required, or only one allowed) given wrongly.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "required flag(s)") ||
		strings.HasPrefix(msg, "invalid argument") || strings.HasPrefix(msg, "at least one of the flags in the group") ||
		strings.HasPrefix(msg, "if any flags in the group")
}
