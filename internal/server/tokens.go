package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// API tokens read urumi_<id>_<secret>: the id (12 hex digits) finds the
// record, the secret (32 random bytes, base64url) is checked against the
// SHA-256 the database keeps. The prefix lets secret scanners spot leaks.
const (
	tokenPrefix   = "urumi_"
	tokenIDBytes  = 6
	tokenSecBytes = 32
)

// parseToken splits a token into id and secret.
func parseToken(tok string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(tok, tokenPrefix)
	if !found {
		return "", "", false
	}
	id, secret, found = strings.Cut(rest, "_")
	if !found || len(id) != 2*tokenIDBytes || len(secret) == 0 || len(secret) > 128 {
		return "", "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", false
	}
	return id, secret, true
}

// IssuedToken is a new token: the secret form is shown once, never stored.
type IssuedToken struct {
	Secret string `json:"token"`
	store.Token
}

// IssueToken creates an API token for owner (an admin token if admin) and
// audits it with actor as the one who asked.
func IssueToken(ctx context.Context, db store.DB, actor, owner string, admin bool) (IssuedToken, error) {
	if err := ValidateOwner(owner); err != nil {
		return IssuedToken{}, err
	}
	for range 3 {
		idb := make([]byte, tokenIDBytes)
		secb := make([]byte, tokenSecBytes)
		if _, err := rand.Read(idb); err != nil {
			return IssuedToken{}, fmt.Errorf("generate token: %w", err)
		}
		if _, err := rand.Read(secb); err != nil {
			return IssuedToken{}, fmt.Errorf("generate token: %w", err)
		}
		id, secret := hex.EncodeToString(idb), base64.RawURLEncoding.EncodeToString(secb)
		sum := sha256.Sum256([]byte(secret))
		t, err := db.CreateToken(ctx, store.Token{ID: id, Owner: owner, Admin: admin, SecretHash: sum[:]})
		if errors.Is(err, store.ErrNameTaken) {
			continue // an id collision: 1 in 2^48, try another
		}
		if err != nil {
			return IssuedToken{}, err
		}
		auditToken(ctx, db, actor, "token.create", fmt.Sprintf("token %s for owner %s (admin: %t)", id, owner, admin))
		return IssuedToken{Secret: tokenPrefix + id + "_" + secret, Token: t}, nil
	}
	return IssuedToken{}, errors.New("generate token: no free id after 3 tries")
}

// RevokeToken revokes token id for good and audits it.
func RevokeToken(ctx context.Context, db store.DB, actor, id string) error {
	if err := db.RevokeToken(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return kindErrorf(provision.ErrNotFound, "token %q not found (see `urumi token list`)", id)
		}
		return err
	}
	auditToken(ctx, db, actor, "token.revoke", "token "+id)
	return nil
}

func auditToken(ctx context.Context, db store.DB, actor, action, detail string) {
	_, _ = db.AppendAudit(ctx, store.AuditEntry{
		Time: time.Now(), Actor: actor, Action: action, Outcome: "succeeded", Detail: detail,
	})
}

// MaxOwnerLen bounds owner names.
const MaxOwnerLen = 64

// ValidateOwner checks an owner name for a token: it becomes the actor of
// the audit log and a label on the owner's namespaces.
func ValidateOwner(owner string) error {
	ok := owner != "" && len(owner) <= MaxOwnerLen
	for _, c := range owner {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.@+", c)) {
			ok = false
			break
		}
	}
	if !ok {
		return kindErrorf(provision.ErrInvalid, "owner %q is invalid: use 1-%d letters, digits and - _ . @ +", owner, MaxOwnerLen)
	}
	return nil
}

// kindError is an error of one of provision's kinds (errors.Is holds) whose
// message is only its own text, as provision's errors are.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string   { return e.msg }
func (e *kindError) Unwrap() []error { return []error{e.kind} }

func kindErrorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
