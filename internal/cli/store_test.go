package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// TestOutcomeWording: each way a driven job ends is told with the state it
// left and the command that goes on from there.
func TestOutcomeWording(t *testing.T) {
	create := store.Job{Store: "shop1", Kind: store.JobCreate}
	del := store.Job{Store: "shop1", Kind: store.JobDelete}
	for _, tc := range []struct {
		out  provision.Outcome
		want []string
		is   error
	}{
		{provision.Outcome{Kind: provision.OutcomeDone, Job: create}, nil, nil},
		{provision.Outcome{Kind: provision.OutcomeInterrupted, Job: create, State: "PROVISIONING", Cause: context.Canceled},
			[]string{"store shop1 is left PROVISIONING", "`urumi store retry shop1`"}, context.Canceled},
		{provision.Outcome{Kind: provision.OutcomeInterrupted, Job: del, State: "DELETING", Cause: context.Canceled},
			[]string{"store shop1 is left DELETING", "`urumi store delete shop1`"}, context.Canceled},
		{provision.Outcome{Kind: provision.OutcomeTakenOver, Job: create, State: "deleted"},
			[]string{"another request took over store shop1 (it is now deleted)", "`urumi store get shop1`"}, nil},
		{provision.Outcome{Kind: provision.OutcomeFailed, Job: create, Cause: errors.New("install: timed out")},
			[]string{"store shop1 create failed: install: timed out", "kubectl -n store-shop1 get all,events", "`urumi store retry shop1`"}, nil},
	} {
		err := outcomeError(tc.out)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v, want nil", tc.out.Kind, err)
			}
			continue
		}
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to say %q", tc.out.Kind, err, w)
			}
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v does not wrap %v (exit code 130 depends on it)", tc.out.Kind, err, tc.is)
		}
	}
}
