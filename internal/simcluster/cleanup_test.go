package simcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNothingLeftAfterPanic runs a test binary that starts a cluster and
// panics, then checks that every component died and the directory went.
func TestNothingLeftAfterPanic(t *testing.T) {
	if os.Getenv("SIMCLUSTER_PANIC_CHILD") == "1" {
		c, err := Start(context.Background(), Options{Nodes: 1})
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(3)
		}
		fmt.Println("DIR", c.Dir)
		for _, p := range c.Pids() {
			fmt.Println("PID", p)
		}
		panic("a test panics with a cluster running")
	}
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if m := MissingBinaries(dir); len(m) > 0 && os.Getenv("CI") != "true" {
		t.Skipf("simulated cluster binaries missing (%s); build them with: make cluster-build", strings.Join(m, ", "))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNothingLeftAfterPanic$")
	cmd.Env = append(os.Environ(), "SIMCLUSTER_PANIC_CHILD=1")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var clusterDir string
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "DIR":
			clusterDir = f[1]
		case len(f) == 2 && f[0] == "PID":
			p, _ := strconv.Atoi(f[1])
			pids = append(pids, p)
		case len(f) > 0 && f[0] == "ERROR":
			t.Fatalf("child: %s", sc.Text())
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || clusterDir == "" || len(pids) < 5 {
		t.Fatalf("child should panic after starting a cluster: err %v, dir %q, pids %v", err, clusterDir, pids)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var alive []int
		for _, p := range pids {
			if syscall.Kill(p, 0) == nil && !isZombie(p) {
				alive = append(alive, p)
			}
		}
		_, statErr := os.Stat(clusterDir)
		if len(alive) == 0 && errors.Is(statErr, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the panic: processes %v still alive, directory %s stat: %v", alive, clusterDir, statErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}
