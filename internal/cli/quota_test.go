package cli

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

func TestQuotaGetFlags(t *testing.T) {
	runParseCases(t, newQuotaGetCommand, []parseCase[*quotaGetOptions]{
		{args: []string{"quota", "get"}, env: map[string]string{"USER": "alice"}, check: func(t *testing.T, o *quotaGetOptions) {
			if o.Owner != "alice" {
				t.Errorf("default owner: %+v", o)
			}
		}},
		{args: []string{"quota", "get", "--owner", "bob", "-o", "json"}, check: func(t *testing.T, o *quotaGetOptions) {
			if o.Owner != "bob" || o.out.format != FormatJSON {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"quota", "get", "-o", "csv"}, wantErr: "unknown output format"},
	})
}

func TestQuotaSetFlags(t *testing.T) {
	runParseCases(t, newQuotaSetCommand, []parseCase[*quotaSetOptions]{
		{args: []string{"quota", "set", "--owner", "bob", "--max-stores", "3"}, check: func(t *testing.T, o *quotaSetOptions) {
			if o.Owner != "bob" || o.MaxStores != 3 {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"quota", "set", "--owner", "bob"}, wantErr: "max-stores"},
		{args: []string{"quota", "set", "--owner", "bob", "--max-stores", "many"}, wantErr: "invalid argument"},
	})
}

func TestQuotaListFlags(t *testing.T) {
	newList := func(f *Factory, runF func(*listOptions[store.Quota]) error) *cobra.Command {
		return newListCommand(f, "", (*provision.Service).ListQuotas, quotaTable, runF)
	}
	runParseCases(t, newList, []parseCase[*listOptions[store.Quota]]{
		{args: []string{"quota", "list", "-o", "yaml"}, check: func(t *testing.T, o *listOptions[store.Quota]) {
			if o.out.format != FormatYAML {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"quota", "ls", "-o", "wide"}, wantErr: "unknown output format"},
	})
}
