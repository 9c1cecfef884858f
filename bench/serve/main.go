// Command serve benchmarks `urumi serve` against its baselines, measured in
// the same run, on a simulated cluster:
//
//   - provisioning: N stores requested at once over HTTP from one server
//     with --workers 8, against the same N provisioned one after another
//     (the same server code with --workers 1);
//   - listing: GET /v1/stores for an owner with 100 stores among 10,000,
//     at a fixed rate (open loop, so a slow server cannot slow the load
//     down), against GET /healthz at the same rate (the HTTP floor) and the
//     database query alone (lists come a page at a time: 100 stores fit
//     one page of the default 500), and the first page of every owner's
//     stores (GET /v1/stores?all=true) at the same rate; plus the
//     server's memory;
//   - where the provisioning runs' time went: CPU seconds per store of the
//     server, each control-plane component and this process, and how busy
//     the machine was.
//
// Run it with one command (the simulated cluster's binaries must be built:
// make cluster-build):
//
//	go run ./bench/serve
//	go run ./bench/serve -stores 20 -duration 5s   # a quick look
package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urumi/urumi/bench/internal/benchutil"
	"github.com/urumi/urumi/bench/internal/harness"
	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/simcluster"
	"github.com/urumi/urumi/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(1)
	}
}

type options struct {
	stores        int
	workers       int
	listTotal     int
	listPerOwner  int
	rate          int
	duration      time.Duration
	skipProvision bool
	skipList      bool
	profile       string
	clusterGOGC   int
	runs          int
	audit         bool
	podStartup    *simcluster.PodStartup
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.stores, "stores", 100, "stores to provision in each provisioning run")
	fs.IntVar(&o.workers, "workers", 8, "workers of the concurrent provisioning run")
	fs.IntVar(&o.listTotal, "list-total", 10000, "stores in the database of the listing run")
	fs.IntVar(&o.listPerOwner, "list-per-owner", 100, "stores of each owner in the listing run")
	fs.IntVar(&o.rate, "rate", 500, "requests per second of the listing run")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each listing run")
	fs.BoolVar(&o.skipProvision, "skip-provision", false, "skip the provisioning benchmark")
	fs.BoolVar(&o.skipList, "skip-list", false, "skip the listing benchmark")
	fs.IntVar(&o.runs, "runs", 1, "pairs of provisioning runs (one after another, then concurrent); medians are reported")
	fs.IntVar(&o.clusterGOGC, "cluster-gogc", 0, "GOGC of the simulated control plane's components (0: simcluster's default)")
	fs.StringVar(&o.profile, "profile", "", "write the API server's metrics around each provisioning run, and its CPU profile during the concurrent one, to this directory")
	fs.BoolVar(&o.audit, "audit", false, "log the API server's requests (to the -profile directory, if any) and print, per store, which client made which (costs the API server some CPU)")
	podStartup := fs.String("pod-startup", "off", simcluster.PodStartupUsage+"; both provisioning runs use it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.podStartup, err = simcluster.ParsePodStartup(*podStartup); err != nil {
		return err
	}
	if o.runs < 1 || o.stores < 1 || o.workers < 1 {
		return fmt.Errorf("-runs, -stores and -workers must be at least 1")
	}
	log := func(format string, args ...any) { fmt.Fprintf(stderr, "· "+format+"\n", args...) }

	work, err := os.MkdirTemp("", "urumi-bench-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	log("building urumi")
	bin, err := benchutil.BuildUrumi(ctx, work)
	if err != nil {
		return err
	}
	dir, err := simcluster.BinDir()
	if err != nil {
		return err
	}
	if m := simcluster.MissingBinaries(dir); len(m) > 0 {
		return fmt.Errorf("simulated cluster binaries missing (%s): build them with `make cluster-build`", strings.Join(m, ", "))
	}
	log("starting the simulated cluster")
	b := &bench{o: o, bin: bin, work: work, log: log}
	if o.audit {
		// Kept with the profiles, if any, for a closer look.
		b.auditLog = filepath.Join(cmp.Or(o.profile, work), "audit.log")
	}
	if err := benchutil.QuietMachine(); err != nil {
		return err
	}
	cl, err := simcluster.Start(ctx, simcluster.Options{BinDir: dir, Nodes: 10, Profiling: o.profile != "", GOGC: o.clusterGOGC, AuditLog: b.auditLog, PodStartup: o.podStartup})
	if err != nil {
		return err
	}
	defer cl.Stop()
	b.cluster = cl

	// Listing first, while the cluster is idle: it does not use the
	// cluster, but shares the machine with it.
	var rows [][]string
	if !o.skipList {
		r, err := b.listing(ctx)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if !o.skipProvision {
		r, err := b.provisioning(ctx)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	fmt.Fprintf(stdout, "pod start-up model: %s\n\n", o.podStartup)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tMEASURED\tBASELINE (same run)\tTARGET")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(b.cpu) > 0 {
		fmt.Fprintln(stdout)
		if err := b.printCPU(stdout); err != nil {
			return err
		}
	}
	return harness.PrintAudit(stdout, b.audits, 30)
}

// cpuRun is the processor time each process spent during one provisioning
// run: where a CPU-bound run's time went.
type cpuRun struct {
	name    string
	stores  int
	elapsed time.Duration
	cpu     map[string]time.Duration
}

// The processes of a provisioning run besides the cluster's components.
const (
	serveProc = "urumi serve"
	benchProc = "this benchmark (clients, PV binder)"
)

// components lists the processes of a provisioning run in a fixed order.
func components() []string {
	return []string{serveProc, "kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok", benchProc}
}

// addCPU adds a run's figures to those of earlier runs of the same kind.
func (b *bench) addCPU(r cpuRun) {
	for i := range b.cpu {
		if c := &b.cpu[i]; c.name == r.name {
			c.stores += r.stores
			c.elapsed += r.elapsed
			for k, v := range r.cpu {
				c.cpu[k] += v
			}
			return
		}
	}
	b.cpu = append(b.cpu, r)
}

func (b *bench) printCPU(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "CPU-SECONDS PER STORE\t")
	for _, r := range b.cpu {
		fmt.Fprintf(tw, "%s\t", r.name)
	}
	fmt.Fprintln(tw)
	total := make([]time.Duration, len(b.cpu))
	row := func(name string, cpu func(i int) time.Duration) {
		fmt.Fprintf(tw, "%s\t", name)
		for i, r := range b.cpu {
			fmt.Fprintf(tw, "%.3f\t", cpu(i).Seconds()/float64(r.stores))
		}
		fmt.Fprintln(tw)
	}
	for _, c := range components() {
		row(c, func(i int) time.Duration { total[i] += b.cpu[i].cpu[c]; return b.cpu[i].cpu[c] })
	}
	row("all", func(i int) time.Duration { return total[i] })
	fmt.Fprint(tw, "machine busy (all ÷ elapsed ÷ cores)\t")
	for i, r := range b.cpu {
		fmt.Fprintf(tw, "%.0f%%\t", 100*total[i].Seconds()/r.elapsed.Seconds()/float64(runtime.NumCPU()))
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	// The concurrent run cannot end sooner than its CPU-seconds spread over
	// every core: on a machine it shares with the control plane, that caps
	// its speed-up over the serial run, whatever urumi does.
	if len(b.cpu) == 2 && b.serial > 0 {
		pool, cores := b.cpu[1], float64(runtime.NumCPU())
		floor := func(cpu time.Duration) float64 {
			return b.serial.Seconds() / (cpu.Seconds() / float64(pool.stores) * float64(b.o.stores) / cores)
		}
		fmt.Fprintf(w, "ceiling of the speed-up on %d cores (serial time ÷ the concurrent run's CPU-seconds per core): %.1f×; were urumi serve's own CPU free: %.1f×\n",
			runtime.NumCPU(), floor(total[1]), floor(total[1]-pool.cpu[serveProc]))
	}
	var peaks []string
	pids := b.cluster.Pids()
	for _, c := range components() {
		if pid, ok := pids[c]; ok {
			_, hwm, err := harness.Memory(pid)
			if err != nil {
				return err
			}
			peaks = append(peaks, fmt.Sprintf("%s %.0f MB", c, hwm))
		}
	}
	_, err := fmt.Fprintf(w, "peak memory of the simulated control plane: %s\n", strings.Join(peaks, ", "))
	return err
}

type bench struct {
	o       options
	bin     string
	work    string
	cluster *simcluster.Cluster
	log     func(string, ...any)
	cpu     []cpuRun
	// serial is the median time of the runs one after another.
	serial time.Duration
	// auditLog is the API server's audit log, with -audit.
	auditLog string
	audits   []harness.AuditCounts
}

func (b *bench) startServer(ctx context.Context, db string, args ...string) (*harness.Server, error) {
	home := filepath.Join(b.work, "home")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home, "KUBECONFIG=" + b.cluster.Kubeconfig}
	args = append([]string{"--db", db, "--audit-key", b.auditKeyPath(), "--create-rate", "0", "--default-max-stores", "100000", "--timeout", "5m"}, args...)
	return harness.StartServer(ctx, b.bin, b.work, env, args...)
}

