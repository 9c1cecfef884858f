package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// Every handler calls the provision.Service function the matching CLI
// command calls, as the token's owner.

func handleCreateStore(svc *provision.Service, creates *sharedLimiter, limit int64, wake func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalFrom(r.Context())
		if err := allowCreate(r, creates, "create"); err != nil {
			writeError(w, r, err)
			return
		}
		req, err := decode[provision.CreateRequest](w, r, limit, false)
		if err != nil {
			writeError(w, r, err)
			return
		}
		st, _, err := svc.Create(r.Context(), p.caller, req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		wake()
		w.Header().Set("Location", "/v1/stores/"+url.PathEscape(st.Name))
		encode(w, http.StatusAccepted, st)
	})
}

// allowCreate counts a create or retry against the token's limit; what
// names what the token may do, for the refusal.
func allowCreate(r *http.Request, creates *sharedLimiter, what string) error {
	ok, wait, err := creates.allow(r.Context(), principalFrom(r.Context()).tokenID)
	switch {
	case err != nil:
		return errLimitUnavailable
	case !ok:
		return rateLimited(wait, "this token may %s %s", what, creates.local.describe())
	}
	return nil
}

func handleListStores(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		owner := q.Get("owner")
		if err := checkParam("owner", owner); err != nil {
			writeError(w, r, err)
			return
		}
		all := false
		if s := q.Get("all"); s != "" {
			var err error
			if all, err = strconv.ParseBool(s); err != nil {
				writeError(w, r, errorf(http.StatusBadRequest, codeInvalid, "all=%q is not a boolean: use all=true or all=false", s))
				return
			}
		}
		if all && owner != "" {
			writeError(w, r, errorf(http.StatusBadRequest, codeInvalid, "owner and all=true cannot be used together"))
			return
		}
		limit, err := limitParam(q, provision.MaxPageSize)
		if err != nil {
			writeError(w, r, err)
			return
		}
		status, plan := q.Get("status"), q.Get("plan")
		for _, p := range [][2]string{{"status", status}, {"plan", plan}} {
			if err := checkParam(p[0], p[1]); err != nil {
				writeError(w, r, err)
				return
			}
		}
		p := principalFrom(r.Context())
		page, err := svc.ListPage(r.Context(), p.caller, provision.ListRequest{Owner: owner, All: all, Status: store.Status(status),
			Plan: plan, Limit: limit, Continue: q.Get("continue"), Generation: p.storesGen})
		if err != nil {
			writeError(w, r, err)
			return
		}
		// A page asked for again is sent compressed, to clients that
		// take it: a page of 100 stores shrinks to a small fraction.
		w.Header().Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header) {
			if gz, ok := page.Gzipped(); ok {
				setContinue(w, page.Continue)
				writeGzippedJSON(w, http.StatusOK, gz)
				return
			}
		}
		b, err := page.JSON()
		if err != nil {
			writeError(w, r, err)
			return
		}
		setContinue(w, page.Continue)
		writeJSON(w, http.StatusOK, b)
	})
}

func handleGetStore(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		st, err := svc.Get(r.Context(), principalFrom(r.Context()).caller, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, st)
	})
}

// handleCheckStore compares the store with what urumi made, as `urumi
// store check` does; owners check their own stores, admins any.
func handleCheckStore(svc *provision.Service, kube *provision.Kube) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		c := principalFrom(r.Context()).caller
		if kube == nil {
			// Who may see the store hears why it cannot be checked;
			// anyone else gets the 404 a get would give.
			if _, err := svc.Get(r.Context(), c, name); err != nil {
				writeError(w, r, err)
				return
			}
			writeError(w, r, errorf(http.StatusServiceUnavailable, codeUnavailable, "this server has no cluster connection to check stores with"))
			return
		}
		report, err := svc.Check(r.Context(), c, kube, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, report)
	})
}

func handleDeleteStore(svc *provision.Service, wake func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		st, _, err := svc.Delete(r.Context(), principalFrom(r.Context()).caller, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		wake()
		encode(w, http.StatusAccepted, st)
	})
}

// handleStoreJob is a POST that queues a job running a store's Helm
// release and its setup Job again (retry, upgrade, rollback): counted
// against the token's create limit, as a create is, with an optional JSON
// body req. Every such route calls the provision function its CLI command
// calls.
func handleStoreJob[T any](creates *sharedLimiter, limit int64, wake func(),
	queue func(ctx context.Context, c provision.Caller, name string, req T) (store.Store, store.Job, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		if err := allowCreate(r, creates, "create, retry, upgrade or roll back"); err != nil {
			writeError(w, r, err)
			return
		}
		req, err := decode[T](w, r, limit, true)
		if err != nil {
			writeError(w, r, err)
			return
		}
		st, _, err := queue(r.Context(), principalFrom(r.Context()).caller, name, req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		wake()
		encode(w, http.StatusAccepted, st)
	})
}

