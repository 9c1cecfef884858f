package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// countingDB counts the store lists and generation reads it runs.
type countingDB struct {
	store.DB
	lists, gens atomic.Int32
}

func (d *countingDB) StoresGeneration(ctx context.Context) (int64, error) {
	d.gens.Add(1)
	return d.DB.StoresGeneration(ctx)
}

func (d *countingDB) ListStores(ctx context.Context, f store.ListFilter) ([]store.Store, error) {
	d.lists.Add(1)
	return d.DB.ListStores(ctx, f)
}

// TestListPageKept: a page asked for again while no store changed comes
// from memory, and any change, made through another replica's handle on
// the same database, is seen by the next request; a caller never gets a
// page kept for a wider scope.
func TestListPageKept(t *testing.T) {
	onBothDSNs(t, func(t *testing.T, other *Service, dsn string) {
		ctx := context.Background()
		db, err := store.Open(ctx, dsn, store.Options{DefaultMaxStores: 5, AuditKey: storetest.AuditKey(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		counted := &countingDB{DB: db}
		s := &Service{DB: counted}
		for _, st := range []struct{ name, owner string }{{"a-shop", "alice"}, {"b-shop", "bob"}, {"c-shop", "alice"}} {
			if _, _, err := other.DB.CreateStore(ctx, store.Store{Name: st.name, Owner: st.owner, Plan: "small", Namespace: "store-" + st.name}, st.owner); err != nil {
				t.Fatal(err)
			}
		}
		list := func(c Caller, req ListRequest, wantReads int32) StorePage {
			t.Helper()
			before := counted.lists.Load()
			page, err := s.ListPage(ctx, c, req)
			if err != nil {
				t.Fatalf("ListPage(%s, %+v): %v", c.Name, req, err)
			}
			if got := counted.lists.Load() - before; got != wantReads {
				t.Errorf("ListPage(%s, %+v) read the database %d times, want %d", c.Name, req, got, wantReads)
			}
			return page
		}
		names := func(p StorePage) []string {
			var n []string
			for _, st := range p.Stores {
				n = append(n, st.Name+"="+string(st.Status))
			}
			return n
		}
		all := ListRequest{All: true}
		first := list(callerAdmin, all, 1)
		again := list(callerAdmin, all, 0)
		if !slices.Equal(names(again), names(first)) {
			t.Errorf("kept page %v, first read %v", names(again), names(first))
		}
		b1, err := first.JSON()
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := again.JSON()
		want, _ := json.Marshal(first.Stores)
		if string(b1) != string(want) || string(b2) != string(want) {
			t.Errorf("JSON of the kept page:\n%s\nwant\n%s", b2, want)
		}

		// Alice's own page is kept apart from the admin's.
		if got := names(list(callerAlice, ListRequest{}, 1)); !slices.Equal(got, []string{"a-shop=QUEUED", "c-shop=QUEUED"}) {
			t.Errorf("alice's page after the admin's was kept: %v", got)
		}
		list(callerAlice, ListRequest{}, 0)
		if _, err := s.ListPage(ctx, callerAlice, all); !errors.Is(err, ErrForbidden) {
			t.Errorf("alice asking for every store once the admin's page is kept: %v, want forbidden", err)
		}
		if _, err := s.ListPage(ctx, callerAlice, ListRequest{Owner: "bob"}); !errors.Is(err, ErrForbidden) {
			t.Errorf("alice asking for bob's stores: %v, want forbidden", err)
		}
		// Pages differ by size and position too.
		small := list(callerAdmin, ListRequest{All: true, Limit: 1}, 1)
		if len(small.Stores) != 1 || small.Continue == "" {
			t.Fatalf("page of 1: %v, continue %q", names(small), small.Continue)
		}
		if got := names(list(callerAdmin, ListRequest{All: true, Limit: 1, Continue: small.Continue}, 1)); !slices.Equal(got, []string{"b-shop=QUEUED"}) {
			t.Errorf("second page of 1: %v", got)
		}

		// Another replica's writes: an update, a create, a remove.
		st, err := other.DB.GetStore(ctx, "b-shop")
		if err != nil {
			t.Fatal(err)
		}
		st.Status = store.StatusReady
		if err := other.DB.UpdateStore(ctx, st); err != nil {
			t.Fatal(err)
		}
		if got := names(list(callerAdmin, all, 1)); !slices.Equal(got, []string{"a-shop=QUEUED", "b-shop=READY", "c-shop=QUEUED"}) {
			t.Errorf("after another replica's update: %v", got)
		}
		if b, _ := list(callerAdmin, all, 0).JSON(); !json.Valid(b) || string(b) == string(want) {
			t.Errorf("the JSON kept from before the update was served: %s", b)
		}
		if _, _, err := other.DB.CreateStore(ctx, store.Store{Name: "d-shop", Owner: "bob", Plan: "small", Namespace: "store-d-shop"}, "bob"); err != nil {
			t.Fatal(err)
		}
		if got := names(list(callerAdmin, all, 1)); len(got) != 4 || got[3] != "d-shop=QUEUED" {
			t.Errorf("after another replica's create: %v", got)
		}
		if err := other.DB.RemoveStore(ctx, "a-shop"); err != nil {
			t.Fatal(err)
		}
		if got := names(list(callerAlice, ListRequest{}, 1)); !slices.Equal(got, []string{"c-shop=QUEUED"}) {
			t.Errorf("alice's page after another replica's remove: %v", got)
		}

		// A request that brings the generation, read with its token (as
		// the server does), reads nothing more for a kept page; one that
		// brings a generation older than a change reads the page anew.
		if _, err := other.DB.CreateToken(ctx, store.Token{ID: "tok1", Owner: "admin", Admin: true, SecretHash: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		_, stale, err := other.DB.GetTokenSeeing(ctx, "tok1")
		if err != nil {
			t.Fatal(err)
		}
		gens := counted.gens.Load()
		list(callerAdmin, ListRequest{All: true, Generation: stale}, 1)
		list(callerAdmin, ListRequest{All: true, Generation: stale}, 0)
		if err := other.DB.RemoveStore(ctx, "b-shop"); err != nil {
			t.Fatal(err)
		}
		if got := names(list(callerAdmin, ListRequest{All: true}, 1)); slices.Contains(got, "b-shop=READY") {
			t.Errorf("page after another replica's remove: %v", got)
		}
		if got := names(list(callerAdmin, ListRequest{All: true, Generation: stale}, 1)); slices.Contains(got, "b-shop=READY") {
			t.Errorf("a request that read the generation before the remove got the page from before it: %v", got)
		}
		if n := counted.gens.Load() - gens; n != 1 {
			t.Errorf("%d generation reads, want 1 (by the one request that brought none)", n)
		}
	})
}

func keptStores(n int) []store.Store {
	s := make([]store.Store, n)
	for i := range s {
		s[i].Name = fmt.Sprintf("s%05d", i)
	}
	return s
}

// TestPageCache: requests for the same page at once read it once; a
// failed read is not kept, and those waiting for it read for themselves;
// a request that read an older generation neither gets nor keeps a page;
// and what is kept stays within maxKeptStores.
func TestPageCache(t *testing.T) {
	ctx := context.Background()
	var c pageCache

	var reads atomic.Int32
	release := make(chan struct{})
	read := func() (StorePage, error) {
		reads.Add(1)
		<-release
		return StorePage{Stores: keptStores(3)}, nil
	}
	var wg sync.WaitGroup
	got := make([]StorePage, 20)
	for i := range got {
		wg.Go(func() {
			p, err := c.page(ctx, "k", 1, read)
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		})
	}
	for reads.Load() == 0 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("20 requests for one page read it %d times, want 1", n)
	}
	for _, p := range got {
		if len(p.Stores) != 3 || p.kept != got[0].kept {
			t.Fatalf("a request got %+v", p)
		}
	}

	// A failed read: the waiters read for themselves, and nothing is kept.
	boom := errors.New("boom")
	started, fail := make(chan struct{}), make(chan struct{})
	var waiterReads atomic.Int32
	errc := make(chan error, 1)
	go func() {
		_, err := c.page(ctx, "f", 1, func() (StorePage, error) { close(started); <-fail; return StorePage{}, boom })
		errc <- err
	}()
	<-started
	done := make(chan StorePage)
	go func() {
		p, err := c.page(ctx, "f", 1, func() (StorePage, error) {
			waiterReads.Add(1)
			return StorePage{Stores: keptStores(1)}, nil
		})
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	for waiting := false; !waiting; runtime.Gosched() {
		c.mu.Lock()
		waiting = c.pages["f"].waiters == 1
		c.mu.Unlock()
	}
	close(fail)
	if err := <-errc; !errors.Is(err, boom) {
		t.Errorf("the failed read returned %v", err)
	}
	if p := <-done; len(p.Stores) != 1 || waiterReads.Load() != 1 {
		t.Errorf("the waiter read %d times and got %+v", waiterReads.Load(), p)
	}
	if _, err := c.page(ctx, "f", 1, func() (StorePage, error) { return StorePage{Stores: keptStores(2)}, nil }); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.page(ctx, "f", 1, func() (StorePage, error) { t.Error("a kept page was read again"); return StorePage{}, nil }); len(p.Stores) != 2 {
		t.Errorf("kept after a failure: %+v", p)
	}

	// An older generation is read, and not kept.
	if _, err := c.page(ctx, "k", 2, func() (StorePage, error) { return StorePage{Stores: keptStores(5)}, nil }); err != nil {
		t.Fatal(err)
	}
	p, _ := c.page(ctx, "k", 1, func() (StorePage, error) { return StorePage{Stores: keptStores(7)}, nil })
	if len(p.Stores) != 7 || p.kept != nil {
		t.Errorf("a request of generation 1 after 2 got %d stores, kept %v", len(p.Stores), p.kept != nil)
	}
	if p, _ := c.page(ctx, "k", 2, nil); len(p.Stores) != 5 {
		t.Errorf("generation 2's page: %d stores", len(p.Stores))
	}

	// The bound.
	for i := range 10 {
		if _, err := c.page(ctx, fmt.Sprint("big", i), 3, func() (StorePage, error) { return StorePage{Stores: keptStores(maxKeptStores / 3)}, nil }); err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		held := 0
		for _, p := range c.pages {
			held += len(p.page.Stores)
		}
		if held != c.stores || held > maxKeptStores || c.pages[fmt.Sprint("big", i)] == nil {
			t.Errorf("after page %d: %d stores held, %d counted, the newest kept: %v", i, held, c.stores, c.pages[fmt.Sprint("big", i)] != nil)
		}
		c.mu.Unlock()
	}
	if _, err := c.page(ctx, "huge", 3, func() (StorePage, error) { return StorePage{Stores: keptStores(maxKeptStores + 1)}, nil }); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	_, kept := c.pages["huge"]
	c.mu.Unlock()
	if kept {
		t.Error("a page of more than maxKeptStores was kept")
	}
}
