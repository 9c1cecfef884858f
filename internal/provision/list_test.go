package provision

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/urumi/urumi/internal/store"
)

func TestListPage(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		var all, alice []string
		for _, owner := range []string{"alice", "bob", "carol"} {
			for i := range 5 {
				name := fmt.Sprintf("%s-%d", owner[:1]+"shop", 4-i)
				if _, _, err := s.DB.CreateStore(ctx, store.Store{Name: name, Owner: owner, Plan: "small", Namespace: "store-" + name}, owner); err != nil {
					t.Fatal(err)
				}
				all = append(all, name)
				if owner == "alice" {
					alice = append(alice, name)
				}
			}
		}
		slices.Sort(all)
		slices.Sort(alice)
		follow := func(c Caller, req ListRequest) (names []string, tokens []string) {
			t.Helper()
			for {
				page, err := s.ListPage(ctx, c, req)
				if err != nil {
					t.Fatalf("ListPage(%+v): %v", req, err)
				}
				if req.Limit > 0 && len(page.Stores) > req.Limit {
					t.Fatalf("page of %d stores, limit %d", len(page.Stores), req.Limit)
				}
				for _, st := range page.Stores {
					names = append(names, st.Name)
				}
				if page.Continue == "" {
					return names, tokens
				}
				tokens = append(tokens, page.Continue)
				req.Continue = page.Continue
			}
		}
		got, tokens := follow(callerAdmin, ListRequest{All: true, Limit: 4})
		if !slices.Equal(got, all) {
			t.Errorf("admin's pages: %v, want %v", got, all)
		}
		if len(tokens) != 3 { // 15 stores: 4+4+4+3, no empty last page
			t.Errorf("%d continue tokens for 15 stores in pages of 4, want 3", len(tokens))
		}
		if got, _ := follow(callerAlice, ListRequest{Limit: 2}); !slices.Equal(got, alice) {
			t.Errorf("alice's pages: %v, want %v", got, alice)
		}
		if got, toks := follow(callerAlice, ListRequest{}); !slices.Equal(got, alice) || len(toks) != 0 {
			t.Errorf("alice's default page: %v (%d more), want %v in one", got, len(toks), alice)
		}

		// A token continues the list it came from only.
		bad := []struct {
			c    Caller
			req  ListRequest
			want string
		}{
			{callerAdmin, ListRequest{Owner: "alice", Continue: tokens[0]}, "another list or filter"},
			{callerBob, ListRequest{Continue: tokens[0]}, "another list or filter"},
			{callerAdmin, ListRequest{All: true, Continue: "not a token!"}, "malformed"},
			{callerAdmin, ListRequest{All: true, Continue: base64.RawURLEncoding.EncodeToString([]byte(`{"l":"stores","s":"all","a":"../x"}`))}, "malformed"},
			{callerAdmin, ListRequest{All: true, Continue: base64.RawURLEncoding.EncodeToString([]byte(`[1]`))}, "malformed"},
			{callerAdmin, ListRequest{All: true, Continue: strings.Repeat("A", 2000)}, "malformed"},
			{callerAdmin, ListRequest{All: true, Limit: MaxPageSize + 1}, "page size"},
			{callerAdmin, ListRequest{All: true, Limit: -1}, "page size"},
			{callerAlice, ListRequest{All: true}, "only an admin"},
		}
		for _, b := range bad {
			_, err := s.ListPage(ctx, b.c, b.req)
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Errorf("ListPage(%s, %+v) = %v, want an error containing %q", b.c.Name, b.req, err, b.want)
			}
		}
		_, err := s.ListPage(ctx, callerAdmin, ListRequest{All: true, Continue: "!"})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("malformed token: %v, want ErrInvalid", err)
		}
	})
}

func TestListAuditPage(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		var aliceIDs []int64
		for i := range 9 {
			actor := []string{"alice", "bob", "alice"}[i%3]
			e, err := s.DB.AppendAudit(ctx, store.AuditEntry{Actor: actor, Action: "create", Store: "shop", Outcome: "requested"})
			if err != nil {
				t.Fatal(err)
			}
			if actor == "alice" {
				aliceIDs = append(aliceIDs, e.ID)
			}
		}
		var got []int64
		cont := ""
		for pages := 0; ; pages++ {
			page, err := s.ListAuditPage(ctx, callerAlice, store.AuditFilter{Limit: 4}, cont)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, e := range page.Entries {
				ids = append(ids, e.ID)
			}
			got = append(ids, got...)
			if page.Continue == "" {
				if pages != 1 {
					t.Errorf("6 entries in pages of 4 took %d continues, want 1", pages)
				}
				break
			}
			cont = page.Continue
			if _, err := s.ListAuditPage(ctx, callerBob, store.AuditFilter{Limit: 4}, cont); err == nil {
				t.Error("bob continued alice's audit list")
			}
			if _, err := s.ListPage(ctx, callerAlice, ListRequest{Continue: cont}); err == nil {
				t.Error("an audit token continued a store list")
			}
		}
		if !slices.Equal(got, aliceIDs) {
			t.Errorf("alice's audit pages: %v, want %v", got, aliceIDs)
		}
	})
}
