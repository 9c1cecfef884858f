package provision

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// TestStats: the fleet's figures from the database: stores by status, the
// queue, the creates' phases p50/p95 over the window, and the failures;
// only for admins.
func TestStats(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		if _, err := s.Stats(ctx, callerAlice, time.Now()); !errors.Is(err, ErrForbidden) {
			t.Errorf("an owner's Stats: %v, want forbidden", err)
		}
		empty, err := s.Stats(ctx, callerAdmin, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if empty.QueueDepth != 0 || len(empty.Phases) != 0 || len(empty.Failures) != 0 || empty.StoresByStatus[store.StatusReady] != 0 {
			t.Errorf("empty fleet: %+v", empty)
		}
		if _, err := s.DB.SetQuota(ctx, "alice", 50); err != nil {
			t.Fatal(err)
		}
		// Twenty creates: namespace takes 10..200 ms, helm 1..20 s; the
		// last one fails in helm.
		for i := 1; i <= 20; i++ {
			name := "shop-" + string(rune('a'+i))
			if _, _, err := s.DB.CreateStore(ctx, store.Store{Name: name, Owner: "alice", Plan: "small", Namespace: "store-" + name}, "alice"); err != nil {
				t.Fatal(err)
			}
			j, err := s.DB.ClaimJob(ctx, "w", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := s.DB.GetStore(ctx, name)
			st.Status = store.StatusReady
			st.Phases = []store.Phase{{Name: "namespace", DurationMS: int64(10 * i)}, {Name: "helm", DurationMS: int64(1000 * i)}}
			state, msg := store.JobSucceeded, ""
			if i == 20 {
				st.Status, state, msg = store.StatusFailed, store.JobFailed, "helm install: timed out"
			}
			if err := s.DB.UpdateStore(ctx, st); err != nil {
				t.Fatal(err)
			}
			if err := s.DB.FinishJob(ctx, j.ID, "w", state, msg); err != nil {
				t.Fatal(err)
			}
		}
		// One more, still queued.
		if _, _, err := s.DB.CreateStore(ctx, store.Store{Name: "waiting", Owner: "bob", Plan: "small", Namespace: "store-waiting"}, "bob"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		st, err := s.Stats(ctx, callerAdmin, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if st.StoresByStatus[store.StatusReady] != 19 || st.StoresByStatus[store.StatusFailed] != 1 || st.StoresByStatus[store.StatusQueued] != 1 {
			t.Errorf("stores by status: %v", st.StoresByStatus)
		}
		if st.QueueDepth != 1 || st.OldestQueuedSeconds < 0.02 {
			t.Errorf("queue: depth %d, oldest %.3fs; want 1 and at least 0.02s", st.QueueDepth, st.OldestQueuedSeconds)
		}
		want := []PhaseStats{
			{Phase: "namespace", Count: 20, P50MS: 100, P95MS: 190, MaxMS: 200},
			{Phase: "helm", Count: 20, P50MS: 10000, P95MS: 19000, MaxMS: 20000},
		}
		if !slices.Equal(st.Phases, want) {
			t.Errorf("phases: %+v, want %+v", st.Phases, want)
		}
		wantEnded := []JobCount{{Kind: store.JobCreate, State: store.JobFailed, Count: 1}, {Kind: store.JobCreate, State: store.JobSucceeded, Count: 19}}
		if !slices.Equal(st.Ended, wantEnded) {
			t.Errorf("ended: %+v, want %+v", st.Ended, wantEnded)
		}
		if len(st.Failures) != 1 || st.Failures[0].Store != "shop-u" || !strings.Contains(st.Failures[0].Error, "timed out") {
			t.Errorf("failures: %+v", st.Failures)
		}
		// A day later, the window holds none of them.
		later, err := s.Stats(ctx, callerAdmin, time.Now().Add(StatsWindow+time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(later.Phases) != 0 || len(later.Ended) != 0 || later.StoresByStatus[store.StatusReady] != 19 {
			t.Errorf("a day later: %+v", later)
		}
	})
}

// TestListPageFilters: status and plan narrow a list, its pages continue
// with the same filters only, and a status no store has is refused.
func TestListPageFilters(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		for i, name := range []string{"f-1", "f-2", "f-3", "f-4"} {
			plan := []string{"small", "large"}[i%2]
			if _, _, err := s.DB.CreateStore(ctx, store.Store{Name: name, Owner: "alice", Plan: plan, Namespace: "store-" + name}, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.ListPage(ctx, callerAdmin, ListRequest{All: true, Plan: "large", Status: store.StatusQueued, Limit: 1})
		if err != nil || len(page.Stores) != 1 || page.Stores[0].Name != "f-2" || page.Continue == "" {
			t.Fatalf("first page of large QUEUED: %+v, %v", page, err)
		}
		next, err := s.ListPage(ctx, callerAdmin, ListRequest{All: true, Plan: "large", Status: store.StatusQueued, Limit: 1, Continue: page.Continue})
		if err != nil || len(next.Stores) != 1 || next.Stores[0].Name != "f-4" {
			t.Errorf("second page: %+v, %v", next, err)
		}
		if _, err := s.ListPage(ctx, callerAdmin, ListRequest{All: true, Plan: "small", Limit: 1, Continue: page.Continue}); err == nil {
			t.Error("a token continued a list with another plan filter")
		}
		if _, err := s.ListPage(ctx, callerAdmin, ListRequest{All: true, Status: "GONE"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "READY") {
			t.Errorf("unknown status: %v", err)
		}
		if page, err := s.ListPage(ctx, callerAlice, ListRequest{Status: store.StatusReady}); err != nil || len(page.Stores) != 0 {
			t.Errorf("alice's READY stores: %+v, %v", page, err)
		}
	})
}
