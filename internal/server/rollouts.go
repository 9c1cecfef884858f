package server

import (
	"net/http"
	"strconv"

	"github.com/urumi/urumi/internal/provision"
)

// handleStartRollout records a fleet rollout for serve's rollout loop to
// drive. Admins only: the core refuses anyone else.
func handleStartRollout(svc *provision.Service, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := decode[provision.RolloutRequest](w, r, limit, true)
		if err != nil {
			writeError(w, r, err)
			return
		}
		ro, err := svc.StartRollout(r.Context(), principalFrom(r.Context()).caller, req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusAccepted, ro)
	})
}

func handleListRollouts(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := svc.ListRollouts(r.Context(), principalFrom(r.Context()).caller)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, list)
	})
}

func handleGetRollout(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := r.PathValue("id")
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			writeError(w, r, errorf(http.StatusBadRequest, codeInvalid, "rollout id %q is invalid: use the number POST /v1/rollouts answered", s))
			return
		}
		ro, err := svc.GetRollout(r.Context(), principalFrom(r.Context()).caller, id)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, ro)
	})
}
