package cli

import "testing"

func TestStoreListFlags(t *testing.T) {
	runParseCases(t, newStoreListCommand, []parseCase[*storeListOptions]{
		{args: []string{"store", "list"}, env: map[string]string{"USER": "alice"}, check: func(t *testing.T, o *storeListOptions) {
			if o.Owner != "alice" || o.All || o.out.format != FormatTable {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{args: []string{"store", "ls", "-A", "-o", "wide"}, check: func(t *testing.T, o *storeListOptions) {
			if o.Owner != "" || !o.All || !o.out.isWide() {
				t.Errorf("-A -o wide: %+v", o)
			}
		}},
		{args: []string{"store", "list", "--owner", "bob", "-o", "json"}, check: func(t *testing.T, o *storeListOptions) {
			if o.Owner != "bob" || o.out.format != FormatJSON {
				t.Errorf("--owner bob -o json: %+v", o)
			}
		}},
		{args: []string{"store", "list", "--owner", "bob", "-A"}, wantErr: "cannot be used together"},
		{args: []string{"store", "list", "-o", "xml"}, wantErr: `unknown output format "xml": use table, wide, json or yaml`},
		{args: []string{"store", "list", "extra"}, wantErr: "unknown command"},
	})
}
