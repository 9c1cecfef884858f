package server

import (
	"net/http"
	"time"

	"github.com/urumi/urumi/internal/provision"
)

// The routes below serve the dashboard first, and any client as well: who
// the token is, every owner's quota, the audit log's verification and the
// fleet's figures. Each calls the provision function its CLI command calls.

// whoami is who a token speaks for.
type whoami struct {
	Name  string `json:"name"`
	Admin bool   `json:"admin"`
}

// handleWhoami says who the request's token speaks for, so a client can
// offer an admin's views to an admin only (the API decides, whatever it
// offers).
func handleWhoami() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := principalFrom(r.Context()).caller
		encode(w, http.StatusOK, whoami{Name: c.Name, Admin: c.Admin})
	})
}

// handleListQuotas lists owners' quotas with their use: every owner with a
// limit or a store for an admin, the caller's own otherwise.
func handleListQuotas(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		qs, err := svc.ListQuotas(r.Context(), principalFrom(r.Context()).caller)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, qs)
	})
}

// handleVerifyAudit checks the audit log's chain, as `urumi audit verify`
// does (admins only). A broken chain is a 200 with ok false: the check
// worked, and found the log altered.
func handleVerifyAudit(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := svc.VerifyAudit(r.Context(), principalFrom(r.Context()).caller)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, res)
	})
}

// handleStats answers the fleet's figures from the database (admins only).
func handleStats(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := svc.Stats(r.Context(), principalFrom(r.Context()).caller, time.Now())
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, st)
	})
}
