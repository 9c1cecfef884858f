package cli

import "testing"

func TestVersionFlags(t *testing.T) {
	runParseCases(t, newVersionCommand, []parseCase[*versionOptions]{
		{args: []string{"version", "-o", "json"}, check: func(t *testing.T, o *versionOptions) {
			if o.out.format != FormatJSON || o.Version.GoVersion == "" || o.Version.Platform == "" {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"version", "now"}, wantErr: "unknown command"},
	})
}
