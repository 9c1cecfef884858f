// Command provision measures the time from `urumi store create` to READY on
// the simulated cluster, split by phase, beside `helm install --wait` of the
// same chart by the Helm CLI on the same cluster in the same run. urumi does
// more (namespace, quota, network policies, credentials) and should still
// take no longer than the Helm CLI alone.
//
//	make bench-provision   # or: hack/build-cluster.sh --with-helm && go run ./bench/provision [-runs 5]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
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
		fmt.Fprintln(os.Stderr, "bench/provision:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	runs := flag.Int("runs", 5, "stores created by each tool")
	podStartup := flag.String("pod-startup", "off", simcluster.PodStartupUsage)
	flag.Parse()
	model, err := simcluster.ParsePodStartup(*podStartup)
	if err != nil {
		return err
	}

	binDir, err := simcluster.BinDir()
	if err != nil {
		return err
	}
	helm := filepath.Join(binDir, "helm")
	if _, err := os.Stat(helm); err != nil {
		return fmt.Errorf("the Helm CLI baseline is not built: run hack/build-cluster.sh --with-helm (%w)", err)
	}
	root, err := simcluster.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "urumi-bench-provision-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := benchutil.BuildUrumi(ctx, dir)
	if err != nil {
		return err
	}
	if err := benchutil.QuietMachine(); err != nil {
		return err
	}
	c, err := simcluster.Start(ctx, simcluster.Options{Logs: os.Stderr, PodStartup: model})
	if err != nil {
		return err
	}
	defer c.Stop()

	// The Helm CLI gets the values urumi gives the chart for a medium store.
	plan, _ := provision.Plans{}.Get("medium")
	vals := plan.ChartValues()
	vals["credentialsSecret"] = "store-credentials"
	vals["ingress"] = map[string]any{"className": "nginx"}
	valuesFile := filepath.Join(dir, "values.yaml")
	b, _ := yaml.Marshal(vals)
	if err := os.WriteFile(valuesFile, b, 0o600); err != nil {
		return err
	}

	env := []string{"KUBECONFIG=" + c.Kubeconfig, "URUMI_DB=" + filepath.Join(dir, "urumi.db"),
		"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "HELM_CACHE_HOME=" + filepath.Join(dir, "helm"),
		"HELM_CONFIG_HOME=" + filepath.Join(dir, "helm"), "HELM_DATA_HOME=" + filepath.Join(dir, "helm"), "NO_COLOR=1",
		fmt.Sprintf("URUMI_DEFAULT_MAX_STORES=%d", *runs)}
	var urumiTimes, helmTimes []time.Duration
	phaseTimes := map[string][]time.Duration{}
	var phaseOrder []string
	for i := range *runs {
		name := fmt.Sprintf("bench-%d", i)
		d, out, err := benchutil.Run(ctx, env, bin, "store", "create", name, "-o", "json", "--timeout", "3m")
		if err != nil {
			return err
		}
		var s store.Store
		if err := json.Unmarshal(out, &s); err != nil {
			return fmt.Errorf("decode store: %w", err)
		}
		urumiTimes = append(urumiTimes, d)
		for _, p := range s.Phases {
			if _, seen := phaseTimes[p.Name]; !seen {
				phaseOrder = append(phaseOrder, p.Name)
			}
			phaseTimes[p.Name] = append(phaseTimes[p.Name], time.Duration(p.DurationMS)*time.Millisecond)
		}

		hn := fmt.Sprintf("helm-bench-%d", i)
		d, _, err = benchutil.Run(ctx, env, helm, "install", "store", filepath.Join(root, "charts", "store"),
			"-n", hn, "--create-namespace", "-f", valuesFile, "--set", "host="+hn+".localhost",
			"--wait", "--wait-for-jobs", "--timeout", "3m")
		if err != nil {
			return err
		}
		helmTimes = append(helmTimes, d)
		fmt.Fprintf(os.Stderr, "run %d: urumi %s, helm %s\n", i+1, benchutil.Ms(urumiTimes[i]), benchutil.Ms(d))
	}

	fmt.Printf("\nTime to READY on the simulated cluster, %d stores each (median of runs)\n", *runs)
	fmt.Printf("pod start-up model: %s\n\n", model)
	fmt.Printf("%-44s %12s %12s\n", "", "median", "p95")
	for _, p := range phaseOrder {
		s := benchutil.Summarise(phaseTimes[p])
		fmt.Printf("  urumi phase %-32s %12s %12s\n", p, benchutil.Ms(s.Median), benchutil.Ms(s.P95))
	}
	u, h := benchutil.Summarise(urumiTimes), benchutil.Summarise(helmTimes)
	fmt.Printf("%-44s %12s %12s\n", "urumi store create (whole process)", benchutil.Ms(u.Median), benchutil.Ms(u.P95))
	fmt.Printf("%-44s %12s %12s\n", "baseline: helm install --wait --wait-for-jobs", benchutil.Ms(h.Median), benchutil.Ms(h.P95))
	verdict := "met"
	if u.Median > h.Median {
		verdict = "NOT met"
	}
	fmt.Printf("\ntarget (urumi no slower than the Helm CLI alone): %s (urumi/helm = %.2f)\n", verdict, float64(u.Median)/float64(h.Median))
	return nil
}
