package provision

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	kyaml "sigs.k8s.io/kustomize/kyaml/kio"
	sigsyaml "sigs.k8s.io/yaml"
)

// emitCorpus: JSON objects as the render check produces them (through
// encoding/json), with what YAML readers are known to trip on.
func emitCorpus(t testing.TB) [][]byte {
	t.Helper()
	tricky := []any{
		"", "a", "y", "Y", "n", "NO", "yes", "On", "off", "true", "False", "null", "NULL", "~", "-", ".", "..", "...", "---",
		"0", "007", "0x1F", "0o17", "1e3", "1_000", ".inf", "-.Inf", ".NaN", "1:20", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
		"+1", "-1", "1.", "a: b", "a #b", "a#b", "#c", "*ref", "&anchor", "!tag", "!!str x", "%YAML", "@x", "`x", "|", ">", "[a]", "{a: b}",
		"?", "? x", ": x", " lead", "trail ", "tab\there", "line\nbreak", "crlf\r\n", "\n", "q\"uote", "back\\slash", "<b>&amp;",
		"nel\u0085x", "del\x7fx", "c1\u0080\u009fx", "bom\ufeffx", "\ufffe\uffff", "ls\u2028ps\u2029", "é ünï 中文 😀", "\x00\x1b[31m",
		"very-long-" + strings.Repeat("x", 5000), "app.kubernetes.io/name", "nginx.ingress.kubernetes.io/proxy-body-size", "/opt/urumi/cron.sh",
		"wordpress:7.1.2-php8.3-apache", "sha256:0", "100m", "1Gi", "Yes-but", "onwards", "nullable",
		1, -1, 0, 3.5, -0.25, 1e21, 1e-7, 9007199254740993, true, false, nil,
		map[string]any{}, []any{}, []any{[]any{}}, []any{map[string]any{}},
		[]any{"a", 1, nil, []any{"b", []any{"c"}}, map[string]any{"k": []any{map[string]any{"x": "y"}}}},
		map[string]any{"on": "off", "y": "n", "": "empty key", "a: b": 1, "#": 2, "- x": 3, "1": 4, "true": 5, "null": 6, " ": 7},
	}
	var docs [][]byte
	for _, v := range tricky {
		for _, d := range []map[string]any{
			{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"k": v}},
			{"list": []any{v, v}, "nested": map[string]any{"deeper": map[string]any{"v": v}}},
			{"in-list": []any{map[string]any{"a": v, "b": []any{v}}}},
		} {
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, b)
		}
		if s, ok := v.(string); ok && len(s) <= maxYAMLKey {
			b, _ := json.Marshal(map[string]any{s: "as a key"})
			docs = append(docs, b)
		}
	}
	// The real chart, as the render check sees it.
	plan := BuiltinPlans()[0]
	vals, err := chartValues(testStoreName, plan, Options{BaseDomain: testBaseDomain, IngressClass: "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := renderStore(t, vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	chartDocs, err := splitDocuments([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range chartDocs {
		docs = append(docs, d.json)
	}
	return docs
}

// TestBlockYAML: what blockYAML writes reads back, in every YAML reader
// that sees a release manifest (the one Helm's kube client and kubectl
// use, yaml.v3, and kustomize's kyaml that Helm's post-render split
// uses), as exactly the JSON it was given.
func TestBlockYAML(t *testing.T) {
	for _, doc := range emitCorpus(t) {
		var want any
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := blockYAML(&out, doc); err != nil {
			t.Errorf("blockYAML(%s): %v", doc, err)
			continue
		}
		y := out.Bytes()
		readers := map[string]func() ([]byte, error){
			"sigs.k8s.io/yaml": func() ([]byte, error) { return sigsyaml.YAMLToJSON(y) },
			"yaml.v3": func() ([]byte, error) {
				var v any
				if err := yaml.Unmarshal(y, &v); err != nil {
					return nil, err
				}
				return json.Marshal(v)
			},
			"kyaml": func() ([]byte, error) {
				nodes, err := kyaml.FromBytes(y)
				if err != nil || len(nodes) != 1 {
					return nil, err
				}
				return nodes[0].MarshalJSON()
			},
		}
		for name, read := range readers {
			j, err := read()
			if err != nil {
				t.Errorf("%s cannot read what blockYAML wrote for %s: %v\n%s", name, doc, err, y)
				continue
			}
			var got any
			if err := json.Unmarshal(j, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s reads what blockYAML wrote for\n%s\nas\n%s\nYAML:\n%s", name, doc, j, y)
			}
		}
	}
	for _, bad := range []string{"", "[]", `"x"`, "{", `{"a"}`, `{"a":}`, `{"a":1}x`, `{"a":"b`, `{"a":tru}`, `{"` + strings.Repeat("k", maxYAMLKey+1) + `":1}`} {
		if err := blockYAML(new(bytes.Buffer), []byte(bad)); err == nil {
			t.Errorf("blockYAML(%.40q) succeeded", bad)
		}
	}
}

// BenchmarkBlockYAML: the render check's re-encoding of the chart's
// documents, by blockYAML and by the YAML library it replaced.
func BenchmarkBlockYAML(b *testing.B) {
	docs := emitCorpus(b)[len(emitCorpus(b))-12:]
	b.Run("blockYAML", func(b *testing.B) {
		b.ReportAllocs()
		var out bytes.Buffer
		for b.Loop() {
			out.Reset()
			for _, d := range docs {
				if err := blockYAML(&out, d); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("sigs.k8s.io/yaml.JSONToYAML", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range docs {
				if _, err := sigsyaml.JSONToYAML(d); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// FuzzBlockYAML: any string, as a value and as a key, reads back as itself.
func FuzzBlockYAML(f *testing.F) {
	for _, s := range []string{"yes", "a: b", "nel\u0085", "\x7f", "1e3", "-", "é", "\ufeff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if k, _ := json.Marshal(s); len(k) > maxYAMLKey {
			t.Skip() // refused as a key, by design
		}
		doc, err := json.Marshal(map[string]any{"v": s, "l": []any{s, map[string]any{s: s}}})
		if err != nil {
			t.Skip()
		}
		var out bytes.Buffer
		if err := blockYAML(&out, doc); err != nil {
			t.Fatalf("blockYAML(%s): %v", doc, err)
		}
		j, err := sigsyaml.YAMLToJSON(out.Bytes())
		if err != nil {
			t.Fatalf("%v\n%s", err, out.Bytes())
		}
		var got, want any
		_ = json.Unmarshal(doc, &want)
		_ = json.Unmarshal(j, &got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s read back as %s\nYAML:\n%s", doc, j, out.Bytes())
		}
	})
}
