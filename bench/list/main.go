// Command list measures the CLI's own speed: `urumi store list` over 10,000
// stores in SQLite (target: under 100 ms for the whole process) and `urumi
// version` (target: under 50 ms), beside baselines timed in the same run:
// the Helm CLI's `helm version` (a Go CLI of the same dependencies) and
// `urumi version` as the process start-up floor under `store list`. The
// CLI reads the list a page at a time (500 stores, or --chunk-size).
//
//	make bench-list   # or: go run ./bench/list [-stores 10000] [-runs 30]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/urumi/urumi/bench/internal/benchutil"
	"github.com/urumi/urumi/internal/simcluster"
	"github.com/urumi/urumi/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench/list:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	stores := flag.Int("stores", 10000, "stores in the database")
	runs := flag.Int("runs", 30, "timed runs of each command")
	flag.Parse()

	dir, err := os.MkdirTemp("", "urumi-bench-list-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := benchutil.BuildUrumi(ctx, dir)
	if err != nil {
		return err
	}
	dbPath, keyPath := filepath.Join(dir, "urumi.db"), filepath.Join(dir, "audit.key")
	fmt.Fprintf(os.Stderr, "filling %s with %d stores...\n", dbPath, *stores)
	if err := fill(ctx, dbPath, keyPath, *stores); err != nil {
		return err
	}

	env := []string{"URUMI_DB=" + dbPath, "URUMI_AUDIT_KEY=" + keyPath, "HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "NO_COLOR=1"}
	type cmd struct {
		label, target string
		name          string
		args          []string
	}
	cmds := []cmd{
		{"urumi store list -A (10k stores)", "< 100 ms", bin, []string{"store", "list", "-A"}},
		{"urumi store list -A -o json", "", bin, []string{"store", "list", "-A", "-o", "json"}},
		// The list is read in pages (500 stores by default): the same
		// command in pages of the largest size shows what paging costs.
		{"urumi store list -A --chunk-size 1000", "", bin, []string{"store", "list", "-A", "--chunk-size", "1000"}},
		{"urumi version", "< 50 ms", bin, []string{"version"}},
	}
	if helmDir, err := simcluster.BinDir(); err == nil {
		if helm := filepath.Join(helmDir, "helm"); fileExists(helm) {
			cmds = append(cmds, cmd{"baseline: helm version", "", helm, []string{"version"}})
		}
	}
	fmt.Printf("%-36s %10s %10s %10s %10s  %s\n", "command", "min", "median", "p95", "max", "target")
	for _, c := range cmds {
		var samples []time.Duration
		// One untimed run warms the page cache.
		if _, _, err := benchutil.Run(ctx, env, c.name, c.args...); err != nil {
			return err
		}
		for range *runs {
			d, _, err := benchutil.Run(ctx, env, c.name, c.args...)
			if err != nil {
				return err
			}
			samples = append(samples, d)
		}
		s := benchutil.Summarise(samples)
		fmt.Printf("%-36s %10s %10s %10s %10s  %s\n", c.label, benchutil.Ms(s.Min), benchutil.Ms(s.Median), benchutil.Ms(s.P95), benchutil.Ms(s.Max), c.target)
	}
	return nil
}

// fill creates n stores across 100 owners, as the CLI would record them.
func fill(ctx context.Context, path, keyPath string, n int) error {
	key, err := store.LoadAuditKey(keyPath, true)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, path, store.Options{DefaultMaxStores: n, AuditKey: key})
	if err != nil {
		return err
	}
	defer db.Close()
	for i := range n {
		s := store.Store{
			Name: fmt.Sprintf("shop-%05d", i), Owner: fmt.Sprintf("owner-%02d", i%100), Plan: "medium",
			Namespace: fmt.Sprintf("store-shop-%05d", i),
			Options:   []byte(`{"baseDomain":"example.com","ingressClass":"nginx"}`),
		}
		created, _, err := db.CreateStore(ctx, s, "bench")
		if err != nil {
			return err
		}
		created.Status, created.URL = store.StatusReady, "http://"+s.Name+".example.com"
		for _, p := range []string{"namespace", "quota", "network-policies", "credentials", "helm-install"} {
			created.Phases = append(created.Phases, store.Phase{Name: p, StartedAt: time.Now(), DurationMS: 12})
		}
		if err := db.UpdateStore(ctx, created); err != nil {
			return err
		}
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
