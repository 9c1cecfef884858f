package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// changeChannel is the channel PostgreSQL notifies changes on (see
// migration 0010_change_notify).
const changeChannel = "urumi_changes"

// Follower timings: a quiet listening connection sends itself a
// notification, so that one lost without a word (a half-open TCP
// connection) is noticed; a lost one is dialled again with a growing
// pause.
const (
	followPing       = 10 * time.Second
	followPingWait   = 5 * time.Second
	followRetryFirst = 500 * time.Millisecond
	followRetryMax   = 30 * time.Second
)

// maxFollowedTokens bounds the tokens kept in memory; beyond it they are
// read from the database on each request, as without a follower.
const maxFollowedTokens = 10000

// changeFeed keeps in memory what every authenticated request reads: the
// tokens read so far and the stores' generation. While it listens to
// PostgreSQL's change notifications (FollowChanges), GetTokenSeeing
// answers from it with no round trip to the database.
//
// What it answers is as new as the notifications that have arrived:
//   - changes this process commits are seen at once: a write to a store
//     marks the generation unknown until it is read again, and a token
//     revoked here is forgotten once the revocation commits;
//   - changes other processes commit are seen when their notification
//     arrives, a millisecond or so after their commit;
//   - while the connection is down (and until its echo finds a silent
//     one dead, at most followPing+followPingWait), nothing is answered
//     from memory and everything kept is dropped.
//
// An entry is only kept from a read that no notification, local write or
// reconnection overtook while it was under way (the sequence numbers), so
// a read racing a change never keeps what the change replaced.
type changeFeed struct {
	cfg *pgx.ConnConfig

	mu       sync.Mutex
	live     bool   // listening: every change from now on is notified
	schema   string // whose notifications are ours
	pid      uint32 // the listening connection's server process
	epoch    uint64 // moves on whenever live changes
	gen      int64
	genKnown bool   // gen is what the database says, or older only by notifications in flight
	genSeq   uint64 // moves on when gen stops being known
	tokens   map[string]Token
	tokenSeq uint64 // moves on when a token is changed or forgotten
	hits     uint64
	misses   uint64
}

func newChangeFeed(cfg *pgx.ConnConfig) *changeFeed {
	return &changeFeed{cfg: cfg, tokens: map[string]Token{}}
}

// feedMark is where the feed stood when a read began.
type feedMark struct{ epoch, genSeq, tokenSeq uint64 }

// token answers GetTokenSeeing from memory, when it can.
func (f *changeFeed) token(id string) (Token, int64, bool) {
	if f == nil {
		return Token{}, 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.live && f.genKnown {
		if t, ok := f.tokens[id]; ok {
			f.hits++
			t.SecretHash = append([]byte(nil), t.SecretHash...)
			return t, f.gen, true
		}
	}
	f.misses++
	return Token{}, 0, false
}

func (f *changeFeed) mark() feedMark {
	if f == nil {
		return feedMark{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return feedMark{f.epoch, f.genSeq, f.tokenSeq}
}

// fill keeps what a read begun at m found, unless something overtook it.
func (f *changeFeed) fill(m feedMark, t Token, gen int64) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live || f.epoch != m.epoch {
		return
	}
	if f.genSeq == m.genSeq {
		// Notifications may have brought a newer one already.
		f.gen, f.genKnown = max(f.gen, gen), true
	}
	_, kept := f.tokens[t.ID]
	if f.tokenSeq == m.tokenSeq && (kept || len(f.tokens) < maxFollowedTokens) {
		t.SecretHash = append([]byte(nil), t.SecretHash...)
		f.tokens[t.ID] = t
	}
}

// storesChanged is called when this process has committed a change to a
// store: the generation is read again before it is answered from memory.
func (f *changeFeed) storesChanged() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.genKnown = false
	f.genSeq++
}

// forget drops a token this process or another changed.
func (f *changeFeed) forget(id string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, id)
	f.tokenSeq++
}

// setLive starts or ends answering from memory; either way what was kept
// is dropped (changes may have gone unnotified while not listening).
func (f *changeFeed) setLive(live bool, schema string, pid uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live, f.schema, f.pid = live, schema, pid
	f.epoch++
	f.genKnown = false
	f.genSeq++
	clear(f.tokens)
	f.tokenSeq++
}

