package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

type versionInfo struct {
	BuildInfo
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func newVersionCommand(f *Factory) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print urumi's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo{BuildInfo: f.Build, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
			return out.print(f.Streams.Out, v, func(t *table) {
				t.row("Version:", v.Version)
				t.row("Commit:", v.Commit)
				t.row("Built:", v.Date)
				t.row("Go:", fmt.Sprintf("%s %s", v.GoVersion, v.Platform))
			})
		},
	}
	out.add(cmd, "")
	return cmd
}
