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
