package server

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/urumi/urumi/internal/store"
)

func TestRolloutRoutes(t *testing.T) {
	h := newHarness(t, unlimited())
	ctx := context.Background()
	for _, name := range []string{"alice-one", "alice-two"} {
		st := h.createStore("alice", name)
		st.Status = store.StatusReady
		if err := h.db.UpdateStore(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	req := map[string]any{"owner": "alice", "canary": 1, "batchSize": 5, "maxFailures": 0}
	want(t, h.do("POST", "/v1/rollouts", "alice", req), http.StatusForbidden, codeForbidden)
	want(t, h.do("GET", "/v1/rollouts", "alice", nil), http.StatusForbidden, codeForbidden)
	want(t, h.do("POST", "/v1/rollouts", "", req), http.StatusUnauthorized, "")
	want(t, h.do("POST", "/v1/rollouts", "admin", map[string]any{"owner": "bob"}), http.StatusBadRequest, codeInvalid)
	want(t, h.do("POST", "/v1/rollouts", "admin", map[string]any{"batchSize": -2}), http.StatusBadRequest, codeInvalid)
	want(t, h.do("POST", "/v1/rollouts", "admin", map[string]any{"bogus": 1}), http.StatusBadRequest, "")

	r := h.do("POST", "/v1/rollouts", "admin", req)
	want(t, r, http.StatusAccepted, "")
	var ro store.Rollout
	r.decode(t, &ro)
	if ro.State != store.RolloutRunning || len(ro.Stores) != 2 || ro.Stores[0].Store != "alice-one" || ro.Stores[0].Wave != 0 || ro.Stores[1].Wave != 1 {
		t.Fatalf("started rollout: %+v", ro)
	}
	var got store.Rollout
	h.do("GET", "/v1/rollouts/"+strconv.FormatInt(ro.ID, 10), "admin", nil).decode(t, &got)
	if got.ID != ro.ID || len(got.Stores) != 2 {
		t.Errorf("GET rollout: %+v", got)
	}
	want(t, h.do("GET", "/v1/rollouts/"+strconv.FormatInt(ro.ID, 10), "alice", nil), http.StatusForbidden, codeForbidden)
	want(t, h.do("GET", "/v1/rollouts/999", "admin", nil), http.StatusNotFound, codeNotFound)
	want(t, h.do("GET", "/v1/rollouts/x1", "admin", nil), http.StatusBadRequest, codeInvalid)
	var list []store.Rollout
	h.do("GET", "/v1/rollouts", "admin", nil).decode(t, &list)
	if len(list) != 1 || list[0].ID != ro.ID {
		t.Errorf("GET rollouts: %+v", list)
	}
}
