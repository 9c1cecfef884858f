package server

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

//go:embed openapi.json
var openapiJSON []byte

func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(openapiJSON)
	})
}

// health is the body of /healthz.
type health struct {
	Status string `json:"status"`
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		encode(w, http.StatusOK, health{Status: "ok"})
	})
}

// readiness is the body of /readyz: every check, and in general words why
// one failed. Anyone may ask, so the detail (addresses, dial errors) goes
// only to the server's log, with the request.
type readiness struct {
	Ready  bool          `json:"ready"`
	Checks []checkResult `json:"checks"`
}

type checkResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// handleReadyz runs the database's and the other checks side by side, each
// within checkTimeout, and answers 503 if any fails.
func handleReadyz(db store.DB, checks []Check) http.Handler {
	all := append([]Check{{Name: "database", Check: db.Ping}}, checks...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := readiness{Ready: true, Checks: make([]checkResult, len(all))}
		errs := make([]error, len(all))
		var wg sync.WaitGroup
		for i, c := range all {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
				defer cancel()
				res.Checks[i] = checkResult{Name: c.Name, OK: true}
				if err := c.Check(ctx); err != nil {
					res.Checks[i] = checkResult{Name: c.Name, Error: checkFailure(ctx, err)}
					errs[i] = fmt.Errorf("readiness check %s: %w", c.Name, err)
				}
			})
		}
		wg.Wait()
		status := http.StatusOK
		for _, c := range res.Checks {
			if !c.OK {
				res.Ready, status = false, http.StatusServiceUnavailable
			}
		}
		if info := requestInfoFrom(r.Context()); info != nil {
			info.err = errors.Join(errs...)
		}
		encode(w, status, res)
	})
}

// checkFailure says why a check failed without its detail.
func checkFailure(ctx context.Context, err error) string {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return "timed out"
	}
	return "not reachable"
}

// ClusterCheck is the readiness check of the cluster: its API server
// answers /version within the check's timeout.
func ClusterCheck(k *provision.Kube) Check {
	return Check{Name: "cluster", Check: func(ctx context.Context) error {
		rc := k.Client.Discovery().RESTClient()
		if rc == nil {
			_, err := k.Client.Discovery().ServerVersion()
			return err
		}
		return rc.Get().AbsPath("/version").Do(ctx).Error()
	}}
}
