// Command cluster starts a simulated Kubernetes cluster (see
// internal/simcluster) for a person to use, prints the KUBECONFIG line to
// export, and stops everything on Ctrl-C.
//
//	make cluster   # or: hack/build-cluster.sh && go run ./hack/cluster
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urumi/urumi/internal/simcluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	nodes := fs.Int("nodes", 3, "number of kwok nodes")
	kubeconfig := fs.String("kubeconfig-out", "", "also copy the admin kubeconfig to this path")
	podStartup := fs.String("pod-startup", "off", simcluster.PodStartupUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	model, err := simcluster.ParsePodStartup(*podStartup)
	if err != nil {
		return err
	}
	c, err := simcluster.Start(ctx, simcluster.Options{Nodes: *nodes, Logs: stderr, PodStartup: model})
	if err != nil {
		return err
	}
	defer c.Stop()
	path := c.Kubeconfig
	if *kubeconfig != "" {
		b, err := os.ReadFile(c.Kubeconfig)
		if err != nil {
			return fmt.Errorf("read kubeconfig: %w", err)
		}
		abs, _ := filepath.Abs(*kubeconfig)
		if err := os.WriteFile(abs, b, 0o600); err != nil {
			return fmt.Errorf("write kubeconfig: %w", err)
		}
		defer os.Remove(abs)
		path = abs
	}
	fmt.Fprintf(stdout, "export KUBECONFIG=%s\n", path)
	fmt.Fprintln(stderr, "simulated cluster running; press Ctrl-C to stop it")
	<-ctx.Done()
	fmt.Fprintln(stderr, "stopping the simulated cluster")
	return nil
}
