package provision

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

func TestStreamParts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a: 1\n", []string{"a: 1\n"}},
		{"---\na: 1\n---\nb: 2\n", []string{"---\na: 1\n", "---\nb: 2\n"}},
		{"a: 1\n---\nb: 2", []string{"a: 1\n", "---\nb: 2"}},
		{"a: 1\r\n---\r\nb: 2\r\n", []string{"a: 1\r\n", "---\r\nb: 2\r\n"}},
		// Only "---" alone cuts: the rest stays in its part, which the
		// check reads whole.
		{"a: 1\n--- {b: 2}\n---x\n ---\nc: |\n  ---\n", []string{"a: 1\n--- {b: 2}\n---x\n ---\nc: |\n  ---\n"}},
		{"a: 1\n---\n---\n", []string{"a: 1\n", "---\n", "---\n"}},
	} {
		var got []string
		for _, p := range streamParts([]byte(c.in)) {
			got = append(got, string(p))
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
			t.Errorf("streamParts(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// cachedCheck is the render check of store name with the Kube's cache
// and evaluator, as helmConfig makes it.
func cachedCheck(t *testing.T, k *Kube, name string) renderCheck {
	t.Helper()
	c := renderCheckFor(Namespace(name), storeRoute{host: name + "." + testBaseDomain})
	var err error
	if c.psa, err = k.podSecurity(); err != nil {
		t.Fatal(err)
	}
	c.docs = &k.renderedDocs
	return c
}

// TestRenderCheckCache: with the cache, the check passes on exactly what it
// does without, reads the documents two stores render alike once, and
// still refuses, in another store, a document it passed from the cache.
func TestRenderCheckCache(t *testing.T) {
	k := &Kube{}
	plan := BuiltinPlans()[0]
	render := func(name string) string {
		vals, err := chartValues(name, plan, Options{BaseDomain: testBaseDomain, IngressClass: "nginx"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := renderStoreIn(t, Namespace(name), vals, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, name := range []string{"shop", "other", "third"} {
		in := []byte(render(name))
		want, err := renderCheckFor(Namespace(name), storeRoute{host: name + "." + testBaseDomain}).check(in)
		if err != nil {
			t.Fatal(err)
		}
		hits := 0
		parts := streamParts(in)
		for _, p := range parts {
			if _, ok := k.renderedDocs.get(p); ok {
				hits++
			}
		}
		got, err := cachedCheck(t, k, name).check(in)
		if err != nil {
			t.Fatalf("cached check of %s: %v", name, err)
		}
		if got.yaml != want.yaml || fmt.Sprint(got.docs) != fmt.Sprint(want.docs) {
			t.Errorf("cached check of %s differs:\n%s\nwant\n%s", name, got.yaml, want.yaml)
		}
		// The first store reads every part; the next find all but those
		// naming their host (the Deployment, the setup Job, the Ingress).
		if name != "shop" && hits < len(parts)-3 {
			t.Errorf("store %s: %d of %d parts were in the cache, want all but 3", name, hits, len(parts))
		}
	}

	// What depends on the store is checked each time, cached or not.
	ing := "---\n# Source: woocommerce-store/templates/ingress.yaml\n" + toYAML(t, ingress(func(*networkingv1.Ingress) {}))
	inNS := "---\n" + toYAML(t, configMap(func(c *corev1.ConfigMap) { c.Namespace = Namespace("shop") }))
	for _, doc := range []string{ing, inNS} {
		if _, err := cachedCheck(t, k, "shop").check([]byte(doc)); err != nil {
			t.Fatalf("store shop refused its own document: %v\n%s", err, doc)
		}
		_, err := cachedCheck(t, k, "other").check([]byte(doc))
		_, uncached := renderCheckFor(Namespace("other"), storeRoute{host: "other." + testBaseDomain}).check([]byte(doc))
		if err == nil || uncached == nil || err.Error() != uncached.Error() {
			t.Errorf("store other checked shop's document, cached, with %v; uncached: %v\n%s", err, uncached, doc)
		}
	}

	// A stream that does not read: the same error, numbered in the whole
	// stream.
	bad := "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, bogus: 1}\n"
	_, err := cachedCheck(t, k, "shop").check([]byte(bad))
	_, want := renderCheckFor(Namespace("shop"), storeRoute{host: "shop." + testBaseDomain}).check([]byte(bad))
	if err == nil || want == nil || err.Error() != want.Error() || !strings.Contains(err.Error(), "document 2") {
		t.Errorf("bad stream: cached %v, uncached %v", err, want)
	}
	// A part that does not read alone, though the stream does.
	directive := "%YAML 1.2\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
	got, err := cachedCheck(t, k, "shop").check([]byte(directive))
	wantM, wantErr := renderCheckFor(Namespace("shop"), storeRoute{host: "shop." + testBaseDomain}).check([]byte(directive))
	if (err == nil) != (wantErr == nil) || got.yaml != wantM.yaml {
		t.Errorf("stream with a directive: cached %q, %v; uncached %q, %v", got.yaml, err, wantM.yaml, wantErr)
	}
}

// TestRenderCheckCacheConcurrent: installs share the cache (run with -race).
func TestRenderCheckCacheConcurrent(t *testing.T) {
	k := &Kube{}
	plan := BuiltinPlans()[0]
	vals, err := chartValues(testStoreName, plan, Options{BaseDomain: testBaseDomain, IngressClass: "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := renderStore(t, vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := renderCheckFor(testNamespace, storeRoute{host: testHost}).check([]byte(m))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				got, err := cachedCheck(t, k, testStoreName).check([]byte(m))
				if err != nil || got.yaml != want.yaml {
					t.Errorf("concurrent cached check: %v, same output: %v", err, got.yaml == want.yaml)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDocCacheGenerations(t *testing.T) {
	var c docCache
	hot := []byte("hot")
	c.put(hot, []readDoc{{what: "hot"}})
	for i := range 10 * docCacheGeneration {
		c.put([]byte(fmt.Sprint("cold", i)), nil)
		if _, ok := c.get(hot); !ok {
			t.Fatalf("a part read by every install left the cache after %d others", i+1)
		}
	}
	if n := len(c.gens.cur) + len(c.gens.prev); n > 2*docCacheGeneration {
		t.Errorf("cache holds %d parts, want at most %d", n, 2*docCacheGeneration)
	}
	if _, ok := c.get([]byte("cold0")); ok {
		t.Error("a part read once is still held 10 generations on")
	}
	if _, ok := c.get(bytes.Clone(hot)); !ok {
		t.Error("lookup by equal text missed")
	}
}
