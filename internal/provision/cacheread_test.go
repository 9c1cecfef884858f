package provision

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
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

// answers is an API server that answers every request with one body.
type answers struct {
	code int
	body string
}

func (a answers) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: a.code, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader([]byte(a.body))), Request: req}, nil
}

func TestSlimApplyResponse(t *testing.T) {
	ctx := context.Background()
	apply := func(t *testing.T, next http.RoundTripper, gvr schema.GroupVersionResource, ns string) (*unstructured.Unstructured, error) {
		t.Helper()
		dyn, err := dynamic.NewForConfig(&rest.Config{Host: "http://cluster.invalid", Transport: cacheReads{k: &Kube{}, next: next}})
		if err != nil {
			t.Fatal(err)
		}
		return dyn.Resource(gvr).Namespace(ns).Patch(ctx, "wordpress", types.ApplyPatchType, []byte(`{}`), metav1.PatchOptions{FieldManager: "helm"})
	}
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	deployment := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"wordpress","namespace":"store-a","uid":"u-1",
		"resourceVersion":"42","generation":3,"labels":{"app":"wp"},"managedFields":[{"manager":"helm","fieldsV1":{"f:spec":{}}}]},
		"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"wordpress"}]}}},"status":{"replicas":1}}`

	got, err := apply(t, answers{http.StatusOK, deployment}, deployments, "store-a")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{
		"name": "wordpress", "namespace": "store-a", "uid": "u-1", "resourceVersion": "42", "generation": int64(3),
		"labels": map[string]any{"app": "wp"}}}
	if !equality.Semantic.DeepEqual(got.Object, want) {
		t.Errorf("applied Deployment read back as %v, want %v", got.Object, want)
	}

	// A Service keeps its type (the waits read it).
	svc := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"wordpress","namespace":"store-a"},
		"spec":{"type":"ClusterIP","ports":[{"port":80}]},"status":{}}`
	got, err = apply(t, answers{http.StatusOK, svc}, schema.GroupVersionResource{Version: "v1", Resource: "services"}, "store-a")
	if err != nil {
		t.Fatal(err)
	}
	if spec, _ := got.Object["spec"].(map[string]any); len(spec) != 1 || spec["type"] != "ClusterIP" {
		t.Errorf("applied Service's spec read back as %v, want its type alone", got.Object["spec"])
	}

	// Outside the store namespaces, the answer is as it came.
	got, err = apply(t, answers{http.StatusOK, deployment}, deployments, "kube-system")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Object["status"]; !ok || len(got.GetManagedFields()) != 1 {
		t.Errorf("an apply outside the store namespaces was cut down: %v", got.Object)
	}

	// A refusal still reads as the API server's error.
	conflict := `{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"Conflict","code":409,
		"message":"Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"}`
	if _, err := apply(t, answers{http.StatusConflict, conflict}, deployments, "store-a"); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "kubectl") {
		t.Errorf("a refused apply: %v, want the API server's conflict", err)
	}
}
