package provision

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// passedOn records the requests the cache did not answer.
type passedOn struct {
	mu   sync.Mutex
	reqs []string
}

func (p *passedOn) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req.Method+" "+req.URL.RequestURI())
	p.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}`))), Request: req}, nil
}

func TestCacheReads(t *testing.T) {
	ctx := context.Background()
	configMaps := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	_ = configMaps.Add(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "setup", Labels: map[string]string{"app.kubernetes.io/managed-by": "Helm"}},
		Data:       map[string]string{"k": "v"},
	})
	k := &Kube{}
	next := &passedOn{}
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: "http://cluster.invalid", Transport: cacheReads{k: k, next: next}})
	if err != nil {
		t.Fatal(err)
	}
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

	// No reconciler running: everything goes to the API server.
	if _, err := dyn.Resource(cms).Namespace("store-a").Get(ctx, "setup", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(next.reqs) != 1 {
		t.Fatalf("without a cache the GET went %v, want to the API server", next.reqs)
	}
	next.reqs = nil

	// Services are kept packed (packed.go), against a reference (delta.go): read back whole.
	services := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	_ = services.Add(pack(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "wordpress", Generation: 1},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}, packedAs[corev1.Service](), newDeltaRefs()))
	k.waitCache.Store(&driftCache{configMaps: configMaps, services: services})
	svc, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "services"}).Namespace("store-a").Get(ctx, "wordpress", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports"); svc.GetKind() != "Service" || len(ports) != 1 {
		t.Errorf("cached packed Service read back as %v", svc.Object)
	}
	got, err := dyn.Resource(cms).Namespace("store-a").Get(ctx, "setup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetKind() != "ConfigMap" || got.GetAPIVersion() != "v1" || got.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" || got.Object["data"].(map[string]any)["k"] != "v" {
		t.Errorf("cached ConfigMap read back as %v", got.Object)
	}
	_, err = dyn.Resource(cms).Namespace("store-a").Get(ctx, "missing", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("an object not in the cache: %v, want NotFound", err)
	}
	if len(next.reqs) != 0 {
		t.Errorf("cached reads reached the API server: %v", next.reqs)
	}

	// What the cache does not hold in full, or is not a plain read of one
	// object in a store namespace, goes on.
	_, _ = dyn.Resource(secrets).Namespace("store-a").Get(ctx, "x", metav1.GetOptions{})
	_, _ = dyn.Resource(cms).Namespace("kube-system").Get(ctx, "setup", metav1.GetOptions{})
	_, _ = dyn.Resource(cms).Namespace("store-a").Get(ctx, "setup", metav1.GetOptions{ResourceVersion: "0"})
	_, _ = dyn.Resource(cms).Namespace("store-a").List(ctx, metav1.ListOptions{})
	_, _ = dyn.Resource(cms).Namespace("store-a").Get(ctx, "setup", metav1.GetOptions{}, "status")
	if len(next.reqs) != 5 {
		t.Errorf("passed on %d requests, want 5: %v", len(next.reqs), next.reqs)
	}
}

func TestSingleObjectPath(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/namespaces/store-a/configmaps/x":          "/v1, Resource=configmaps store-a x",
		"/apis/apps/v1/namespaces/store-a/deployments/wp":  "apps/v1, Resource=deployments store-a wp",
		"/apis/apps/v1/namespaces/store-a/deployments":     "",
		"/api/v1/namespaces/store-a":                       "",
		"/apis/apps/v1/namespaces/store-a/deployments/w/s": "",
	} {
		gvr, ns, name, ok := singleObjectPath(path)
		got := ""
		if ok {
			got = gvr.String() + " " + ns + " " + name
		}
		if got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}
