package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

type storeListOptions struct {
	common
	out   *outputFlag
	Owner string
	All   bool
	// ChunkSize is the page size the list is read in (kubectl's flag).
	ChunkSize int
}

func newStoreListCommand(f *Factory, runF func(*storeListOptions) error) *cobra.Command {
	o := &storeListOptions{common: f.common()}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List stores (yours by default)",
		Example: `  urumi store list
  urumi store list -A -o wide
  kubectl urumi store list --owner alice -o json`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = runE(f, o, runF)
	cmd.Flags().StringVar(&o.Owner, "owner", "", "list this owner's stores (default: the configured owner)")
	cmd.Flags().BoolVarP(&o.All, "all-owners", "A", false, "list every owner's stores")
	cmd.Flags().IntVar(&o.ChunkSize, "chunk-size", defaultChunkSize, "read the list in pages of this many stores")
	o.out = addOutputFlag(cmd, " (wide adds namespace and error)")
	return cmd
}

func (o *storeListOptions) Complete(f *Factory, _ *cobra.Command, _ []string) error {
	if o.Owner == "" && !o.All {
		o.Owner = f.Config.Owner
	}
	return nil
}

func (o *storeListOptions) Validate() error {
	if o.All && o.Owner != "" {
		return usageError{errUsage("--owner and --all-owners cannot be used together")}
	}
	return validChunkSize(o.ChunkSize, provision.MaxPageSize)
}

func validChunkSize(n, maxSize int) error {
	if n < 1 || n > maxSize {
		return usageError{errUsage(fmt.Sprintf("--chunk-size %d is invalid: use a number from 1 to %d", n, maxSize))}
	}
	return nil
}

func (o *storeListOptions) Run(ctx context.Context) error {
	svc, err := o.Service(ctx)
	if err != nil {
		return err
	}
	// Page after page: each is one short query, however many stores.
	list := []store.Store{}
	req := provision.ListRequest{Owner: o.Owner, All: o.All, Limit: o.ChunkSize}
	for {
		page, err := svc.ListPage(ctx, o.Caller, req)
		if err != nil {
			return err
		}
		list = append(list, page.Stores...)
		if page.Continue == "" {
			break
		}
		req.Continue = page.Continue
	}
	return o.printer(o.out).print(list, storeTable(list, o.out.isWide()))
}

// defaultChunkSize is how many stores or audit entries the CLI reads from
// the database at a time: larger than the API's pages, since nothing is
// encoded for a network in between.
const defaultChunkSize = 500
