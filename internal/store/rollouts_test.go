package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRolloutLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		other := tdb.open(t, Options{}) // a second process
		params := RolloutParams{Owner: "alice", Canary: 1, BatchSize: 2, MaxFailures: 1, Set: []string{"a=b"}, Timeout: "40s", Chart: "0.2.0"}
		r, err := db.CreateRollout(ctx, Rollout{Actor: "admin", Params: params}, []RolloutStore{
			{Store: "c", Wave: 1}, {Store: "a", Wave: 0}, {Store: "b", Wave: 1},
		})
		if err != nil {
			t.Fatalf("CreateRollout: %v", err)
		}
		if r.ID == 0 || r.State != RolloutRunning || r.LeaseOwner != "" {
			t.Errorf("created %+v", r)
		}
		got, err := other.GetRollout(ctx, r.ID)
		if err != nil {
			t.Fatalf("GetRollout: %v", err)
		}
		names := []string{}
		for _, s := range got.Stores {
			names = append(names, s.Store)
			if s.State != RolloutStorePending {
				t.Errorf("store %s is %s, want pending", s.Store, s.State)
			}
		}
		if !slices.Equal(names, []string{"a", "b", "c"}) || got.Params.BatchSize != 2 || !slices.Equal(got.Params.Set, []string{"a=b"}) ||
			got.Actor != "admin" || got.Params.Chart != "0.2.0" {
			t.Errorf("read back %+v, want stores a, b, c by wave and the params as given", got)
		}
		if _, err := db.GetRollout(ctx, r.ID+100); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetRollout of a missing rollout: %v, want ErrNotFound", err)
		}

		// One driver at a time.
		claimed, err := db.ClaimRollout(ctx, 0, "d1", longLease)
		if err != nil || claimed.ID != r.ID || claimed.LeaseOwner != "d1" || !claimed.LeaseExpiresAt.After(time.Now()) {
			t.Fatalf("ClaimRollout: %+v, %v", claimed, err)
		}
		if _, err := other.ClaimRollout(ctx, 0, "d2", longLease); !errors.Is(err, ErrNotFound) {
			t.Errorf("ClaimRollout of a held rollout: %v, want ErrNotFound", err)
		}
		if _, err := other.ClaimRollout(ctx, r.ID, "d2", longLease); !errors.Is(err, ErrNotFound) {
			t.Errorf("ClaimRollout by id of a held rollout: %v, want ErrNotFound", err)
		}
		if err := db.RenewRolloutLease(ctx, r.ID, "d1", longLease); err != nil {
			t.Errorf("RenewRolloutLease: %v", err)
		}
		if err := other.RenewRolloutLease(ctx, r.ID, "d2", longLease); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("RenewRolloutLease by another driver: %v, want ErrLeaseLost", err)
		}

		// An expired lease is claimable; the old driver has lost it.
		tdb.mustExec(t, db, `UPDATE rollouts SET lease_expires_at = $1 WHERE id = $2`, toMicros(time.Now().Add(-time.Second)), r.ID)
		if claimed, err = other.ClaimRollout(ctx, r.ID, "d2", longLease); err != nil || claimed.LeaseOwner != "d2" {
			t.Fatalf("ClaimRollout of an expired lease: %+v, %v", claimed, err)
		}
		if err := db.RenewRolloutLease(ctx, r.ID, "d1", longLease); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("RenewRolloutLease after a takeover: %v, want ErrLeaseLost", err)
		}

		if err := other.UpdateRolloutStore(ctx, r.ID, RolloutStore{Store: "a", State: RolloutStoreRolledBack, JobID: 7, FromRevision: 1, ToRevision: 3, Reason: "pods"}); err != nil {
			t.Fatalf("UpdateRolloutStore: %v", err)
		}
		if err := other.UpdateRolloutStore(ctx, r.ID, RolloutStore{Store: "zz", State: RolloutStoreFailed}); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateRolloutStore of a store not in it: %v, want ErrNotFound", err)
		}
		if err := other.UpdateRolloutStore(ctx, r.ID, RolloutStore{Store: "a", State: "weird"}); err == nil {
			t.Error("UpdateRolloutStore accepted an unknown state")
		}
		got, _ = db.GetRollout(ctx, r.ID)
		if a := got.Stores[0]; a.State != RolloutStoreRolledBack || a.JobID != 7 || a.FromRevision != 1 || a.ToRevision != 3 || a.Reason != "pods" || !a.State.Failed() {
			t.Errorf("store a after update: %+v", a)
		}

		// Halting drops the lease and leaves it unclaimable until resumed.
		halted, err := other.SetRolloutState(ctx, r.ID, []RolloutState{RolloutRunning}, RolloutHalted, "a failed")
		if err != nil || halted.State != RolloutHalted || halted.Reason != "a failed" || halted.LeaseOwner != "" {
			t.Fatalf("SetRolloutState halted: %+v, %v", halted, err)
		}
		if err := other.RenewRolloutLease(ctx, r.ID, "d2", longLease); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("RenewRolloutLease of a halted rollout: %v, want ErrLeaseLost", err)
		}
		if _, err := db.ClaimRollout(ctx, 0, "d3", longLease); !errors.Is(err, ErrNotFound) {
			t.Errorf("ClaimRollout of a halted rollout: %v, want ErrNotFound", err)
		}
		if _, err := db.SetRolloutState(ctx, r.ID, []RolloutState{RolloutRunning}, RolloutCompleted, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetRolloutState from the wrong state: %v, want ErrNotFound", err)
		}
		if _, err := db.SetRolloutState(ctx, r.ID, []RolloutState{RolloutHalted}, RolloutRunning, ""); err != nil {
			t.Fatalf("resume: %v", err)
		}
		if claimed, err = db.ClaimRollout(ctx, 0, "d3", longLease); err != nil || claimed.ID != r.ID {
			t.Errorf("ClaimRollout after resume: %+v, %v", claimed, err)
		}
		if err := db.ReleaseRollout(ctx, r.ID, "d3"); err != nil {
			t.Errorf("ReleaseRollout: %v", err)
		}
		if claimed, err = other.ClaimRollout(ctx, 0, "d4", longLease); err != nil || claimed.ID != r.ID {
			t.Errorf("ClaimRollout after release: %+v, %v", claimed, err)
		}

		// State changes roll back with the transaction around them.
		errBoom := errors.New("boom")
		err = db.Atomic(ctx, func(tx DB) error {
			if _, err := tx.SetRolloutState(ctx, r.ID, []RolloutState{RolloutRunning}, RolloutAborted, "stop"); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("Atomic: %v", err)
		}
		if got, _ := db.GetRollout(ctx, r.ID); got.State != RolloutRunning {
			t.Errorf("after a rolled back transaction the rollout is %s, want running", got.State)
		}

		second, err := db.CreateRollout(ctx, Rollout{Actor: "admin", Params: params}, nil)
		if err != nil {
			t.Fatal(err)
		}
		list, err := other.ListRollouts(ctx)
		if err != nil || len(list) != 2 || list[0].ID != second.ID || list[1].ID != r.ID || list[0].Stores != nil {
			t.Errorf("ListRollouts: %+v, %v; want the two, newest first, without stores", list, err)
		}
	})
}
