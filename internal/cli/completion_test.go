package cli

import "testing"

func TestCompletionFlags(t *testing.T) {
	runParseCases(t, newCompletionCommand, []parseCase[*completionOptions]{
		{args: []string{"completion", "zsh"}, check: func(t *testing.T, o *completionOptions) {
			if o.Shell != "zsh" || o.root == nil || o.root.Name() != "urumi" {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"completion", "tcsh"}, wantErr: "choose bash, zsh, fish or powershell"},
		{args: []string{"completion"}, wantErr: "choose bash"},
	})
}
