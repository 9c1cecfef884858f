// Command scale measures urumi at fleet size on a simulated cluster, under
// a pod start-up model (pods held un-ready for a while, as image pulls and
// first boots do on a real cluster):
//
//   - N stores (default 200) requested at once over HTTP to `urumi serve`
//     on PostgreSQL with W workers (default 16): stores per minute, the
//     time to the last READY, p50/p95 of each provisioning phase;
//   - the baseline, in the same run and on the same server: a few stores
//     provisioned one at a time give the per-store latency L, and the
//     concurrency efficiency is (N × L ÷ W) ÷ the measured time;
//   - urumi's CPU-seconds and peak memory, the control plane's CPU per
//     store, and the API requests urumi made per store (from the API
//     server's audit log);
//   - GET /v1/stores?all=true at a fixed rate and `urumi store list -A`
//     at that size, then the time to delete every store.
//
// Run it with one command (PostgreSQL at 127.0.0.1:5432 and the simulated
// cluster's binaries are needed: make cluster-build):
//
//	go run ./bench/scale                        # 200 stores, 16 workers
//	go run ./bench/scale -stores 1000           # the closing note's run
//	go run ./bench/scale -stores 20 -workers 4  # a quick look
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

	"github.com/jackc/pgx/v5"

	"github.com/urumi/urumi/bench/internal/benchutil"
	"github.com/urumi/urumi/bench/internal/harness"
	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/simcluster"
	"github.com/urumi/urumi/internal/store"
)

func main() {
	harness.RunBareIfAsked() // when started as the list load's bare baseline
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench/scale:", err)
		os.Exit(1)
	}
}

