package server

import (
	"net/http"
)

// addRoutes lists every route of the server. /openapi.json documents each
// of them (a test holds the two together).
func addRoutes(rt *router, d Deps) {
	svc := d.Service
	auth := newAuthenticator(svc.DB, d.Limits, d.Log)
	creates := newSharedLimiter(svc.DB, "create/", perMinute(d.Limits.CreatesPerMinute), d.Limits.CreatesPerMinute, true, d.Log)
	credentials := newSharedLimiter(svc.DB, "credentials/", perMinute(d.Limits.CredentialsPerMinute), d.Limits.CredentialsPerMinute, true, d.Log)
	body := d.Limits.MaxBodyBytes
	lists := listSlots()

	rt.handle("GET /{$}", handleIndex(svc.Plans))
	rt.handle("GET /ui/{file}", handleUIFile())
	rt.handle("GET /healthz", handleHealthz())
	rt.handle("GET /readyz", auth.perIP(handleReadyz(svc.DB, d.Checks)))
	rt.handle("GET /metrics", auth.perIP(d.Metrics.Handler()))
	rt.handle("GET /openapi.json", auth.perIP(handleOpenAPI()))

	rt.handle("POST /v1/stores", auth.require(handleCreateStore(svc, creates, body, d.Wake)))
	rt.handle("GET /v1/stores", auth.require(bounded(lists, handleListStores(svc))))
	rt.handle("GET /v1/stores/{name}", auth.require(handleGetStore(svc)))
	rt.handle("DELETE /v1/stores/{name}", auth.require(handleDeleteStore(svc, d.Wake)))
	rt.handle("POST /v1/stores/{name}/retry", auth.require(handleStoreJob(creates, body, d.Wake, svc.Retry)))
	rt.handle("POST /v1/stores/{name}/upgrade", auth.require(handleStoreJob(creates, body, d.Wake, svc.Upgrade)))
	rt.handle("POST /v1/stores/{name}/rollback", auth.require(handleStoreJob(creates, body, d.Wake, svc.Rollback)))
	rt.handle("POST /v1/stores/{name}/repair", auth.require(handleRepairStore(svc, d.Wake)))
	rt.handle("POST /v1/stores/{name}/adopt", auth.require(handleAdoptStore(svc, d.Kube, body, d.Wake)))
	rt.handle("POST /v1/stores/{name}/forget", auth.require(handleForgetStore(svc, d.Kube)))
	rt.handle("GET /v1/stores/{name}/history", auth.require(handleStoreHistory(svc)))
	rt.handle("GET /v1/stores/{name}/check", auth.require(handleCheckStore(svc, d.Kube)))
	rt.handle("POST /v1/stores/{name}/credentials", auth.require(handleStoreCredentials(svc, d.Kube, credentials)))
	rt.handle("POST /v1/stores/{name}/reset-password", auth.require(handleResetPassword(svc, d.Kube, credentials)))
	rt.handle("POST /v1/stores/{name}/backups", auth.require(handleCreateBackup(svc, d.Wake)))
	rt.handle("GET /v1/backups", auth.require(bounded(lists, handleListBackups(svc))))
	rt.handle("DELETE /v1/backups/{id}", auth.require(handleDeleteBackup(svc, d.Wake)))
	rt.handle("POST /v1/backups/{id}/restore", auth.require(handleRestoreBackup(svc, body, d.Wake)))
	rt.handle("POST /v1/backups/{id}/verify", auth.require(handleVerifyBackup(svc, d.Wake)))
	rt.handle("POST /v1/rollouts", auth.require(handleStartRollout(svc, body)))
	rt.handle("GET /v1/rollouts", auth.require(bounded(lists, handleListRollouts(svc))))
	rt.handle("GET /v1/rollouts/{id}", auth.require(handleGetRollout(svc)))
	rt.handle("GET /v1/audit", auth.require(bounded(lists, handleListAudit(svc))))
	rt.handle("GET /v1/audit/verify", auth.require(handleVerifyAudit(svc)))
	rt.handle("GET /v1/quotas", auth.require(bounded(lists, handleListQuotas(svc))))
	rt.handle("GET /v1/quotas/{owner}", auth.require(handleGetQuota(svc)))
	rt.handle("PUT /v1/quotas/{owner}", auth.require(handleSetQuota(svc, body)))
	rt.handle("GET /v1/whoami", auth.require(handleWhoami()))
	rt.handle("GET /v1/stats", auth.require(handleStats(svc)))
}

// router is a ServeMux that remembers its patterns (for the OpenAPI test)
// and answers unknown paths and wrong methods in the API's JSON error form.
type router struct {
	mux      *http.ServeMux
	patterns []string
}

func newRouter() *router { return &router{mux: http.NewServeMux()} }

func (rt *router) handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, h)
	rt.patterns = append(rt.patterns, pattern)
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, pattern := rt.mux.Handler(r); pattern == "" {
		// No route: the mux would answer 404, 405 (with Allow) or a
		// redirect to a cleaned path. Let it decide, then answer in JSON.
		rec := &captureWriter{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusNotFound:
			writeError(w, r, errorf(http.StatusNotFound, codeNotFound,
				"no such endpoint %s: see /openapi.json for the API", r.URL.Path))
		case http.StatusMethodNotAllowed:
			allow := rec.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, r, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed,
				"method %s is not allowed on %s: use %s", r.Method, r.URL.Path, allow))
		default:
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body)
		}
		return
	}
	rt.mux.ServeHTTP(w, r)
}

// captureWriter records what the mux's fallback handlers write.
type captureWriter struct {
	header http.Header
	status int
	body   []byte
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body = append(c.body, b...)
	return len(b), nil
}
