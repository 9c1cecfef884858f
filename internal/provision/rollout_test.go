package provision

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

func TestPlanWaves(t *testing.T) {
	for _, c := range []struct {
		n, canary, batch int
		want             []int
	}{
		{0, 1, 5, []int{}},
		{1, 1, 5, []int{0}},
		{7, 1, 3, []int{0, 1, 1, 1, 2, 2, 2}},
		{4, 0, 2, []int{1, 1, 2, 2}},
		{3, 5, 2, []int{0, 0, 0}},
		{20, 1, 5, []int{0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4}},
	} {
		if got := planWaves(c.n, c.canary, c.batch); !slices.Equal(got, c.want) {
			t.Errorf("planWaves(%d, %d, %d) = %v, want %v", c.n, c.canary, c.batch, got, c.want)
		}
	}
}

func TestHaltReasonAndCurrentWave(t *testing.T) {
	stores := []store.RolloutStore{
		{Store: "a", Wave: 0, State: store.RolloutStoreSucceeded},
		{Store: "b", Wave: 1, State: store.RolloutStoreRolledBack, Reason: "pods forbidden"},
		{Store: "c", Wave: 1, State: store.RolloutStoreSkipped},
		{Store: "d", Wave: 2, State: store.RolloutStorePending},
	}
	if got := haltReason(stores, 1); got != "" {
		t.Errorf("one failure with one allowed halts: %q", got)
	}
	got := haltReason(stores, 0)
	if !strings.Contains(got, "b (rolled-back: pods forbidden)") || strings.Contains(got, "c (") {
		t.Errorf("haltReason = %q, want it to name b and not the skipped c", got)
	}
	if w, ok := currentWave(stores); !ok || w != 2 {
		t.Errorf("currentWave = %d, %v; want 2", w, ok)
	}
	stores[3].State = store.RolloutStoreFailed
	if _, ok := currentWave(stores); ok {
		t.Error("currentWave found a wave when every store has ended")
	}
}

// fakeUpgrades runs a wave's upgrade jobs as the Runner would end them:
// the stores in fail roll back, the others move to the next revision.
type fakeUpgrades struct {
	db   store.DB
	mu   sync.Mutex
	fail map[string]bool
}

func (f *fakeUpgrades) run(ctx context.Context, jobs []store.Job) {
	for _, job := range jobs {
		f.mu.Lock()
		fail := f.fail[job.Store]
		f.mu.Unlock()
		if _, err := f.db.ClaimJobByID(ctx, job.ID, "fake", time.Minute); err != nil {
			continue
		}
		st, _ := f.db.GetStore(ctx, job.Store)
		rel := st.Release
		last := &store.Change{Kind: store.JobUpgrade, Outcome: store.ChangeSucceeded, From: rel.Revision, To: rel.Revision + 1, Actor: job.Actor, At: time.Now().UTC()}
		state := store.JobSucceeded
		if fail {
			last.Outcome, last.To, last.Reason, state = store.ChangeRolledBack, rel.Revision+2, "pods forbidden", store.JobFailed
			rel.Revision += 2
		} else {
			rel.Revision++
		}
		rel.LastChange = last
		st.Status, st.Options = store.StatusReady, nil
		_ = f.db.UpdateStore(ctx, st)
		_ = f.db.SetRelease(ctx, st.Name, rel)
		_ = f.db.FinishJob(ctx, job.ID, "fake", state, last.Reason)
	}
}

