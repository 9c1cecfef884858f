package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// followed starts db following its changes until the test ends, and
// waits until it listens.
func followed(t *testing.T, db DB) *changeFeed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); db.FollowChanges(ctx, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	f := db.(*sqlDB).feed
	eventually(t, "the change feed listens", func() bool { return f.stats().live })
	return f
}

// eventually polls cond for up to 20 s (notifications take a millisecond
// or so; a loaded machine, longer).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFollowChanges: while a PostgreSQL handle follows the database's
// change notifications, GetTokenSeeing answers from memory what the
// database would answer: at once for what this handle changed, as soon as
// the notification arrives for what another handle (another replica, the
// CLI) changed, and from the database while the notifications are down.
func TestFollowChanges(t *testing.T) {
	tdb := newPostgresDB(t)
	ctx := context.Background()
	db, other := tdb.open(t, Options{}), tdb.open(t, Options{})
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("tok%d", i)
		if _, err := other.CreateToken(ctx, Token{ID: id, Owner: "alice", SecretHash: bytes.Repeat([]byte{byte(i)}, 32)}); err != nil {
			t.Fatal(err)
		}
	}
	f := followed(t, db)

	// read reads id as a request would, and checks it against the
	// database as it is now.
	read := func(id string) (Token, int64) {
		t.Helper()
		tok, gen, err := db.GetTokenSeeing(ctx, id)
		if err != nil {
			t.Fatalf("GetTokenSeeing(%s): %v", id, err)
		}
		return tok, gen
	}
	truth := func(id string) (Token, int64) {
		t.Helper()
		tok, gen, err := other.(*sqlDB).getTokenSeeing(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return tok, gen
	}
	same := func(a, b Token) bool {
		return a.ID == b.ID && a.Owner == b.Owner && a.Admin == b.Admin && bytes.Equal(a.SecretHash, b.SecretHash) &&
			a.CreatedAt.Equal(b.CreatedAt) && a.RevokedAt.Equal(b.RevokedAt)
	}
	current := func(id string) bool {
		got, gen := read(id)
		want, wantGen := truth(id)
		return same(got, want) && gen == wantGen
	}
	hit := func(id string) bool {
		before := f.stats().hits
		read(id)
		return f.stats().hits > before
	}

	// The first read goes to the database and is kept; the next is
	// answered from memory.
	if hit("tok1") {
		t.Fatal("the first read of tok1 was answered from memory")
	}
	if !hit("tok1") || !current("tok1") {
		t.Fatalf("tok1 read again: not from memory, or not what the database says (%+v)", f.stats())
	}
	// What the answer hands out is a copy.
	tok, _ := read("tok1")
	tok.SecretHash[0] ^= 0xff
	if !current("tok1") {
		t.Fatal("changing a token read from memory changed what is kept")
	}

	// Another handle's changes arrive as notifications.
	if _, _, err := other.CreateStore(ctx, newStore("shop", "alice"), "alice"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "another handle's new store moves the generation on", func() bool { return current("tok1") })
	if !hit("tok1") {
		t.Error("after another handle's change, the generation is no longer answered from memory")
	}
	if err := other.RevokeToken(ctx, "tok1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "another handle's revocation is seen", func() bool { tok, _ := read("tok1"); return !tok.RevokedAt.IsZero() })
	if !current("tok1") {
		t.Error("the revoked token is not read as the database has it")
	}

	// This handle's own changes are seen at once, every time.
	read("tok2")
	for i := range 10 {
		shop, _, err := db.CreateStore(ctx, newStore(fmt.Sprintf("mine-%d", i), fmt.Sprint("owner-", i)), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !current("tok2") {
			t.Fatalf("create %d: the generation read just after it is not the database's", i)
		}
		shop.Status = StatusReady
		if err := db.Atomic(ctx, func(tx DB) error { return tx.UpdateStore(ctx, shop) }); err != nil {
			t.Fatal(err)
		}
		if !current("tok2") {
			t.Fatalf("update %d in a transaction: the generation read just after it is not the database's", i)
		}
	}
	eventually(t, "tok2 is answered from memory again", func() bool { return hit("tok2") })
	// In a transaction, as the service revokes (with its audit entry).
	if err := db.Atomic(ctx, func(tx DB) error {
		if err := tx.RevokeToken(ctx, "tok2"); err != nil {
			return err
		}
		// Read inside the transaction: from it, never kept.
		if tok, _, err := tx.GetTokenSeeing(ctx, "tok2"); err != nil || tok.RevokedAt.IsZero() {
			return fmt.Errorf("inside the transaction, tok2 reads %+v, %v", tok, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if tok, _ := read("tok2"); tok.RevokedAt.IsZero() {
		t.Fatal("a token revoked through this handle is still read as valid")
	}

	// Recording a token's use notifies nothing: it stays kept. (Notifications
	// arrive in commit order: once the later store change is seen, the
	// touch's would have been.)
	eventually(t, "tok3 is answered from memory", func() bool { return hit("tok3") })
	if err := other.TouchToken(ctx, "tok3"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.CreateStore(ctx, newStore("after-touch", "bob"), "alice"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the store created after the touch is seen", func() bool { return current("tok3") })
	if !hit("tok3") {
		t.Error("recording tok3's use made it be read from the database again")
	}

	// With the notifications down, the database answers; then they come
	// back by themselves.
	read("tok4")
	if !hit("tok4") {
		t.Fatal("tok4 is not answered from memory")
	}
	pid := f.stats().pid
	tdb.mustExec(t, other, `SELECT pg_terminate_backend($1)`, int64(pid))
	eventually(t, "the feed notices its connection is gone", func() bool { s := f.stats(); return !s.live || s.pid != pid })
	if err := other.RevokeToken(ctx, "tok4"); err != nil {
		t.Fatal(err)
	}
	if s := f.stats(); !s.live || s.pid == pid {
		// Not yet back (usually): the revocation is read from the database.
		if tok, _ := read("tok4"); tok.RevokedAt.IsZero() {
			t.Fatal("with the notifications down, a revocation by another handle is not seen")
		}
	}
	eventually(t, "the feed listens again", func() bool { s := f.stats(); return s.live && s.pid != pid })
	eventually(t, "tok4 is answered from memory again, revoked", func() bool {
		tok, _ := read("tok4")
		return hit("tok4") && !tok.RevokedAt.IsZero()
	})
	if !current("tok4") {
		t.Error("after the feed came back, tok4 is not what the database says")
	}
}

// TestChangeFeedRaces: a read that a change overtook keeps nothing, and
// notifications for other schemas, or not understood, do no harm.
func TestChangeFeedRaces(t *testing.T) {
	newFeed := func() *changeFeed {
		f := newChangeFeed(nil)
		f.setLive(true, "s", 1)
		return f
	}
	tok := Token{ID: "t1", Owner: "alice", SecretHash: []byte{1}}
	kept := func(f *changeFeed) (genKnown, tokenKept bool) {
		s := f.stats()
		return s.genKnown, s.tokens == 1
	}
	cases := []struct {
		name        string
		between     func(f *changeFeed)
		gen, tokens bool
	}{
		{"nothing", func(*changeFeed) {}, true, true},
		{"a local store write", func(f *changeFeed) { f.storesChanged() }, false, true},
		{"the token revoked here", func(f *changeFeed) { f.forget("t1") }, true, false},
		{"the token notified", func(f *changeFeed) { f.notified("s tt1") }, true, false},
		{"another token notified", func(f *changeFeed) { f.notified("s tt2") }, true, false},
		{"a generation notified", func(f *changeFeed) { f.notified("s g7") }, true, true},
		{"another schema's token", func(f *changeFeed) { f.notified("s2 tt1") }, true, true},
		{"a follower's echo", func(f *changeFeed) { f.notified("s p42.1") }, true, true},
		{"a payload not understood", func(f *changeFeed) { f.notified("s x") }, false, false},
		{"the connection lost", func(f *changeFeed) { f.setLive(false, "", 0) }, false, false},
		{"the connection lost and back", func(f *changeFeed) { f.setLive(false, "", 0); f.setLive(true, "s", 2) }, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFeed()
			m := f.mark()
			c.between(f)
			f.fill(m, tok, 5)
			if gen, tokens := kept(f); gen != c.gen || tokens != c.tokens {
				t.Errorf("kept generation: %v, token: %v; want %v, %v", gen, tokens, c.gen, c.tokens)
			}
		})
	}

	// The generation never goes back: a notification newer than a read
	// wins over it.
	f := newFeed()
	m := f.mark()
	f.notified("s g9")
	f.fill(m, tok, 5)
	if _, gen, ok := f.token("t1"); !ok || gen != 9 {
		t.Errorf("after a read of 5 and a notification of 9: generation %d (answered: %v), want 9", gen, ok)
	}
	f.notified("s g8")
	if _, gen, _ := f.token("t1"); gen != 9 {
		t.Errorf("a late notification of 8 moved the generation back to %d", gen)
	}
	// A schema whose name begins another's is not confused with it.
	f.notified("s2 g100")
	if _, gen, _ := f.token("t1"); gen != 9 {
		t.Errorf("schema s2's generation moved schema s's to %d", gen)
	}
	// No more than maxFollowedTokens are kept.
	for i := range maxFollowedTokens + 10 {
		f.fill(f.mark(), Token{ID: fmt.Sprint("x", i)}, 9)
	}
	if n := f.stats().tokens; n != maxFollowedTokens {
		t.Errorf("%d tokens kept, want at most %d", n, maxFollowedTokens)
	}
}

// TestFollowChangesSQLite: there is nothing to follow on SQLite, and
// FollowChanges says so by returning at once.
func TestFollowChangesSQLite(t *testing.T) {
	db := newSQLiteDB(t).open(t, Options{})
	done := make(chan struct{})
	go func() { db.FollowChanges(context.Background(), slog.New(slog.DiscardHandler)); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("FollowChanges on SQLite did not return")
	}
}
