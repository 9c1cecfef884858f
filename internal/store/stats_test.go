package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestEndedJobs: the jobs that ended since a time, newest first, each with
// its store's phases only when it is the store's latest job; queued and
// running jobs, and jobs that ended before, are not among them.
func TestEndedJobs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{DefaultMaxStores: 10})
		finish := func(name string, state JobState, msg string, phases []Phase) {
			t.Helper()
			j, err := db.ClaimJob(ctx, "w1", longLease)
			if err != nil || j.Store != name {
				t.Fatalf("claim %s: %+v %v", name, j, err)
			}
			s, _ := db.GetStore(ctx, name)
			s.Status, s.Phases = StatusReady, phases
			if state == JobFailed {
				s.Status = StatusFailed
			}
			if err := db.UpdateStore(ctx, s); err != nil {
				t.Fatal(err)
			}
			if err := db.FinishJob(ctx, j.ID, "w1", state, msg); err != nil {
				t.Fatal(err)
			}
		}
		at := time.Now().UTC().Truncate(time.Millisecond)
		ph := func(names ...string) []Phase {
			var ps []Phase
			for i, n := range names {
				ps = append(ps, Phase{Name: n, StartedAt: at, DurationMS: int64(100 * (i + 1))})
			}
			return ps
		}
		for _, n := range []string{"old", "a", "b"} {
			if _, _, err := db.CreateStore(ctx, newStore(n, "alice"), "alice"); err != nil {
				t.Fatal(err)
			}
		}
		finish("old", JobSucceeded, "", ph("namespace"))
		time.Sleep(5 * time.Millisecond)
		since := time.Now()
		finish("a", JobSucceeded, "", ph("namespace", "helm"))
		finish("b", JobFailed, "helm: timed out", ph("namespace"))
		// a's upgrade: its create no longer owns the store's phases.
		if _, err := db.EnqueueJob(ctx, "a", JobUpgrade, "alice", nil); err != nil {
			t.Fatal(err)
		}
		finish("a", JobSucceeded, "", ph("helm"))
		// A queued job is not an ended one.
		if _, err := db.EnqueueJob(ctx, "b", JobRepair, "alice", nil); err != nil {
			t.Fatal(err)
		}

		jobs, err := db.EndedJobs(ctx, since, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range jobs {
			var names []string
			for _, p := range j.Phases {
				names = append(names, p.Name)
			}
			got = append(got, j.Store+"/"+string(j.Kind)+"/"+string(j.State)+"/"+j.LastError+"/"+
				joinNames(names))
			if j.EndedAt.Before(since.Add(-time.Millisecond)) {
				t.Errorf("%s/%s ended %v, before %v", j.Store, j.Kind, j.EndedAt, since)
			}
		}
		want := []string{"a/upgrade/succeeded//helm", "b/create/failed/helm: timed out/", "a/create/succeeded//"}
		if !slices.Equal(got, want) {
			t.Errorf("EndedJobs = %q, want %q", got, want)
		}
		if jobs, err := db.EndedJobs(ctx, since, 1); err != nil || len(jobs) != 1 || jobs[0].Kind != JobUpgrade {
			t.Errorf("EndedJobs limit 1 = %+v, %v", jobs, err)
		}
	})
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ","
		}
		out += n
	}
	return out
}

// TestListStoresFilters: status and plan narrow a list, alone, together
// and with an owner, and page like the rest.
func TestListStoresFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{DefaultMaxStores: 100})
		for i, n := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
			s := newStore(n, []string{"alice", "bob"}[i%2])
			if i >= 3 {
				s.Plan = "large"
			}
			if _, _, err := db.CreateStore(ctx, s, s.Owner); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				got, _ := db.GetStore(ctx, n)
				got.Status = StatusFailed
				if err := db.UpdateStore(ctx, got); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, c := range []struct {
			f    ListFilter
			want []string
		}{
			{ListFilter{Status: StatusFailed}, []string{"s1", "s4"}},
			{ListFilter{Plan: "large"}, []string{"s4", "s5", "s6"}},
			{ListFilter{Plan: "large", Status: StatusQueued}, []string{"s5", "s6"}},
			{ListFilter{Owner: "bob", Status: StatusQueued}, []string{"s2", "s6"}},
			{ListFilter{Owner: "alice", Plan: "small", Status: StatusQueued}, []string{"s3"}},
			{ListFilter{Status: StatusReady}, nil},
		} {
			names, _ := pageAll(t, db, c.f, 1)
			if !slices.Equal(names, c.want) {
				t.Errorf("%+v: %v, want %v", c.f, names, c.want)
			}
		}
	})
}
