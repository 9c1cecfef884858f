package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// principal is who a request's token speaks for.
type principal struct {
	tokenID string
	caller  provision.Caller
	// storesGen is the stores' generation, read with the token: a store
	// list can tell from it whether a page it keeps is current without
	// asking the database again.
	storesGen int64
}

type principalKey struct{}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// touchEvery spaces out writes of a token's last use.
const touchEvery = time.Minute

// authenticator checks bearer tokens, and limits per client IP the
// requests that have none (or a bad one), so that guessing tokens or
// hammering probes costs little.
type authenticator struct {
	tokens store.Tokens
	log    *slog.Logger
	perIPs *sharedLimiter

	mu      sync.Mutex
	touched map[string]time.Time
}

// newAuthenticator's per-IP limit is shared by the replicas on db; when the
// database cannot answer, each replica counts alone (see sharedLimiter).
func newAuthenticator(db store.DB, l Limits, log *slog.Logger) *authenticator {
	return &authenticator{
		tokens:  db,
		log:     log,
		perIPs:  newSharedLimiter(db, "ip/", rate.Limit(l.UnauthenticatedPerSecond), l.UnauthenticatedBurst, false, log),
		touched: map[string]time.Time{},
	}
}

var errUnauthorized = errorf(http.StatusUnauthorized, codeUnauthorized,
	"a valid API token is required: send \"Authorization: Bearer urumi_...\" (create one with `urumi token create --owner NAME`)")

// require lets only requests with a valid token through, with their
// principal in the context. Failed attempts count against the client IP's
// limit (429 once it is spent); a valid token is never held back by it, so
// clients behind one proxy do not lock each other out.
func (a *authenticator) require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.authenticate(r.Context(), r.Header.Get("Authorization"))
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
				ip := clientIP(r)
				if ok, wait, _ := a.perIPs.allow(r.Context(), ip); !ok {
					err = rateLimited(wait, "too many requests without a valid token from %s", ip)
				}
			}
			writeError(w, r, err)
			return
		}
		if info := requestInfoFrom(r.Context()); info != nil {
			info.actor, info.tokenID = p.caller.Name, p.tokenID
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// perIP limits an endpoint that needs no token.
func (a *authenticator) perIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientIP(r)
		if ok, wait, _ := a.perIPs.allow(r.Context(), ip); !ok {
			writeError(w, r, rateLimited(wait, "too many requests from %s", ip))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate resolves an Authorization header to its principal. Any
// token problem is the same 401, so a caller learns nothing about which
// token ids exist.
func (a *authenticator) authenticate(ctx context.Context, header string) (principal, error) {
	scheme, raw, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return principal{}, errUnauthorized
	}
	id, secret, ok := provision.ParseToken(strings.TrimSpace(raw))
	if !ok {
		return principal{}, errUnauthorized
	}
	t, gen, err := a.tokens.GetTokenSeeing(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, errUnauthorized
	}
	if err != nil {
		return principal{}, err
	}
	if subtle.ConstantTimeCompare(provision.TokenSecretHash(secret), t.SecretHash) != 1 || !t.RevokedAt.IsZero() {
		return principal{}, errUnauthorized
	}
	a.touch(ctx, id)
	return principal{tokenID: id, caller: provision.Caller{Name: t.Owner, Admin: t.Admin}, storesGen: gen}, nil
}

// touch records the token's use, at most once a minute per process.
func (a *authenticator) touch(ctx context.Context, id string) {
	now := time.Now()
	a.mu.Lock()
	last, seen := a.touched[id]
	if seen && now.Sub(last) < touchEvery {
		a.mu.Unlock()
		return
	}
	a.touched[id] = now
	a.mu.Unlock()
	if err := a.tokens.TouchToken(ctx, id); err != nil {
		a.log.Warn("record token use", "token", id, "err", err)
	}
}

// clientIP is the connection's peer address. Forwarding headers are not
// trusted: behind a proxy every client shares the proxy's limit.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func rateLimited(wait time.Duration, format string, args ...any) *apiError {
	e := errorf(http.StatusTooManyRequests, codeRateLimited, format, args...)
	e.retryAfter = max(wait, time.Second)
	e.msg += ": retry after " + e.retryAfter.Round(time.Second).String()
	return e
}
