package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

func newTokenCommand(f *Factory) *cobra.Command {
	cmd := newGroupCommand("token", "Create, list and revoke API tokens for `urumi serve`", "admin")

	var (
		owner     string
		admin     bool
		createOut outputFlag
	)
	create := &cobra.Command{
		Use:   "create --owner OWNER [--admin]",
		Short: "Create an API token and print it (it is shown only this once)",
		Long: `Create an API token for an owner. The token is printed on stdout once;
urumi keeps only its hash. Its holder sees and acts on the owner's stores
only, unless --admin, which allows every owner's stores and quotas.`,
		Example: `  urumi token create --owner alice
  TOKEN=$(urumi token create --owner ops --admin)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/stores`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := createOut.validate(); err != nil {
				return err
			}
			svc, err := f.Service(cmd.Context())
			if err != nil {
				return err
			}
			tok, err := svc.IssueToken(cmd.Context(), f.caller(), owner, admin)
			if err != nil {
				return err
			}
			kind := "token"
			if tok.Admin {
				kind = "admin token"
			}
			fmt.Fprintf(f.Streams.ErrOut, "%s %s created for owner %s; store it now: it cannot be shown again\n", kind, tok.ID, tok.Owner)
			return createOut.print(f.Streams.Out, tok, func(t *table) {
				t.term = &terminal{} // the bare token, header or not: scripts capture it
				t.row(tok.Secret)
			})
		},
	}
	create.Flags().StringVar(&owner, "owner", "", "owner the token acts as (required)")
	create.Flags().BoolVar(&admin, "admin", false, "allow every owner's stores and quotas")
	_ = create.MarkFlagRequired("owner")
	createOut.add(create, "")

	list := newListCommand(f, "List API tokens (never their secrets)",
		(*provision.Service).ListTokens, tokenTable)

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token for good",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, err := f.Service(cmd.Context())
			if err != nil {
				return err
			}
			if err := svc.RevokeToken(cmd.Context(), f.caller(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(f.Streams.ErrOut, "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func tokenTable(term *terminal, tokens []store.Token) func(*table) {
	return func(t *table) {
		t.term = term
		t.headers("ID", "OWNER", "ADMIN", "CREATED", "LAST USED", "REVOKED")
		for _, tok := range tokens {
			t.row(tok.ID, tok.Owner, strconv.FormatBool(tok.Admin), age(tok.CreatedAt), sinceOr(tok.LastUsedAt, "never"), sinceOr(tok.RevokedAt, "-"))
		}
	}
}

// sinceOr is t's age, or none for the zero time.
func sinceOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return age(t) + " ago"
}
