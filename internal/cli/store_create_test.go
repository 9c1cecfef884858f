package cli

import (
	"slices"
	"testing"
	"time"
)

func TestStoreCreateFlags(t *testing.T) {
	runParseCases(t, newStoreCreateCommand, []parseCase[*storeCreateOptions]{
		{args: []string{"store", "create", "shop1"}, env: map[string]string{"USER": "alice"}, check: func(t *testing.T, o *storeCreateOptions) {
			if o.Name != "shop1" || o.Owner != "alice" || !o.Wait || o.out.format != FormatTable || o.Plan != "" || o.Timeout != 5*time.Minute {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{args: []string{"store", "create", "shop2", "--owner", "bob", "--plan", "large", "--wait=false", "--timeout", "2m",
			"--set", "a=1", "--set", "b=2", "-o", "yaml"}, check: func(t *testing.T, o *storeCreateOptions) {
			if o.Owner != "bob" || o.Plan != "large" || o.Wait || o.Timeout != 2*time.Minute || !slices.Equal(o.Set, []string{"a=1", "b=2"}) || o.out.format != FormatYAML {
				t.Errorf("flags: %+v", o)
			}
		}},
		{args: []string{"store", "create", "shop3"}, env: map[string]string{"URUMI_OWNER": "carol", "URUMI_TIMEOUT": "7m"}, check: func(t *testing.T, o *storeCreateOptions) {
			if o.Owner != "carol" || o.Timeout != 7*time.Minute {
				t.Errorf("owner and timeout from URUMI_OWNER and URUMI_TIMEOUT: %q %s", o.Owner, o.Timeout)
			}
		}},
		{args: []string{"store", "create", "shop3", "--timeout", "90s"}, env: map[string]string{"URUMI_TIMEOUT": "7m"}, check: func(t *testing.T, o *storeCreateOptions) {
			if o.Timeout != 90*time.Second {
				t.Errorf("--timeout over URUMI_TIMEOUT: %s", o.Timeout)
			}
		}},
		{args: []string{"store", "create", "shop3"}, env: map[string]string{"URUMI_TIMEOUT": "soon"}, wantErr: "URUMI_TIMEOUT"},
		{args: []string{"store", "create"}, wantErr: "takes NAME"},
		{args: []string{"store", "create", "a", "b"}, wantErr: "takes NAME"},
		{args: []string{"store", "create", "shop1", "-o", "wide"}, wantErr: `unknown output format "wide": use table, json or yaml`},
		{args: []string{"store", "create", "shop1", "--timeout", "soon"}, wantErr: "invalid argument"},
	})
}
