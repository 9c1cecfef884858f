package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func newStore(name, owner string) Store {
	return Store{Name: name, Owner: owner, Plan: "small", Namespace: "store-" + name}
}

func TestOpen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		// Processes starting together on a fresh database all succeed and
		// apply each migration once.
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				db, err := Open(ctx, tdb.dsn, Options{})
				if err == nil {
					err = db.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("concurrent Open: %v", err)
			}
		}
		db := tdb.open(t, Options{}) // already migrated
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		ms, err := db.(*sqlDB).migrations()
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := raw(db).QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}

		// A schema newer than this binary is refused.
		tdb.mustExec(t, db, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`)
		_, err = Open(ctx, tdb.dsn, Options{})
		if err == nil || !strings.Contains(err.Error(), "upgrade urumi") {
			t.Errorf("Open of a newer schema: err = %v, want one saying to upgrade urumi", err)
		}
	})
}

func TestOpenSQLiteFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "urumi.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	var mode string
	if err := raw(db).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := raw(db).QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dsn  string
		opts Options
		want string
	}{
		{"empty path", "", Options{}, "check --db or URUMI_DB"},
		{"parent is a file", filepath.Join(file, "urumi.db"), Options{}, "check --db or URUMI_DB"},
		{"bad postgres url", "postgres://u:secret@127.0.0.1:1/x?connect_timeout=1", Options{}, "check --db or URUMI_DB"},
		{"negative default limit", filepath.Join(t.TempDir(), "urumi.db"), Options{DefaultMaxStores: -1}, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(context.Background(), tt.dsn, tt.opts)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestStoreLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})

		in := newStore("shop", "alice")
		in.Options = []byte(`{"baseDomain":"example.test"}`)
		created, job, err := db.CreateStore(ctx, in, "alice")
		if err != nil {
			t.Fatalf("CreateStore: %v", err)
		}
		if created.Status != StatusQueued || created.CreatedAt.IsZero() || created.CreatedAt.Location() != time.UTC {
			t.Errorf("created = %+v, want QUEUED with a UTC creation time", created)
		}
		if job.ID == 0 || job.Kind != JobCreate || job.State != JobQueued || job.Store != "shop" || job.Actor != "alice" {
			t.Errorf("create job = %+v", job)
		}
		got, err := db.GetStore(ctx, "shop")
		if err != nil {
			t.Fatalf("GetStore: %v", err)
		}
		if !reflect.DeepEqual(got, created) {
			t.Errorf("GetStore = %+v\nwant       %+v", got, created)
		}
		if gotJob, err := db.GetJob(ctx, job.ID); err != nil || !reflect.DeepEqual(gotJob, job) {
			t.Errorf("GetJob = %+v, %v\nwant     %+v", gotJob, err, job)
		}

		if _, _, err := db.CreateStore(ctx, newStore("shop", "bob"), "bob"); !errors.Is(err, ErrNameTaken) {
			t.Errorf("CreateStore of a taken name: err = %v, want ErrNameTaken", err)
		}

		started := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
		got.Status, got.URL, got.Error = StatusReady, "https://shop.example.test", ""
		got.Phases = []Phase{{Name: "namespace", StartedAt: started, DurationMS: 12}, {Name: "helm", StartedAt: started, DurationMS: 3400}}
		if err := db.UpdateStore(ctx, got); err != nil {
			t.Fatalf("UpdateStore: %v", err)
		}
		updated, err := db.GetStore(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if updated.Status != StatusReady || updated.URL != got.URL || !reflect.DeepEqual(updated.Phases, got.Phases) ||
			updated.UpdatedAt.Before(created.UpdatedAt) {
			t.Errorf("after UpdateStore: %+v", updated)
		}
		if string(updated.Options) != string(in.Options) {
			t.Errorf("Options = %s, want %s", updated.Options, in.Options)
		}
		if err := db.UpdateStore(ctx, Store{Name: "nope", Status: StatusReady}); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateStore of a missing store: err = %v, want ErrNotFound", err)
		}
		if err := db.UpdateStore(ctx, Store{Name: "shop", Status: "BOGUS"}); err == nil {
			t.Error("UpdateStore with an unknown status succeeded")
		}

		// Remove frees the name; the new incarnation has its own jobs.
		if err := db.RemoveStore(ctx, "shop"); err != nil {
			t.Fatalf("RemoveStore: %v", err)
		}
		if err := db.RemoveStore(ctx, "shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second RemoveStore: err = %v, want ErrNotFound", err)
		}
		if _, err := db.GetStore(ctx, "shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetStore after remove: err = %v, want ErrNotFound", err)
		}
		if _, err := db.ListJobs(ctx, "shop"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ListJobs after remove: err = %v, want ErrNotFound", err)
		}
		if old, err := db.GetJob(ctx, job.ID); err != nil || old.State != JobCanceled {
			t.Errorf("queued job of a removed store = %+v, %v; want it canceled", old, err)
		}
		again, job2, err := db.CreateStore(ctx, newStore("shop", "bob"), "bob")
		if err != nil {
			t.Fatalf("CreateStore after remove: %v", err)
		}
		if again.Owner != "bob" {
			t.Errorf("new incarnation owner = %q", again.Owner)
		}
		jobs, err := db.ListJobs(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 1 || jobs[0].ID != job2.ID {
			t.Errorf("ListJobs of the new incarnation = %+v, want only job %d", jobs, job2.ID)
		}
		if active, err := db.ActiveJob(ctx, "shop"); err != nil || active.ID != job2.ID {
			t.Errorf("ActiveJob = %+v, %v; want job %d", active, err, job2.ID)
		}
	})
}

func TestListStores(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		for _, s := range []Store{newStore("cherry", "alice"), newStore("apple", "bob"), newStore("banana", "alice"),
			newStore("gone", "alice"), newStore("ab", "carol"), newStore("a-c", "carol")} {
			if _, _, err := db.CreateStore(ctx, s, s.Owner); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.RemoveStore(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			owner string
			want  []string
		}{
			{"", []string{"a-c", "ab", "apple", "banana", "cherry"}}, // bytewise, whatever the locale
			{"alice", []string{"banana", "cherry"}},
			{"bob", []string{"apple"}},
			{"dave", []string{}},
		}
		for _, tt := range tests {
			stores, err := db.ListStores(ctx, ListFilter{Owner: tt.owner})
			if err != nil {
				t.Fatal(err)
			}
			names := []string{}
			for _, s := range stores {
				names = append(names, s.Name)
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("ListStores(owner %q) = %v, want %v", tt.owner, names, tt.want)
			}
		}
	})
}

func TestCreateStoreQuota(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{DefaultMaxStores: 2})
		create := func(name, owner string) error {
			_, _, err := db.CreateStore(ctx, newStore(name, owner), owner)
			return err
		}
		// Every live store counts, whatever its status.
		for _, name := range []string{"a1", "a2"} {
			if err := create(name, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		for name, status := range map[string]Status{"a1": StatusFailed, "a2": StatusDeleting} {
			s, _ := db.GetStore(ctx, name)
			s.Status = status
			if err := db.UpdateStore(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		err := create("a3", "alice")
		if !errors.Is(err, ErrQuotaExceeded) || !strings.Contains(err.Error(), `owner "alice" has 2 of 2 stores`) {
			t.Fatalf("third store over the default limit: err = %v, want ErrQuotaExceeded saying 2 of 2", err)
		}
		if _, err := db.SetQuota(ctx, "alice", 3); err != nil {
			t.Fatal(err)
		}
		if err := create("a3", "alice"); err != nil {
			t.Fatalf("after raising the limit: %v", err)
		}
		if _, err := db.SetQuota(ctx, "zero", 0); err != nil {
			t.Fatal(err)
		}
		if err := create("z1", "zero"); !errors.Is(err, ErrQuotaExceeded) {
			t.Errorf("owner with limit 0: err = %v, want ErrQuotaExceeded", err)
		}
		// Removing a store frees its slot.
		if err := db.RemoveStore(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
		if err := create("a4", "alice"); err != nil {
			t.Errorf("after RemoveStore: %v", err)
		}
	})
}

// TestCreateStoreQuotaRace creates stores for one owner from many goroutines
// on several handles, as several processes would, and expects the limit to
// hold exactly.
func TestCreateStoreQuotaRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		const handles, creates, limit = 5, 50, 5
		dbs := make([]DB, handles)
		for i := range dbs {
			dbs[i] = tdb.open(t, Options{DefaultMaxStores: 100})
		}
		if _, err := dbs[0].SetQuota(ctx, "alice", limit); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, creates)
		var wg sync.WaitGroup
		for i := range creates {
			wg.Go(func() {
				_, _, errs[i] = dbs[i%handles].CreateStore(ctx, newStore(fmt.Sprintf("shop-%02d", i), "alice"), "alice")
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrQuotaExceeded):
				t.Errorf("CreateStore: %v", err)
			}
		}
		if ok != limit {
			t.Errorf("%d creates succeeded, want exactly %d", ok, limit)
		}
		q, err := dbs[0].GetQuota(ctx, "alice")
		if err != nil || q.Used != limit {
			t.Errorf("GetQuota = %+v, %v; want %d used", q, err, limit)
		}
	})
}

// TestCreateStoreNameRace creates one name for many owners at once: the
// per-owner serialization does not cover it, the unique index must.
func TestCreateStoreNameRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		const handles, creates = 4, 20
		dbs := make([]DB, handles)
		for i := range dbs {
			dbs[i] = tdb.open(t, Options{})
		}
		errs := make([]error, creates)
		var wg sync.WaitGroup
		for i := range creates {
			wg.Go(func() {
				owner := fmt.Sprintf("owner-%d", i)
				_, _, errs[i] = dbs[i%handles].CreateStore(ctx, newStore("shop", owner), owner)
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrNameTaken):
				t.Errorf("CreateStore: %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d creates of one name succeeded, want 1", ok)
		}
	})
}

func TestQuotas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{}) // default limit 5
		for _, s := range []Store{newStore("a1", "alice"), newStore("a2", "alice"), newStore("b1", "bob")} {
			if _, _, err := db.CreateStore(ctx, s, s.Owner); err != nil {
				t.Fatal(err)
			}
		}
		if q, err := db.GetQuota(ctx, "alice"); err != nil || q != (Quota{Owner: "alice", MaxStores: 5, Used: 2, Default: true}) {
			t.Errorf("GetQuota(alice) = %+v, %v", q, err)
		}
		if q, err := db.SetQuota(ctx, "carol", 10); err != nil || q != (Quota{Owner: "carol", MaxStores: 10}) {
			t.Errorf("SetQuota(carol) = %+v, %v", q, err)
		}
		if q, err := db.SetQuota(ctx, "alice", 1); err != nil || q != (Quota{Owner: "alice", MaxStores: 1, Used: 2}) {
			t.Errorf("SetQuota(alice) below use = %+v, %v", q, err)
		}
		if _, err := db.SetQuota(ctx, "alice", -1); err == nil {
			t.Error("SetQuota(-1) succeeded")
		}
		got, err := db.ListQuotas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []Quota{
			{Owner: "alice", MaxStores: 1, Used: 2},
			{Owner: "bob", MaxStores: 5, Used: 1, Default: true},
			{Owner: "carol", MaxStores: 10},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ListQuotas = %+v\nwant %+v", got, want)
		}
	})
}

// BenchmarkListStores lists 10,000 stores with eight phases each, the load
// `urumi store list` must handle quickly. It opens a new handle each time,
// as a CLI process would.
func BenchmarkListStores(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "urumi.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var phases []Phase
	for _, name := range []string{"namespace", "quota", "policy", "secret", "helm", "database", "wordpress", "ingress"} {
		phases = append(phases, Phase{Name: name, StartedAt: time.Now(), DurationMS: 1234})
	}
	encoded, err := encodePhases(phases)
	if err != nil {
		b.Fatal(err)
	}
	tx, err := raw(db).Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		if _, err := tx.Exec(`INSERT INTO stores (name, owner, plan, status, namespace, url, phases, options, created_at, updated_at)
			VALUES ($1, $2, 'small', 'READY', $3, $4, $5, '{"baseDomain":"example.test"}', $6, $6)`,
			fmt.Sprintf("shop-%05d", i), fmt.Sprintf("owner-%02d", i%50), fmt.Sprintf("store-shop-%05d", i),
			fmt.Sprintf("https://shop-%05d.example.test", i), encoded, toMicros(time.Now())); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	db.Close()
	for b.Loop() {
		db, err := Open(ctx, path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		stores, err := db.ListStores(ctx, ListFilter{})
		if err != nil || len(stores) != 10000 {
			b.Fatalf("ListStores: %d stores, %v", len(stores), err)
		}
		db.Close()
	}
}

// TestMarkStoreOnce: of several processes marking one store DEGRADED at
// once, exactly one does; a store in another status is left alone.
func TestMarkStoreOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		const handles = 4
		dbs := make([]DB, handles)
		for i := range dbs {
			dbs[i] = tdb.open(t, Options{})
		}
		st, _, err := dbs[0].CreateStore(ctx, newStore("shop", "alice"), "alice")
		if err != nil {
			t.Fatal(err)
		}
		st.Status = StatusReady
		st.Phases = []Phase{{Name: "helm", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), DurationMS: 7}}
		if err := dbs[0].UpdateStore(ctx, st); err != nil {
			t.Fatal(err)
		}
		if ok, err := dbs[0].MarkStore(ctx, "shop", StatusDegraded, StatusReady, ""); err != nil || ok {
			t.Errorf("MarkStore from a status the store is not in = %v, %v; want false", ok, err)
		}
		marked := make([]bool, 3*handles)
		errs := make([]error, len(marked))
		var wg sync.WaitGroup
		for i := range marked {
			wg.Go(func() {
				marked[i], errs[i] = dbs[i%handles].MarkStore(ctx, "shop", StatusReady, StatusDegraded, fmt.Sprintf("drift %d", i))
			})
		}
		wg.Wait()
		n, winner := 0, -1
		for i, ok := range marked {
			if errs[i] != nil {
				t.Errorf("MarkStore: %v", errs[i])
			}
			if ok {
				n, winner = n+1, i
			}
		}
		if n != 1 {
			t.Fatalf("%d of %d MarkStore calls marked the store, want 1", n, len(marked))
		}
		got, err := dbs[0].GetStore(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != StatusDegraded || got.Error != fmt.Sprintf("drift %d", winner) || !reflect.DeepEqual(got.Phases, st.Phases) {
			t.Errorf("after MarkStore: status %s, error %q, phases %v", got.Status, got.Error, got.Phases)
		}
		if _, err := dbs[0].MarkStore(ctx, "shop", StatusDegraded, Status("BROKEN"), ""); err == nil {
			t.Error("MarkStore to an unknown status: no error")
		}
		if ok, err := dbs[0].MarkStore(ctx, "nope", StatusReady, StatusDegraded, ""); err != nil || ok {
			t.Errorf("MarkStore of a missing store = %v, %v; want false, nil", ok, err)
		}
	})
}

// TestStoresGeneration: every committed change to a store moves the
// generation on, as another handle (another replica) reads it; a read, a
// failed write and a rolled-back transaction do not; and writes that
// race on PostgreSQL, where the counter's row is locked at commit, all
// commit and all count.
func TestStoresGeneration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db, other := tdb.open(t, Options{}), tdb.open(t, Options{})
		last, err := other.StoresGeneration(ctx)
		if err != nil {
			t.Fatal(err)
		}
		moved := func(what string, want bool) {
			t.Helper()
			gen, err := other.StoresGeneration(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if (gen > last) != want || gen < last {
				t.Errorf("after %s: generation %d → %d, want it moved on: %v", what, last, gen, want)
			}
			last = gen
		}
		shop, _, err := db.CreateStore(ctx, newStore("shop", "alice"), "alice")
		if err != nil {
			t.Fatal(err)
		}
		moved("a create", true)
		if _, err := db.ListStores(ctx, ListFilter{}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetStore(ctx, "shop"); err != nil {
			t.Fatal(err)
		}
		moved("reads", false)
		shop.Status = StatusReady
		if err := db.UpdateStore(ctx, shop); err != nil {
			t.Fatal(err)
		}
		moved("an update", true)
		if err := db.UpdateStore(ctx, Store{Name: "nope", Status: StatusReady}); err == nil {
			t.Fatal("update of a missing store succeeded")
		}
		moved("a failed update", false)
		if ok, err := db.MarkStore(ctx, "shop", StatusReady, StatusDegraded, "drift"); err != nil || !ok {
			t.Fatalf("MarkStore = %v, %v", ok, err)
		}
		moved("a mark", true)
		if err := db.SetRelease(ctx, "shop", Release{Revision: 2}); err != nil {
			t.Fatal(err)
		}
		moved("a release", true)
		errRollback := errors.New("roll back")
		if err := db.Atomic(ctx, func(tx DB) error {
			if _, err := tx.MarkStore(ctx, "shop", StatusDegraded, StatusReady, ""); err != nil {
				return err
			}
			return errRollback
		}); !errors.Is(err, errRollback) {
			t.Fatalf("Atomic = %v", err)
		}
		moved("a rolled-back transaction", false)
		if err := db.RemoveStore(ctx, "shop"); err != nil {
			t.Fatal(err)
		}
		moved("a remove", true)

		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				s, _, err := db.CreateStore(ctx, newStore(fmt.Sprintf("race-%d", i), fmt.Sprintf("owner-%d", i)), "bench")
				if err == nil {
					s.Status = StatusReady
					err = db.UpdateStore(ctx, s)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("racing writes: %v", err)
		}
		before := last
		moved("racing writes", true)
		if last-before < int64(2*len(errs)) {
			t.Errorf("%d racing creates and updates moved the generation by %d", len(errs), last-before)
		}
	})
}
