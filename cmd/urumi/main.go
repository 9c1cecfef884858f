// Command urumi provisions isolated WooCommerce stores on Kubernetes. It is
// also installed as kubectl-urumi so that `kubectl urumi ...` works.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/urumi/urumi/internal/cli"
)

// Set by the linker: -X main.version=... -X main.commit=... -X main.date=...
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{
		Args:    os.Args,
		Streams: cli.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		Getenv:  os.Getenv,
		Build:   cli.BuildInfo{Version: version, Commit: commit, Date: date},
	})
	stop()
	os.Exit(code)
}
