package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/urumi/urumi/internal/provision"
)

func TestStoreCheckFlags(t *testing.T) {
	runParseCases(t, newStoreCheckCommand, []parseCase[*storeCheckOptions]{
		{args: []string{"store", "check", "shop1", "-o", "json"}, check: func(t *testing.T, o *storeCheckOptions) {
			if o.Name != "shop1" || o.All || o.out.format != FormatJSON {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"store", "check", "--all"}, check: func(t *testing.T, o *storeCheckOptions) {
			if o.Name != "" || !o.All {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"store", "check"}, wantErr: "takes NAME (or --all)"},
		{args: []string{"store", "check", "shop1", "--all"}, wantErr: "NAME or --all, not both"},
		{args: []string{"store", "check", "Shop_1"}, wantErr: "invalid"},
	})
}

func TestCheckOutcome(t *testing.T) {
	pass := provision.StoreCheck{Store: "a", Status: provision.CheckPass, Findings: []provision.Finding{{Kind: "quota", Status: provision.CheckPass, Message: "ok"}}}
	warn := provision.StoreCheck{Store: "b", Status: provision.CheckWarn, Findings: []provision.Finding{{Kind: "extra-policy", Status: provision.CheckWarn, Message: "m"}}}
	fail := provision.StoreCheck{Store: "c", Status: provision.CheckFail, Findings: []provision.Finding{
		{Kind: "quota", Status: provision.CheckPass, Message: "ok"},
		{Kind: "network-policy", Status: provision.CheckFail, Object: "NetworkPolicy/default-deny", Message: "missing\tand\nodd", Fix: "repair"}}}
	if err := checkOutcome(provision.CheckReport{Stores: []provision.StoreCheck{pass, warn}}); err != nil {
		t.Errorf("warnings fail the check: %v", err)
	}
	err := checkOutcome(provision.CheckReport{Stores: []provision.StoreCheck{pass, fail}, Orphans: []provision.Finding{{Kind: "orphan-namespace", Status: provision.CheckFail}}})
	if err == nil || exitCode(context.Background(), err) != exitCheckFailed || !strings.Contains(err.Error(), "2 checks failed in 1 of 2 stores (1 orphans)") {
		t.Errorf("failed check: %v (exit %d)", err, exitCode(context.Background(), err))
	}

	var buf bytes.Buffer
	term := newTerminal(&buf, func(string) string { return "" })
	tb := &table{term: term}
	checkTable(provision.CheckReport{Stores: []provision.StoreCheck{pass, fail}}, false)(tb)
	if err := tb.write(&buf); err != nil {
		t.Fatal(err)
	}
	want := "a\tpass\tall\t-\t1 checks pass\t\n" +
		"c\tFAIL\tnetwork-policy\tNetworkPolicy/default-deny\tmissing and odd\trepair\n"
	if buf.String() != want {
		t.Errorf("--all table:\n%q\nwant\n%q", buf.String(), want)
	}
}
