package simcluster

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Shared is the cluster a test package shares, started by RunTests.
type Shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
	skip    string
}

// RunTests starts one simulated cluster for a test package around m.Run and
// stops it afterwards, whatever the tests did. Use it from TestMain:
//
//	var cluster simcluster.Shared
//	func TestMain(m *testing.M) { os.Exit(cluster.RunTests(m)) }
//
// and in a test, c := cluster.Get(t). Without the binaries, tests skip with
// the command that builds them, except under CI=true, where a cluster that
// cannot start fails the run.
func (s *Shared) RunTests(m *testing.M) int {
	code := m.Run()
	if s.cluster != nil {
		if err := s.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "simcluster: stop: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Get returns the package's cluster, starting it on first use (so `go test
// -run` of a test that needs no cluster does not start one).
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() {
		dir, err := BinDir()
		if err != nil {
			s.err = err
			return
		}
		if m := MissingBinaries(dir); len(m) > 0 && os.Getenv("CI") != "true" {
			s.skip = fmt.Sprintf("simulated cluster binaries missing (%s); build them once with: make cluster-build", strings.Join(m, ", "))
			return
		}
		// URUMI_SIM_POD_STARTUP runs a package's tests under a pod
		// start-up model (see PodStartup); unset, pods are Ready at once.
		model, err := ParsePodStartup(os.Getenv("URUMI_SIM_POD_STARTUP"))
		if err != nil {
			s.err = fmt.Errorf("URUMI_SIM_POD_STARTUP: %w", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.cluster, s.err = Start(ctx, Options{BinDir: dir, Logs: os.Stderr, PodStartup: model})
	})
	if s.skip != "" {
		t.Skip(s.skip)
	}
	if s.err != nil {
		t.Fatalf("simulated cluster: %v", s.err)
	}
	return s.cluster
}
