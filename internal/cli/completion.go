package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

type completionOptions struct {
	common
	Shell string
	root  *cobra.Command
}

func newCompletionCommand(f *Factory, runF func(*completionOptions) error) *cobra.Command {
	o := &completionOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script. For example:

  source <(urumi completion bash)
  urumi completion zsh > "${fpath[1]}/_urumi"
  urumi completion fish > ~/.config/fish/completions/urumi.fish

For kubectl (1.26+) completion of "kubectl urumi", install
completions/kubectl_complete-urumi on your PATH.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs)(cmd, args); err != nil {
				return usageError{fmt.Errorf("%w: choose bash, zsh, fish or powershell", err)}
			}
			return nil
		},
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
	}
	cmd.RunE = runE(f, o, runF)
	return cmd
}

func (o *completionOptions) Complete(_ *Factory, cmd *cobra.Command, args []string) error {
	o.Shell, o.root = args[0], cmd.Root()
	return nil
}

func (o *completionOptions) Validate() error { return nil }

func (o *completionOptions) Run(context.Context) error {
	out := o.Streams.Out
	switch o.Shell {
	case "bash":
		return o.root.GenBashCompletionV2(out, true)
	case "zsh":
		return o.root.GenZshCompletion(out)
	case "fish":
		return o.root.GenFishCompletion(out, true)
	case "powershell":
		return o.root.GenPowerShellCompletionWithDesc(out)
	}
	return fmt.Errorf("unknown shell %q", o.Shell)
}