type options struct {
	stores        int
	workers       int
	latencyStores int
	rate          int
	duration      time.Duration
	postgres      string
	nodes         int
	skipDelete    bool
	podStartup    *simcluster.PodStartup
	keep          string
	cpuProfile    string
	serveEnv      []string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.stores, "stores", 200, "stores requested at once")
	fs.IntVar(&o.workers, "workers", 16, "urumi serve's --workers")
	fs.IntVar(&o.latencyStores, "latency-stores", 3, "stores provisioned one at a time first, for the per-store latency L")
	fs.IntVar(&o.rate, "rate", 200, "requests per second of the list load")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of the list load")
	fs.StringVar(&o.postgres, "postgres", "postgres://root@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server: the benchmark makes a database of its own there and drops it at the end")
	fs.IntVar(&o.nodes, "nodes", 0, "kwok nodes (0: one per 50 stores, at least 3)")
	fs.BoolVar(&o.skipDelete, "skip-delete", false, "leave the stores (and skip timing their deletion)")
	fs.StringVar(&o.keep, "keep", "", "keep the API server's audit log and serve's log in this directory")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write urumi serve's CPU and heap profiles, one per phase, to FILE.fleet (requests to the last READY), FILE.rest (the fleet at rest), FILE.list (the list loads) and FILE (the rest of the run), each heap profile beside it with .heap added")
	fs.Func("serve-env", "add KEY=VALUE to urumi serve's environment (repeatable), e.g. GODEBUG=gctrace=1 or GOMEMLIMIT=120MiB", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("%q is not KEY=VALUE", v)
		}
		o.serveEnv = append(o.serveEnv, v)
		return nil
	})
	podStartup := fs.String("pod-startup", "default", simcluster.PodStartupUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.podStartup, err = simcluster.ParsePodStartup(*podStartup); err != nil {
		return err
	}
	if o.stores < 1 || o.workers < 1 || o.latencyStores < 1 || o.rate < 1 {
		return errors.New("-stores, -workers, -latency-stores and -rate must be at least 1")
	}
	if o.nodes == 0 {
		o.nodes = max(3, (o.stores+o.latencyStores+49)/50)
	}
	b := &bench{o: o, log: func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s · "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}}
	return b.run(ctx, stdout)
}

// add records lines of the table, and logs them at once: a run that
// fails later still shows what it measured.
func (b *bench) add(rows ...[]string) {
	for _, cells := range rows {
		b.rows = append(b.rows, cells)
		b.log("  %s", strings.Join(slices.DeleteFunc(slices.Clone(cells), func(c string) bool { return c == "" }), " | "))
	}
}

type bench struct {
	o       options
	log     func(string, ...any)
	work    string
	bin     string
	dsn     string
	cluster *simcluster.Cluster
	srv     *harness.Server
	tok     string
	admin   string
	client  *http.Client
	rows    [][]string
	notes   []string
	// segments counts the profile segments ended so far.
	segments int
}

func (b *bench) run(ctx context.Context, stdout io.Writer) error {
	var err error
	if b.work, err = os.MkdirTemp("", "urumi-bench-scale-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.work)
	if b.o.keep != "" {
		if err := os.MkdirAll(b.o.keep, 0o755); err != nil {
			return err
		}
	}
	b.log("building urumi")
	if b.bin, err = benchutil.BuildUrumi(ctx, b.work); err != nil {
		return err
	}
	dir, err := simcluster.BinDir()
	if err != nil {
		return err
	}
	if m := simcluster.MissingBinaries(dir); len(m) > 0 {
		return fmt.Errorf("simulated cluster binaries missing (%s): build them with `make cluster-build`", strings.Join(m, ", "))
	}
	dropDB, err := b.createDatabase(ctx)
	if err != nil {
		return err
	}
	defer dropDB()

	auditLog := filepath.Join(cmp.Or(b.o.keep, b.work), "audit.log")
	b.log("starting the simulated cluster: %d nodes, pod start-up model %s", b.o.nodes, b.o.podStartup)
	if err := benchutil.QuietMachine(); err != nil {
		return err
	}
	if b.cluster, err = simcluster.Start(ctx, simcluster.Options{BinDir: dir, Nodes: b.o.nodes, AuditLog: auditLog, PodStartup: b.o.podStartup}); err != nil {
		return err
	}
	defer b.cluster.Stop()

	if b.tok, err = b.token(ctx, "bench-owner", false); err != nil {
		return err
	}
	if b.admin, err = b.token(ctx, "bench-admin", true); err != nil {
		return err
	}
	home := filepath.Join(b.work, "home")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + home, "KUBECONFIG=" + b.cluster.Kubeconfig}
	if b.o.cpuProfile != "" {
		abs, err := filepath.Abs(b.o.cpuProfile)
		if err != nil {
			return err
		}
		env = append(env, "URUMI_CPU_PROFILE="+abs, "URUMI_HEAP_PROFILE="+abs+".heap")
	}
	env = append(env, b.o.serveEnv...)
	if b.srv, err = harness.StartServer(ctx, b.bin, cmp.Or(b.o.keep, b.work), env,
		"--db", b.dsn, "--audit-key", b.auditKeyPath(), "--workers", strconv.Itoa(b.o.workers),
		"--create-rate", "0", "--default-max-stores", "100000", "--timeout", "10m"); err != nil {
		return err
	}
	defer b.srv.Stop()
	mem := harness.SampleMemory(b.srv.Cmd.Process.Pid, 250*time.Millisecond)
	b.client = &http.Client{Timeout: 60 * time.Second}

	latency, err := b.latency(ctx)
	if err != nil {
		return err
	}
	if err := b.fleet(ctx, latency, auditLog); err != nil {
		return err
	}
	pid := b.srv.Cmd.Process.Pid
	peaks := []string{fmt.Sprintf("%.0f MB provisioning", mem.Phase(pid))}
	b.profileSegment("fleet")
	if err := b.atRest(ctx); err != nil {
		return err
	}
	peaks = append(peaks, fmt.Sprintf("%.0f MB at rest", mem.Phase(pid)))
	b.profileSegment("rest")
	// A list load that fails (on a machine too busy to answer in time) is
	// reported, and the run goes on: its memory and the rest still count.
	listErr := b.lists(ctx)
	peaks = append(peaks, fmt.Sprintf("%.0f MB under the list loads", mem.Phase(pid)))
	b.profileSegment("list")
	if listErr != nil {
		b.add([]string{"GET /v1/stores?all=true load", "FAILED: " + listErr.Error(), "", ""})
	}
	_, hwm, err := harness.Memory(b.srv.Cmd.Process.Pid)
	if err != nil {
		return err
	}
	anon, file, both := mem.Stop()
	b.add([]string{fmt.Sprintf("urumi serve peak RSS, %d stores (reconciler's informers included)", b.o.stores+b.o.latencyStores), fmt.Sprintf("%.0f MB", hwm),
		fmt.Sprintf("sampled every 250 ms: at most %.0f MB anonymous (heap, stacks, runtime), %.0f MB file-backed (the binary's pages), %.0f MB together; by phase, %s", anon, file, both, strings.Join(peaks, ", ")), "< 150 MB at 1,000 stores"})
	if !b.o.skipDelete {
		if err := b.deleteAll(ctx); err != nil {
			return err
		}
	}

	fmt.Fprintf(stdout, "machine: %d cores (%s), %d kwok nodes; pod start-up model: %s\n", runtime.NumCPU(), cpuModel(), b.o.nodes, b.o.podStartup)
	if len(b.o.serveEnv) > 0 {
		fmt.Fprintf(stdout, "urumi serve's environment adds: %s\n", strings.Join(b.o.serveEnv, " "))
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tMEASURED\tBASELINE (same run)\tTARGET")
	for _, r := range b.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range b.notes {
		fmt.Fprintln(stdout, n)
	}
	return listErr
}

// createDatabase makes a database of the benchmark's own on the PostgreSQL
// server, and returns a function that drops it.
func (b *bench) createDatabase(ctx context.Context) (func(), error) {
	admin, err := pgx.Connect(ctx, b.o.postgres)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL (-postgres): %w", err)
	}
	name := fmt.Sprintf("urumi_bench_scale_%d", os.Getpid())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(b.o.postgres)
	if err != nil {
		admin.Close(ctx)
		return nil, err
	}
	u.Path = "/" + name
	b.dsn = u.String()
	return func() {
		// The server is stopped by now; a fresh context, since ctx may be
		// the cancelled one that ended the run.
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(c, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			b.log("drop database %s: %v", name, err)
		}
		admin.Close(c)
	}, nil
}

func (b *bench) auditKeyPath() string { return filepath.Join(b.work, "audit.key") }

// token issues an API token in the database directly.
func (b *bench) token(ctx context.Context, owner string, admin bool) (string, error) {
	key, err := store.LoadAuditKey(b.auditKeyPath(), true)
	if err != nil {
		return "", err
	}
	db, err := store.Open(ctx, b.dsn, store.Options{AuditKey: key})
	if err != nil {
		return "", err
	}
	defer db.Close()
	svc := &provision.Service{DB: db}
	t, err := svc.IssueToken(ctx, provision.Caller{Name: "bench", Admin: true}, owner, admin)
	return t.Secret, err
}

func (b *bench) create(ctx context.Context, name string) error {
	status, body, err := harness.Call(ctx, b.client, "POST", b.srv.URL+"/v1/stores", b.tok, map[string]any{"name": name, "plan": "small"})
	if err == nil && status != http.StatusAccepted {
		err = fmt.Errorf("create %s: %d %s", name, status, body)
	}
	return err
}

// waitReady polls the owner's stores until every one whose name has prefix
// is READY, and returns them. A FAILED store ends the run.
func (b *bench) waitReady(ctx context.Context, prefix string, n int) ([]store.Store, error) {
	lastReport := time.Now()
	for {
		list, err := harness.ListAll(ctx, b.client, b.srv.URL+"/v1/stores", b.tok)
		if err != nil {
			return nil, err
		}
		var ready []store.Store
		for _, s := range list {
			if !strings.HasPrefix(s.Name, prefix) {
				continue
			}
			switch s.Status {
			case store.StatusReady:
				ready = append(ready, s)
			case store.StatusFailed:
				return nil, fmt.Errorf("store %s FAILED: %s", s.Name, s.Error)
			}
		}
		if len(ready) == n {
			return ready, nil
		}
		if time.Since(lastReport) > 30*time.Second {
			b.log("  %d of %d READY", len(ready), n)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// waitFleet waits until n stores more than before are READY, asking
// /v1/stats each second (one query, however many stores), then reads the
// stores named prefix… once. Listing every store every second, as
// waitReady does, is itself a load on serve: ten pages a second at 1,000
// stores, about 4 % of the CPU serve spent in such a run.
func (b *bench) waitFleet(ctx context.Context, prefix string, n, before int) ([]store.Store, error) {
	lastReport := time.Now()
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", b.srv.URL+"/v1/stats", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+b.admin)
		resp, err := b.client.Do(req)
		if err != nil {
			return nil, err
		}
		var st struct {
			StoresByStatus map[store.Status]int `json:"storesByStatus"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET /v1/stats: %s", resp.Status)
		}
		if err != nil {
			return nil, err
		}
		ready := st.StoresByStatus[store.StatusReady] - before
		if ready >= n || st.StoresByStatus[store.StatusFailed] > 0 {
			return b.waitReady(ctx, prefix, n) // lists once, and names a FAILED store
		}
		if time.Since(lastReport) > 30*time.Second {
			b.log("  %d of %d READY", ready, n)
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// latency provisions stores one at a time: the per-store latency L that a
// perfectly concurrent run divides by the number of workers.
func (b *bench) latency(ctx context.Context) (benchutil.Stats, error) {
	var lat []time.Duration
	for i := range b.o.latencyStores {
		name := fmt.Sprintf("one%d", i)
		b.log("latency: provisioning %s alone", name)
		start := time.Now()
		if err := b.create(ctx, name); err != nil {
			return benchutil.Stats{}, err
		}
		ready, err := b.waitReady(ctx, name, 1)
		if err != nil {
			return benchutil.Stats{}, err
		}
		// The server's record of when it became READY: the poll's second
		// does not count.
		lat = append(lat, ready[0].UpdatedAt.Sub(start))
	}
	s := benchutil.Summarise(lat)
	b.log("  L = %s (median of %d; %s to %s)", s.Median.Round(10*time.Millisecond), s.N,
		s.Min.Round(10*time.Millisecond), s.Max.Round(10*time.Millisecond))
	return s, nil
}

// fleet requests every store at once and measures the run.
func (b *bench) fleet(ctx context.Context, lat benchutil.Stats, auditLog string) error {
	latency := lat.Median
	cpuBefore, err := b.cpuTime()
	if err != nil {
		return err
	}
	auditFrom, err := harness.AuditOffset(auditLog)
	if err != nil {
		return err
	}
	b.log("requesting %d stores at once (--workers %d)", b.o.stores, b.o.workers)
	start := time.Now()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	errs := make(chan error, b.o.stores)
	for i := range b.o.stores {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := b.create(ctx, fmt.Sprintf("s%04d", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	requested := time.Since(start)
	ready, err := b.waitFleet(ctx, "s", b.o.stores, b.o.latencyStores)
	if err != nil {
		return err
	}
	last := start
	phases := map[string][]time.Duration{}
	var order []string
	for _, s := range ready {
		if s.UpdatedAt.After(last) {
			last = s.UpdatedAt
		}
		for _, p := range s.Phases {
			if _, ok := phases[p.Name]; !ok {
				order = append(order, p.Name)
			}
			phases[p.Name] = append(phases[p.Name], time.Duration(p.DurationMS)*time.Millisecond)
		}
	}
	elapsed := last.Sub(start)
	cpuAfter, err := b.cpuTime()
	if err != nil {
		return err
	}
	cpu := map[string]time.Duration{}
	for k, v := range cpuAfter {
		cpu[k] = v - cpuBefore[k]
	}
	// The batch audit backend writes within a second or so.
	time.Sleep(3 * time.Second)
	counts, err := harness.CountAudit(auditLog, auditFrom, "fleet", b.o.stores)
	if err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}

	n := float64(b.o.stores)
	ideal := time.Duration(n * float64(latency) / float64(b.o.workers))
	eff := ideal.Seconds() / elapsed.Seconds()
	// The efficiency moves with L, whose single stores differ by seconds
	// under the model's jitter: the band it would read with the fastest
	// and the slowest of them, beside the figure (never in its place).
	band := func(l time.Duration) float64 { return n * l.Seconds() / float64(b.o.workers) / elapsed.Seconds() }
	b.add(
		[]string{fmt.Sprintf("%d stores requested at once → all READY, --workers %d", b.o.stores, b.o.workers),
			fmt.Sprintf("%s (%.1f stores/min; requests accepted in %s)", elapsed.Round(100*time.Millisecond), n/elapsed.Minutes(), requested.Round(10*time.Millisecond)),
			fmt.Sprintf("N × L ÷ W = %s (L = %s, one store alone, median of %d)", ideal.Round(100*time.Millisecond), latency.Round(10*time.Millisecond), b.o.latencyStores), ""},
		[]string{"concurrency efficiency (N × L ÷ W) ÷ measured", fmt.Sprintf("%.2f", eff),
			fmt.Sprintf("1.00 is perfect; %.2f to %.2f with L its fastest and slowest single store (%s, %s)",
				band(lat.Min), band(lat.Max), lat.Min.Round(10*time.Millisecond), lat.Max.Round(10*time.Millisecond)),
			"≥ 0.85 (200 stores, W = 16)"},
	)
	urumiReq := counts.Client("urumi")
	b.add([]string{"API requests per store made by urumi", fmt.Sprintf("%.1f", float64(urumiReq)/n), fmt.Sprintf("all clients: %.1f", float64(counts.Total)/n), "≤ 25"})
	plane := controlPlane(cpu)
	serve := cpu[serveProc]
	b.add(
		[]string{"urumi serve CPU per store", fmt.Sprintf("%.3f CPU-s (%.1f%% of the control plane's)", serve.Seconds()/n, 100*serve.Seconds()/plane.Seconds()),
			fmt.Sprintf("control plane (apiserver, etcd, controller manager, scheduler): %.3f CPU-s; kwok: %.3f", plane.Seconds()/n, cpu["kwok"].Seconds()/n), "≤ 8 % of the control plane's"},
	)
	for _, p := range order {
		s := benchutil.Summarise(phases[p])
		b.add([]string{"  phase " + p, fmt.Sprintf("p50 %s, p95 %s", s.Median.Round(10*time.Millisecond), s.P95.Round(10*time.Millisecond)), "", ""})
	}
	var top []string
	for _, c := range counts.TopRequests("urumi", 8) {
		top = append(top, fmt.Sprintf("%s %.1f", c.Key, float64(c.N)/n))
	}
	b.notes = append(b.notes, "\nurumi's most frequent API requests per store: "+strings.Join(top, ", "))
	return nil
}

const serveProc = "urumi serve"

// restWindow is how long the fleet is watched at rest.
const restWindow = 60 * time.Second

// atRest measures what the fleet costs once every store is READY and no
// request comes: serve's reconciler and workers, and the cluster's own
// work (every store's WP-Cron Job, each minute).
func (b *bench) atRest(ctx context.Context) error {
	b.log("the fleet at rest for %s", restWindow)
	before, err := b.cpuTime()
	if err != nil {
		return err
	}
	gen0, err := b.storesGeneration(ctx)
	if err != nil {
		return err
	}
	select {
	case <-time.After(restWindow):
	case <-ctx.Done():
		return ctx.Err()
	}
	after, err := b.cpuTime()
	if err != nil {
		return err
	}
	gen1, err := b.storesGeneration(ctx)
	if err != nil {
		return err
	}
	total := float64(b.o.stores + b.o.latencyStores)
	cores := func(d time.Duration) float64 { return d.Seconds() / restWindow.Seconds() }
	serve := cores(after[serveProc] - before[serveProc])
	b.add([]string{fmt.Sprintf("at rest, %d stores, %s", int(total), restWindow),
		fmt.Sprintf("urumi serve %.0f millicores (%.0f per 1,000 stores); stores written %d times", 1000*serve, 1000*serve*1000/total, gen1-gen0),
		fmt.Sprintf("control plane %.2f cores, kwok %.2f", cores(controlPlane(after)-controlPlane(before)), cores(after["kwok"]-before["kwok"])), ""})
	return nil
}

// storesGeneration reads how many times the stores were written so far
// (the number the server's kept list pages are checked against).
func (b *bench) storesGeneration(ctx context.Context) (int64, error) {
	c, err := pgx.Connect(ctx, b.dsn)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	if err := c.QueryRow(ctx, `SELECT n FROM store_generation WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read the stores' generation: %w", err)
	}
	return n, nil
}

// profileSegment, with -cpuprofile, ends serve's profile of one phase
// (SIGUSR1) and names it after the phase.
func (b *bench) profileSegment(phase string) {
	if b.o.cpuProfile == "" {
		return
	}
	b.segments++
	if err := b.srv.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		b.log("profile of %s: %v", phase, err)
		return
	}
	// serve writes the heap profile first, then names the CPU one.
	from := fmt.Sprintf("%s.%d", b.o.cpuProfile, b.segments)
	for range 100 {
		if _, err := os.Stat(from); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, suffix := range []string{"", ".heap"} {
		if err := os.Rename(b.o.cpuProfile+suffix+"."+strconv.Itoa(b.segments), b.o.cpuProfile+"."+phase+suffix); err != nil {
			b.log("profile of %s: %v", phase, err)
		}
	}
}

// controlPlane is the simulated control plane's share of cpu: the API
// server, etcd, the controller manager and the scheduler (not kwok).
func controlPlane(cpu map[string]time.Duration) time.Duration {
	return cpu["kube-apiserver"] + cpu["etcd"] + cpu["kube-controller-manager"] + cpu["kube-scheduler"]
}

func (b *bench) cpuTime() (map[string]time.Duration, error) {
	cpu, err := b.cluster.CPUTime()
	if err != nil {
		return nil, err
	}
	if cpu[serveProc], err = simcluster.ProcessCPUTime(b.srv.Cmd.Process.Pid); err != nil {
		return nil, err
	}
	return cpu, nil
}

// lists loads the admin's first page of every store at a fixed rate, and
// times `urumi store list -A` reading the same database.
func (b *bench) lists(ctx context.Context) error {
	total := b.o.stores + b.o.latencyStores
	page := min(total, provision.DefaultPageSize)
	b.log("GET /v1/stores?all=true (page of %d of %d) at %d req/s for %s", page, total, b.o.rate, b.o.duration)
	health, err := harness.Load(ctx, b.srv.URL+"/healthz", "", b.o.rate, b.o.duration, nil)
	if err != nil {
		return err
	}
	// What the list costs, whatever else the machine is doing: serve's
	// CPU per request, beside how busy the machine was (every process:
	// the control plane, kwok, PostgreSQL, this load).
	cpuBefore, err := b.cpuTime()
	if err != nil {
		return err
	}
	busyBefore, err := harness.MachineCPU()
	if err != nil {
		return err
	}
	// The client asks for gzip, as Go's default client, browsers and the
	// CLI do; the same load without compression follows, as a baseline.
	checkPage := func(body []byte) error {
		if n := bytes.Count(body, []byte(`"owner":`)); n != page {
			return fmt.Errorf("list returned %d stores, want %d", n, page)
		}
		return nil
	}
	all, err := harness.LoadGzip(ctx, b.srv.URL+"/v1/stores?all=true", b.admin, b.o.rate, b.o.duration, checkPage)
	if err != nil {
		return err
	}
	cpuAfter, err := b.cpuTime()
	if err != nil {
		return err
	}
	busyAfter, err := harness.MachineCPU()
	if err != nil {
		return err
	}
	bare, err := b.bareLoad(ctx, checkPage)
	if err != nil {
		return err
	}
	plain, err := harness.Load(ctx, b.srv.URL+"/v1/stores?all=true", b.admin, b.o.rate, b.o.duration, checkPage)
	if err != nil {
		return err
	}
	cpuPlain, err := b.cpuTime()
	if err != nil {
		return err
	}
	perRequest := func(before, after map[string]time.Duration, n int) string {
		return fmt.Sprintf("%.2f ms", float64((after[serveProc]-before[serveProc]).Microseconds())/1000/float64(max(n, 1)))
	}
	plane := func(cpu map[string]time.Duration) time.Duration { return controlPlane(cpu) + cpu["kwok"] }
	b.add([]string{"  during the list load",
		fmt.Sprintf("urumi serve %s CPU per request", perRequest(cpuBefore, cpuAfter, all.N)),
		fmt.Sprintf("control plane and kwok %.2f cores; machine %s", (plane(cpuAfter)-plane(cpuBefore)).Seconds()/b.o.duration.Seconds(), busyAfter.Since(busyBefore)), ""})
	b.add([]string{
		fmt.Sprintf("GET /v1/stores?all=true, page of %d of %d stores, %d req/s, gzip: p99", page, total, b.o.rate),
		fmt.Sprintf("%s (p50 %s, %d req, %d errors)", harness.Ms(all.P(0.99)), harness.Ms(all.P(0.5)), all.N, all.Errors),
		fmt.Sprintf("GET /healthz at the same rate: p99 %s; the list without compression: p99 %s (p50 %s), serve %s CPU per request",
			harness.Ms(health.P(0.99)), harness.Ms(plain.P(0.99)), harness.Ms(plain.P(0.5)), perRequest(cpuAfter, cpuPlain, plain.N)), "< 10 ms"})
	b.add([]string{"  a bare Go HTTP server in a process of its own, the same page from memory, the same load right after (the machine's and the load's share)",
		fmt.Sprintf("p99 %s (p50 %s, %d req, %d errors)", harness.Ms(bare.P(0.99)), harness.Ms(bare.P(0.5)), bare.N, bare.Errors), "", ""})

	// The same load again with the simulated cluster's controllers and
	// kwok paused (SIGSTOP), so that nothing makes new Jobs and pods: on a
	// real cluster they run on other machines, not beside serve. This
	// says what the list costs when serve is given the CPU to answer; it
	// is printed below the figure above, never instead of it.
	b.log("the same load with the controller manager, scheduler and kwok paused")
	var quiet harness.Latencies
	err = b.paused(func() error {
		time.Sleep(2 * time.Second) // what was running finishes
		if busyBefore, err = harness.MachineCPU(); err != nil {
			return err
		}
		quiet, err = harness.LoadGzip(ctx, b.srv.URL+"/v1/stores?all=true", b.admin, b.o.rate, b.o.duration, nil)
		if err != nil {
			return err
		}
		busyAfter, err = harness.MachineCPU()
		return err
	})
	if err != nil {
		return err
	}
	b.add([]string{"  the same, controllers and kwok paused (a diagnostic)",
		fmt.Sprintf("p99 %s (p50 %s, %d req, %d errors)", harness.Ms(quiet.P(0.99)), harness.Ms(quiet.P(0.5)), quiet.N, quiet.Errors),
		fmt.Sprintf("machine %s", busyAfter.Since(busyBefore)), ""})

	b.log("urumi store list -A, 3 times")
	env := []string{"HOME=" + filepath.Join(b.work, "home"), "URUMI_AUDIT_KEY=" + b.auditKeyPath()}
	var took []time.Duration
	var lines int
	for range 3 {
		d, out, err := benchutil.Run(ctx, env, b.bin, "store", "list", "-A", "--db", b.dsn, "--audit-key", b.auditKeyPath())
		if err != nil {
			return err
		}
		took = append(took, d)
		lines = bytes.Count(out, []byte("\n"))
	}
	s := benchutil.Summarise(took)
	b.add([]string{fmt.Sprintf("urumi store list -A, %d stores (whole process)", total),
		fmt.Sprintf("%s median of 3 (%d lines)", s.Median.Round(time.Millisecond), lines), "", ""})
	return nil
}

// bareLoad loads a bare Go HTTP server answering the page serve answers
// (as serve sends it, compressed or not) as lists loads serve: what the
// machine, the other processes and the load generator add to any
// server's latency at this moment.
func (b *bench) bareLoad(ctx context.Context, check func([]byte) error) (harness.Latencies, error) {
	url := b.srv.URL + "/v1/stores?all=true"
	plain, err := harness.Raw(ctx, url, b.admin, false)
	if err != nil {
		return harness.Latencies{}, err
	}
	gz, err := harness.Raw(ctx, url, b.admin, true)
	if err != nil {
		return harness.Latencies{}, err
	}
	bare, err := harness.StartBare(ctx, b.work, plain, gz)
	if err != nil {
		return harness.Latencies{}, err
	}
	defer bare.Stop()
	return harness.LoadGzip(ctx, bare.URL+"/v1/stores", "", b.o.rate, b.o.duration, check)
}

// paused runs f with the simulated cluster's controller manager, scheduler
// and kwok stopped (SIGSTOP to each process group), and resumes them
// however f ends.
func (b *bench) paused(f func() error) error {
	pids := b.cluster.Pids()
	var stopped []int
	defer func() {
		for _, pid := range stopped {
			_ = syscall.Kill(-pid, syscall.SIGCONT)
		}
	}()
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
		pid, ok := pids[name]
		if !ok {
			return fmt.Errorf("pause %s: the simulated cluster runs no such process", name)
		}
		if err := syscall.Kill(-pid, syscall.SIGSTOP); err != nil {
			return fmt.Errorf("pause %s: %w", name, err)
		}
		stopped = append(stopped, pid)
	}
	return f()
}

// deleteAll deletes every store and times until the last is gone.
func (b *bench) deleteAll(ctx context.Context) error {
	list, err := harness.ListAll(ctx, b.client, b.srv.URL+"/v1/stores", b.tok)
	if err != nil {
		return err
	}
	b.log("deleting %d stores", len(list))
	start := time.Now()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	errs := make(chan error, len(list))
	for _, s := range list {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			status, body, err := harness.Call(ctx, b.client, "DELETE", b.srv.URL+"/v1/stores/"+s.Name, b.tok, nil)
			if err == nil && status != http.StatusAccepted {
				err = fmt.Errorf("delete %s: %d %s", s.Name, status, body)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	lastReport := time.Now()
	for {
		left, err := harness.ListAll(ctx, b.client, b.srv.URL+"/v1/stores", b.tok)
		if err != nil {
			return err
		}
		for _, s := range left {
			if s.Status == store.StatusFailed {
				return fmt.Errorf("delete of %s FAILED: %s", s.Name, s.Error)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Since(lastReport) > 30*time.Second {
			b.log("  %d of %d left", len(left), len(list))
			lastReport = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	d := time.Since(start)
	b.add([]string{fmt.Sprintf("delete all %d stores → records gone", len(list)),
		fmt.Sprintf("%s (%.1f stores/min)", d.Round(time.Second), float64(len(list))/d.Minutes()), "", ""})
	return nil
}

// cpuModel is the processor's name, from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown processor"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown processor"
}
