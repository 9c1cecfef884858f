package cli

import (
	"slices"
	"testing"
)

func TestStoreRetryFlags(t *testing.T) {
	runParseCases(t, newStoreRetryCommand, []parseCase[*storeRetryOptions]{
		{args: []string{"store", "retry", "shop1"}, check: func(t *testing.T, o *storeRetryOptions) {
			if o.Name != "shop1" || !o.Wait || o.request().Set != nil {
				t.Errorf("without --set the overrides are kept: %+v", o)
			}
		}},
		{args: []string{"store", "retry", "shop1", "--set", "a=1", "--wait=false", "-o", "json"}, check: func(t *testing.T, o *storeRetryOptions) {
			if set := o.request().Set; set == nil || !slices.Equal(*set, []string{"a=1"}) || o.Wait || o.out.format != FormatJSON {
				t.Errorf("--set replaces the overrides: %+v", o)
			}
		}},
		{args: []string{"store", "retry", "shop1", "--clear-set"}, check: func(t *testing.T, o *storeRetryOptions) {
			if set := o.request().Set; set == nil || len(*set) != 0 {
				t.Errorf("--clear-set drops the overrides: %+v", o)
			}
		}},
		{args: []string{"store", "retry", "shop1", "--clear-set", "--set", "a=1"}, wantErr: "cannot be used together"},
		{args: []string{"store", "retry"}, wantErr: "takes NAME"},
	})
}
