// Command check measures `urumi store check --all` over N stores on a
// simulated cluster: the whole process's time and the API requests it
// makes (read from the API server's audit log), beside what a script
// would do with kubectl: per store, one `kubectl get` of the namespace and
// one of every kind check reads in it, timed and counted the same way.
//
// Then serve's drift reconciler over the same stores: the API requests it
// makes in a minute at rest (beside what one pass of the kubectl script
// makes, a poller's cost per pass), and the time from deleting a store's
// default-deny policy to the policy back and the store READY again,
// beside the same drift mended by a person running `urumi store repair`.
//
//	go run ./bench/check               # 200 stores (provisioning them takes minutes)
//	go run ./bench/check -stores 20    # a quick look
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/urumi/urumi/bench/internal/benchutil"
	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/simcluster"
	"github.com/urumi/urumi/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench/check:", err)
		os.Exit(1)
	}
}

// kubectlKinds are what `store check` lists in a store's namespace, as
// kubectl names them.
const kubectlKinds = "resourcequotas,limitranges,networkpolicies,secrets,configmaps,services,persistentvolumeclaims,pods,deployments,statefulsets,replicasets,jobs,cronjobs,ingresses,rolebindings"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stores := fs.Int("stores", 200, "stores to provision and check")
	runs := fs.Int("runs", 5, "timed runs of `store check --all`")
	drifts := fs.Int("drifts", 5, "policies deleted, one at a time, for serve to repair")
	rest := fs.Duration("rest", time.Minute, "how long serve's requests at rest are counted")
	script := fs.Bool("kubectl", true, "time the kubectl script too (400 kubectl calls for 200 stores: minutes)")
	workers := fs.Int("workers", 8, "provisioning workers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := func(format string, args ...any) { fmt.Fprintf(stderr, "· "+format+"\n", args...) }
	work, err := os.MkdirTemp("", "urumi-bench-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	log("building urumi")
	bin, err := benchutil.BuildUrumi(ctx, work)
	if err != nil {
		return err
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		return fmt.Errorf("the baseline needs kubectl on PATH: %w", err)
	}
	dir, err := simcluster.BinDir()
	if err != nil {
		return err
	}
	if m := simcluster.MissingBinaries(dir); len(m) > 0 {
		return fmt.Errorf("simulated cluster binaries missing (%s): build them with `make cluster-build`", strings.Join(m, ", "))
	}
	log("starting the simulated cluster")
	auditLog := filepath.Join(work, "audit.log")
	if err := benchutil.QuietMachine(); err != nil {
		return err
	}
	cl, err := simcluster.Start(ctx, simcluster.Options{BinDir: dir, Nodes: 10, AuditLog: auditLog})
	if err != nil {
		return err
	}
	defer cl.Stop()
	home := filepath.Join(work, "home")
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "KUBECONFIG=" + cl.Kubeconfig,
		"URUMI_DB=" + filepath.Join(work, "urumi.db"), "URUMI_AUDIT_KEY=" + filepath.Join(work, "audit.key"),
		"URUMI_DEFAULT_MAX_STORES=100000", "URUMI_TIMEOUT=10m", "NO_COLOR=1"}

	log("provisioning %d stores with %d workers", *stores, *workers)
	var names []string
	for i := range *stores {
		name := fmt.Sprintf("bench-%03d", i)
		names = append(names, name)
		if _, _, err := benchutil.Run(ctx, env, bin, "store", "create", name, "--plan", "small", "--wait=false"); err != nil {
			return err
		}
	}
	if err := provisionAll(ctx, bin, env, work, *stores, *workers, log); err != nil {
		return err
	}

	log("timing `urumi store check --all` %d times", *runs)
	var times []time.Duration
	var requests int
	for i := range *runs {
		from, err := offset(auditLog)
		if err != nil {
			return err
		}
		d, out, err := benchutil.Run(ctx, env, bin, "store", "check", "--all", "-o", "json")
		var rep provision.CheckReport
		if jerr := json.Unmarshal(out, &rep); jerr != nil {
			return fmt.Errorf("store check --all: %v (%v)", jerr, err)
		}
		if len(rep.Stores) != *stores {
			return fmt.Errorf("store check --all checked %d stores, want %d", len(rep.Stores), *stores)
		}
		if err != nil {
			// A failing check still measures; say what failed once.
			if i == 0 {
				log("note: the check found failures: %s", firstFailure(rep))
			}
		}
		times = append(times, d)
		if i == 0 {
			time.Sleep(2 * time.Second) // the audit log's batch backend
			if requests, err = countRequests(auditLog, from, "urumi"); err != nil {
				return err
			}
		}
	}

	var scriptTime time.Duration
	scriptRequests := 0
	if *script {
		log("timing the kubectl script over %d stores", *stores)
		from, err := offset(auditLog)
		if err != nil {
			return err
		}
		start := time.Now()
		kenv := append(env, "HOME="+filepath.Join(work, "kubectl-home"))
		for _, name := range names {
			ns := provision.Namespace(name)
			if _, _, err := benchutil.Run(ctx, kenv, kubectl, "get", "namespace", ns, "-o", "json"); err != nil {
				return err
			}
			if _, _, err := benchutil.Run(ctx, kenv, kubectl, "-n", ns, "get", kubectlKinds, "-o", "json"); err != nil {
				return err
			}
		}
		scriptTime = time.Since(start)
		time.Sleep(2 * time.Second)
		if scriptRequests, err = countRequests(auditLog, from, "kubectl"); err != nil {
			return err
		}
	}
	client, err := kubernetes.NewForConfig(cl.Config)
	if err != nil {
		return err
	}
	log("by hand: deleting a policy and running `urumi store repair`, %d times", *drifts)
	var byHand []time.Duration
	for i := range *drifts {
		ns := provision.Namespace(names[i%len(names)])
		if err := client.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "default-deny", metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete the policy: %w", err)
		}
		d, out, err := benchutil.Run(ctx, env, bin, "store", "repair", names[i%len(names)])
		if err != nil {
			return fmt.Errorf("store repair: %w\n%s", err, out)
		}
		byHand = append(byHand, d)
	}

	log("starting serve with its drift reconciler")
	serveLog := filepath.Join(work, "serve-drift.log")
	var from int64
	stopServe, servePID, err := startServe(ctx, bin, env, serveLog, "--workers", "2", "--drift", "repair")
	if err != nil {
		return err
	}
	defer stopServe()
	if err := waitLog(ctx, serveLog, "drift reconciler watching", time.Minute); err != nil {
		return err
	}
	time.Sleep(10 * time.Second) // the first judgement of every store
	log("counting serve's API requests at rest for %s", *rest)
	from, err = offset(auditLog)
	if err != nil {
		return err
	}
	cpu0, err := simcluster.ProcessCPUTime(servePID)
	if err != nil {
		return err
	}
	ctl0, err := cl.CPUTime()
	if err != nil {
		return err
	}
	time.Sleep(*rest)
	cpu1, err := simcluster.ProcessCPUTime(servePID)
	if err != nil {
		return err
	}
	ctl1, err := cl.CPUTime()
	if err != nil {
		return err
	}
	var ctlRest time.Duration
	for c, d := range ctl1 {
		ctlRest += d - ctl0[c]
	}
	time.Sleep(2 * time.Second)
	atRest, err := countRequests(auditLog, from, "urumi")
	if err != nil {
		return err
	}

	log("deleting a policy %d times, one at a time, for serve to repair", *drifts)
	var healed []time.Duration
	for i := range *drifts {
		name := names[(i+*drifts)%len(names)]
		d, err := timeRepair(ctx, client, env, bin, name)
		if err != nil {
			return err
		}
		healed = append(healed, d)
	}

	st := benchutil.Summarise(times)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tMEASURED\tBASELINE (same run)")
	baseline, baseReq := "not run (-kubectl=false)", "not run"
	if *script {
		baseline = fmt.Sprintf("%s: %d kubectl get calls, one after another", benchutil.Ms(scriptTime), 2**stores)
		baseReq = fmt.Sprintf("%d (%.1f per store)", scriptRequests, float64(scriptRequests)/float64(*stores))
	}
	fmt.Fprintf(tw, "store check --all, %d stores: whole process\t%s median of %d (min %s, max %s)\t%s\n",
		*stores, benchutil.Ms(st.Median), st.N, benchutil.Ms(st.Min), benchutil.Ms(st.Max), baseline)
	fmt.Fprintf(tw, "API requests\t%d (%.2f per store)\t%s\n", requests, float64(requests)/float64(*stores), baseReq)
	fmt.Fprintf(tw, "serve's reconciler at rest, %d stores: API requests\t%.1f per minute (beyond its open watches)\t%s per pass of the kubectl script (a poller)\n",
		*stores, float64(atRest)/rest.Minutes(), baseReq)
	fmt.Fprintf(tw, "serve's CPU at rest (the cron pods' events judged from memory)\t%.2f CPU-s per minute\t%.2f CPU-s per minute: the simulated control plane meanwhile\n",
		(cpu1-cpu0).Seconds()/rest.Minutes(), ctlRest.Seconds()/rest.Minutes())
	h, b := benchutil.Summarise(healed), benchutil.Summarise(byHand)
	fmt.Fprintf(tw, "deleted policy to READY again\t%s median of %d (max %s), serve on its own\t%s median (max %s): `urumi store repair` run by hand\n",
		benchutil.Ms(h.Median), h.N, benchutil.Ms(h.Max), benchutil.Ms(b.Median), benchutil.Ms(b.Max))
	return tw.Flush()
}

