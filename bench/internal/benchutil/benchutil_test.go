package benchutil

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// OtherClusters finds a simulated cluster's API server in a process table,
// and nothing else: not an API server from elsewhere, not another of the
// cluster's parts, not a process without a command line.
func TestOtherClusters(t *testing.T) {
	proc := t.TempDir()
	for pid, cmdline := range map[int]string{
		101:         "/root/.cache/urumi/simcluster/v1.37.1-abc/kube-apiserver\x00--etcd-servers=http://127.0.0.1:1\x00",
		102:         "/root/.cache/urumi/simcluster/v1.37.1-abc/etcd\x00--name=sim\x00",
		103:         "/usr/local/bin/kube-apiserver\x00--etcd-servers=http://127.0.0.1:2\x00",
		104:         "",
		os.Getpid(): "/root/.cache/urumi/simcluster/v1.37.1-abc/kube-apiserver\x00",
	} {
		dir := filepath.Join(proc, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte(cmdline), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(proc, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := OtherClusters(proc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"101 /root/.cache/urumi/simcluster/v1.37.1-abc/kube-apiserver"}
	if !slices.Equal(got, want) {
		t.Fatalf("found %q, want %q", got, want)
	}
	if _, err := OtherClusters(filepath.Join(proc, "missing")); err == nil {
		t.Fatal("a missing process table is not an error")
	}
}