// handleRepairStore queues a repair of a store (admins only; owners get 403).
func handleRepairStore(svc *provision.Service, wake func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		st, _, err := svc.Repair(r.Context(), principalFrom(r.Context()).caller, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		wake()
		encode(w, http.StatusAccepted, st)
	})
}

// adoptBody is an adopt request's body; the name is the path's.
type adoptBody struct {
	Owner string   `json:"owner,omitempty"`
	Plan  string   `json:"plan,omitempty"`
	Set   []string `json:"set,omitempty"`
}

// handleAdoptStore records a store for an orphan namespace (admins only).
func handleAdoptStore(svc *provision.Service, k *provision.Kube, limit int64, wake func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		req, err := decode[adoptBody](w, r, limit, true)
		if err != nil {
			writeError(w, r, err)
			return
		}
		st, _, err := svc.Adopt(r.Context(), principalFrom(r.Context()).caller, k,
			provision.AdoptRequest{Name: name, Owner: req.Owner, Plan: req.Plan, Set: req.Set})
		if err != nil {
			writeError(w, r, err)
			return
		}
		wake()
		encode(w, http.StatusAccepted, st)
	})
}

// handleForgetStore closes the record of a store whose namespace is gone
// (admins only).
func handleForgetStore(svc *provision.Service, k *provision.Kube) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		st, err := svc.Forget(r.Context(), principalFrom(r.Context()).caller, k, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, st)
	})
}

func handleStoreHistory(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := provision.ValidateName(name); err != nil {
			writeError(w, r, err)
			return
		}
		revs, err := svc.History(r.Context(), principalFrom(r.Context()).caller, name)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, revs)
	})
}

// continueHeader carries the token of a list's next page. The lists' JSON
// is an array, as before paging, so the token cannot be a field of it; a
// header keeps every client written before paging working (they read the
// first page: the newest audit entries, or the first stores by name).
const continueHeader = "Urumi-Continue"

// setContinue sends the next page's token, if there is a next page.
func setContinue(w http.ResponseWriter, token string) {
	if token != "" {
		w.Header().Set(continueHeader, token)
	}
}

// limitParam reads the page size, 0 when not given (the list's default).
func limitParam(q url.Values, maxSize int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxSize {
		return 0, errorf(http.StatusBadRequest, codeInvalid, "limit=%q is invalid: use a number from 1 to %d", s, maxSize)
	}
	return n, nil
}

func handleListAudit(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := store.AuditFilter{Store: q.Get("store"), Actor: q.Get("actor")}
		for _, p := range [][2]string{{"store", f.Store}, {"actor", f.Actor}} {
			if err := checkParam(p[0], p[1]); err != nil {
				writeError(w, r, err)
				return
			}
		}
		var err error
		if f.Limit, err = limitParam(q, provision.MaxAuditPageSize); err != nil {
			writeError(w, r, err)
			return
		}
		page, err := svc.ListAuditPage(r.Context(), principalFrom(r.Context()).caller, f, q.Get("continue"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		setContinue(w, page.Continue)
		encode(w, http.StatusOK, page.Entries)
	})
}

func handleGetQuota(svc *provision.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := svc.Quota(r.Context(), principalFrom(r.Context()).caller, r.PathValue("owner"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, q)
	})
}

// setQuotaRequest is the body of PUT /v1/quotas/{owner}.
type setQuotaRequest struct {
	MaxStores *int `json:"maxStores"`
}

func handleSetQuota(svc *provision.Service, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		owner := r.PathValue("owner")
		req, err := decode[setQuotaRequest](w, r, limit, false)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if req.MaxStores == nil {
			writeError(w, r, errorf(http.StatusBadRequest, codeInvalid, `maxStores is required: send {"maxStores": N}`))
			return
		}
		q, err := svc.SetQuota(r.Context(), principalFrom(r.Context()).caller, owner, *req.MaxStores)
		if err != nil {
			writeError(w, r, err)
			return
		}
		encode(w, http.StatusOK, q)
	})
}

// checkParam rejects query values no name can have (invalid UTF-8, control
// characters, huge), which some databases refuse with an error of theirs.
func checkParam(name, v string) error {
	bad := len(v) > 256 || !utf8.ValidString(v)
	for _, c := range v {
		if unicode.IsControl(c) {
			bad = true
		}
	}
	if bad {
		return errorf(http.StatusBadRequest, codeInvalid, "%s=%q is invalid: use printable text of up to 256 bytes", name, v)
	}
	return nil
}
