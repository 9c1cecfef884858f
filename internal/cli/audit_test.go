package cli

import "testing"

func TestAuditFlags(t *testing.T) {
	runParseCases(t, newAuditCommand, []parseCase[*auditOptions]{
		{args: []string{"audit", "--store", "shop1", "--actor", "bob", "--limit", "20", "-o", "json"}, check: func(t *testing.T, o *auditOptions) {
			if o.Filter.Store != "shop1" || o.Filter.Actor != "bob" || o.Filter.Limit != 20 || o.out.format != FormatJSON {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"audit", "--limit", "x"}, wantErr: "invalid argument"},
		{args: []string{"audit", "verfy"}, wantErr: `unknown command "verfy" for "urumi audit"`},
	})
}

func TestAuditVerifyFlags(t *testing.T) {
	runParseCases(t, newAuditVerifyCommand, []parseCase[*auditVerifyOptions]{
		{args: []string{"audit", "verify", "-o", "yaml"}, check: func(t *testing.T, o *auditVerifyOptions) {
			if o.out.format != FormatYAML {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"audit", "verify", "now"}, wantErr: "unknown command"},
	})
}