func newRolloutTest(t *testing.T, n int) (*Service, Caller) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "urumi.db"), store.Options{DefaultMaxStores: 100, AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := &Service{DB: db, Settings: Settings{BaseDomain: "shops.example.test", IngressClass: "nginx"}}
	admin := Caller{Name: "root", Admin: true}
	for i := range n {
		owner := "alice"
		if i%4 == 3 {
			owner = "bob"
		}
		st, job, err := svc.Create(ctx, admin, CreateRequest{Name: fmt.Sprintf("shop-%02d", i), Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ClaimJobByID(ctx, job.ID, "setup", time.Minute); err != nil {
			t.Fatal(err)
		}
		st.Status, st.Options = store.StatusReady, nil
		if err := db.UpdateStore(ctx, st); err != nil {
			t.Fatal(err)
		}
		if err := db.SetRelease(ctx, st.Name, store.Release{Revision: 1}); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishJob(ctx, job.ID, "setup", store.JobSucceeded, ""); err != nil {
			t.Fatal(err)
		}
	}
	return svc, admin
}

func TestRolloutHaltsResumesAndUpgradesEachStoreOnce(t *testing.T) {
	ctx := context.Background()
	svc, admin := newRolloutTest(t, 12)
	if _, err := svc.StartRollout(ctx, Caller{Name: "alice"}, RolloutRequest{}); !errors.Is(err, ErrForbidden) {
		t.Errorf("StartRollout by a non-admin: %v, want ErrForbidden", err)
	}
	for _, bad := range []RolloutRequest{{BatchSize: -1}, {Canary: -1}, {MaxFailures: -1}, {Plan: "nope"}, {Owner: "nobody-here"}, {Timeout: "1s"}} {
		if _, err := svc.StartRollout(ctx, admin, bad); err == nil {
			t.Errorf("StartRollout(%+v) accepted", bad)
		}
	}
	if _, err := svc.StartRollout(ctx, admin, RolloutRequest{Set: []string{"not-a-value"}}); err == nil {
		t.Error("StartRollout accepted a --set the upgrade refuses")
	}

	r, err := svc.StartRollout(ctx, admin, RolloutRequest{Canary: 1, BatchSize: 5, MaxFailures: 0, Timeout: "40s"})
	if err != nil {
		t.Fatalf("StartRollout: %v", err)
	}
	if len(r.Stores) != 12 || r.Stores[0].Store != "shop-00" || r.Stores[0].Wave != 0 || r.Stores[11].Wave != 3 {
		t.Fatalf("rollout stores: %+v", r.Stores)
	}
	fake := &fakeUpgrades{db: svc.DB, fail: map[string]bool{"shop-03": true}}
	var events []RolloutEvent
	d := &RolloutDriver{Service: svc, Worker: "d1", Lease: time.Minute, Poll: 10 * time.Millisecond, RunJobs: fake.run,
		Progress: func(e RolloutEvent) { events = append(events, e) }}
	got, err := d.Drive(ctx, r.ID)
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if got.State != store.RolloutHalted || !strings.Contains(got.Reason, "shop-03") || len(got.Stores) != 12 {
		t.Fatalf("rollout after a failure in wave 1: %s (%s), want halted naming shop-03", got.State, got.Reason)
	}
	for _, rs := range got.Stores {
		want := store.RolloutStoreSucceeded
		switch {
		case rs.Store == "shop-03":
			want = store.RolloutStoreRolledBack
		case rs.Wave > 1:
			want = store.RolloutStorePending
		}
		if rs.State != want {
			t.Errorf("store %s (wave %d) is %s, want %s", rs.Store, rs.Wave, rs.State, want)
		}
		if rs.Wave > 1 {
			if jobs, _ := svc.DB.ListJobs(ctx, rs.Store); len(jobs) != 1 {
				t.Errorf("store %s of a later wave has %d jobs, want only its create", rs.Store, len(jobs))
			}
		}
	}
	if len(events) != 4 || !events[3].Done || events[3].State != store.RolloutHalted {
		t.Errorf("progress events: %+v", events)
	}

	// A halted rollout is not driven by serve's loop.
	if _, err := (&RolloutDriver{Service: svc, Worker: "serve", Lease: time.Minute}).DriveNext(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DriveNext with only a halted rollout: %v, want ErrNotFound", err)
	}
	if _, err := svc.ResumeRollout(ctx, Caller{Name: "alice"}, r.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("ResumeRollout by a non-admin: %v", err)
	}
	fake.mu.Lock()
	fake.fail = nil
	fake.mu.Unlock()
	resumed, err := svc.ResumeRollout(ctx, admin, r.ID)
	if err != nil || resumed.State != store.RolloutRunning {
		t.Fatalf("ResumeRollout: %+v, %v", resumed, err)
	}
	// Serve's driver carries it on.
	d.Worker = "serve"
	got, err = d.DriveNext(ctx)
	if err != nil || got.State != store.RolloutCompleted {
		t.Fatalf("DriveNext after resume: %s, %v; want completed", got.State, err)
	}
	for _, rs := range got.Stores {
		if rs.State != store.RolloutStoreSucceeded {
			t.Errorf("store %s is %s after the resumed rollout", rs.Store, rs.State)
		}
		jobs, _ := svc.DB.ListJobs(ctx, rs.Store)
		succeeded := 0
		for _, j := range jobs {
			if j.Kind == store.JobUpgrade && j.State == store.JobSucceeded {
				succeeded++
			}
		}
		if succeeded != 1 {
			t.Errorf("store %s has %d succeeded upgrades, want 1", rs.Store, succeeded)
		}
	}
	if _, err := svc.ResumeRollout(ctx, admin, r.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("ResumeRollout of a completed rollout: %v, want ErrConflict", err)
	}
	entries, _ := svc.DB.ListAudit(ctx, store.AuditFilter{})
	var actions []string
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "rollout.") {
			actions = append(actions, e.Action+":"+e.Outcome)
		}
	}
	want := []string{"rollout.start:denied", "rollout.start:requested", "rollout.wave:succeeded", "rollout.wave:failed", "rollout.halt:failed",
		"rollout.resume:denied", "rollout.resume:requested", "rollout.wave:succeeded", "rollout.wave:succeeded", "rollout.wave:succeeded", "rollout.complete:succeeded"}
	if !slices.Equal(actions, want) {
		t.Errorf("audit: %v\nwant %v", actions, want)
	}
}

