package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// bareEnv names the directory a bare server reads its answer from; a
// benchmark's process started with it set is that server (see
// RunBareIfAsked).
const bareEnv = "URUMI_HARNESS_BARE_DIR"

// Bare is a plain Go HTTP server in a process of its own that answers every
// GET with the same bytes from memory, gzip-compressed for a client that
// asks for it: nothing to read, check or encode. Loaded beside urumi serve
// at the same moment, it says what this machine and the load generator
// alone add to a request's latency (the scheduler, the other processes'
// CPU, the client's own pauses); what serve's latency has beyond it is
// serve's.
type Bare struct {
	URL  string
	cmd  *exec.Cmd
	done chan error
}

// StartBare runs the benchmark's own executable again as a bare server
// (the benchmark's main must call RunBareIfAsked first thing) answering
// plain, or gz to a client that accepts gzip. dir holds the answer's files.
func StartBare(ctx context.Context, dir string, plain, gz []byte) (*Bare, error) {
	if err := os.WriteFile(filepath.Join(dir, "bare.body"), plain, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "bare.body.gz"), gz, 0o600); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), bareEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the bare server: %w", err)
	}
	b := &Bare{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr <- strings.TrimSpace(line)
		b.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		if a == "" {
			b.Stop()
			return nil, errors.New("the bare server did not say where it listens")
		}
		b.URL = "http://" + a
		return b, nil
	case <-time.After(30 * time.Second):
		b.Stop()
		return nil, errors.New("the bare server did not start within 30s")
	}
}

// Stop ends the bare server, killing it if it has not within 10s.
func (b *Bare) Stop() { stopProcess(b.cmd.Process, b.done, 10*time.Second) }

// RunBareIfAsked serves as a bare server and exits, when this process was
// started as one by StartBare; otherwise it returns at once.
func RunBareIfAsked() {
	dir := os.Getenv(bareEnv)
	if dir == "" {
		return
	}
	if err := runBare(dir); err != nil {
		fmt.Fprintln(os.Stderr, "bare server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runBare(dir string) error {
	plain, err := os.ReadFile(filepath.Join(dir, "bare.body"))
	if err != nil {
		return err
	}
	gz, err := os.ReadFile(filepath.Join(dir, "bare.body.gz"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz)
			return
		}
		_, _ = w.Write(plain)
	})}
	stop := make(chan os.Signal, 1)
	go func() {
		<-stop
		_ = srv.Close()
	}()
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Raw GETs url once and returns its body as sent: gzip-compressed when
// gzip is set and the server compresses it (the client asks for it, and
// does not decompress).
func Raw(ctx context.Context, url, tok string, gzip bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err == nil && gzip && resp.Header.Get("Content-Encoding") != "gzip" {
		err = fmt.Errorf("GET %s: the answer came uncompressed", url)
	}
	return body, err
}
