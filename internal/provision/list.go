package provision

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/urumi/urumi/internal/store"
)

// Page sizes of paged lists. A store list page is at most MaxPageSize
// stores, DefaultPageSize when the request names none (a page of 100
// encodes in a fraction of a millisecond; one of 500 took a shared
// two-core machine 25 ms at the 99th percentile under 200 requests a
// second); audit pages keep their own sizes (DefaultAuditPageSize,
// MaxAuditPageSize) for clients written before paging.
const (
	DefaultPageSize      = 100
	MaxPageSize          = 1000
	DefaultAuditPageSize = 100
	MaxAuditPageSize     = 10000
)

// ListRequest asks for one page of stores: the caller's by default, one
// owner's (Owner) or, for an admin, everyone's (All).
type ListRequest struct {
	Owner string
	All   bool
	// Status and Plan, when set, keep only the stores in that status or
	// on that plan.
	Status store.Status
	Plan   string
	// Limit is the page size, 1 to MaxPageSize; 0 means DefaultPageSize.
	Limit int
	// Continue is the previous page's Continue, empty for the first page.
	Continue string
	// Generation, when not 0, is the stores' generation (see
	// store.Stores.StoresGeneration) as the caller read it after the
	// request arrived, saving ListPage the read. It must be a number
	// the database gave: a page is kept under it.
	Generation int64
}

// StorePage is one page of stores in name order. Continue, when not
// empty, asks for the next page; stores created or deleted between pages
// never make one repeat or skip a store that lived throughout.
type StorePage struct {
	Stores   []store.Store
	Continue string

	kept *keptPage // set when the page is kept in memory (pagecache.go)
}

// ListPage returns one page of what List returns. A page asked for again
// while no store has changed comes from memory (see pageCache): its
// stores are shared, and must not be changed.
func (s *Service) ListPage(ctx context.Context, c Caller, req ListRequest) (StorePage, error) {
	owner, err := listOwner(c, req.Owner, req.All)
	if err != nil {
		return StorePage{}, err
	}
	limit, err := pageSize(req.Limit, DefaultPageSize, MaxPageSize)
	if err != nil {
		return StorePage{}, err
	}
	if req.Status != "" && !validStatus(req.Status) {
		return StorePage{}, errorf(ErrInvalid, "status %q is not one a store has: use one of %s", req.Status, statusNames())
	}
	if req.Plan != "" && ValidateName(req.Plan) != nil {
		return StorePage{}, errorf(ErrInvalid, "plan %q is invalid: use a plan's name", req.Plan)
	}
	scope := url.Values{"owner": {owner}}.Encode()
	if owner == "" {
		scope = "all"
	}
	if req.Status != "" || req.Plan != "" {
		scope += "&" + url.Values{"status": {string(req.Status)}, "plan": {req.Plan}}.Encode()
	}
	var after string
	if req.Continue != "" {
		tok, err := decodePageToken(req.Continue, "stores", scope)
		if err != nil {
			return StorePage{}, err
		}
		if ValidateName(tok.After) != nil {
			return StorePage{}, malformedToken()
		}
		after = tok.After
	}
	// The generation is read before the page: a page read after it is at
	// least as new, so keeping the page under it never keeps a stale one.
	gen := req.Generation
	if gen == 0 {
		if gen, err = s.DB.StoresGeneration(ctx); err != nil {
			return StorePage{}, fmt.Errorf("list stores: %w", err)
		}
	}
	key := fmt.Sprintf("%s\x00%s\x00%d", scope, after, limit)
	return s.pages.page(ctx, key, gen, func() (StorePage, error) {
		// One more than the page tells whether there is a next one.
		list, err := s.DB.ListStores(ctx, store.ListFilter{Owner: owner, Status: req.Status, Plan: req.Plan, After: after, Limit: limit + 1})
		if err != nil {
			return StorePage{}, fmt.Errorf("list stores: %w", err)
		}
		for i := range list {
			s.decorate(&list[i])
		}
		page := StorePage{Stores: list}
		if len(list) > limit {
			page.Stores = list[:limit]
			page.Continue = pageToken{List: "stores", Scope: scope, After: list[limit-1].Name}.encode()
		}
		return page, nil
	})
}

// listOwner applies who may list whose stores and returns the owner to
// filter by, "" for everyone's.
func listOwner(c Caller, owner string, all bool) (string, error) {
	switch {
	case all && !c.Admin:
		return "", errorf(ErrForbidden, "only an admin may list every owner's stores")
	case all:
		return "", nil
	case owner == "":
		owner = c.Name
	case owner != c.Name && !c.Admin:
		return "", errorf(ErrForbidden, "only an admin may list another owner's stores")
	}
	if err := ValidateOwner(owner); err != nil {
		return "", err
	}
	return owner, nil
}

func pageSize(limit, def, maxSize int) (int, error) {
	switch {
	case limit == 0:
		return def, nil
	case limit < 1 || limit > maxSize:
		return 0, errorf(ErrInvalid, "page size %d is invalid: use a number from 1 to %d", limit, maxSize)
	}
	return limit, nil
}

// pageToken is what a continue token holds: which list it continues, with
// which filter, and the position after the page it came with (the last
// store name, or the oldest audit entry's ID). It is opaque to clients
// (base64url of this JSON) but not secret: it names nothing the caller
// did not just receive, and every page is authorized afresh.
type pageToken struct {
	List   string `json:"l"`
	Scope  string `json:"s"`
	After  string `json:"a,omitempty"`
	Before int64  `json:"b,omitempty"`
}

// A token longer than this is not one urumi issued.
const maxTokenLen = 1024

func malformedToken() error {
	return errorf(ErrInvalid, "continue token is malformed: pass back the continue value of the previous page unchanged, or leave it out to start from the first page")
}

func (t pageToken) encode() string {
	b, _ := json.Marshal(t) // strings and an integer always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageToken reads a continue token, refusing one that is malformed
// or that continues another list or the same list with another filter.
func decodePageToken(s, list, scope string) (pageToken, error) {
	var t pageToken
	if len(s) > maxTokenLen {
		return t, malformedToken()
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, malformedToken()
	}
	if err := json.Unmarshal(b, &t); err != nil || t.List == "" {
		return t, malformedToken()
	}
	if t.List != list || t.Scope != scope {
		return t, errorf(ErrInvalid, "continue token belongs to another list or filter: repeat the request that returned it, with the same filters, or leave it out to start from the first page")
	}
	return t, nil
}

// storeStatuses are the statuses a store can be in, as users see them.
func storeStatuses() []store.Status {
	return []store.Status{store.StatusQueued, store.StatusProvisioning, store.StatusReady, store.StatusFailed,
		store.StatusDeleting, store.StatusUpgrading, store.StatusDegraded}
}

func validStatus(s store.Status) bool { return slices.Contains(storeStatuses(), s) }

func statusNames() string {
	names := make([]string, len(storeStatuses()))
	for i, s := range storeStatuses() {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
