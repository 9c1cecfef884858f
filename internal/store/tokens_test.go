package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		hash := bytes.Repeat([]byte{0xab}, 32)
		created, err := db.CreateToken(ctx, Token{ID: "tok1", Owner: "alice", SecretHash: hash})
		if err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		if created.CreatedAt.IsZero() || !created.LastUsedAt.IsZero() || !created.RevokedAt.IsZero() {
			t.Errorf("created = %+v", created)
		}
		if _, err := db.CreateToken(ctx, Token{ID: "tok1", Owner: "bob", SecretHash: hash}); err == nil {
			t.Error("CreateToken with a taken id succeeded")
		}
		if _, err := db.CreateToken(ctx, Token{ID: "tok2", Owner: "root", Admin: true, SecretHash: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateToken(ctx, Token{ID: "tok3", Owner: "root"}); err == nil {
			t.Error("CreateToken without a secret hash succeeded")
		}

		got, err := db.GetToken(ctx, "tok1")
		if err != nil || got.ID != "tok1" || got.Owner != "alice" || got.Admin || !bytes.Equal(got.SecretHash, hash) ||
			!got.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("GetToken = %+v, %v", got, err)
		}
		if _, err := db.GetToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetToken of a missing token: err = %v, want ErrNotFound", err)
		}

		if err := db.TouchToken(ctx, "tok1"); err != nil {
			t.Fatalf("TouchToken: %v", err)
		}
		if err := db.RevokeToken(ctx, "tok2"); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		revoked, _ := db.GetToken(ctx, "tok2")
		if err := db.RevokeToken(ctx, "tok2"); err != nil {
			t.Fatalf("second RevokeToken: %v", err)
		}
		for name, err := range map[string]error{
			"TouchToken":  db.TouchToken(ctx, "nope"),
			"RevokeToken": db.RevokeToken(ctx, "nope"),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s of a missing token: err = %v, want ErrNotFound", name, err)
			}
		}

		tokens, err := db.ListTokens(ctx)
		if err != nil || len(tokens) != 2 {
			t.Fatalf("ListTokens = %+v, %v", tokens, err)
		}
		byID := map[string]Token{}
		for _, tok := range tokens {
			byID[tok.ID] = tok
		}
		if tok := byID["tok1"]; tok.LastUsedAt.IsZero() || !tok.RevokedAt.IsZero() {
			t.Errorf("touched token = %+v", tok)
		}
		if tok := byID["tok2"]; !tok.Admin || tok.RevokedAt.IsZero() || !tok.RevokedAt.Equal(revoked.RevokedAt) {
			t.Errorf("revoked token = %+v, want revoked at %v (the first revocation)", tok, revoked.RevokedAt)
		}
	})
}

// TestGetTokenSeeing: the token as GetToken reads it, and the stores'
// generation as StoresGeneration reads it, from one statement.
func TestGetTokenSeeing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, tdb testDB) {
		ctx := context.Background()
		db := tdb.open(t, Options{})
		hash := bytes.Repeat([]byte{0xcd}, 32)
		if _, err := db.CreateToken(ctx, Token{ID: "tok1", Owner: "alice", Admin: true, SecretHash: hash}); err != nil {
			t.Fatal(err)
		}
		seen := func() int64 {
			t.Helper()
			tok, gen, err := db.GetTokenSeeing(ctx, "tok1")
			want, err2 := db.GetToken(ctx, "tok1")
			if err != nil || err2 != nil || tok.ID != want.ID || tok.Owner != want.Owner || !tok.Admin ||
				!bytes.Equal(tok.SecretHash, hash) || !tok.CreatedAt.Equal(want.CreatedAt) || !tok.RevokedAt.Equal(want.RevokedAt) {
				t.Fatalf("GetTokenSeeing = %+v, %v; GetToken = %+v, %v", tok, err, want, err2)
			}
			if now, err := db.StoresGeneration(ctx); err != nil || now != gen {
				t.Fatalf("GetTokenSeeing saw generation %d, StoresGeneration reads %d (%v)", gen, now, err)
			}
			return gen
		}
		before := seen()
		if _, _, err := db.CreateStore(ctx, newStore("shop", "alice"), "alice"); err != nil {
			t.Fatal(err)
		}
		if after := seen(); after <= before {
			t.Errorf("generation after a create: %d, before: %d", after, before)
		}
		if err := db.RevokeToken(ctx, "tok1"); err != nil {
			t.Fatal(err)
		}
		if tok, _, err := db.GetTokenSeeing(ctx, "tok1"); err != nil || tok.RevokedAt.IsZero() {
			t.Errorf("revoked token read as %+v, %v", tok, err)
		}
		if _, _, err := db.GetTokenSeeing(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetTokenSeeing of a missing token: err = %v, want ErrNotFound", err)
		}
	})
}
