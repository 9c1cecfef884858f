package server

import (
	"context"
	"net/http"

	"github.com/urumi/urumi/internal/provision"
)

// The store's administrator login: read, or reset to a new password. Both
// answer with the password, so neither may be cached anywhere, and both
// count against the token's credentials limit: a stolen token is not a
// way to read many stores' passwords at speed.

func handleStoreCredentials(svc *provision.Service, kube *provision.Kube, limiter *sharedLimiter) http.Handler {
	return handleCredentialsOp(svc, kube, limiter, func(ctx context.Context, c provision.Caller, name string) (any, error) {
		return svc.Credentials(ctx, c, kube, name)
	})
}

func handleResetPassword(svc *provision.Service, kube *provision.Kube, limiter *sharedLimiter) http.Handler {
	return handleCredentialsOp(svc, kube, limiter, func(ctx context.Context, c provision.Caller, name string) (any, error) {
		return svc.ResetPassword(ctx, c, kube, name)
	})
}

func handleCredentialsOp(svc *provision.Service, kube *provision.Kube, limiter *sharedLimiter,
	op func(ctx context.Context, c provision.Caller, name string) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		p := principalFrom(r.Context())
		ok, wait, err := limiter.allow(r.Context(), p.tokenID)
		switch {
		case err != nil:
			writeError(w, r, errorf(http.StatusServiceUnavailable, codeUnavailable,
				"credentials cannot be handed out for a moment (the rate limit cannot be checked): try again shortly"))
			return
		case !ok:
			writeError(w, r, rateLimited(wait, "this token may read or reset store passwords %g times per minute", float64(limiter.local.limit)*60))
			return
		}
		if kube == nil {
			// Who may see the store hears why; anyone else gets the 404
			// a get would give.
			if _, err := svc.Get(r.Context(), p.caller, name); err != nil {
				writeError(w, r, err)
				return
			}
			writeError(w, r, errorf(http.StatusServiceUnavailable, codeUnavailable, "this server has no cluster connection to read store credentials with"))
			return
		}
		res, err := op(r.Context(), p.caller, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, res)
	})
}
