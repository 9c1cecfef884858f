// Package benchutil holds what urumi's benchmark programs share: building
// the binary, timing commands, and printing figures.
package benchutil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urumi/urumi/internal/simcluster"
)

// BuildUrumi builds the urumi binary as released (stripped, CGO off) into
// dir and returns its path.
func BuildUrumi(ctx context.Context, dir string) (string, error) {
	root, err := simcluster.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "urumi")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/urumi")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build urumi: %w\n%s", err, out)
	}
	return bin, nil
}

// Run runs a command with env added and returns its duration and output.
func Run(ctx context.Context, env []string, name string, args ...string) (time.Duration, []byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, out.Bytes(), fmt.Errorf("%s %v: %w\n%s", name, args, err, errb.String())
	}
	return d, out.Bytes(), nil
}

// Stats summarises samples.
type Stats struct {
	N                     int
	Min, Median, P95, Max time.Duration
}

// Summarise computes Stats of samples.
func Summarise(samples []time.Duration) Stats {
	s := slices.Clone(samples)
	slices.Sort(s)
	if len(s) == 0 {
		return Stats{}
	}
	p95 := s[min(len(s)-1, (len(s)*95+99)/100-1)]
	return Stats{N: len(s), Min: s[0], Median: s[len(s)/2], P95: p95, Max: s[len(s)-1]}
}

// Ms formats a duration in milliseconds.
func Ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// OtherClusters lists, from the process table under procDir (/proc), the
// simulated clusters' API servers already running on this machine, as
// "pid command". A benchmark run beside one measures both: on two shared
// cores, another cluster (a test suite's, another benchmark's) halves what
// this one gets.
func OtherClusters(procDir string) ([]string, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("read the process table: %w", err)
	}
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "cmdline"))
		if err != nil {
			continue // gone since the listing, or not ours to read
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(args[0]) == "kube-apiserver" && strings.Contains(args[0], "/simcluster/") {
			found = append(found, fmt.Sprintf("%d %s", pid, args[0]))
		}
	}
	slices.Sort(found)
	return found, nil
}

// QuietMachine refuses to start a benchmark while another simulated
// cluster runs on this machine, unless URUMI_BENCH_SHARED=1 says the
// figures may be shared.
func QuietMachine() error {
	if os.Getenv("URUMI_BENCH_SHARED") == "1" {
		return nil
	}
	others, err := OtherClusters("/proc")
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return fmt.Errorf("another simulated cluster is running on this machine (API server pid %s), and a benchmark beside it "+
			"would measure both: wait for it or stop it (a test run's, or another benchmark's), or set URUMI_BENCH_SHARED=1 to measure anyway",
			strings.Join(others, "; "))
	}
	return nil
}
