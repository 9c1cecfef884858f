package cli

import "testing"

func TestStoreGetFlags(t *testing.T) {
	runParseCases(t, newStoreGetCommand, []parseCase[*storeGetOptions]{
		{args: []string{"store", "get", "shop1", "-o", "yaml"}, check: func(t *testing.T, o *storeGetOptions) {
			if o.Name != "shop1" || o.out.format != FormatYAML {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"store", "get"}, wantErr: "takes NAME"},
		{args: []string{"store", "get", "shop1", "-o", "wide"}, wantErr: "unknown output format"},
	})
}
