// Package simcluster runs a Kubernetes control plane that is real above the
// kubelet: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// built from source (hack/build-cluster.sh), kwok acting as the kubelets of a
// few fake nodes (pods become Ready, Job pods complete), and a small
// PersistentVolume binder. It is what urumi's tests run against, and what
// `make cluster` starts for a person.
package simcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure a cluster. The zero value is usable once the binaries
// are built.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler and kwok. Empty means BinDir() of the repository.
	BinDir string
	// Nodes is the number of kwok nodes (default 3).
	Nodes int
	// Logs receives one line per lifecycle event; component output goes to
	// files in the cluster's directory. Nil discards.
	Logs io.Writer
	// Profiling serves /debug/pprof on the API server (for benchmarks that
	// want to know where the control plane's time goes).
	Profiling bool
	// AuditLog, if set, is a file the API server writes one JSON line per
	// request to (audit level Metadata: who, verb, resource; never a
	// body), for benchmarks that want to know which client makes which
	// requests. The file outlives Stop.
	AuditLog string
	// GOGC is the components' garbage-collection target (default 400).
	// The simulated control plane shares the machine with what it tests,
	// which a real one does not; at Go's default of 100 the collector took
	// about a seventh of its CPU under load, at 400 a third as much, for
	// about twice the memory.
	GOGC int
	// PodStartup, if set, holds the store chart's pods un-ready for a
	// while, as image pulls and first boots do (see PodStartup). Nil makes
	// every pod Ready as soon as it is placed on a node.
	PodStartup *PodStartup
}

// Cluster is a running simulated cluster. Stop it when done.
type Cluster struct {
	// Kubeconfig is the path of an admin kubeconfig (client certificate in
	// group system:masters).
	Kubeconfig string
	// Config is the admin REST config.
	Config *rest.Config
	// Dir holds certificates, etcd's data and component logs; Stop removes it.
	Dir string

	logs     io.Writer
	gogc     int
	pki      *pki
	server   string
	mu       sync.Mutex
	procs    []*process
	reaper   *exec.Cmd
	stopBind context.CancelFunc
	bindDone chan struct{}
	stopped  bool
}

