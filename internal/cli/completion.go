package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCompletionCommand(f *Factory) *cobra.Command {
	return &cobra.Command{
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
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), f.Streams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return fmt.Errorf("unknown shell %q", args[0])
		},
	}
}
