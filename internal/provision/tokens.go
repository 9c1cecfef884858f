package provision

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

	"github.com/urumi/urumi/internal/store"
)

// API tokens read urumi_<id>_<secret>: the id (12 hex digits) finds the
// record, the secret (32 random bytes, base64url) is checked against the
// SHA-256 the database keeps. The prefix lets secret scanners spot leaks.
const (
	TokenPrefix   = "urumi_"
	tokenIDBytes  = 6
	tokenSecBytes = 32
	maxSecretLen  = 128
)

// ParseToken splits a token into its id and secret; ok is false for
// anything not of the token form.
func ParseToken(tok string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(tok, TokenPrefix)
	if !found {
		return "", "", false
	}
	id, secret, found = strings.Cut(rest, "_")
	if !found || len(id) != 2*tokenIDBytes || len(secret) == 0 || len(secret) > maxSecretLen {
		return "", "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", false
	}
	return id, secret, true
}

// FormatToken is the token a client sends for id and secret.
func FormatToken(id, secret string) string { return TokenPrefix + id + "_" + secret }

// TokenSecretHash is what the database keeps of a token's secret.
func TokenSecretHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// IssuedToken is a new token: the secret form is shown once, never stored.
type IssuedToken struct {
	Secret string `json:"token"`
	store.Token
}

// IssueToken creates an API token acting as owner (an admin token if
// admin). Only an admin may issue tokens.
func (s *Service) IssueToken(ctx context.Context, c Caller, owner string, admin bool) (IssuedToken, error) {
	start := time.Now()
	if !c.Admin {
		return IssuedToken{}, errorf(ErrForbidden, "only an admin may create API tokens")
	}
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
		var t store.Token
		err := s.record(ctx, c, "token.create", "", "succeeded", fmt.Sprintf("token %s for owner %s (admin: %t)", id, owner, admin), start, func(tx store.DB) error {
			var err error
			t, err = tx.CreateToken(ctx, store.Token{ID: id, Owner: owner, Admin: admin, SecretHash: TokenSecretHash(secret)})
			return err
		})
		if errors.Is(err, store.ErrNameTaken) {
			continue // an id collision: 1 in 2^48, try another
		}
		if err != nil {
			return IssuedToken{}, fmt.Errorf("create token for %s: %w", owner, err)
		}
		return IssuedToken{Secret: FormatToken(id, secret), Token: t}, nil
	}
	return IssuedToken{}, errors.New("generate token: no free id after 3 tries: try again")
}

// RevokeToken revokes token id for good. An admin may revoke any token, an
// owner their own; anyone else's is not found, so ids do not leak.
func (s *Service) RevokeToken(ctx context.Context, c Caller, id string) error {
	start := time.Now()
	t, err := s.DB.GetToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.Admin && t.Owner != c.Name) {
		return errorf(ErrNotFound, "token %q not found: list the tokens to find its id", id)
	}
	if err != nil {
		return fmt.Errorf("get token %s: %w", id, err)
	}
	return s.record(ctx, c, "token.revoke", "", "succeeded", "token "+id, start, func(tx store.DB) error {
		if err := tx.RevokeToken(ctx, id); err != nil {
			return fmt.Errorf("revoke token %s: %w", id, err)
		}
		return nil
	})
}

// ListTokens lists API tokens (never their secrets): every token for an
// admin, a caller's own otherwise.
func (s *Service) ListTokens(ctx context.Context, c Caller) ([]store.Token, error) {
	all, err := s.DB.ListTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	if c.Admin {
		return all, nil
	}
	own := []store.Token{}
	for _, t := range all {
		if t.Owner == c.Name {
			own = append(own, t)
		}
	}
	return own, nil
}