type process struct {
	name string
	path string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

// Binaries the cluster needs in BinDir.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// MissingBinaries lists the binaries not present in dir.
func MissingBinaries(dir string) []string {
	var missing []string
	for _, b := range binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	return missing
}

// Start brings a cluster up on free loopback ports and waits until it can
// run pods. On error everything started is stopped again.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	var err error
	if opts.BinDir == "" {
		opts.BinDir, err = BinDir()
		if err != nil {
			return nil, err
		}
	}
	if m := MissingBinaries(opts.BinDir); len(m) > 0 {
		return nil, fmt.Errorf("simulated cluster binaries missing in %s: %s; build them with: hack/build-cluster.sh (or make cluster-build)", opts.BinDir, strings.Join(m, ", "))
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Logs == nil {
		opts.Logs = io.Discard
	}
	if opts.GOGC == 0 {
		opts.GOGC = 400
	}
	sweepStaleDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("urumi-simcluster-%d-", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	c := &Cluster{Dir: dir, logs: opts.Logs, gogc: opts.GOGC}
	if err := c.startReaper(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	start := time.Now()
	if err := c.boot(ctx, opts); err != nil {
		_ = c.Stop()
		return nil, err
	}
	fmt.Fprintf(c.logs, "simcluster: ready in %s (%s)\n", time.Since(start).Round(time.Millisecond), c.Dir)
	return c, nil
}

func (c *Cluster) boot(ctx context.Context, opts Options) error {
	p, err := newPKI(c.Dir)
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort := ports[0], ports[1], ports[2]
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.pki, c.server = p, server

	serveCert, serveKey, err := p.issue("apiserver", "kube-apiserver", nil,
		[]string{"127.0.0.1", "localhost", "10.0.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return err
	}
	saPub, saKey, err := p.serviceAccountKey()
	if err != nil {
		return err
	}
	kubeconfigs := map[string]string{}
	for _, id := range []struct{ name, cn, org string }{
		{"admin", "urumi-admin", "system:masters"},
		{"controller-manager", "system:kube-controller-manager", ""},
		{"scheduler", "system:kube-scheduler", ""},
	} {
		var orgs []string
		if id.org != "" {
			orgs = []string{id.org}
		}
		cert, key, err := p.issue(id.name, id.cn, orgs, nil)
		if err != nil {
			return err
		}
		path := filepath.Join(c.Dir, id.name+".kubeconfig")
		if err := writeKubeconfig(path, server, p.CAFile, cert, key); err != nil {
			return err
		}
		kubeconfigs[id.name] = path
	}
	c.Kubeconfig = kubeconfigs["admin"]
	c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load admin kubeconfig: %w", err)
	}
	c.Config.QPS, c.Config.Burst = 200, 400

	bin := func(n string) string { return filepath.Join(opts.BinDir, n) }
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	if err := c.run("etcd", bin("etcd"),
		"--name=sim", "--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=sim="+peer, "--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return err
	}
	apiArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(apiPort),
		"--tls-cert-file=" + serveCert, "--tls-private-key-file=" + serveKey,
		"--client-ca-file=" + p.CAFile,
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/16",
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=" + strconv.FormatBool(opts.Profiling),
	}
	if opts.AuditLog != "" {
		policy := filepath.Join(c.Dir, "audit-policy.yaml")
		const metadataOnly = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\nrules:\n- level: Metadata\n"
		if err := os.WriteFile(policy, []byte(metadataOnly), 0o600); err != nil {
			return fmt.Errorf("write audit policy: %w", err)
		}
		apiArgs = append(apiArgs, "--audit-policy-file="+policy, "--audit-log-path="+opts.AuditLog,
			"--audit-log-format=json", "--audit-log-mode=batch", "--audit-log-maxsize=0")
	}
	if err := c.run("kube-apiserver", bin("kube-apiserver"), apiArgs...); err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	if err := c.waitReady(ctx, client); err != nil {
		return err
	}
	if err := c.run("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+kubeconfigs["controller-manager"],
		"--authentication-kubeconfig="+kubeconfigs["controller-manager"],
		"--authorization-kubeconfig="+kubeconfigs["controller-manager"],
		"--secure-port=0", "--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+saKey, "--root-ca-file="+p.CAFile,
		"--cluster-signing-cert-file="+p.CAFile, "--cluster-signing-key-file="+filepath.Join(c.Dir, "ca.key"),
		"--controllers=*,-node-ipam-controller",
		// kwok's nodes are healthy by definition; under load their
		// heartbeats can lag, and the node lifecycle controller would then
		// mark every pod on them NotReady for good. (It must still run: it
		// lifts the not-ready taint new nodes are created with.)
		"--node-monitor-grace-period=1h", "--node-startup-grace-period=1h",
		"--concurrent-deployment-syncs=20", "--concurrent-statefulset-syncs=20", "--concurrent-job-syncs=20",
		"--concurrent-namespace-syncs=20", "--concurrent-gc-syncs=40", "--concurrent-replicaset-syncs=20",
		"--kube-api-qps=500", "--kube-api-burst=1000",
	); err != nil {
		return err
	}
	if err := c.run("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+kubeconfigs["scheduler"],
		"--authentication-kubeconfig="+kubeconfigs["scheduler"],
		"--authorization-kubeconfig="+kubeconfigs["scheduler"],
		"--secure-port=0", "--leader-elect=false",
		"--kube-api-qps=500", "--kube-api-burst=1000",
	); err != nil {
		return err
	}
	kwokArgs := []string{
		"--kubeconfig=" + kubeconfigs["admin"],
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom",
		"--cidr=10.244.0.0/16", "--node-ip=10.1.0.1",
		"--server-address=",
	}
	if opts.PodStartup != nil && len(opts.PodStartup.Delays) > 0 {
		stages, err := opts.PodStartup.writeStages(c.Dir)
		if err != nil {
			return err
		}
		kwokArgs = append(kwokArgs, "--config="+stages)
		fmt.Fprintf(c.logs, "simcluster: pod start-up model: %s\n", opts.PodStartup)
	}
	if err := c.run("kwok", bin("kwok"), kwokArgs...); err != nil {
		return err
	}
	if err := seed(ctx, client, opts.Nodes); err != nil {
		return err
	}
	bctx, cancel := context.WithCancel(context.Background())
	c.stopBind, c.bindDone = cancel, make(chan struct{})
	go func() {
		defer close(c.bindDone)
		newBinder(client, c.logs).run(bctx)
	}()
	return c.waitNodesReady(ctx, client, opts.Nodes)
}

// run starts a component in its own process group, logging to a file.
func (c *Cluster) run(name, path string, args ...string) error {
	p, err := c.start(name, path, args, os.O_TRUNC)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return nil
}

// start starts a component; logMode is os.O_TRUNC for a new log or
// os.O_APPEND to keep the one of an earlier run.
func (c *Cluster) start(name, path string, args []string, logMode int) (*process, error) {
	logPath := filepath.Join(c.Dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|logMode, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "GOGC="+strconv.Itoa(c.gogc))
	cmd.Dir = c.Dir
	// Own process group so Stop kills children too; Pdeathsig so a test
	// binary that dies without running Stop does not leave them behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, path: path, args: args, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// RestartAPIServer stops kube-apiserver (SIGTERM, as a control plane's
// upgrade does) and starts it again with the same flags on the same port,
// returning once it is ready. Until then clients' connections are refused;
// the other components reconnect by themselves.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	i := slices.IndexFunc(c.procs, func(p *process) bool { return p.name == "kube-apiserver" })
	if i < 0 || c.stopped {
		c.mu.Unlock()
		return errors.New("restart kube-apiserver: the cluster is not running")
	}
	old := c.procs[i]
	c.mu.Unlock()
	stopProcess(old)
	p, err := c.start(old.name, old.path, old.args, os.O_APPEND)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs[i] = p
	c.mu.Unlock()
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	return c.waitReady(ctx, client)
}

// stopProcess ends a component's process group: SIGTERM, then SIGKILL after
// 5 seconds.
func stopProcess(p *process) {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	// Anything left in the group (there should be nothing) goes too.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// exited reports a component that died, with the tail of its log.
func (c *Cluster) exited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v); last log lines:\n%s", p.name, p.err, tail(p.log, 15))
		default:
		}
	}
	return nil
}

