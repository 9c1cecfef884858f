package cli

import (
	"slices"
	"testing"
	"time"
)

func TestStoreCreateFlags(t *testing.T) {
	runParseCases(t, newStoreCreateCommand, []parseCase[*storeCreateOptions]{
		{args: []string{"store", "create", "shop1"}, env: map[string]string{"USER": "alice"}, check: func(t *testing.T, o *storeCreateOptions) {
			if o.Name != "shop1" || o.Owner != "alice" || !o.Wait || o.out.format != FormatTable || o.Plan != "" {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{args: []string{"store", "create", "shop2", "--owner", "bob", "--plan", "large", "--wait=false", "--timeout", "2m",
			"--set", "a=1", "--set", "b=2", "-o", "yaml"}, check: func(t *testing.T, o *storeCreateOptions) {
			if o.Owner != "bob" || o.Plan != "large" || o.Wait || o.Timeout != 2*time.Minute || !slices.Equal(o.Set, []string{"a=1", "b=2"}) || o.out.format != FormatYAML {
				t.Errorf("flags: %+v", o)
			}
		}},
		{args: []string{"store", "create", "shop3"}, env: map[string]string{"URUMI_OWNER": "carol"}, check: func(t *testing.T, o *storeCreateOptions) {
			if o.Owner != "carol" {
				t.Errorf("owner from URUMI_OWNER: %q", o.Owner)
			}
		}},
		{args: []string{"store", "create"}, wantErr: "takes NAME"},
		{args: []string{"store", "create", "a", "b"}, wantErr: "takes NAME"},
		{args: []string{"store", "create", "shop1", "-o", "wide"}, wantErr: `unknown output format "wide": use table, json or yaml`},
		{args: []string{"store", "create", "shop1", "--timeout", "soon"}, wantErr: "invalid argument"},
	})
}
