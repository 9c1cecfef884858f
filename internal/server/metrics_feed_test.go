package server

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// TestChangeFeedMetrics: /metrics says whether the process follows the
// database's changes, and where token checks were answered.
func TestChangeFeedMetrics(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.PostgresDSN(t), store.Options{AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.CreateToken(ctx, store.Token{ID: "tok1", Owner: "alice", SecretHash: bytes.Repeat([]byte{1}, 32)}); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(db, nil)
	scrape := func() string { t.Helper(); return scrapeMetrics(t, m) }
	if got := scrape(); !strings.Contains(got, "urumi_change_feed_following 0\n") {
		t.Errorf("before following:\n%s", grepLines(got, "change_feed"))
	}

	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { db.FollowChanges(fctx, slog.New(slog.DiscardHandler)) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(scrape(), "urumi_change_feed_following 1\n"); {
		if time.Now().After(deadline) {
			t.Fatalf("the feed never reported following:\n%s", grepLines(scrape(), "change_feed"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 3 {
		if _, _, err := db.GetTokenSeeing(ctx, "tok1"); err != nil {
			t.Fatal(err)
		}
	}
	got := scrape()
	for _, want := range []string{`urumi_token_reads_total{from="database"} 1` + "\n", `urumi_token_reads_total{from="memory"} 2` + "\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("after three checks of one token, want %q in:\n%s", want, grepLines(got, "token_reads"))
		}
	}
}