func (c *Cluster) waitReady(ctx context.Context, client kubernetes.Interface) error {
	return c.poll(ctx, 60*time.Second, "kube-apiserver /readyz", func() (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
}

// poll calls cond until it is true, a component dies, or timeout passes.
func (c *Cluster) poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := c.exited(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not ready after %s (logs in %s)", what, timeout, c.Dir)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop kills every process the cluster started and removes its directory.
// It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	procs := c.procs
	c.mu.Unlock()
	if c.stopBind != nil {
		c.stopBind()
		<-c.bindDone
	}
	// Reverse order: kwok and controllers first, etcd last.
	for i := len(procs) - 1; i >= 0; i-- {
		stopProcess(procs[i])
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("remove %s: %w", c.Dir, err)
	}
	if c.reaper != nil {
		_ = c.reaper.Process.Kill()
		_ = c.reaper.Wait()
	}
	return nil
}

// startReaper starts a watcher, outside the cluster's process groups, that
// removes the cluster's directory once this process is gone: a test binary
// that panics never runs Stop, and its components die with it (Pdeathsig),
// but the directory would stay behind in /tmp.
func (c *Cluster) startReaper() error {
	script := fmt.Sprintf(`while kill -0 %d 2>/dev/null; do sleep 0.5; done; rm -rf %q`, os.Getpid(), c.Dir)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start directory reaper: %w", err)
	}
	c.reaper = cmd
	return nil
}

// Pids are the process IDs of the cluster's components, by name.
func (c *Cluster) Pids() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := make(map[string]int, len(c.procs))
	for _, p := range c.procs {
		pids[p.name] = p.cmd.Process.Pid
	}
	return pids
}

// AdminGet reads a path of the API server as the cluster's admin: /metrics,
// or /debug/pprof/... when the cluster runs with Profiling.
func (c *Cluster) AdminGet(ctx context.Context, path string) ([]byte, error) {
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	req := client.Discovery().RESTClient().Get().AbsPath(u.Path).Timeout(time.Minute)
	for k, vs := range u.Query() {
		for _, v := range vs {
			req = req.Param(k, v)
		}
	}
	body, err := req.DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return body, nil
}

// CPUTime is the processor time (user and system) each component has used
// so far, by name, read from /proc.
func (c *Cluster) CPUTime() (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for name, pid := range c.Pids() {
		d, err := ProcessCPUTime(pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = d
	}
	return out, nil
}

// ProcessCPUTime is the processor time (user and system) process pid has
// used so far, read from /proc/<pid>/stat.
func ProcessCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after it are
	// plain. utime and stime are fields 14 and 15, in clock ticks of
	// 1/100 s (USER_HZ, 100 on every Linux architecture Go supports).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("read cpu time: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("read cpu time: malformed /proc/%d/stat", pid)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read cpu time: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// sweepStaleDirs removes directories of clusters whose process died without
// cleaning up (a test binary killed by a timeout, say).
func sweepStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "urumi-simcluster-*"))
	for _, d := range dirs {
		parts := strings.SplitN(filepath.Base(d), "-", 4)
		if len(parts) < 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func writeKubeconfig(path, server, ca, cert, key string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["simcluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: ca}
	cfg.AuthInfos["simcluster"] = &clientcmdapi.AuthInfo{ClientCertificate: cert, ClientKey: key}
	cfg.Contexts["simcluster"] = &clientcmdapi.Context{Cluster: "simcluster", AuthInfo: "simcluster"}
	cfg.CurrentContext = "simcluster"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// UserKubeconfig writes a kubeconfig for a user authenticated by a client
// certificate (CN user, O groups), with whatever RBAC grants that user: for
// tests of what urumi does without permissions.
func (c *Cluster) UserKubeconfig(user string, groups ...string) (string, error) {
	cert, key, err := c.pki.issue("user-"+user, user, groups, nil)
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.Dir, "user-"+user+".kubeconfig")
	return path, writeKubeconfig(path, c.server, c.pki.CAFile, cert, key)
}