// cpuTime reads the processor time the cluster's components and the server
// have used so far.
func (b *bench) cpuTime(srv *harness.Server) (map[string]time.Duration, error) {
	cpu, err := b.cluster.CPUTime()
	if err != nil {
		return nil, err
	}
	d, err := simcluster.ProcessCPUTime(srv.Cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	cpu[serveProc] = d
	if cpu[benchProc], err = simcluster.ProcessCPUTime(os.Getpid()); err != nil {
		return nil, err
	}
	return cpu, nil
}

// fetch saves what the API server serves at path to the -profile
// directory: a CPU profile taken while the stores of one run are
// provisioned, or its metrics before and after.
func (b *bench) fetch(ctx context.Context, path, file string) {
	body, err := b.cluster.AdminGet(ctx, path)
	if err == nil {
		err = os.WriteFile(filepath.Join(b.o.profile, file), body, 0o644)
	}
	if err != nil {
		b.log("profile: %v", err)
	}
}

// auditKeyPath is the audit key every process of the bench shares.
func (b *bench) auditKeyPath() string { return filepath.Join(b.work, "audit.key") }

// token issues an API token in db directly.
func (b *bench) token(ctx context.Context, dsn, owner string, admin bool) (string, error) {
	key, err := store.LoadAuditKey(b.auditKeyPath(), true)
	if err != nil {
		return "", err
	}
	db, err := store.Open(ctx, dsn, store.Options{AuditKey: key})
	if err != nil {
		return "", err
	}
	defer db.Close()
	svc := &provision.Service{DB: db}
	t, err := svc.IssueToken(ctx, provision.Caller{Name: "bench", Admin: true}, owner, admin)
	return t.Secret, err
}

// provisioning times N stores from request to READY with the concurrent
// pool and with one worker.
func (b *bench) provisioning(ctx context.Context) ([][]string, error) {
	// Pairs of runs, alternating, so that a machine that gets busier or a
	// cluster that fills up weighs on both sides alike; medians reported.
	var serial, parallel []time.Duration
	for i := range b.o.runs {
		d, err := b.provisionRun(ctx, fmt.Sprintf("serial%d", i), 1)
		if err != nil {
			return nil, err
		}
		serial = append(serial, d)
		if d, err = b.provisionRun(ctx, fmt.Sprintf("pool%d", i), b.o.workers); err != nil {
			return nil, err
		}
		parallel = append(parallel, d)
	}
	var ratios []string
	for i := range serial {
		ratios = append(ratios, fmt.Sprintf("%.1f×", serial[i].Seconds()/parallel[i].Seconds()))
	}
	s, p := benchutil.Summarise(serial).Median, benchutil.Summarise(parallel).Median
	b.serial = s
	runs := ""
	if len(serial) > 1 {
		runs = fmt.Sprintf(", median of %d runs: %s", len(serial), strings.Join(ratios, " "))
	}
	return [][]string{{
		fmt.Sprintf("%d stores requested at once → all READY, --workers %d", b.o.stores, b.o.workers),
		fmt.Sprintf("%.1fs (%.2fs/store, %.1f× sooner%s)", p.Seconds(), p.Seconds()/float64(b.o.stores), s.Seconds()/p.Seconds(), runs),
		fmt.Sprintf("%.1fs one after another (--workers 1, %.2fs/store)", s.Seconds(), s.Seconds()/float64(b.o.stores)),
		"≥5× sooner",
	}}, nil
}

func (b *bench) provisionRun(ctx context.Context, prefix string, workers int) (time.Duration, error) {
	db := filepath.Join(b.work, prefix+".db")
	tok, err := b.token(ctx, db, "bench-"+prefix, false)
	if err != nil {
		return 0, err
	}
	srv, err := b.startServer(ctx, db, "--workers", strconv.Itoa(workers))
	if err != nil {
		return 0, err
	}
	defer srv.Stop()
	b.log("provisioning %d stores with --workers %d", b.o.stores, workers)
	c := &http.Client{Timeout: 30 * time.Second}
	cpu, err := b.cpuTime(srv)
	if err != nil {
		return 0, err
	}
	if b.o.profile != "" {
		b.fetch(ctx, "/metrics", prefix+"-before.metrics")
		defer b.fetch(ctx, "/metrics", prefix+"-after.metrics")
		if workers > 1 {
			go b.fetch(ctx, "/debug/pprof/profile?seconds=20", "kube-apiserver-"+prefix+".pprof")
		}
	}
	var auditFrom int64
	if b.auditLog != "" {
		if auditFrom, err = harness.AuditOffset(b.auditLog); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, b.o.stores)
	for i := range b.o.stores {
		wg.Go(func() {
			name := fmt.Sprintf("%s-%03d", prefix, i)
			status, body, err := harness.Call(ctx, c, "POST", srv.URL+"/v1/stores", tok, map[string]any{"name": name, "plan": "small"})
			if err == nil && status != http.StatusAccepted {
				err = fmt.Errorf("create %s: %d %s", name, status, body)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	lastReport := time.Now()
	for {
		list, err := harness.ListAll(ctx, c, srv.URL+"/v1/stores", tok)
		if err != nil {
			return 0, err
		}
		ready, last := 0, start
		for _, s := range list {
			switch s.Status {
			case store.StatusReady:
				ready++
				if s.UpdatedAt.After(last) {
					last = s.UpdatedAt
				}
			case store.StatusFailed:
				return 0, fmt.Errorf("store %s FAILED: %s", s.Name, s.Error)
			}
		}
		if ready == b.o.stores {
			// The time the last store became READY, as the server recorded
			// it: polling slowly keeps the benchmark's own load off the
			// machine without making the figure coarser.
			elapsed := last.Sub(start)
			after, err := b.cpuTime(srv)
			if err != nil {
				return 0, err
			}
			for k, v := range after {
				after[k] = v - cpu[k]
			}
			name := fmt.Sprintf("--workers %d", workers)
			b.addCPU(cpuRun{name: name, stores: b.o.stores, elapsed: time.Since(start), cpu: after})
			if b.auditLog != "" {
				// The batch backend writes within a second or so.
				time.Sleep(2 * time.Second)
				counts, err := harness.CountAudit(b.auditLog, auditFrom, prefix+", "+name, b.o.stores)
				if err != nil {
					return 0, fmt.Errorf("read the audit log: %w", err)
				}
				b.audits = append(b.audits, counts)
			}
			return elapsed, nil
		}
		if time.Since(lastReport) > 15*time.Second {
			b.log("  %d of %d READY after %s", ready, b.o.stores, time.Since(start).Round(time.Second))
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// listing loads GET /v1/stores for one owner at a fixed rate.
func (b *bench) listing(ctx context.Context) ([][]string, error) {
	dsn := filepath.Join(b.work, "list.db")
	owners := b.o.listTotal / b.o.listPerOwner
	b.log("seeding %d stores of %d owners", b.o.listTotal, owners)
	key, err := store.LoadAuditKey(b.auditKeyPath(), true)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, dsn, store.Options{DefaultMaxStores: b.o.listPerOwner, AuditKey: key})
	if err != nil {
		return nil, err
	}
	seedStart := time.Now()
	for i := range b.o.listTotal {
		owner := fmt.Sprintf("owner-%03d", i%owners)
		s := store.Store{Name: fmt.Sprintf("s%05d", i), Owner: owner, Plan: "small", Namespace: fmt.Sprintf("store-s%05d", i)}
		if _, _, err := db.CreateStore(ctx, s, owner); err != nil {
			db.Close()
			return nil, fmt.Errorf("seed: %w", err)
		}
	}
	b.log("  seeded in %s", time.Since(seedStart).Round(time.Millisecond))
	owner := fmt.Sprintf("owner-%03d", owners/2)
	// The query alone, in this process: what the server adds is HTTP,
	// auth and JSON.
	var queryLat []time.Duration
	for range 1000 {
		t0 := time.Now()
		// As the server asks: a page, and one more store to know whether
		// there is a next page.
		list, err := db.ListStores(ctx, store.ListFilter{Owner: owner, Limit: provision.DefaultPageSize + 1})
		if err != nil || len(list) != min(b.o.listPerOwner, provision.DefaultPageSize+1) {
			db.Close()
			return nil, fmt.Errorf("list in process: %d stores, %v", len(list), err)
		}
		queryLat = append(queryLat, time.Since(t0))
	}
	db.Close()
	tok, err := b.token(ctx, dsn, owner, false)
	if err != nil {
		return nil, err
	}
	adminTok, err := b.token(ctx, dsn, "bench-admin", true)
	if err != nil {
		return nil, err
	}
	srv, err := b.startServer(ctx, dsn, "--workers", "0")
	if err != nil {
		return nil, err
	}
	defer srv.Stop()

	b.log("GET /healthz at %d req/s for %s", b.o.rate, b.o.duration)
	health, err := harness.Load(ctx, srv.URL+"/healthz", "", b.o.rate, b.o.duration, nil)
	if err != nil {
		return nil, err
	}
	// An owner with more stores than a page gets the first page (the
	// default size): the figure is then a page's, as the target means.
	perPage := min(b.o.listPerOwner, provision.DefaultPageSize)
	b.log("GET /v1/stores (%d of %d, first page %d) at %d req/s for %s", b.o.listPerOwner, b.o.listTotal, perPage, b.o.rate, b.o.duration)
	check := func(body []byte) error {
		if n := bytes.Count(body, []byte(`"owner":`)); n != perPage {
			return fmt.Errorf("list returned %d stores, want %d", n, perPage)
		}
		return nil
	}
	list, err := harness.Load(ctx, srv.URL+"/v1/stores", tok, b.o.rate, b.o.duration, check)
	if err != nil {
		return nil, err
	}
	// Every owner's stores: the first page of the whole list.
	allPage := min(b.o.listTotal, provision.DefaultPageSize)
	b.log("GET /v1/stores?all=true (first page %d of %d) at %d req/s for %s", allPage, b.o.listTotal, b.o.rate, b.o.duration)
	allList, err := harness.Load(ctx, srv.URL+"/v1/stores?all=true", adminTok, b.o.rate, b.o.duration, func(body []byte) error {
		if n := bytes.Count(body, []byte(`"owner":`)); n != allPage {
			return fmt.Errorf("list returned %d stores, want %d", n, allPage)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rss, hwm, err := harness.Memory(srv.Cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	slices.Sort(queryLat)
	return [][]string{
		{
			fmt.Sprintf("GET /v1/stores, %d of %d stores (page of %d), %d req/s: p99", b.o.listPerOwner, b.o.listTotal, perPage, b.o.rate),
			fmt.Sprintf("%s (p50 %s, max %s, %d req, %d errors)", harness.Ms(list.P(0.99)), harness.Ms(list.P(0.50)), harness.Ms(list.P(1)), list.N, list.Errors),
			fmt.Sprintf("GET /healthz p99 %s; the query alone p99 %s", harness.Ms(health.P(0.99)), harness.Ms(queryLat[len(queryLat)*99/100])),
			"< 10ms",
		},
		{
			fmt.Sprintf("GET /v1/stores?all=true, page of %d of %d stores, %d req/s: p99", allPage, b.o.listTotal, b.o.rate),
			fmt.Sprintf("%s (p50 %s, max %s, %d req, %d errors)", harness.Ms(allList.P(0.99)), harness.Ms(allList.P(0.50)), harness.Ms(allList.P(1)), allList.N, allList.Errors),
			"",
			"",
		},
		{
			"server memory after the listing load",
			fmt.Sprintf("%.0f MB RSS (peak %.0f MB)", rss, hwm),
			"",
			"< 150 MB",
		},
	}, nil
}
