package store

import "testing"

func TestPoolSize(t *testing.T) {
	for _, c := range []struct {
		dsn, rest string
		n         int
		bad       bool
	}{
		{"postgres://root@h/db?sslmode=disable", "postgres://root@h/db?sslmode=disable", defaultPoolSize, false},
		{"postgres://root@h/db?pool_max_conns=5&sslmode=disable", "postgres://root@h/db?sslmode=disable", 5, false},
		{"postgres://root@h/db?pool_max_conns=0", "", 0, true},
		{"postgres://root@h/db?pool_max_conns=many", "", 0, true},
	} {
		rest, n, err := poolSize(c.dsn)
		if c.bad {
			if err == nil {
				t.Errorf("%s: no error", c.dsn)
			}
			continue
		}
		if err != nil || rest != c.rest || n != c.n {
			t.Errorf("%s: %q %d %v, want %q %d", c.dsn, rest, n, err, c.rest, c.n)
		}
	}
}
