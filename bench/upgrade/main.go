// Command upgrade measures store upgrades on the simulated cluster beside
// the Helm CLI in the same run:
//
//   - one store upgraded to a new WordPress image tag, again and again:
//     urumi's whole `store upgrade` (namespace objects to the plan, Helm
//     upgrade with rollback-on-failure, records) beside `helm upgrade --wait
//     --wait-for-jobs` of the same chart and values; target: no slower;
//
//   - a fleet rollout of N stores (default 50) with `urumi fleet upgrade
//     --batch-size 10` beside a shell loop of N sequential `helm upgrade
//     --wait` calls: both times and their ratio.
//
//     hack/build-cluster.sh --with-helm && go run ./bench/upgrade [-runs 5] [-fleet 50]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/urumi/urumi/bench/internal/benchutil"
	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/simcluster"
	"github.com/urumi/urumi/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench/upgrade:", err)
		os.Exit(1)
	}
}

// tags alternate between upgrades, so that every upgrade replaces pods.
var tags = []string{"7.1.3-php8.3-apache", "7.1.2-php8.3-apache"}

type bench struct {
	env        []string
	urumi      string
	helm       string
	chart      string
	valuesFile string
}

func run(ctx context.Context) error {
	runs := flag.Int("runs", 5, "upgrades of one store by each tool")
	fleet := flag.Int("fleet", 50, "stores in the fleet rollout (0 skips it)")
	batch := flag.Int("batch-size", 10, "the fleet rollout's batch size")
	flag.Parse()

	binDir, err := simcluster.BinDir()
	if err != nil {
		return err
	}
	b := bench{helm: filepath.Join(binDir, "helm")}
	if _, err := os.Stat(b.helm); err != nil {
		return fmt.Errorf("the Helm CLI baseline is not built: run hack/build-cluster.sh --with-helm (%w)", err)
	}
	root, err := simcluster.RepoRoot()
	if err != nil {
		return err
	}
	b.chart = filepath.Join(root, "charts", "store")
	dir, err := os.MkdirTemp("", "urumi-bench-upgrade-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if b.urumi, err = benchutil.BuildUrumi(ctx, dir); err != nil {
		return err
	}
	if err := benchutil.QuietMachine(); err != nil {
		return err
	}
	c, err := simcluster.Start(ctx, simcluster.Options{Logs: os.Stderr})
	if err != nil {
		return err
	}
	defer c.Stop()

	// The Helm CLI gets the values urumi gives the chart for a medium store.
	plan, _ := provision.Plans{}.Get("medium")
	vals := plan.ChartValues()
	vals["credentialsSecret"] = "store-credentials"
	vals["ingress"] = map[string]any{"className": "nginx"}
	b.valuesFile = filepath.Join(dir, "values.yaml")
	y, _ := yaml.Marshal(vals)
	if err := os.WriteFile(b.valuesFile, y, 0o600); err != nil {
		return err
	}
	b.env = []string{"KUBECONFIG=" + c.Kubeconfig, "URUMI_DB=" + filepath.Join(dir, "urumi.db"),
		"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "HELM_CACHE_HOME=" + filepath.Join(dir, "helm"),
		"HELM_CONFIG_HOME=" + filepath.Join(dir, "helm"), "HELM_DATA_HOME=" + filepath.Join(dir, "helm"), "NO_COLOR=1",
		fmt.Sprintf("URUMI_DEFAULT_MAX_STORES=%d", *fleet+10), "URUMI_TIMEOUT=5m"}
	fmt.Printf("bench/upgrade on the simulated cluster (pods ready as soon as scheduled: no start-up model)\n")

	if err := b.single(ctx, *runs); err != nil {
		return err
	}
	if *fleet > 0 {
		return b.fleet(ctx, *fleet, *batch)
	}
	return nil
}

// helmInstall installs the store chart as a release of its own namespace.
func (b bench) helmInstall(ctx context.Context, ns string) error {
	_, _, err := benchutil.Run(ctx, b.env, b.helm, "install", "store", b.chart,
		"-n", ns, "--create-namespace", "-f", b.valuesFile, "--set", "host="+ns+".localhost",
		"--wait", "--wait-for-jobs", "--timeout", "5m")
	return err
}

func (b bench) helmUpgrade(ctx context.Context, ns, tag string) (time.Duration, error) {
	d, _, err := benchutil.Run(ctx, b.env, b.helm, "upgrade", "store", b.chart,
		"-n", ns, "-f", b.valuesFile, "--set", "host="+ns+".localhost", "--set", "images.wordpress.tag="+tag,
		"--wait", "--wait-for-jobs", "--timeout", "5m")
	return d, err
}

