package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// TestOutputGolden keeps every command's output, in every format it
// offers, in testdata/output: on a terminal (header, aligned), piped (bare
// tab-separated rows), wide where there is one, JSON and YAML.
func TestOutputGolden(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	versions := store.Versions{Chart: "0.2.0", WordPress: "7.1.2-php8.3-apache", MariaDB: "11.8.9", WPCLI: "cli-2.12.0-php8.3", WooCommerce: "latest"}
	revisions := []store.Revision{
		{Store: "shop1", Revision: 1, Kind: store.JobCreate, JobID: 1, Actor: "alice", Plan: "medium", Versions: versions, Status: "superseded", Description: "Install complete", At: now.Add(-3 * time.Hour)},
		{Store: "shop1", Revision: 2, Kind: store.JobUpgrade, JobID: 2, Actor: "alice", Versions: versions, Status: "failed", Description: "Upgrade \"store\" failed: context deadline exceeded", At: now.Add(-61 * time.Minute)},
		{Store: "shop1", Revision: 3, Kind: store.JobUpgrade, JobID: 2, Actor: "alice", Plan: "medium", Versions: versions, Status: "deployed", Description: "Rollback to 1", At: now.Add(-time.Hour)},
	}
	ready := store.Store{
		Name: "shop1", Owner: "alice", Plan: "medium", Status: store.StatusReady, Namespace: "store-shop1",
		URL: "http://shop1.localhost", CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-170 * time.Minute),
		Phases: []store.Phase{{Name: "namespace", DurationMS: 120}, {Name: "install", DurationMS: 61_500}},
		Release: store.Release{Revision: 3, Versions: versions, UpgradeAvailable: "0.3.0", LastChange: &store.Change{
			Kind: store.JobUpgrade, Outcome: store.ChangeRolledBack, From: 1, To: 3, Actor: "alice", At: now.Add(-time.Hour),
			Reason: "Deployment wordpress cannot create pods: exceeded quota",
		}},
	}
	failed := store.Store{
		Name: "shop2", Owner: "bob", Plan: "large", Status: store.StatusFailed, Namespace: "store-shop2",
		URL: "http://shop2.localhost", CreatedAt: now.Add(-5 * 24 * time.Hour), UpdatedAt: now.Add(-4 * 24 * time.Hour),
		Error: "install: timed out waiting for mariadb",
	}
	queued := store.Store{Name: "shop3", Owner: "alice", Plan: "small", Status: store.StatusQueued, Namespace: "store-shop3",
		URL: "http://shop3.localhost", CreatedAt: now.Add(-42 * time.Second), UpdatedAt: now.Add(-42 * time.Second)}
	quotas := []store.Quota{{Owner: "alice", MaxStores: 5, Used: 2, Default: true}, {Owner: "bob", MaxStores: 10, Used: 1}}
	entries := []store.AuditEntry{
		{ID: 1, Time: now.Add(-time.Hour), Actor: "alice", Action: "create", Store: "shop1", Outcome: "requested", PrevHash: "00", Hash: "ab"},
		{ID: 2, Time: now.Add(-59 * time.Minute), Actor: "worker", Action: "create", Store: "shop1", Outcome: "succeeded", DurationMS: 61_620, Detail: "plan medium", PrevHash: "ab", Hash: "cd"},
	}
	tokens := []store.Token{
		{ID: "t1", Owner: "alice", CreatedAt: now.Add(-48 * time.Hour), LastUsedAt: now.Add(-5 * time.Minute)},
		{ID: "t2", Owner: "ops", Admin: true, CreatedAt: now.Add(-72 * time.Hour), RevokedAt: now.Add(-time.Hour)},
	}
	issued := provision.IssuedToken{Secret: "urumi_0123456789abcdef", Token: store.Token{ID: "t3", Owner: "bob", CreatedAt: now}}
	plans, err := provision.NewPlans(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	version := versionInfo{BuildInfo: BuildInfo{Version: "v1.2.3", Commit: "abc", Date: "2026-11-22"}, GoVersion: "go1.25.0", Platform: "linux/amd64"}

	for _, tc := range []struct {
		name string
		v    any
		rows func(wide bool) func(*table)
		wide bool
	}{
		{"store_list", []store.Store{ready, failed, queued}, func(wide bool) func(*table) { return storeTable([]store.Store{ready, failed, queued}, wide) }, true},
		{"store_get", ready, func(bool) func(*table) { return storeDetail(ready) }, false},
		{"store_get_failed", failed, func(bool) func(*table) { return storeDetail(failed) }, false},
		{"store_history", revisions, func(bool) func(*table) { return historyTable(revisions) }, false},
		{"quota_list", quotas, func(bool) func(*table) { return quotaTable(quotas) }, false},
		{"audit", entries, func(bool) func(*table) { return auditTable(entries) }, false},
		{"audit_verify", store.VerifyResult{Entries: 2, OK: true}, func(bool) func(*table) { return verifyTable(store.VerifyResult{Entries: 2, OK: true}) }, false},
		{"audit_verify_tampered", store.VerifyResult{Entries: 2, BadID: 2, Problem: "hash mismatch"}, func(bool) func(*table) {
			return verifyTable(store.VerifyResult{Entries: 2, BadID: 2, Problem: "hash mismatch"})
		}, false},
		{"token_list", tokens, func(bool) func(*table) { return tokenTable(tokens) }, false},
		{"token_create", issued, func(bool) func(*table) { return tokenSecret(issued) }, false},
		{"plan_list", plans.All(), func(bool) func(*table) { return planTable(plans.All()) }, false},
		{"version", version, func(bool) func(*table) { return versionTable(version) }, false},
	} {
		type variant struct {
			name   string
			format Format
			tty    bool
		}
		variants := []variant{{"table", FormatTable, true}, {"piped", FormatTable, false}, {"json", FormatJSON, false}, {"yaml", FormatYAML, false}}
		if tc.wide {
			variants = append(variants, variant{"wide", FormatWide, true})
		}
		for _, vr := range variants {
			t.Run(tc.name+"."+vr.name, func(t *testing.T) {
				var buf bytes.Buffer
				p := printer{w: &buf, term: &terminal{tty: vr.tty}, now: func() time.Time { return now }, format: vr.format}
				if err := p.print(tc.v, tc.rows(vr.format == FormatWide)); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, fmt.Sprintf("output/%s.%s.golden", tc.name, vr.name), buf.String())
			})
		}
	}
}

