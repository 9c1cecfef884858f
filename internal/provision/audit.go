package provision

import (
	"context"
	"fmt"

	"github.com/urumi/urumi/internal/store"
)

// Audit lists audit entries. A non-admin reads only their own entries:
// asking for another actor's is forbidden, asking for none means theirs.
func (s *Service) Audit(ctx context.Context, c Caller, f store.AuditFilter) ([]store.AuditEntry, error) {
	if !c.Admin {
		if f.Actor != "" && f.Actor != c.Name {
			return nil, errorf(ErrForbidden, "only an admin may read another actor's audit entries")
		}
		f.Actor = c.Name
	}
	entries, err := s.DB.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return entries, nil
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