// single upgrades one store by each tool runs times, alternating tags.
func (b bench) single(ctx context.Context, runs int) error {
	if _, _, err := benchutil.Run(ctx, b.env, b.urumi, "store", "create", "bench-up", "--timeout", "5m"); err != nil {
		return err
	}
	if err := b.helmInstall(ctx, "helm-bench-up"); err != nil {
		return err
	}
	var urumiTimes, helmTimes []time.Duration
	for i := range runs {
		tag := tags[i%len(tags)]
		d, _, err := benchutil.Run(ctx, b.env, b.urumi, "store", "upgrade", "bench-up", "--set", "images.wordpress.tag="+tag)
		if err != nil {
			return err
		}
		urumiTimes = append(urumiTimes, d)
		h, err := b.helmUpgrade(ctx, "helm-bench-up", tag)
		if err != nil {
			return err
		}
		helmTimes = append(helmTimes, h)
		fmt.Fprintf(os.Stderr, "upgrade %d: urumi %s, helm %s\n", i+1, benchutil.Ms(d), benchutil.Ms(h))
	}
	u, h := benchutil.Summarise(urumiTimes), benchutil.Summarise(helmTimes)
	fmt.Printf("\nUpgrading one store to a new WordPress image tag, %d upgrades each\n\n", runs)
	fmt.Printf("%-52s %12s %12s\n", "", "median", "p95")
	fmt.Printf("%-52s %12s %12s\n", "urumi store upgrade (whole process)", benchutil.Ms(u.Median), benchutil.Ms(u.P95))
	fmt.Printf("%-52s %12s %12s\n", "baseline: helm upgrade --wait --wait-for-jobs", benchutil.Ms(h.Median), benchutil.Ms(h.P95))
	verdict := "met"
	if u.Median > h.Median {
		verdict = "NOT met"
	}
	fmt.Printf("\ntarget (urumi no slower than the Helm CLI): %s (urumi/helm = %.2f)\n", verdict, float64(u.Median)/float64(h.Median))
	return nil
}

// fleet upgrades n stores with a fleet rollout, beside a loop of n
// sequential helm upgrades of n releases.
func (b bench) fleet(ctx context.Context, n, batch int) error {
	// Make the stores and the releases, several at a time: only the
	// upgrades are measured.
	serve := exec.CommandContext(ctx, b.urumi, "serve", "--addr", "127.0.0.1:0", "--workers", "8")
	serve.Env = append(os.Environ(), b.env...)
	if err := serve.Start(); err != nil {
		return fmt.Errorf("start urumi serve: %w", err)
	}
	defer func() { _ = serve.Process.Kill(); _ = serve.Wait() }()
	for i := range n {
		if _, out, err := benchutil.Run(ctx, b.env, b.urumi, "store", "create", fmt.Sprintf("fleet-%02d", i), "--wait=false", "--owner", "fleet"); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := b.helmInstall(ctx, fmt.Sprintf("helm-fleet-%02d", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := errors.Join(func() []error {
		var all []error
		for err := range errs {
			all = append(all, err)
		}
		return all
	}()...); err != nil {
		return err
	}
	if err := b.waitReady(ctx, n); err != nil {
		return err
	}
	// The rollout runs in the CLI; serve stops taking jobs first so the
	// batch size is the rollout's.
	_ = serve.Process.Kill()
	_ = serve.Wait()

	tag := tags[0]
	u, out, err := benchutil.Run(ctx, b.env, b.urumi, "fleet", "upgrade", "--owner", "fleet",
		"--batch-size", fmt.Sprint(batch), "--set", "images.wordpress.tag="+tag)
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	start := time.Now()
	for i := range n {
		if _, err := b.helmUpgrade(ctx, fmt.Sprintf("helm-fleet-%02d", i), tag); err != nil {
			return err
		}
	}
	h := time.Since(start)
	fmt.Printf("\nA fleet of %d stores to a new WordPress image tag\n\n", n)
	fmt.Printf("%-60s %12s\n", fmt.Sprintf("urumi fleet upgrade --batch-size %d (whole process)", batch), benchutil.Ms(u))
	fmt.Printf("%-60s %12s\n", fmt.Sprintf("baseline: %d sequential helm upgrade --wait", n), benchutil.Ms(h))
	fmt.Printf("\nratio (helm loop / urumi rollout) = %.2f\n", float64(h)/float64(u))
	return nil
}

// waitReady waits until n stores are READY.
func (b bench) waitReady(ctx context.Context, n int) error {
	deadline := time.Now().Add(time.Duration(n) * time.Minute)
	for time.Now().Before(deadline) {
		_, out, err := benchutil.Run(ctx, b.env, b.urumi, "store", "list", "-A", "-o", "json")
		if err != nil {
			return err
		}
		var stores []store.Store
		if err := json.Unmarshal(out, &stores); err != nil {
			return fmt.Errorf("decode the store list: %w", err)
		}
		ready := 0
		for _, s := range stores {
			if s.Status == store.StatusReady {
				ready++
			}
		}
		if ready >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	return fmt.Errorf("%d stores were not READY in time", n)
}
