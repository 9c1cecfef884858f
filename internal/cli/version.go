package cli

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

type versionInfo struct {
	BuildInfo
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

type versionOptions struct {
	common
	out     *outputFlag
	Version versionInfo
}

func newVersionCommand(f *Factory, runF func(*versionOptions) error) *cobra.Command {
	o := &versionOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print urumi's version",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *versionOptions) Complete(f *Factory, _ *cobra.Command, _ []string) error {
	o.Version = versionInfo{BuildInfo: f.Build, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	return nil
}

func (o *versionOptions) Validate() error { return nil }

func (o *versionOptions) Run(context.Context) error {
	return o.printer(o.out).print(o.Version, versionTable(o.Version))
}

func versionTable(v versionInfo) func(*table) {
	return func(t *table) {
		t.aligned = true
		t.row("Version:", v.Version)
		t.row("Commit:", v.Commit)
		t.row("Built:", v.Date)
		t.row("Go:", fmt.Sprintf("%s %s", v.GoVersion, v.Platform))
	}
}
