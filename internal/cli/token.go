package cli

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

func newTokenCommand(f *Factory) *cobra.Command {
	cmd := newGroupCommand("token", "Create, list and revoke API tokens for `urumi serve`", "admin")
	cmd.AddCommand(
		newTokenCreateCommand(f, nil),
		newListCommand(f, "List API tokens (never their secrets)", (*provision.Service).ListTokens, tokenTable, nil),
		newTokenRevokeCommand(f, nil),
	)
	return cmd
}

type tokenCreateOptions struct {
	common
	out   *outputFlag
	Owner string
	Admin bool
}

func newTokenCreateCommand(f *Factory, runF func(*tokenCreateOptions) error) *cobra.Command {
	o := &tokenCreateOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "create --owner OWNER [--admin]",
		Short: "Create an API token and print it (it is shown only this once)",
		Long: `Create an API token for an owner. The token is printed on stdout once;
urumi keeps only its hash. Its holder sees and acts on the owner's stores
only, unless --admin, which allows every owner's stores and quotas.`,
		Example: `  urumi token create --owner alice
  TOKEN=$(urumi token create --owner ops --admin)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/stores`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.Owner, "owner", "", "owner the token acts as (required)")
	cmd.Flags().BoolVar(&o.Admin, "admin", false, "allow every owner's stores and quotas")
	_ = cmd.MarkFlagRequired("owner")
	o.out = addOutputFlag(cmd, "")
	return cmd
}

func (o *tokenCreateOptions) Complete(*Factory, *cobra.Command, []string) error { return nil }
func (o *tokenCreateOptions) Validate() error                                   { return nil }

func (o *tokenCreateOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	tok, err := svc.IssueToken(ctx, o.Caller, o.Owner, o.Admin)
	if err != nil {
		return err
	}
	kind := "token"
	if tok.Admin {
		kind = "admin token"
	}
	o.say("%s %s created for owner %s; store it now: it cannot be shown again", kind, tok.ID, tok.Owner)
	return o.printer(o.out).print(tok, tokenSecret(tok))
}

// tokenSecret is the bare token, on a terminal or not: scripts capture it.
func tokenSecret(tok provision.IssuedToken) func(*table) {
	return func(t *table) {
		t.plain = true
		t.row(tok.Secret)
	}
}

type tokenRevokeOptions struct {
	common
	ID string
}

func newTokenRevokeCommand(f *Factory, runF func(*tokenRevokeOptions) error) *cobra.Command {
	o := &tokenRevokeOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token for good",
		Args:  exactArgs(1, "ID"),
	}
	cmd.RunE = runE(f, o, runF)
	return cmd
}

func (o *tokenRevokeOptions) Complete(_ *Factory, _ *cobra.Command, args []string) error {
	o.ID = args[0]
	return nil
}

func (o *tokenRevokeOptions) Validate() error { return nil }

func (o *tokenRevokeOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	if err := svc.RevokeToken(ctx, o.Caller, o.ID); err != nil {
		return err
	}
	o.say("token %s revoked", o.ID)
	return nil
}

func tokenTable(tokens []store.Token) func(*table) {
	return func(t *table) {
		t.headers("ID", "OWNER", "ADMIN", "CREATED", "LAST USED", "REVOKED")
		for _, tok := range tokens {
			t.row(tok.ID, tok.Owner, strconv.FormatBool(tok.Admin), t.age(tok.CreatedAt), t.sinceOr(tok.LastUsedAt, "never"), t.sinceOr(tok.RevokedAt, "-"))
		}
	}
}
