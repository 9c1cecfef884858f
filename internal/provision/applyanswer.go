package provision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// The API server answers a server-side apply with the object applied,
// whole: its spec, its status, its managed fields. Helm's client decodes
// that answer into maps, and keeps of it only the object's identity
// (slimApplied): decoding the answers was 3 % of serve's CPU while 200
// stores were made. Helm's applies in store namespaces therefore ask for
// the object's metadata alone, in protobuf (as client-go's metadata
// client asks), and Helm's client is handed, as JSON, the identity
// slimApplied keeps: kind, name, namespace, uid, resourceVersion,
// generation and labels. (An earlier try, 7d8e5a3 undoing f746a87, had
// the whole JSON answer decoded into a struct instead: encoding/json cost
// more than the maps it saved.)
//
// Services are left as they are: slimApplied keeps a Service's type too,
// which is not metadata.

// applyAccept asks for the metadata of the object applied, in protobuf;
// errors come back as a Status, in protobuf or JSON.
const applyAccept = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

// identityKind is the kind of the resources whose apply answers are cut
// to their identity: those the reconciler caches in every store namespace
// (the store chart's kinds and urumi's own), but Services; or "".
func identityKind(gvr schema.GroupVersionResource) string {
	if kind := storeResourceKind(gvr); kind != "Service" {
		return kind
	}
	return ""
}

// identityApply sends req, a server-side apply of an object of kind gvr
// in a store namespace, asking for the metadata alone in answer, and
// hands back its answer as identityAnswer makes it. A server that cannot
// answer so (406) is asked again as Helm asked.
func (c cacheReads) identityApply(req *http.Request, gvr schema.GroupVersionResource, kind string) (*http.Response, error) {
	if req.GetBody == nil && req.Body != nil && req.Body != http.NoBody {
		return c.next.RoundTrip(req) // could not be sent again
	}
	ask := req.Clone(req.Context())
	ask.Header.Set("Accept", applyAccept)
	resp, err := c.next.RoundTrip(ask)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotAcceptable {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		again := req.Clone(req.Context())
		if req.GetBody != nil {
			if again.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		return c.next.RoundTrip(again)
	}
	return identityAnswer(resp, gvr.GroupVersion().WithKind(kind))
}

// appliedIdentity is the JSON Helm's client is handed for an applied
// object (what slimApplied keeps).
type appliedIdentity struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Metadata   identityMetadata `json:"metadata"`
}

type identityMetadata struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace,omitempty"`
	UID             types.UID         `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Generation      int64             `json:"generation,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
}

// identityAnswer turns the API server's protobuf answer to an apply
// asked for metadata (a PartialObjectMetadata, or a Status when it
// failed) into the JSON Helm's client reads: the object's identity as
// kind gvk, or the Status. An answer in JSON passes as it came.
func identityAnswer(resp *http.Response, gvk schema.GroupVersionKind) (*http.Response, error) {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.kubernetes.protobuf") {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the answer to an apply: %w", err)
	}
	_, raw, ok := wireEnvelope(body)
	if !ok {
		return nil, fmt.Errorf("read the answer to an apply (HTTP %d): not a protobuf object", resp.StatusCode)
	}
	var out any
	if resp.StatusCode/100 == 2 {
		var m metav1.PartialObjectMetadata
		if err := m.Unmarshal(raw); err != nil {
			return nil, fmt.Errorf("read the answer to an apply: %w", err)
		}
		out = appliedIdentity{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Metadata: identityMetadata{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
			Generation: m.Generation, Labels: m.Labels}}
	} else {
		var st metav1.Status
		if err := st.Unmarshal(raw); err != nil {
			return nil, fmt.Errorf("read the answer to an apply (HTTP %d): %w", resp.StatusCode, err)
		}
		st.APIVersion, st.Kind = "v1", "Status"
		out = st
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("read the answer to an apply: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Del("Content-Length")
	return resp, nil
}