// timeRepair deletes a store's default-deny policy and times until serve
// has put it back and the store is READY again.
func timeRepair(ctx context.Context, client kubernetes.Interface, env []string, bin, name string) (time.Duration, error) {
	ns := provision.Namespace(name)
	start := time.Now()
	if err := client.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "default-deny", metav1.DeleteOptions{}); err != nil {
		return 0, fmt.Errorf("delete the policy: %w", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	back := false
	for time.Now().Before(deadline) {
		if !back {
			_, err := client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "default-deny", metav1.GetOptions{})
			back = err == nil
		}
		if back {
			_, out, err := benchutil.Run(ctx, env, bin, "store", "get", name, "-o", "json")
			var st store.Store
			if err == nil && json.Unmarshal(out, &st) == nil && st.Status == store.StatusReady {
				return time.Since(start), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("store %s: the deleted policy was not repaired within 2 minutes", name)
}

// startServe starts `urumi serve` logging to path; stop ends it.
func startServe(ctx context.Context, bin string, env []string, path string, args ...string) (stop func(), pid int, err error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--create-rate", "0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(path)
	if err != nil {
		return nil, 0, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, 0, err
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	}, cmd.Process.Pid, nil
}

// waitLog waits for text in the log at path.
func waitLog(ctx context.Context, path, text string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), text) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(path)
	return fmt.Errorf("serve did not log %q within %s:\n%s", text, timeout, b)
}

func firstFailure(r provision.CheckReport) string {
	for _, s := range r.Stores {
		for _, f := range s.Findings {
			if f.Status == provision.CheckFail {
				return s.Store + ": " + f.Kind + " " + f.Object + ": " + f.Message
			}
		}
	}
	for _, f := range r.Orphans {
		return f.Kind + " " + f.Object
	}
	return "none"
}

// provisionAll runs `urumi serve` workers until every store is READY.
func provisionAll(ctx context.Context, bin string, env []string, work string, n, workers int, log func(string, ...any)) error {
	stop, _, err := startServe(ctx, bin, env, filepath.Join(work, "serve.log"), "--workers", fmt.Sprint(workers), "--drift", "off")
	if err != nil {
		return err
	}
	defer stop()
	start, last := time.Now(), time.Now()
	for {
		_, out, err := benchutil.Run(ctx, env, bin, "store", "list", "-A", "-o", "json")
		if err != nil {
			return err
		}
		var list []store.Store
		if err := json.Unmarshal(out, &list); err != nil {
			return err
		}
		ready := 0
		for _, s := range list {
			switch s.Status {
			case store.StatusReady:
				ready++
			case store.StatusFailed:
				return fmt.Errorf("store %s FAILED: %s", s.Name, s.Error)
			}
		}
		if ready == n {
			log("%d stores READY after %s", n, time.Since(start).Round(time.Second))
			return nil
		}
		if time.Since(last) > 15*time.Second {
			log("  %d of %d READY after %s", ready, n, time.Since(start).Round(time.Second))
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func offset(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// countRequests counts the audit log's requests after offset whose user
// agent starts with agent ("urumi/...", "kubectl/...").
func countRequests(path string, offset int64, agent string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n := 0
	for sc.Scan() {
		var e struct {
			UserAgent string `json:"userAgent"`
			Stage     string `json:"stage"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Stage != "" && e.Stage != "ResponseComplete" {
			continue
		}
		if strings.HasPrefix(e.UserAgent, agent+"/") || strings.HasPrefix(e.UserAgent, agent+" ") {
			n++
		}
	}
	return n, sc.Err()
}