// TestColour: colour only on a terminal, never with NO_COLOR, and even
// piped with CLICOLOR_FORCE.
func TestColour(t *testing.T) {
	for _, tc := range []struct {
		tty   bool
		env   map[string]string
		color bool
	}{
		{true, nil, true},
		{false, nil, false},
		{true, map[string]string{"NO_COLOR": "1"}, false},
		{true, map[string]string{"TERM": "dumb"}, false},
		{false, map[string]string{"CLICOLOR_FORCE": "1"}, true},
		{false, map[string]string{"CLICOLOR_FORCE": "0"}, false},
		{true, map[string]string{"NO_COLOR": "1", "CLICOLOR_FORCE": "1"}, false},
	} {
		term := decideColour(&terminal{tty: tc.tty}, func(k string) string { return tc.env[k] })
		if term.color != tc.color {
			t.Errorf("tty %v, env %v: colour %v, want %v", tc.tty, tc.env, term.color, tc.color)
		}
	}
}

// ptrMarshaled has MarshalJSON on its pointer: the encoder calls it for a
// slice's elements, which it reaches by address.
type ptrMarshaled struct{ N int }

func (p *ptrMarshaled) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`{"n":"<%d>"}`, p.N)), nil
}

// textList is a list that encodes itself as one string.
type textList []int

func (l textList) MarshalText() ([]byte, error) { return []byte(fmt.Sprint(len(l))), nil }

// TestWriteJSONAsEncoder: a list written an element at a time reads byte
// for byte as json.Encoder writes it whole, whatever the value.
func TestWriteJSONAsEncoder(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	stores := []store.Store{
		{Name: "shop1", Owner: "alice", Status: store.StatusReady, CreatedAt: now, Options: []byte(`{"a":[1,{}],"b":"<&>"}`),
			Phases: []store.Phase{{Name: "namespace", DurationMS: 120}}},
		{Name: "shop2", Owner: "bob", Status: store.StatusFailed, Error: "quota \"x\" <exceeded>\n"},
	}
	for name, v := range map[string]any{
		"stores":             stores,
		"one store":          stores[:1],
		"empty":              []store.Store{},
		"nil":                []store.Store(nil),
		"store":              stores[0],
		"pointers":           []*store.Store{&stores[0], nil},
		"bytes":              []byte("abc"),
		"nested":             [][]int{{1, 2}, {}, nil},
		"maps":               []map[string]any{{"b": 1, "a": []string{}}, {}},
		"pointer marshalers": []ptrMarshaled{{1}, {2}},
		"text list":          textList{1, 2, 3},
		"nothing":            nil,
	} {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := writeJSON(&got, v); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Fatalf("writeJSON wrote\n%s\njson.Encoder writes\n%s", got.String(), want.String())
			}
		})
	}
	if err := writeJSON(&bytes.Buffer{}, []any{func() {}}); err == nil {
		t.Fatal("a value JSON cannot encode was written")
	}
}
