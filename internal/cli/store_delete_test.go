package cli

import "testing"

func TestStoreDeleteFlags(t *testing.T) {
	runParseCases(t, newStoreDeleteCommand, []parseCase[*storeDeleteOptions]{
		{args: []string{"store", "delete", "shop1"}, check: func(t *testing.T, o *storeDeleteOptions) {
			if o.Name != "shop1" || !o.Wait {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"store", "rm", "shop1", "--wait=false"}, check: func(t *testing.T, o *storeDeleteOptions) {
			if o.Name != "shop1" || o.Wait {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"store", "delete"}, wantErr: "takes NAME"},
		{args: []string{"store", "delete", "shop1", "-o", "json"}, wantErr: "unknown shorthand flag: 'o'"},
	})
}
