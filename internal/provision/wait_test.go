package provision

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

func TestObjectStatusReader(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	r := newObjectStatusReader(mapper)
	for gk, want := range map[schema.GroupKind]bool{
		{Group: "apps", Kind: "Deployment"}: true, {Group: "apps", Kind: "StatefulSet"}: true,
		{Group: "apps", Kind: "ReplicaSet"}: true, {Group: "batch", Kind: "Job"}: false,
		{Kind: "Pod"}: false, {Kind: "Service"}: false,
	} {
		if got := r.Supports(gk); got != want {
			t.Errorf("Supports(%v) = %v, want %v", gk, got, want)
		}
	}

	deployment := func(ready int64) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "wordpress", "namespace": "store-shop", "generation": int64(1)},
			"spec":     map[string]any{"replicas": int64(1)},
			"status": map[string]any{
				"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1),
				"readyReplicas": ready, "availableReplicas": ready,
			},
		}}
		if ready == 1 {
			_ = unstructured.SetNestedSlice(u.Object, []any{
				map[string]any{"type": "Available", "status": "True"},
				map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
			}, "status", "conditions")
		}
		return u
	}
	// A nil cluster reader: computing the status must not read the cluster
	// (kstatus's own Deployment reader lists ReplicaSets and Pods here).
	for ready, want := range map[int64]status.Status{0: status.InProgressStatus, 1: status.CurrentStatus} {
		res, err := r.ReadStatusForObject(context.Background(), nil, deployment(ready))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != want {
			t.Errorf("%d of 1 ready: status %s (%s), want %s", ready, res.Status, res.Message, want)
		}
	}
}

// TestCapabilitiesCached shows Helm's view of the cluster is discovered once
// and reused, not fetched again for every store.
func TestCapabilitiesCached(t *testing.T) {
	var version, groups atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/version":
			version.Add(1)
			_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.1"}`))
		case "/api":
			groups.Add(1)
			_, _ = w.Write([]byte(`{"kind":"APIVersions","versions":["v1"]}`))
		case "/apis":
			_, _ = w.Write([]byte(`{"kind":"APIGroupList","apiVersion":"v1","groups":[]}`))
		case "/api/v1":
			_, _ = w.Write([]byte(`{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"secrets","namespaced":true,"kind":"Secret","verbs":["get"]}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	k, err := NewKube(&rest.Config{Host: srv.URL}, Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		caps, err := k.capabilities()
		if err != nil {
			t.Fatal(err)
		}
		if caps.KubeVersion.Version != "v1.37.1" || !caps.APIVersions.Has("v1") {
			t.Fatalf("capabilities %+v", caps)
		}
	}
	if version.Load() != 1 || groups.Load() != 1 {
		t.Errorf("5 reads fetched /version %d and /api %d times, want once each", version.Load(), groups.Load())
	}
	// Once they are old, the next read discovers again.
	k.caps.at = time.Now().Add(-capabilitiesTTL)
	if _, err := k.capabilities(); err != nil {
		t.Fatal(err)
	}
	if version.Load() != 2 || groups.Load() != 2 {
		t.Errorf("after the TTL: /version %d and /api %d fetches, want 2 each", version.Load(), groups.Load())
	}
}
