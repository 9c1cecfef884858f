package provision

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// BootstrapActor is the audit log's actor for a bootstrap token's
// registration: no person asked for it, the deployment did.
const BootstrapActor = "urumi-bootstrap"

// minBootstrapSecret is the shortest secret a bootstrap token may have
// (base64url of 24 random bytes): an operator writes this token by hand,
// and a guessable one would be an admin's.
const minBootstrapSecret = 32

// BootstrapOutcome says what BootstrapToken found.
type BootstrapOutcome string

const (
	// BootstrapRegistered: the token was new and is now an admin token.
	BootstrapRegistered BootstrapOutcome = "registered"
	// BootstrapKnown: the token was registered before (by this process
	// earlier, or another replica); nothing changed.
	BootstrapKnown BootstrapOutcome = "known"
	// BootstrapRevoked: the token was registered and later revoked; it
	// stays revoked.
	BootstrapRevoked BootstrapOutcome = "revoked"
)

// BootstrapToken registers tok, an API token an operator made (from a
// Secret, when urumi runs in a cluster), as an admin token acting as owner,
// unless its id is already known. Replicas starting together and restarts
// register it once and audit it once: the token's record and its audit
// entry are written in one transaction, which a replica that loses the race
// does not commit. A known id with another secret, or one that is not an
// admin's, is an error; a revoked one is left revoked. Neither tok nor its
// secret appears in any error.
func (s *Service) BootstrapToken(ctx context.Context, tok, owner string) (store.Token, BootstrapOutcome, error) {
	start := time.Now()
	tok = strings.TrimSpace(tok)
	id, secret, ok := ParseToken(tok)
	if !ok {
		return store.Token{}, "", errorf(ErrInvalid, "the bootstrap token is not an urumi API token: write it as urumi_<12 hex digits>_<secret>, "+
			"for example: printf 'urumi_%%s_%%s' \"$(openssl rand -hex 6)\" \"$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')\"")
	}
	if len(secret) < minBootstrapSecret {
		return store.Token{}, "", errorf(ErrInvalid, "the bootstrap token's secret (after its id) is %d characters: use at least %d random ones", len(secret), minBootstrapSecret)
	}
	if err := ValidateOwner(owner); err != nil {
		return store.Token{}, "", err
	}
	hash := TokenSecretHash(secret)
	for range 2 {
		t, err := s.DB.GetToken(ctx, id)
		switch {
		case err == nil:
			return knownBootstrap(t, hash)
		case !errors.Is(err, store.ErrNotFound):
			return store.Token{}, "", fmt.Errorf("look up bootstrap token %s: %w", id, err)
		}
		err = s.record(ctx, Caller{Name: BootstrapActor, Admin: true}, "token.bootstrap", "", "succeeded",
			fmt.Sprintf("token %s for owner %s (admin: true)", id, owner), start, func(tx store.DB) error {
				var err error
				t, err = tx.CreateToken(ctx, store.Token{ID: id, Owner: owner, Admin: true, SecretHash: hash})
				return err
			})
		if errors.Is(err, store.ErrNameTaken) {
			continue // another replica registered it meanwhile: judge its record
		}
		if err != nil {
			return store.Token{}, "", fmt.Errorf("register bootstrap token %s: %w", id, err)
		}
		return t, BootstrapRegistered, nil
	}
	return store.Token{}, "", fmt.Errorf("register bootstrap token %s: it was taken and then not found: try again", id)
}

func knownBootstrap(t store.Token, hash []byte) (store.Token, BootstrapOutcome, error) {
	switch {
	case subtle.ConstantTimeCompare(t.SecretHash, hash) != 1:
		return store.Token{}, "", errorf(ErrConflict, "the bootstrap token's id %s belongs to another token: make a bootstrap token with another id", t.ID)
	case !t.RevokedAt.IsZero():
		return t, BootstrapRevoked, nil
	case !t.Admin:
		return store.Token{}, "", errorf(ErrConflict, "the bootstrap token %s is registered, but not as an admin token: revoke it and make a new bootstrap token", t.ID)
	}
	return t, BootstrapKnown, nil
}
