package provision

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// TestRunnerSurvivesPostgresRestart is the lowest layer at which the
// workers' reconnection is real without a cluster: a Pool of real Runners
// on a PostgreSQL server of the test's own runs 20 delete jobs (deletes of
// stores that never reached the cluster: each step asks a fake API server
// that answers slowly) while the server is restarted, refusing connections
// for two seconds. Every job finishes, its store removed with its audit
// entry, none is failed by the outage, no lease is left open, and the
// audit log verifies.
// The same with a real cluster and creates is test/e2e's
// TestPostgresRestartMidJobs.
func TestRunnerSurvivesPostgresRestart(t *testing.T) {
	ctx := context.Background()
	pg := storetest.StartPostgres(t)
	db, err := store.Open(ctx, pg.DSN(), store.Options{DefaultMaxStores: 100, AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	const n = 20
	for i := range n {
		name := fmt.Sprintf("shop-%02d", i)
		_, create, err := db.CreateStore(ctx, store.Store{Name: name, Owner: "alice", Plan: "small"}, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CancelJob(ctx, create.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.EnqueueJob(ctx, name, store.JobDelete, "alice", nil); err != nil {
			t.Fatal(err)
		}
	}

	client := fake.NewClientset()
	var calls atomic.Int64
	client.PrependReactor("*", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		time.Sleep(150 * time.Millisecond) // a busy API server
		return false, nil, nil
	})
	kube := &Kube{Client: client, Settings: Settings{Timeout: time.Minute}, Log: slog.New(slog.DiscardHandler)}
	const lease = 3 * time.Second
	pool := &Pool{
		DB: db, Size: 4, ID: "test", Lease: lease, Poll: 100 * time.Millisecond,
		NewRunner: func(worker string) JobRunner {
			return &Runner{DB: db, Kube: kube, Worker: worker, Lease: lease, Log: slog.New(slog.DiscardHandler)}
		},
	}
	claims, stopClaims := context.WithCancel(ctx)
	defer stopClaims()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pool.Run(claims, ctx)
	}()

	// Restart once some jobs are done and others are running.
	remaining := func() (int, error) {
		list, err := db.ListStores(ctx, store.ListFilter{})
		return len(list), err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		left, err := remaining()
		if err == nil && left <= n-3 {
			if left == 0 {
				t.Fatal("every job finished before the restart could land")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress within a minute: %d left, %v", left, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pg.Restart(2 * time.Second)

	deadline = time.Now().Add(2 * time.Minute)
	for {
		left, err := remaining()
		if err == nil && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stores still there two minutes after the restart (%v)", left, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopClaims()
	<-done

	stats, err := db.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.ByState[store.JobQueued]+stats.ByState[store.JobRunning] != 0 || stats.ByState[store.JobSucceeded] != n {
		t.Errorf("jobs after the restart: %v; want %d succeeded and none queued or running", stats.ByState, n)
	}
	entries, err := db.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	for _, e := range entries {
		if e.Outcome == "failed" {
			t.Errorf("the outage failed a job: %s %s: %s", e.Action, e.Store, e.Detail)
		}
		if e.Action == "delete" && e.Outcome == "succeeded" {
			if deleted[e.Store] {
				t.Errorf("store %s's delete is audited twice", e.Store)
			}
			deleted[e.Store] = true
		}
	}
	if len(deleted) != n {
		t.Errorf("%d deletes audited, want %d", len(deleted), n)
	}
	if v, err := db.VerifyAudit(ctx); err != nil || !v.OK {
		t.Errorf("audit: %+v, %v", v, err)
	}
	t.Logf("%d API calls", calls.Load())
}
