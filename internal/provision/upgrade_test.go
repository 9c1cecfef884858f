package provision

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/urumi/urumi/internal/store"
)

func TestMergeSet(t *testing.T) {
	for _, c := range []struct{ old, set, want []string }{
		{nil, nil, nil},
		{[]string{"a=1", "b=2"}, nil, []string{"a=1", "b=2"}},
		{[]string{"a=1", "b=2"}, []string{"b=3", "c=4"}, []string{"a=1", "b=3", "c=4"}},
		// The value is literal: '=' after the first belongs to it.
		{[]string{"site.title=a=b"}, []string{"site.title=c=d"}, []string{"site.title=c=d"}},
		{nil, []string{"x=1"}, []string{"x=1"}},
	} {
		if got := mergeSet(c.old, c.set); !slices.Equal(got, c.want) {
			t.Errorf("mergeSet(%q, %q) = %q, want %q", c.old, c.set, got, c.want)
		}
	}
	old := []string{"a=1"}
	_ = mergeSet(old, []string{"a=2"})
	if old[0] != "a=1" {
		t.Error("mergeSet changed its argument")
	}
}

func TestNewerVersion(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"0.2.0", "0.1.0", true},
		{"0.2.0", "0.2.0", false},
		{"0.1.9", "0.2.0", false},
		{"0.10.0", "0.9.0", true},
		{"1.0.0", "0.99.99", true},
		{"0.2.0", "", true}, // an unrecorded store
		{"0.2.0", "0.2.0-rc.1", false},
	} {
		if got := newerVersion(c.a, c.b); got != c.want {
			t.Errorf("newerVersion(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestParseTimeout(t *testing.T) {
	for in, want := range map[string]int{"": 0, "30s": 30, "10m": 600, "2h": 7200} {
		if got, err := parseTimeout(in); err != nil || got != want {
			t.Errorf("parseTimeout(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"5s", "3h", "ten minutes", "-1m"} {
		if _, err := parseTimeout(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("parseTimeout(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestWiderPlan(t *testing.T) {
	small, err := Plans{}.Get("small")
	if err != nil {
		t.Fatal(err)
	}
	large, err := Plans{}.Get("large")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []Plan{widerPlan(small, large), widerPlan(large, small)} {
		if w.Quota.CPU != large.Quota.CPU || w.Quota.Memory != large.Quota.Memory || w.Quota.Storage != large.Quota.Storage ||
			w.Quota.Pods != max(small.Quota.Pods, large.Quota.Pods) {
			t.Errorf("wider quota = %+v, want large's %+v", w.Quota, large.Quota)
		}
	}
	if got := widerPlan(large, small).Egress; got != small.Egress {
		t.Errorf("wider plan's egress = %+v, want the target's", got)
	}
}

func TestDescribeVersions(t *testing.T) {
	v := store.Versions{Chart: "0.2.0", WordPress: "7.1.2-php8.3-apache", WooCommerce: "latest"}
	if got, want := describeVersions(2, v), "revision 2: chart 0.2.0, wordpress 7.1.2-php8.3-apache, woocommerce latest"; got != want {
		t.Errorf("describeVersions = %q, want %q", got, want)
	}
	if got := describeFrom(store.Release{}); got != "an unrecorded revision" {
		t.Errorf("describeFrom(zero) = %q", got)
	}
}

func TestChartVersions(t *testing.T) {
	ch, err := (&Kube{}).storeChart()
	if err != nil {
		t.Fatal(err)
	}
	v, err := chartVersions(ch, map[string]any{"images": map[string]any{
		"wordpress": map[string]any{"tag": "7.2.0-php8.4-apache", "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Chart != ch.Metadata.Version || v.WordPress != "7.2.0-php8.4-apache@sha256:0123456789ab" || v.MariaDB == "" || v.WPCLI == "" || v.WooCommerce == "" {
		t.Errorf("chartVersions = %+v", v)
	}
}

func TestPruneToSchema(t *testing.T) {
	schema := map[string]any{
		"additionalProperties": false,
		"properties": map[string]any{
			"resources": map[string]any{
				"additionalProperties": false,
				"properties":           map[string]any{"wordpress": map[string]any{"type": "object"}},
			},
			"ingress": map[string]any{"type": "object"}, // open
		},
	}
	vals := map[string]any{
		"resources": map[string]any{"wordpress": map[string]any{"cpu": "1"}, "cron": map[string]any{"cpu": "1"}},
		"ingress":   map[string]any{"anything": "kept"},
		"cron":      map[string]any{"enabled": true},
	}
	got := pruneToSchema(vals, schema)
	want := map[string]any{
		"resources": map[string]any{"wordpress": map[string]any{"cpu": "1"}},
		"ingress":   map[string]any{"anything": "kept"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pruneToSchema = %v, want %v", got, want)
	}
	if _, ok := vals["cron"]; !ok {
		t.Error("pruneToSchema changed its argument")
	}
}
