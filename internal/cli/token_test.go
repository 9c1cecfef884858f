package cli

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

func TestTokenCreateFlags(t *testing.T) {
	runParseCases(t, newTokenCreateCommand, []parseCase[*tokenCreateOptions]{
		{args: []string{"token", "create", "--owner", "ops", "--admin"}, check: func(t *testing.T, o *tokenCreateOptions) {
			if o.Owner != "ops" || !o.Admin || o.out.format != FormatTable {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"token", "create"}, wantErr: `required flag(s) "owner"`},
	})
}

func TestTokenListFlags(t *testing.T) {
	newList := func(f *Factory, runF func(*listOptions[store.Token]) error) *cobra.Command {
		return newListCommand(f, "", (*provision.Service).ListTokens, tokenTable, runF)
	}
	runParseCases(t, newList, []parseCase[*listOptions[store.Token]]{
		{args: []string{"token", "list", "-o", "json"}, check: func(t *testing.T, o *listOptions[store.Token]) {
			if o.out.format != FormatJSON {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"token", "list", "bob"}, wantErr: "unknown command"},
	})
}

func TestTokenRevokeFlags(t *testing.T) {
	runParseCases(t, newTokenRevokeCommand, []parseCase[*tokenRevokeOptions]{
		{args: []string{"token", "revoke", "t1"}, check: func(t *testing.T, o *tokenRevokeOptions) {
			if o.ID != "t1" {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"token", "revoke"}, wantErr: "takes ID"},
	})
}
