package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestReleaseAndRevisions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		if _, _, err := db.CreateStore(ctx, newStore("shop", "alice"), "alice"); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetStore(ctx, "shop")
		if err != nil || got.Release.Revision != 0 || got.Release.LastChange != nil {
			t.Fatalf("new store's release = %+v, %v; want none", got.Release, err)
		}

		at := time.Now().UTC().Truncate(time.Microsecond)
		rel := Release{
			Revision:   2,
			Versions:   Versions{Chart: "0.2.0", WordPress: "7.1.2-php8.3-apache", MariaDB: "11.8.9", WPCLI: "cli-2.12.0-php8.3", WooCommerce: "latest"},
			LastChange: &Change{Kind: JobUpgrade, Outcome: ChangeRolledBack, From: 1, To: 3, Reason: "quota", Actor: "alice", At: at},
			// Not a record: SetRelease drops it.
			UpgradeAvailable: "0.3.0",
		}
		if err := db.SetRelease(ctx, "shop", rel); err != nil {
			t.Fatal(err)
		}
		rel.UpgradeAvailable = ""
		for _, list := range []func() (Store, error){
			func() (Store, error) { return db.GetStore(ctx, "shop") },
			func() (Store, error) {
				l, err := db.ListStores(ctx, ListFilter{})
				if err != nil || len(l) != 1 {
					return Store{}, errors.Join(err, errors.New("want one store"))
				}
				return l[0], nil
			},
		} {
			got, err := list()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Release, rel) {
				t.Errorf("release = %+v, want %+v", got.Release, rel)
			}
		}
		// UpdateStore leaves the release alone, and writes the plan only
		// with the options.
		got.Status, got.Plan, got.Options = StatusUpgrading, "large", nil
		if err := db.UpdateStore(ctx, got); err != nil {
			t.Fatal(err)
		}
		got, _ = db.GetStore(ctx, "shop")
		if got.Plan != "small" || got.Release.Revision != 2 {
			t.Errorf("after UpdateStore without options: plan %q revision %d, want small and 2", got.Plan, got.Release.Revision)
		}
		got.Plan, got.Options = "large", []byte(`{"set":["a=b"]}`)
		if err := db.UpdateStore(ctx, got); err != nil {
			t.Fatal(err)
		}
		if got, _ = db.GetStore(ctx, "shop"); got.Plan != "large" || string(got.Options) != `{"set":["a=b"]}` {
			t.Errorf("after UpdateStore with options: plan %q options %s", got.Plan, got.Options)
		}
		if err := db.SetRelease(ctx, "nope", rel); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetRelease of a missing store = %v, want ErrNotFound", err)
		}

		// Revisions: urumi's part survives a later copy of Helm's history.
		mine := Revision{Store: "shop", Revision: 1, Kind: JobCreate, JobID: 7, Actor: "alice", Plan: "small",
			Versions: rel.Versions, Status: "deployed", Options: []byte(`{"set":[]}`), At: at}
		if err := db.AddRevision(ctx, mine); err != nil {
			t.Fatal(err)
		}
		helm := Revision{Store: "shop", Revision: 1, Versions: rel.Versions, Status: "superseded", Description: "Install complete", At: at}
		if err := db.AddRevision(ctx, helm); err != nil {
			t.Fatal(err)
		}
		if err := db.AddRevision(ctx, Revision{Store: "shop", Revision: 2, Kind: JobUpgrade, JobID: 8, Actor: "bob", Status: "deployed", At: at}); err != nil {
			t.Fatal(err)
		}
		revs, err := db.Revisions(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		want := mine
		want.Status, want.Description = "superseded", "Install complete"
		if len(revs) != 2 || !reflect.DeepEqual(revs[0], want) || revs[1].Actor != "bob" || revs[1].Revision != 2 {
			t.Errorf("Revisions = %+v, want [%+v, revision 2 by bob]", revs, want)
		}
		if err := db.AddRevision(ctx, Revision{Store: "shop", Revision: 0}); err == nil {
			t.Error("AddRevision of revision 0 succeeded")
		}
		if err := db.AddRevision(ctx, Revision{Store: "nope", Revision: 1, Status: "deployed", At: at}); !errors.Is(err, ErrNotFound) {
			t.Errorf("AddRevision of a missing store = %v, want ErrNotFound", err)
		}
		if err := db.UpdateStore(ctx, Store{Name: "nope", Status: StatusReady}); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateStore of a missing store = %v, want ErrNotFound", err)
		}
		if _, err := db.Revisions(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Revisions of a missing store = %v, want ErrNotFound", err)
		}

		// Job params go in and come back out.
		if err := db.UpdateStore(ctx, Store{Name: "shop", Status: StatusReady}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.EnqueueJob(ctx, "shop", JobUpgrade, "alice", []byte("{not json")); err == nil {
			t.Error("EnqueueJob with invalid params succeeded")
		}
		// The create job is still active: finish it first.
		active, err := db.ActiveJob(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CancelJob(ctx, active.ID); err != nil {
			t.Fatal(err)
		}
		job, err := db.EnqueueJob(ctx, "shop", JobRollback, "alice", []byte(`{"revision":1}`))
		if err != nil {
			t.Fatal(err)
		}
		for _, read := range []func() (Job, error){
			func() (Job, error) { return db.GetJob(ctx, job.ID) },
			func() (Job, error) { return db.ClaimJobByID(ctx, job.ID, "w1", time.Minute) },
		} {
			j, err := read()
			if err != nil || j.Kind != JobRollback || string(j.Params) != `{"revision":1}` {
				t.Errorf("job = %+v (params %s), %v; want the rollback with its params", j, j.Params, err)
			}
		}
	})
}
