package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func storeNames(stores []Store) []string {
	names := make([]string, len(stores))
	for i, s := range stores {
		names[i] = s.Name
	}
	return names
}

// pageAll reads every page of f with the given page size.
func pageAll(t *testing.T, db DB, f ListFilter, size int) (names []string, pages int) {
	t.Helper()
	f.Limit = size
	for {
		page, err := db.ListStores(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		names = append(names, storeNames(page)...)
		if len(page) < size {
			return names, pages
		}
		f.After = page[len(page)-1].Name
	}
}

func TestListStoresPaging(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{DefaultMaxStores: 100})
		var want, alice []string
		for i := range 23 {
			owner := "bob"
			if i%3 == 0 {
				owner = "alice"
			}
			// Names whose bytewise order differs from a locale's.
			name := fmt.Sprintf("s%02d-%c", 22-i, "aB-"[i%3])
			if _, _, err := db.CreateStore(ctx, newStore(name, owner), owner); err != nil {
				t.Fatal(err)
			}
			want = append(want, name)
			if owner == "alice" {
				alice = append(alice, name)
			}
		}
		if err := db.RemoveStore(ctx, want[4]); err != nil {
			t.Fatal(err)
		}
		want = slices.Delete(want, 4, 5)
		slices.Sort(want) // Go's string order is bytewise
		slices.Sort(alice)
		for _, size := range []int{1, 5, 22, 100} {
			got, pages := pageAll(t, db, ListFilter{}, size)
			if !slices.Equal(got, want) {
				t.Errorf("pages of %d: %v, want %v", size, got, want)
			}
			if wantPages := len(want)/size + 1; pages != wantPages {
				t.Errorf("pages of %d: %d pages, want %d", size, pages, wantPages)
			}
			got, _ = pageAll(t, db, ListFilter{Owner: "alice"}, size)
			if !slices.Equal(got, alice) {
				t.Errorf("alice's pages of %d: %v, want %v", size, got, alice)
			}
		}
		// After a name that is not a store's, the page starts at the next.
		page, err := db.ListStores(ctx, ListFilter{After: "s05", Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got := storeNames(page); !slices.Equal(got, []string{"s05--", "s06-B"}) {
			t.Errorf("after s05: %v", got)
		}
	})
}

// TestListStoresPagingConcurrentCreates pages through stores while others
// are created and deleted: every store that lived throughout appears
// exactly once, in order.
func TestListStoresPagingConcurrentCreates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{DefaultMaxStores: 1000})
		var lasting []string
		for i := range 60 {
			name := fmt.Sprintf("m%03d", i*2)
			if _, _, err := db.CreateStore(ctx, newStore(name, "alice"), "alice"); err != nil {
				t.Fatal(err)
			}
			lasting = append(lasting, name)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			// Names between, before and after the lasting ones.
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("m%03d-%d", (i%60)*2+1, i) // unique, between two lasting names
				if i%7 == 0 {
					name = fmt.Sprintf("a%03d", i)
				}
				if i%5 == 0 {
					name = fmt.Sprintf("z%03d", i)
				}
				if _, _, err := db.CreateStore(ctx, newStore(name, "alice"), "alice"); err != nil {
					t.Errorf("create %s: %v", name, err)
					return
				}
				if i%2 == 0 {
					if err := db.RemoveStore(ctx, name); err != nil {
						t.Errorf("remove %s: %v", name, err)
						return
					}
				}
			}
		})
		for range 3 {
			got, _ := pageAll(t, db, ListFilter{Owner: "alice"}, 7)
			if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("pages are not in strict name order: %v", got)
			}
			for _, name := range lasting {
				if _, ok := slices.BinarySearch(got, name); !ok {
					t.Errorf("store %s, live throughout, missing from the pages", name)
				}
			}
		}
		close(stop)
		wg.Wait()
	})
}

func TestListAuditBefore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		var ids []int64
		for i := range 12 {
			actor := "alice"
			if i%2 == 1 {
				actor = "bob"
			}
			e, err := db.AppendAudit(ctx, AuditEntry{Actor: actor, Action: "create", Outcome: "requested"})
			if err != nil {
				t.Fatal(err)
			}
			if actor == "alice" {
				ids = append(ids, e.ID)
			}
		}
		// Pages backwards, newest first, each oldest first within.
		var got []int64
		before := int64(0)
		for {
			page, err := db.ListAudit(ctx, AuditFilter{Actor: "alice", Limit: 4, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			var pageIDs []int64
			for _, e := range page {
				pageIDs = append(pageIDs, e.ID)
			}
			if !slices.IsSorted(pageIDs) {
				t.Errorf("page not oldest first: %v", pageIDs)
			}
			got = append(pageIDs, got...)
			if len(page) < 4 {
				break
			}
			before = page[0].ID
		}
		if !slices.Equal(got, ids) {
			t.Errorf("pages of alice's entries: %v, want %v", got, ids)
		}
	})
}

// BenchmarkListStoresPage reads one page of 500 of 10,000 stores, from the
// start and from deep in the list (keyset paging: no slower).
func BenchmarkListStoresPage(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "urumi.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := raw(db).Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		if _, err := tx.Exec(`INSERT INTO stores (name, owner, plan, status, namespace, url, created_at, updated_at)
			VALUES ($1, $2, 'small', 'READY', $3, '', $4, $4)`,
			fmt.Sprintf("shop-%05d", i), fmt.Sprintf("owner-%02d", i%50), fmt.Sprintf("store-shop-%05d", i), toMicros(time.Now())); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	for _, after := range []string{"", "shop-09000"} {
		b.Run("after="+after, func(b *testing.B) {
			for b.Loop() {
				page, err := db.ListStores(ctx, ListFilter{After: after, Limit: 501})
				if err != nil || len(page) == 0 {
					b.Fatalf("ListStores: %d stores, %v", len(page), err)
				}
			}
		})
	}
}