// notified applies one notification's payload (see the migration).
func (f *changeFeed) notified(payload string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rest, ours := strings.CutPrefix(payload, f.schema+" ")
	if !ours {
		return // another schema's
	}
	switch {
	case strings.HasPrefix(rest, "t"):
		delete(f.tokens, rest[1:])
		f.tokenSeq++
		return
	case strings.HasPrefix(rest, "p"):
		return // a follower's echo (see listen)
	case strings.HasPrefix(rest, "g"):
		if n, err := strconv.ParseInt(rest[1:], 10, 64); err == nil {
			f.gen = max(f.gen, n)
			return
		}
	}
	// Not understood (a schema name that is a prefix of another's and
	// a space): forget everything rather than keep what it may change.
	f.genKnown = false
	f.genSeq++
	clear(f.tokens)
	f.tokenSeq++
}

// FeedStats is what the change feed has done: whether it follows the
// database's changes now, and how many times GetTokenSeeing answered
// from memory and from the database.
type FeedStats struct {
	Following    bool
	FromMemory   uint64
	FromDatabase uint64
}

// FeedStats reports the change feed (see FollowChanges); on SQLite it
// never follows, and every read is from the database (not counted).
func (d *sqlDB) FeedStats() FeedStats {
	s := d.feed.stats()
	return FeedStats{Following: s.live, FromMemory: s.hits, FromDatabase: s.misses}
}

// feedStats is what the tests look at: GetTokenSeeing's answers from
// memory (hits) and from the database (misses), and what is kept.
type feedStats struct {
	live         bool
	pid          uint32
	hits, misses uint64
	tokens       int
	gen          int64
	genKnown     bool
}

func (f *changeFeed) stats() feedStats {
	if f == nil {
		return feedStats{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return feedStats{live: f.live, pid: f.pid, hits: f.hits, misses: f.misses, tokens: len(f.tokens), gen: f.gen, genKnown: f.genKnown}
}

// FollowChanges listens to PostgreSQL's change notifications until ctx
// ends, so that GetTokenSeeing answers from memory (see changeFeed). A
// lost connection is dialled again; until it is back, requests read the
// database as they would without it. On SQLite it returns at once: a read
// there costs no round trip.
func (d *sqlDB) FollowChanges(ctx context.Context, log *slog.Logger) {
	f := d.feed
	if f == nil {
		return
	}
	pause := followRetryFirst
	for {
		began := time.Now()
		err := f.listen(ctx, log)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			pause = followRetryFirst
		}
		log.Warn("not following the database's changes: tokens and the stores' generation are read on every request until it is back",
			"err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, followRetryMax)
	}
}

// listen follows one connection until it fails or ctx ends.
func (f *changeFeed) listen(ctx context.Context, log *slog.Logger) error {
	cfg := f.cfg.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, set := cfg.RuntimeParams["application_name"]; !set {
		cfg.RuntimeParams["application_name"] = "urumi change feed"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		f.setLive(false, "", 0)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), followPingWait)
		defer cancel()
		conn.Close(cctx) //nolint:errcheck // the connection is dropped either way
	}()
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("read the schema: %w", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+changeChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The notifications' path is proven before anything is answered from
	// memory, and again whenever it has been quiet: a notification the
	// connection sends itself must come back. (Behind a connection
	// pooler in transaction mode LISTEN is accepted but notifications
	// never arrive: the feed then stays off, with a warning, rather than
	// answer what is no longer so.)
	pid := conn.PgConn().PID()
	echoes := 0
	echo := func() error {
		echoes++
		want := fmt.Sprintf("%s p%d.%d", schema, pid, echoes)
		ectx, cancel := context.WithTimeout(ctx, followPingWait)
		defer cancel()
		if _, err := conn.Exec(ectx, `SELECT pg_notify($1, $2)`, changeChannel, want); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		for {
			n, err := conn.WaitForNotification(ectx)
			if err != nil {
				return fmt.Errorf("a notification sent on the listening connection did not come back within %s "+
					"(a connection pooler in transaction mode loses them: connect to PostgreSQL directly or in session mode): %w",
					followPingWait, err)
			}
			if n.Payload == want {
				return nil
			}
			f.notified(n.Payload)
		}
	}
	if err := echo(); err != nil {
		return err
	}
	// Every change committed from here on is notified: what is read
	// from now can be kept.
	f.setLive(true, schema, pid)
	log.Info("following the database's changes: tokens and the stores' generation are answered from memory", "schema", schema)
	for {
		wctx, cancel := context.WithTimeout(ctx, followPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			f.notified(n.Payload)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("wait for a notification: %w", err)
		}
		if err := echo(); err != nil {
			return err
		}
	}
}
