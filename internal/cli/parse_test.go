package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// parse runs urumi with args (a fresh root, settings from env only), with
// the command args name built by newCmd with a hook in place of Run: it
// returns the options as Complete and Validate left them, and the error of
// flag parsing, Complete or Validate. Nothing is opened: no database, no
// cluster.
func parse[T any](t *testing.T, env map[string]string, newCmd func(*Factory, func(T) error) *cobra.Command, args ...string) (T, bool, error) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if env["HOME"] == "" {
		env["HOME"] = t.TempDir()
	}
	var out, errOut bytes.Buffer
	root, f := newRoot(Env{
		Args:    append([]string{"urumi"}, args...),
		Streams: Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Getenv:  func(k string) string { return env[k] },
	})
	var (
		got T
		ran bool
	)
	hooked := newCmd(f, func(o T) error { got, ran = o, true; return nil })
	old, _, err := root.Find(args)
	if err != nil || old == root || old.Name() != hooked.Name() {
		t.Fatalf("urumi %s does not name the command under test %q", strings.Join(args, " "), hooked.Name())
	}
	parent := old.Parent()
	parent.RemoveCommand(old)
	parent.AddCommand(hooked)
	root.SetArgs(args)
	_, err = root.ExecuteContextC(context.Background())
	if out.Len() > 0 {
		t.Errorf("urumi %s printed %q before Run", strings.Join(args, " "), out.String())
	}
	return got, ran, err
}

// parseCase is one command line and what parsing it should give: an error
// containing wantErr, or options that check accepts.
type parseCase[T any] struct {
	args    []string
	env     map[string]string
	wantErr string
	check   func(t *testing.T, o T)
}

func runParseCases[T any](t *testing.T, newCmd func(*Factory, func(T) error) *cobra.Command, cases []parseCase[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			o, ran, err := parse(t, tc.env, newCmd, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || ran {
					t.Fatalf("error %v (ran %v); want %q before Run", err, ran, tc.wantErr)
				}
				return
			}
			if err != nil || !ran {
				t.Fatalf("error %v (ran %v); want the hook called", err, ran)
			}
			tc.check(t, o)
		})
	}
}
