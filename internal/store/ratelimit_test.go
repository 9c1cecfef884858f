package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		// Three handles, as three replicas would have.
		dbs := []DB{tdb.open(t, Options{}), tdb.open(t, Options{}), tdb.open(t, Options{})}
		const every, burst = 12 * time.Second, 5
		for i := range 12 {
			ok, wait, err := dbs[i%3].Allow(ctx, "create/t1", every, burst)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (i < burst) {
				t.Errorf("event %d: allowed = %v, want %v", i+1, ok, i < burst)
			}
			if !ok && (wait <= 11*time.Second || wait > every) {
				t.Errorf("event %d: retry after %s, want just under %s", i+1, wait, every)
			}
		}
		// Another key has its own budget; no limit means no limit.
		if ok, _, err := dbs[0].Allow(ctx, "create/t2", every, burst); !ok || err != nil {
			t.Errorf("Allow of another key = %v, %v", ok, err)
		}
		if ok, _, err := dbs[0].Allow(ctx, "create/t1", 0, burst); !ok || err != nil {
			t.Errorf("Allow without a limit = %v, %v", ok, err)
		}

		// The budget comes back with time.
		const fast = 100 * time.Millisecond
		if ok, _, _ := dbs[0].Allow(ctx, "ip/1", fast, 1); !ok {
			t.Fatal("first event refused")
		}
		ok, wait, _ := dbs[1].Allow(ctx, "ip/1", fast, 1)
		if ok || wait <= 0 || wait > fast {
			t.Errorf("second event at once = %v, retry after %s", ok, wait)
		}
		time.Sleep(wait + 5*time.Millisecond)
		if ok, _, _ := dbs[2].Allow(ctx, "ip/1", fast, 1); !ok {
			t.Error("event after the wait refused")
		}

		// Concurrent events on three handles: exactly burst pass.
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				ok, _, err := dbs[i%3].Allow(ctx, "create/race", time.Minute, burst)
				if err != nil {
					t.Error(err)
				}
				if ok {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != burst {
			t.Errorf("%d of 30 concurrent events allowed, want %d", n, burst)
		}

		// Rows whose budget is whole again are swept.
		tdb.mustExec(t, dbs[0], `INSERT INTO rate_limits (key, tat) VALUES ('old', 1)`)
		dbs[0].(*sqlDB).limits.lastSweep = time.Time{}
		if _, _, err := dbs[0].Allow(ctx, "create/t3", every, burst); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := raw(dbs[0]).QueryRow(`SELECT COUNT(*) FROM rate_limits WHERE key = 'old'`).Scan(&n); err != nil || n != 0 {
			t.Errorf("spent row left after a sweep: %d, %v", n, err)
		}
	})
}
