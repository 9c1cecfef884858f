package provision

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	release "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/urumi/urumi/internal/store"
)

// Helm keeps each revision of a release as a Secret in the release's
// namespace (its "secret" storage driver): labelled owner=helm,
// name=<release>, status=<status>, version=<revision>, with the release,
// JSON, gzipped, base64-encoded, under the key "release". `store check`
// reads these records from its snapshot of the cluster instead of opening
// a Helm configuration per store.

// helmRecordSelector selects the release records a check needs: every
// revision but the superseded ones. The newest revision is never
// superseded (a revision is superseded when a newer one is deployed), so
// the newest of what this selects is the release's last revision.
const helmRecordSelector = "owner=helm,status!=superseded"

// urumiSecretSelector selects the Secrets urumi made itself. Helm's release
// records carry urumi's label too (an install labels them), and are a
// hundred times the size: they have their own selector.
const urumiSecretSelector = LabelManagedBy + "=" + ManagedBy + ",owner!=helm"

// recordedRevision is the Helm revision urumi recorded for the store, 0
// when it recorded none (a check then asks only that the last revision
// be deployed).
func recordedRevision(st store.Store) int {
	return st.Release.Revision
}

// helmRecord is one release revision as its Secret's labels say, with the
// Secret (or the cache's compact record) to decode when the check needs
// its manifest.
type helmRecord struct {
	Name     string
	Version  int
	Status   string
	secret   *corev1.Secret
	compact  *compactRecord
	decoded  *release.Release
	decodeEr error
}

func newHelmRecord(s *corev1.Secret) (helmRecord, bool) {
	r, ok := recordLabels(s.Labels)
	r.secret = s
	return r, ok
}

// recordLabels is the revision a release record's labels name; false when
// they are not Helm's.
func recordLabels(labels map[string]string) (helmRecord, bool) {
	if labels["owner"] != "helm" {
		return helmRecord{}, false
	}
	v, err := strconv.Atoi(labels["version"])
	if err != nil {
		return helmRecord{}, false
	}
	return helmRecord{Name: labels["name"], Version: v, Status: labels["status"]}, true
}

// objects are the objects of the record's manifest.
func (r *helmRecord) objects() ([]*unstructured.Unstructured, error) {
	if r.compact != nil {
		objs, err := r.compact.objects()
		if err != nil {
			return nil, fmt.Errorf("decode Helm release record %s: %w", r.compact.Name, err)
		}
		return objs, nil
	}
	rel, err := r.release()
	if err != nil {
		return nil, err
	}
	return manifestObjects(rel.Manifest)
}

// release decodes the release of a record read from the cluster.
func (r *helmRecord) release() (*release.Release, error) {
	if r.decoded != nil || r.decodeEr != nil {
		return r.decoded, r.decodeEr
	}
	r.decoded, r.decodeEr = decodeHelmRelease(r.secret.Data["release"])
	if r.decodeEr != nil {
		r.decodeEr = fmt.Errorf("decode Helm release record %s: %w", r.secret.Name, r.decodeEr)
	}
	return r.decoded, r.decodeEr
}

// decodeHelmRelease reads a release as Helm's storage drivers write it:
// base64 of gzipped JSON (or, from Helm releases older than compression,
// base64 of JSON).
func decodeHelmRelease(data []byte) (*release.Release, error) {
	b, err := inflateRecord(data)
	if err != nil {
		return nil, err
	}
	var rel release.Release
	if err := json.Unmarshal(b, &rel); err != nil {
		return nil, err
	}
	return &rel, nil
}

// inflateRecord is the JSON of a release record's data.
func inflateRecord(data []byte) ([]byte, error) {
	b := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
	n, err := base64.StdEncoding.Decode(b, data)
	if err != nil {
		return nil, err
	}
	b = b[:n]
	if len(b) > 3 && bytes.Equal(b[:3], []byte{0x1f, 0x8b, 0x08}) {
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer r.Close()
		// A release is a few hundred kilobytes; bound what a hostile
		// record could make us inflate.
		return io.ReadAll(io.LimitReader(r, 64<<20))
	}
	return b, nil
}

// checkedParts is what a check reads of a release record; decoding only
// it skips building the chart the record carries.
type checkedParts struct {
	Manifest string `json:"manifest,omitempty"`
}

// manifestObjects parses a release manifest into its objects.
func manifestObjects(manifest string) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(manifest)), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				return objs, nil
			}
			return nil, fmt.Errorf("parse the release manifest: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}
