package provision

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"helm.sh/helm/v4/pkg/kube"
)

// offlineKube is a Kube whose Helm clients build objects without a
// cluster: its REST mapper knows the store chart's kinds.
func offlineKube() *Kube {
	gvs := []schema.GroupVersion{{Version: "v1"}, {Group: "apps", Version: "v1"}, {Group: "batch", Version: "v1"},
		{Group: "networking.k8s.io", Version: "v1"}, {Group: "gateway.networking.k8s.io", Version: "v1"}}
	m := meta.NewDefaultRESTMapper(gvs)
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Service"}, {Version: "v1", Kind: "PersistentVolumeClaim"},
		{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "apps", Version: "v1", Kind: "StatefulSet"},
		{Group: "batch", Version: "v1", Kind: "Job"}, {Group: "batch", Version: "v1", Kind: "CronJob"},
		{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, {Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"},
	} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	return &Kube{config: &rest.Config{Host: "http://127.0.0.1:1"}, mapper: m}
}

// checkedDocs is the store chart for store name, as the render check of
// its namespace passes it.
func checkedDocs(t *testing.T, name string) (string, checkedManifest) {
	t.Helper()
	o := Options{BaseDomain: testBaseDomain, IngressClass: "nginx"}
	vals, err := chartValues(name, BuiltinPlans()[0], o)
	if err != nil {
		t.Fatal(err)
	}
	ns := Namespace(name)
	raw, err := renderStoreIn(t, ns, vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newRenderGate(renderCheckFor(ns, routeOf(name, o)), nil).manifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return ns, m
}

// TestBuiltDocsAsHelmBuilds: what builtDocs makes of the checked
// documents of one store, then of another (most of them copies of the
// first's), is what Helm's Build makes of them: the same objects, in the
// namespace each is built for, with the same mapping; and a copy handed
// out may be changed without changing what is kept.
func TestBuiltDocsAsHelmBuilds(t *testing.T) {
	k := offlineKube()
	var b builtDocs
	for round, name := range []string{"shop", "other", "third"} {
		ns, m := checkedDocs(t, name)
		kc := kube.New(getter{k: k, namespace: ns})
		want, err := kc.Build(strings.NewReader(m.build()), false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.build(kc, ns, m.docs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || len(got) < 8 {
			t.Fatalf("%s: built %d objects, Helm's Build %d", name, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Name != w.Name || g.Namespace != w.Namespace || g.Source != w.Source || g.ResourceVersion != w.ResourceVersion {
				t.Errorf("%s: object %d is %s/%s (%q %q), Helm's %s/%s (%q %q)", name, i, g.Namespace, g.Name, g.Source, g.ResourceVersion, w.Namespace, w.Name, w.Source, w.ResourceVersion)
			}
			if !reflect.DeepEqual(g.Mapping, w.Mapping) || g.Client == nil {
				t.Errorf("%s: object %d's mapping %v, Helm's %v (client %v)", name, i, g.Mapping, w.Mapping, g.Client)
			}
			if !reflect.DeepEqual(g.Object, w.Object) {
				t.Errorf("%s: object %d differs from Helm's:\n%v\n%v", name, i, g.Object, w.Object)
			}
			if g.Namespace != ns {
				t.Errorf("%s: object %d in namespace %q", name, i, g.Namespace)
			}
		}
		if round > 0 {
			// The second store's documents but its routes and setup
			// Job were the first's.
			b.mu.Lock()
			kept := len(b.gens.cur) + len(b.gens.prev)
			b.mu.Unlock()
			if wantKept := len(m.docs) + 3*round; kept > wantKept {
				t.Errorf("after %d stores, %d documents kept; want most of them shared (at most %d)", round+1, kept, wantKept)
			}
		}
		// Changing what was handed out changes nothing kept.
		for _, info := range got {
			u := info.Object.(*unstructured.Unstructured)
			u.SetLabels(map[string]string{"changed": "yes"})
			u.SetNamespace("elsewhere")
		}
	}
}
