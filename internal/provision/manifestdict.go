package provision

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// compactRecord is a Helm release record as the reconciler's cache keeps
// it: its labels (release name, revision, status) and its manifest as
// the JSON of each document, each kept as a delta (delta.go) against the
// same document of the first manifest the cache saw. Every store's
// manifest is the same chart rendered with other names, so a record
// costs about 250 bytes where the record gzipped whole costs 9.5 KB
// (TestCompactRecord). Deflating each document against its reference
// instead cost 2 ms a record, 2 % of serve's CPU while a fleet was made,
// and the judge inflated every document at every look. JSON, because the
// judge parses the manifest at every look at the store, and parsing YAML
// was 6 % of serve's CPU at a thousand stores: the cache converts each
// record once, and the judge decodes JSON at a fraction of the cost.
type compactRecord struct {
	metav1.ObjectMeta
	parts []compactPart
}

// compactPart is one document of a manifest: its JSON, or its delta
// against ref.
type compactPart struct {
	ref  *deltaRef
	data []byte
}

// manifestDict holds the references manifests' documents are kept
// against. A document's key is its first line: Helm starts each document
// of a manifest with a "# Source:" comment naming its template. A
// reference, once taken, never changes (see deltaRef); past
// maxDeltaRefs keys, documents are kept whole.
type manifestDict struct {
	refs *deltaRefs
	// rendered holds the documents of the manifests this process checked
	// and stored, until their records come through the watch.
	rendered renderedDocs
}

func newManifestDict() *manifestDict {
	return &manifestDict{refs: newDeltaRefs()}
}

// compact returns the compact form of Helm release record s, or s itself
// when its record does not decode (for the check to report), or while it
// is pending: a pending record lives while its operation runs, seconds,
// and the reconciler does not judge a store while a job changes it;
// compacting it would cost the conversion the record pays again when its
// operation ends.
func (d *manifestDict) compact(s *corev1.Secret) any {
	if strings.HasPrefix(s.Labels["status"], "pending-") {
		return s
	}
	docs, ok := d.rendered.take(s.Data["release"])
	if !ok {
		b, err := inflateRecord(s.Data["release"])
		if err != nil {
			return s
		}
		var p checkedParts
		if err := json.Unmarshal(b, &p); err != nil {
			return s
		}
		if docs, err = manifestDocs(p.Manifest); err != nil {
			return s // the judge parses it as it is, and reports what is wrong
		}
	}
	return &compactRecord{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion,
			Labels: s.Labels, DeletionTimestamp: s.DeletionTimestamp},
		parts: d.keep(docs),
	}
}

// manifestDoc is one document of a manifest as JSON, and its key: the
// document's first line.
type manifestDoc struct {
	key, json string
}

// manifestDocs converts a manifest into the JSON of each of its documents
// exactly as manifestObjects parses it: the same YAML reader splits it and
// the same conversion turns each document into JSON; manifestDocObject
// then decodes it as manifestObjects decodes what the conversion gave. A
// manifest that manifestObjects would read as JSON, or a document that is
// not an object, is an error: the record is then cached as it is.
func manifestDocs(manifest string) ([]manifestDoc, error) {
	if strings.HasPrefix(strings.TrimLeft(manifest, " \t\r\n"), "{") {
		return nil, errors.New("a manifest in JSON")
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var docs []manifestDoc
	for {
		doc, err := r.Read()
		if len(doc) != 0 {
			j, err := sigsyaml.YAMLToJSON(doc)
			if err != nil {
				return nil, err
			}
			if !bytes.HasPrefix(j, []byte("{")) && string(j) != "null" {
				return nil, errors.New("a document that is not an object")
			}
			key, _, _ := strings.Cut(string(doc), "\n")
			docs = append(docs, manifestDoc{key: key, json: string(j)})
		}
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// renderedDocs holds, for the release records this process wrote with a
// manifest the render gate re-encoded, the JSON of each of the manifest's
// documents as the gate checked them, until the record comes through the
// cache's watch. Reading them out of the record there (inflating some
// 200 KB of JSON, then converting the manifest's YAML) cost 3.6 % of
// serve's CPU while a fleet was made. The gate's documents are what
// manifestDocs reads of the re-encoding (TestRenderedDocs), so the cache
// holds the same either way. A record is known by the SHA-256 of its data
// as written: a record this process did not write (another replica's, one
// changed by hand, one read again after a restart) is read as before.
// Only records no longer pending are held (the cache does not compact
// pending ones), at most maxRenderedDocs, the oldest dropped first (a write
// that failed leaves one behind).
type renderedDocs struct {
	mu    sync.Mutex
	docs  map[[sha256.Size]byte][]manifestDoc
	order [][sha256.Size]byte
}

const maxRenderedDocs = 64

func (r *renderedDocs) put(record []byte, docs []manifestDoc) {
	key := sha256.Sum256(record)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.docs == nil {
		r.docs = map[[sha256.Size]byte][]manifestDoc{}
	}
	if _, ok := r.docs[key]; ok {
		return
	}
	for len(r.order) >= maxRenderedDocs {
		delete(r.docs, r.order[0])
		r.order = r.order[1:]
	}
	r.docs[key] = docs
	r.order = append(r.order, key)
}

// take returns the documents of the record with this data, if held, and
// forgets them.
func (r *renderedDocs) take(record []byte) ([]manifestDoc, bool) {
	key := sha256.Sum256(record)
	r.mu.Lock()
	defer r.mu.Unlock()
	docs, ok := r.docs[key]
	if !ok {
		return nil, false
	}
	delete(r.docs, key)
	if i := slices.Index(r.order, key); i >= 0 {
		r.order = slices.Delete(r.order, i, i+1)
	}
	return docs, true
}

// manifestDocObject decodes a document manifestDocs converted, as
// manifestObjects' YAML decoder decodes what it converts (numbers are
// float64).
func manifestDocObject(doc []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.NewDecoder(bytes.NewReader(doc)).Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// keep is docs as a compact record keeps them.
func (d *manifestDict) keep(docs []manifestDoc) []compactPart {
	parts := make([]compactPart, 0, len(docs))
	for _, doc := range docs {
		data, ref := d.refs.delta(doc.key, []byte(doc.json))
		parts = append(parts, compactPart{ref: ref, data: data})
	}
	return parts
}

// objects decodes the record's manifest: what manifestObjects makes of
// the manifest Helm wrote.
func (r *compactRecord) objects() ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for i, p := range r.parts {
		doc, err := undelta(p.data, p.ref)
		if err != nil {
			return nil, fmt.Errorf("document %d of the cached manifest: %w", i+1, err)
		}
		m, err := manifestDocObject(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d of the cached manifest: %w", i+1, err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs, nil
}

// record is the helmRecord a check reads.
func (r *compactRecord) record() (helmRecord, bool) {
	rec, ok := recordLabels(r.Labels)
	rec.compact = r
	return rec, ok
}
