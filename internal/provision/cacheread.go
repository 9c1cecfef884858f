package provision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Helm reads every object of a release before it writes it: on install, to
// refuse to take over an object it did not make; on upgrade, to choose
// between creating and patching. That is one GET per object, twelve per
// store, besides the twelve writes. In `urumi serve` the drift reconciler
// already keeps every kind the store chart makes in memory, so Helm's
// clients read those GETs from it, the way controller-runtime's clients
// read from their informers and write to the API server. Writes, lists,
// watches, Secrets (Helm's release records) and anything outside the store
// namespaces still go to the API server.
//
// A cached copy may be a moment behind. Neither use suffers: every write
// is a server-side apply, which creates or patches whichever the object
// turns out to be, and an object made by someone else a moment before an
// install is still refused by the API server, as a field-manager conflict
// on the apply instead of Helm's ownership check.

// cacheReads is the transport of Helm's clients: GETs of one object in a
// store namespace, of a kind the reconciler caches, are answered from its
// informers while it runs; everything else goes on to next.
type cacheReads struct {
	k    *Kube
	next http.RoundTripper
}

// helmRESTConfig is config for Helm's clients: one transport, built once
// (TLS, credentials and user agent), whose single-object reads may come
// from the reconciler's cache. Built once, the transport keeps its
// connections across installs; client-go cannot share one of a config
// with a wrapper.
func helmRESTConfig(config *rest.Config, k *Kube) (*rest.Config, error) {
	base, err := rest.TransportFor(config)
	if err != nil {
		return nil, fmt.Errorf("kubernetes transport: %w", err)
	}
	return &rest.Config{
		Host: config.Host, APIPath: config.APIPath, ContentConfig: config.ContentConfig,
		QPS: config.QPS, Burst: config.Burst, Timeout: config.Timeout, UserAgent: config.UserAgent,
		Transport: cacheReads{k: k, next: base},
	}, nil
}

func (c cacheReads) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPatch && req.Header.Get("Content-Type") == string(types.ApplyPatchType) {
		if gvr, ns, _, ok := singleObjectPath(req.URL.Path); ok && strings.HasPrefix(ns, namespacePrefix) {
			if kind := identityKind(gvr); kind != "" {
				return c.identityApply(req, gvr, kind)
			}
		}
	}
	dc := c.k.waitCache.Load()
	if dc == nil || req.Method != http.MethodGet || req.URL.RawQuery != "" || !acceptsJSON(req.Header.Get("Accept")) {
		return c.next.RoundTrip(req)
	}
	gvr, ns, name, ok := singleObjectPath(req.URL.Path)
	if !ok || !strings.HasPrefix(ns, namespacePrefix) {
		return c.next.RoundTrip(req)
	}
	kind, idx := dc.byResource(gvr)
	if idx == nil {
		return c.next.RoundTrip(req)
	}
	obj, found, err := idx.GetByKey(ns + "/" + name)
	if err != nil {
		return c.next.RoundTrip(req)
	}
	if !found {
		st := apierrors.NewNotFound(gvr.GroupResource(), name).ErrStatus
		st.APIVersion, st.Kind = "v1", "Status"
		return jsonResponse(req, http.StatusNotFound, st)
	}
	if obj, err = unpack(obj); err != nil {
		return c.next.RoundTrip(req)
	}
	ro, ok := obj.(runtime.Object)
	if !ok {
		return c.next.RoundTrip(req)
	}
	u, err := toUnstructured(ro)
	if err != nil {
		return c.next.RoundTrip(req)
	}
	u.SetGroupVersionKind(gvr.GroupVersion().WithKind(kind))
	return jsonResponse(req, http.StatusOK, u.Object)
}

// acceptsJSON: Helm's clients ask for JSON (or say nothing).
func acceptsJSON(accept string) bool {
	return accept == "" || strings.Contains(accept, "json") || strings.Contains(accept, "*/*")
}

func jsonResponse(req *http.Request, code int, v any) (*http.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       req,
	}, nil
}

// singleObjectPath parses /api/v1/namespaces/NS/RESOURCE/NAME and
// /apis/GROUP/VERSION/namespaces/NS/RESOURCE/NAME (no subresource).
func singleObjectPath(path string) (gvr schema.GroupVersionResource, ns, name string, ok bool) {
	p := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(p) == 6 && p[0] == "api" && p[2] == "namespaces":
		return schema.GroupVersionResource{Version: p[1], Resource: p[4]}, p[3], p[5], true
	case len(p) == 7 && p[0] == "apis" && p[3] == "namespaces":
		return schema.GroupVersionResource{Group: p[1], Version: p[2], Resource: p[5]}, p[4], p[6], true
	}
	return gvr, "", "", false
}

// byResource is the kind and informer index of a resource the reconciler
// caches in full in every store namespace, or nil. (Secrets are cached
// only when labelled urumi's or Helm's, so they are not among them.)
func (c *driftCache) byResource(gvr schema.GroupVersionResource) (string, cache.Indexer) {
	kind := storeResourceKind(gvr)
	switch kind {
	case "ConfigMap":
		return kind, c.configMaps
	case "Service":
		return kind, c.services
	case "PersistentVolumeClaim":
		return kind, c.claims
	case "ResourceQuota":
		return kind, c.quotas
	case "LimitRange":
		return kind, c.limitRanges
	case "Deployment":
		return kind, c.deployments
	case "StatefulSet":
		return kind, c.statefulSets
	case "Job":
		return kind, c.jobs
	case "CronJob":
		return kind, c.cronJobs
	case "Ingress":
		return kind, c.ingresses
	case "NetworkPolicy":
		return kind, c.policies
	}
	return "", nil
}

// storeResourceKind is the kind of a resource the reconciler caches in
// full in every store namespace, or "".
func storeResourceKind(gvr schema.GroupVersionResource) string {
	switch gvr {
	case schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}:
		return "ConfigMap"
	case schema.GroupVersionResource{Version: "v1", Resource: "services"}:
		return "Service"
	case schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}:
		return "PersistentVolumeClaim"
	case schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}:
		return "ResourceQuota"
	case schema.GroupVersionResource{Version: "v1", Resource: "limitranges"}:
		return "LimitRange"
	case schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}:
		return "Deployment"
	case schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}:
		return "StatefulSet"
	case schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}:
		return "Job"
	case schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}:
		return "CronJob"
	case schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}:
		return "Ingress"
	case schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}:
		return "NetworkPolicy"
	}
	return ""
}
