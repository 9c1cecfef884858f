// Package harness holds what the benchmarks that drive `urumi serve` share:
// starting and stopping servers, calling the API, loading it at a fixed
// rate, reading a process's memory, and counting the API server's requests
// from its audit log.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// Server is one `urumi serve` a benchmark started.
type Server struct {
	Cmd  *exec.Cmd
	URL  string
	Log  string
	done chan error
}

// StartServer runs `bin serve` with args and env, its log (JSON) written
// to a file in dir, and waits until it listens.
func StartServer(ctx context.Context, bin, dir string, env []string, args ...string) (*Server, error) {
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	// An interrupted benchmark stops the server as Stop does, so that it
	// still writes the profiles it was asked for.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Env = env
	// The log goes to a file, as in production: a reader in this process
	// must not slow the server down.
	logf, err := os.CreateTemp(dir, "serve-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Server{Cmd: cmd, Log: logf.Name(), done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for p.URL == "" {
		out, _ := os.ReadFile(logf.Name())
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				p.URL = "http://" + rec.Addr
			}
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("urumi serve exited: %v\n%s", err, out)
		case <-time.After(50 * time.Millisecond):
		}
		if p.URL == "" && time.Now().After(deadline) {
			p.Stop()
			return nil, errors.New("urumi serve did not start within 60s")
		}
	}
	return p, nil
}

// Stop asks the server to stop, and kills it if it has not within 30s.
func (p *Server) Stop() { stopProcess(p.Cmd.Process, p.done, 30*time.Second) }

// stopProcess sends proc SIGTERM, kills it if done has not said it ended
// within grace, and waits for done.
func stopProcess(proc *os.Process, done <-chan error, grace time.Duration) {
	_ = proc.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = proc.Kill()
		<-done
	}
}

// Call sends one request with a JSON body (if any) and returns the status
// and the body of the answer.
func Call(ctx context.Context, c *http.Client, method, url, tok string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// ListAll reads every page of a store list, following its continue token.
func ListAll(ctx context.Context, c *http.Client, url, tok string) ([]store.Store, error) {
	var all []store.Store
	next := url
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", next, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("list: %d %s", resp.StatusCode, body)
		}
		var page []store.Store
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		all = append(all, page...)
		tok := resp.Header.Get("Urumi-Continue")
		if tok == "" {
			return all, nil
		}
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		next = url + sep + "continue=" + neturl.QueryEscape(tok)
	}
}

// Latencies are the sorted latencies of a load run.
type Latencies struct {
	D      []time.Duration
	N      int
	Errors int
}

// P is the q-quantile (0 to 1) of the latencies.
func (l Latencies) P(q float64) time.Duration {
	if len(l.D) == 0 {
		return 0
	}
	i := int(q * float64(len(l.D)))
	return l.D[min(i, len(l.D)-1)]
}

// Ms formats a duration in milliseconds, to the hundredth.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// Load sends GETs at a fixed rate for d and measures each from the time it
// was due (not sent), so a server that falls behind shows it. It asks for
// no compression.
func Load(ctx context.Context, url, tok string, rate int, d time.Duration, check func([]byte) error) (Latencies, error) {
	return load(ctx, url, tok, rate, d, false, check)
}

// LoadGzip is Load from a client that asks for gzip and decompresses what
// comes compressed before check sees it, as Go's default client, browsers
// and urumi's CLI do; the decompression is in the latency.
func LoadGzip(ctx context.Context, url, tok string, rate int, d time.Duration, check func([]byte) error) (Latencies, error) {
	return load(ctx, url, tok, rate, d, true, check)
}

func load(ctx context.Context, url, tok string, rate int, d time.Duration, gzip bool, check func([]byte) error) (Latencies, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0, DisableCompression: !gzip}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	// Warm the connections and the server up.
	for range 50 {
		if _, _, err := Call(ctx, c, "GET", url, tok, nil); err != nil {
			return Latencies{}, err
		}
	}
	total := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	res := Latencies{D: make([]time.Duration, 0, total)}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		wg.Go(func() {
			status, body, err := Call(ctx, c, "GET", url, tok, nil)
			lat := time.Since(due)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("GET %s: %d %s", url, status, body)
			}
			if err == nil && check != nil {
				err = check(body)
			}
			mu.Lock()
			defer mu.Unlock()
			res.N++
			if err != nil {
				res.Errors++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			res.D = append(res.D, lat)
		})
	}
	wg.Wait()
	slices.Sort(res.D)
	if firstErr != nil && res.Errors > res.N/100 {
		return res, fmt.Errorf("%d of %d requests failed: %w", res.Errors, res.N, firstErr)
	}
	return res, nil
}

// Memory reads a process's resident and peak resident set, in MB.
func Memory(pid int) (rss, hwm float64, err error) {
	st, err := procStatus(pid)
	return st["VmRSS"], st["VmHWM"], err
}

// procStatus is the sizes in /proc/PID/status, in MB, by name.
func procStatus(pid int) (map[string]float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	sizes := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			sizes[strings.TrimSuffix(f[0], ":")] = kb / 1024
		}
	}
	return sizes, nil
}

// MemorySampler follows a process's memory while it runs: VmHWM says how
// high its resident set went, not what it was made of. The anonymous part
// is the heap, stacks and runtime; the file-backed part is mostly the
// pages of the binary the process has touched.
type MemorySampler struct {
	mu               sync.Mutex
	anon, file, both float64
	// phase is the highest sum since the last Phase.
	phase float64
	stop  chan struct{}
	done  chan struct{}
}

// SampleMemory reads pid's memory every interval until Stop.
func SampleMemory(pid int, every time.Duration) *MemorySampler {
	m := &MemorySampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			m.read(pid)
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *MemorySampler) read(pid int) {
	st, err := procStatus(pid)
	if err != nil {
		return
	}
	anon, file := st["RssAnon"], st["RssFile"]
	m.mu.Lock()
	defer m.mu.Unlock()
	m.anon, m.file, m.both = max(m.anon, anon), max(m.file, file), max(m.both, anon+file)
	m.phase = max(m.phase, anon+file)
}

// Phase returns the highest resident size (anonymous and file-backed
// together, in MB) seen since the last Phase or the start, taking a
// sample first, and begins the next phase.
func (m *MemorySampler) Phase(pid int) float64 {
	m.read(pid)
	m.mu.Lock()
	defer m.mu.Unlock()
	peak := m.phase
	m.phase = 0
	return peak
}

// Stop ends the sampling and returns the highest anonymous and
// file-backed resident sizes seen, and the highest sum, in MB.
func (m *MemorySampler) Stop() (anon, file, both float64) {
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.anon, m.file, m.both
}

// CPUStat is the machine's CPU time so far, from /proc/stat, in clock
// ticks: all of it, and idle (idle and iowait).
type CPUStat struct{ Total, Idle int64 }

// MachineCPU reads the machine's CPU time so far.
func MachineCPU() (CPUStat, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUStat{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return CPUStat{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var s CPUStat
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return CPUStat{}, fmt.Errorf("/proc/stat: %w", err)
		}
		// guest and guest_nice are already in user and nice.
		if i >= 8 {
			break
		}
		s.Total += n
		if i == 3 || i == 4 {
			s.Idle += n
		}
	}
	return s, nil
}

// Since says how busy the machine was between earlier and s, as a share
// of all its cores.
func (s CPUStat) Since(earlier CPUStat) string {
	total := s.Total - earlier.Total
	if total <= 0 {
		return "busy: unknown"
	}
	return fmt.Sprintf("%.0f%% busy", 100*float64(total-(s.Idle-earlier.Idle))/float64(total))
}
