package provision

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// protoAnswer writes obj as the API server writes protobuf: the prefix,
// then a runtime.Unknown carrying the object.
func protoAnswer(t *testing.T, w http.ResponseWriter, code int, apiVersion, kind string, obj interface{ Marshal() ([]byte, error) }) {
	t.Helper()
	raw, err := obj.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	u := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: apiVersion, Kind: kind}, Raw: raw}
	b, err := u.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
	w.WriteHeader(code)
	_, _ = w.Write(append([]byte(protobufPrefix), b...))
}

// TestIdentityApply: Helm's applies in store namespaces ask for the
// metadata alone and get back the identity slimApplied keeps, as the
// kind applied; a failure keeps its Status (reason and message); a
// server that refuses to answer so is asked again as Helm asked; a
// Service's apply, and one outside the store namespaces, are untouched.
func TestIdentityApply(t *testing.T) {
	var mu sync.Mutex
	var accepts, bodies []string
	refuse := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		accepts = append(accepts, r.Header.Get("Accept"))
		bodies = append(bodies, string(body))
		refusing := refuse
		mu.Unlock()
		asked := strings.HasPrefix(r.Header.Get("Accept"), "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata")
		switch {
		case asked && refusing:
			w.WriteHeader(http.StatusNotAcceptable)
		case asked && strings.HasSuffix(r.URL.Path, "/taken"):
			st := apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "taken",
				errString("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas")).ErrStatus
			protoAnswer(t, w, http.StatusConflict, "v1", "Status", &st)
		case asked:
			m := metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
				Name: "wordpress", Namespace: "store-a", UID: "u-1", ResourceVersion: "42", Generation: 3,
				Labels:        map[string]string{"app.kubernetes.io/instance": "store"},
				Annotations:   map[string]string{"meta.helm.sh/release-name": "store"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "helm", Operation: metav1.ManagedFieldsOperationApply}},
			}}
			protoAnswer(t, w, http.StatusOK, "meta.k8s.io/v1", "PartialObjectMetadata", &m)
		default: // the whole object, in JSON
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"wordpress","namespace":"store-a","uid":"u-1"},"spec":{"replicas":1},"status":{"replicas":1}}`))
		}
	}))
	defer srv.Close()
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: srv.URL, Transport: cacheReads{k: &Kube{}, next: http.DefaultTransport}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "wordpress"}, "spec": map[string]any{"replicas": int64(1)}}}
	apply := func(ns, name string) (*unstructured.Unstructured, error) {
		o := obj.DeepCopy()
		o.SetName(name)
		return dyn.Resource(deployments).Namespace(ns).Apply(ctx, name, o, metav1.ApplyOptions{FieldManager: "helm", Force: true})
	}

	got, err := apply("store-a", "wordpress")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{
		"name": "wordpress", "namespace": "store-a", "uid": "u-1", "resourceVersion": "42", "generation": int64(3),
		"labels": map[string]any{"app.kubernetes.io/instance": "store"}}}
	if a, b := mustJSON(t, got.Object), mustJSON(t, want); a != b {
		t.Errorf("the applied object reads\n%s\nwant\n%s", a, b)
	}
	if accepts[0] != applyAccept {
		t.Errorf("the apply asked for %q, want %q", accepts[0], applyAccept)
	}

	// A conflict keeps its reason and message.
	_, err = apply("store-a", "taken")
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `conflict with "kubectl": .spec.replicas`) {
		t.Errorf("a conflict reads %v, want the API server's conflict", err)
	}

	// A server that will not answer with metadata alone is asked again,
	// the same body, as Helm asked.
	mu.Lock()
	refuse, accepts, bodies = true, nil, nil
	mu.Unlock()
	got, err = apply("store-a", "wordpress")
	if err != nil {
		t.Fatal(err)
	}
	if len(accepts) != 2 || accepts[1] == applyAccept || bodies[0] != bodies[1] || bodies[1] == "" {
		t.Errorf("after a 406: Accept %q, bodies %q; want a second request as Helm asked, the same body", accepts, bodies)
	}
	if _, found, _ := unstructured.NestedMap(got.Object, "status"); !found {
		t.Error("after a 406: the answer is not the one the server sent")
	}

	// Outside the store namespaces, and for Services, nothing changes.
	mu.Lock()
	refuse, accepts = false, nil
	mu.Unlock()
	if _, err := apply("kube-system", "wordpress"); err != nil {
		t.Fatal(err)
	}
	svc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "wordpress"}}}
	_, _ = dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "services"}).Namespace("store-a").
		Apply(ctx, "wordpress", svc, metav1.ApplyOptions{FieldManager: "helm"})
	for _, a := range accepts {
		if a == applyAccept {
			t.Errorf("an apply outside the store namespaces, or of a Service, asked for metadata alone")
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
