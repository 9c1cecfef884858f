package cli

import (
	"testing"
	"testing/fstest"
)

func TestCgroupMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		name  string
		files fstest.MapFS
		want  int64
		ok    bool
	}{
		{"v2 limit", fstest.MapFS{"memory.max": {Data: []byte("536870912\n")}}, 512 << 20, true},
		{"v2 no limit", fstest.MapFS{"memory.max": {Data: []byte("max\n")}}, 0, false},
		{"v1 limit", fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("268435456\n")}}, 256 << 20, true},
		{"v1 no limit", fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")}}, 0, false},
		{"garbage", fstest.MapFS{"memory.max": {Data: []byte("lots")}}, 0, false},
		{"no cgroup", fstest.MapFS{}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := cgroupMemoryLimit(c.files)
			if got != c.want || ok != c.ok {
				t.Errorf("cgroupMemoryLimit = %d, %v; want %d, %v", got, ok, c.want, c.ok)
			}
		})
	}
	if got := serveMemoryLimit(512 << 20); got >= 512<<20 || got < 450<<20 {
		t.Errorf("serveMemoryLimit(512 MiB) = %d", got)
	}
}