func TestRolloutFiltersAndAbort(t *testing.T) {
	ctx := context.Background()
	svc, admin := newRolloutTest(t, 8)
	r, err := svc.StartRollout(ctx, admin, RolloutRequest{Owner: "bob", BatchSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rs := range r.Stores {
		names = append(names, rs.Store)
	}
	if !slices.Equal(names, []string{"shop-03", "shop-07"}) || r.Stores[0].Wave != 1 || r.Stores[1].Wave != 2 {
		t.Errorf("bob's rollout: %+v", r.Stores)
	}
	if _, err := svc.StartRollout(ctx, admin, RolloutRequest{Owner: "carol"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a rollout that matches no store: %v, want ErrInvalid", err)
	}
	aborted, err := svc.AbortRollout(ctx, admin, r.ID)
	if err != nil || aborted.State != store.RolloutAborted {
		t.Fatalf("AbortRollout: %+v, %v", aborted, err)
	}
	for _, rs := range aborted.Stores {
		if rs.State != store.RolloutStoreSkipped {
			t.Errorf("store %s of an aborted rollout is %s, want skipped", rs.Store, rs.State)
		}
	}
	if _, err := svc.AbortRollout(ctx, admin, r.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("aborting twice: %v, want ErrConflict", err)
	}
	d := &RolloutDriver{Service: svc, Worker: "d", Lease: time.Minute, Poll: 10 * time.Millisecond}
	if got, err := d.Drive(ctx, r.ID); err != nil || got.State != store.RolloutAborted {
		t.Errorf("Drive of an aborted rollout: %s, %v", got.State, err)
	}
	if list, err := svc.ListRollouts(ctx, admin); err != nil || len(list) != 1 {
		t.Errorf("ListRollouts: %d, %v", len(list), err)
	}
	if _, err := svc.GetRollout(ctx, admin, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRollout of a missing rollout: %v", err)
	}
}
