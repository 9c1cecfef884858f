package provision

import (
	"context"
	"fmt"
	"time"

	"github.com/urumi/urumi/internal/store"
)

// Quota returns an owner's limit and use (default: the caller's). Owners
// may read their own; admins anyone's.
func (s *Service) Quota(ctx context.Context, c Caller, owner string) (store.Quota, error) {
	if owner == "" {
		owner = c.Name
	}
	if err := ValidateOwner(owner); err != nil {
		return store.Quota{}, err
	}
	if owner != c.Name && !c.Admin {
		return store.Quota{}, errorf(ErrForbidden, "only an admin may read another owner's quota")
	}
	q, err := s.DB.GetQuota(ctx, owner)
	if err != nil {
		return store.Quota{}, fmt.Errorf("get quota of %s: %w", owner, err)
	}
	return q, nil
}

// SetQuota changes an owner's store limit (admins only).
func (s *Service) SetQuota(ctx context.Context, c Caller, owner string, maxStores int) (store.Quota, error) {
	start := time.Now()
	if !c.Admin {
		return store.Quota{}, errorf(ErrForbidden, "only an admin may change quotas")
	}
	if err := ValidateOwner(owner); err != nil {
		return store.Quota{}, err
	}
	if maxStores < 0 {
		return store.Quota{}, errorf(ErrInvalid, "max stores must be 0 or more, not %d", maxStores)
	}
	var q store.Quota
	err := s.record(ctx, c, "quota.set", "", "succeeded", fmt.Sprintf("owner %s max-stores %d", owner, maxStores), start, func(tx store.DB) error {
		var err error
		if q, err = tx.SetQuota(ctx, owner, maxStores); err != nil {
			return fmt.Errorf("set quota of %s: %w", owner, err)
		}
		return nil
	})
	if err != nil {
		return store.Quota{}, err
	}
	return q, nil
}

// ListQuotas lists owners with a limit or with stores: all of them for an
// admin, the caller's own row otherwise.
func (s *Service) ListQuotas(ctx context.Context, c Caller) ([]store.Quota, error) {
	if !c.Admin {
		q, err := s.Quota(ctx, c, c.Name)
		if err != nil {
			return nil, err
		}
		return []store.Quota{q}, nil
	}
	qs, err := s.DB.ListQuotas(ctx)
	if err != nil {
		return nil, fmt.Errorf("list quotas: %w", err)
	}
	return qs, nil
}

// quotaExceeded is the error for an owner at their store limit, in words
// for whoever asked (the CLI adds how an admin raises it).
func (s *Service) quotaExceeded(ctx context.Context, owner string) error {
	msg := fmt.Sprintf("owner %q has reached their store limit", owner)
	if q, err := s.DB.GetQuota(ctx, owner); err == nil {
		msg = fmt.Sprintf("owner %q has %d of %d stores", owner, q.Used, q.MaxStores)
	}
	return errorf(ErrQuotaExceeded, "%s: delete a store, or ask an admin to raise the owner's store limit", msg)
}
