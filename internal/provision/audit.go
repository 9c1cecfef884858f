package provision

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/urumi/urumi/internal/store"
)

// Audit lists audit entries. A non-admin reads their own entries (asking
// for another actor's is forbidden, asking for none means theirs) and,
// asking for one of their stores, every entry of that store since it was
// created: what the reconciler, an admin or its jobs did to it too.
func (s *Service) Audit(ctx context.Context, c Caller, f store.AuditFilter) ([]store.AuditEntry, error) {
	f, err := s.auditScope(ctx, c, f)
	if err != nil {
		return nil, err
	}
	entries, err := s.DB.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return entries, nil
}

// auditScope narrows f to what c may read. An admin reads everything. A
// store's owner asking for that store reads its every entry since the
// store was created (not those of an earlier store of the same name,
// perhaps another owner's); anyone else reads only their own entries, so
// asking for another owner's store answers with their own entries about
// it, usually none.
func (s *Service) auditScope(ctx context.Context, c Caller, f store.AuditFilter) (store.AuditFilter, error) {
	if c.Admin {
		return f, nil
	}
	if f.Actor != "" && f.Actor != c.Name {
		return f, errorf(ErrForbidden, "only an admin may read another actor's audit entries")
	}
	if f.Store != "" && f.Actor == "" {
		st, err := s.DB.GetStore(ctx, f.Store)
		switch {
		case err == nil && st.Owner == c.Name:
			f.Since = st.CreatedAt
			return f, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return f, fmt.Errorf("get store %s: %w", f.Store, err)
		}
	}
	f.Actor = c.Name
	return f, nil
}

// AuditPage is one page of audit entries, oldest first. Pages go back in
// time: the first holds the newest entries, Continue asks for the ones
// before them. Entries appended meanwhile are newer than every page after
// the first, so they never make a page repeat or skip one.
type AuditPage struct {
	Entries  []store.AuditEntry
	Continue string
}

// ListAuditPage returns one page of what Audit returns: f.Limit is the page
// size (0: DefaultAuditPageSize, at most MaxAuditPageSize), cont the
// previous page's Continue or empty.
func (s *Service) ListAuditPage(ctx context.Context, c Caller, f store.AuditFilter, cont string) (AuditPage, error) {
	f, err := s.auditScope(ctx, c, f)
	if err != nil {
		return AuditPage{}, err
	}
	limit, err := pageSize(f.Limit, DefaultAuditPageSize, MaxAuditPageSize)
	if err != nil {
		return AuditPage{}, err
	}
	scope := url.Values{"store": {f.Store}, "actor": {f.Actor}}.Encode()
	f.Before = 0
	if cont != "" {
		tok, err := decodePageToken(cont, "audit", scope)
		if err != nil {
			return AuditPage{}, err
		}
		if tok.Before < 1 {
			return AuditPage{}, malformedToken()
		}
		f.Before = tok.Before
	}
	// One more than the page tells whether there is an older one.
	f.Limit = limit + 1
	entries, err := s.DB.ListAudit(ctx, f)
	if err != nil {
		return AuditPage{}, fmt.Errorf("list audit entries: %w", err)
	}
	page := AuditPage{Entries: entries}
	if len(entries) > limit {
		page.Entries = entries[1:]
		page.Continue = pageToken{List: "audit", Scope: scope, Before: page.Entries[0].ID}.encode()
	}
	return page, nil
}

// VerifyAudit checks the audit log's hash chain (admins only). A broken
// chain is a result with OK false, not an error.
func (s *Service) VerifyAudit(ctx context.Context, c Caller) (store.VerifyResult, error) {
	if !c.Admin {
		return store.VerifyResult{}, errorf(ErrForbidden, "only an admin may verify the audit log")
	}
	res, err := s.DB.VerifyAudit(ctx)
	if err != nil {
		return store.VerifyResult{}, fmt.Errorf("verify the audit log: %w", err)
	}
	return res, nil
}
