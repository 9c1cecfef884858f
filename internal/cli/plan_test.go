package cli

import "testing"

func TestPlanListFlags(t *testing.T) {
	runParseCases(t, newPlanListCommand, []parseCase[*planListOptions]{
		{args: []string{"plan", "list", "-o", "yaml"}, check: func(t *testing.T, o *planListOptions) {
			if o.out.format != FormatYAML || len(o.Plans) == 0 {
				t.Errorf("the built-in plans, as YAML: %+v", o)
			}
		}},
		{args: []string{"plan", "ls", "-o", "wide"}, wantErr: "unknown output format"},
	})
}
