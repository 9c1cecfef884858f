package provision

import (
	"testing"

	"helm.sh/helm/v4/pkg/chart/common/util"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/provision/hostiletest"
)

// TestSchemaCacheValidatesAsHelm: the values schema compiled once judges
// every value set as Helm's own check does, in Helm's words, and Helm's
// check is skipped only for values that pass.
func TestSchemaCacheValidatesAsHelm(t *testing.T) {
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	schema, err := parseValuesSchema(ch.Schema)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Plans{}.Get("small")
	if err != nil {
		t.Fatal(err)
	}
	sets := [][]string{nil, {"site.title=Shop", "woocommerce.version=10.1.2"}, {"cron.enabled=false"}}
	for _, o := range hostiletest.Overrides() {
		sets = append(sets, o.Set)
	}
	text := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	var sc schemaCache
	checked, refused := 0, 0
	for _, set := range sets {
		vals, err := buildValues(schema, "shop", plan, Options{BaseDomain: "example.com", IngressClass: "nginx", Set: set})
		if err != nil {
			continue // refused before the schema
		}
		full, err := util.CoalesceValues(ch, vals)
		if err != nil {
			continue
		}
		checked++
		want := util.ValidateAgainstSingleSchema(full, ch.Schema)
		if got := sc.validate(ch.Schema, full); text(got) != text(want) {
			t.Errorf("%q: compiled once: %q; Helm: %q", set, text(got), text(want))
		}
		if want != nil {
			refused++
		}
		if got := sc.passes(ch, vals); got != (want == nil) {
			t.Errorf("%q: passes = %v, Helm's check: %v", set, got, want)
		}
	}
	if checked < 10 || refused < 3 {
		t.Fatalf("only %d value sets reached the schema, %d refused by it", checked, refused)
	}
	if len(sc.compiled) != 1 {
		t.Errorf("%d schemas compiled, want 1", len(sc.compiled))
	}
	// No loader reads the machine's files (or the network) for a reference.
	if _, err := (*schemaCache)(nil).compile([]byte(`{"$ref": "file:///etc/hostname"}`)); err == nil {
		t.Error("a schema referring to a local file compiled")
	}
}
