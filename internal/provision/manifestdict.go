package provision

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// compactRecord is a Helm release record as the reconciler's cache keeps
// it: its labels (release name, revision, status) and its manifest, each
// part of which is deflated against the same part of the first manifest
// the cache saw. Every store's manifest is the same chart rendered with
// other names, so a part costs tens of bytes where the record gzipped
// whole costs 12 KB: at a thousand stores, 12 MB held instead of 0.6 MB.
type compactRecord struct {
	metav1.ObjectMeta
	parts []compactPart
}

// compactPart is one part of a manifest: data continues ref's stream, or,
// where ref is nil, is a deflate stream of its own.
type compactPart struct {
	ref  *dictPart
	data []byte
}

// manifestDict holds the reference parts manifests are deflated against.
// A part's key is its first two lines: Helm starts each document of a
// manifest with "---" and a "# Source:" comment naming its template. A reference,
// once taken, never changes: records deflated against it must read back.
// What a reference holds only decides how well others compress, never
// what they read back as.
type manifestDict struct {
	mu    sync.RWMutex
	parts map[string]*dictPart
	// writers are deflaters, each 600 KB: kept for the next record.
	writers sync.Pool
}

// dictPart is a reference part, and its deflate stream flushed: the
// stream every part deflated against it continues.
type dictPart struct {
	text   []byte
	prefix []byte
}

const (
	// maxDictParts bounds the references kept (the store chart renders a
	// dozen documents); later keys are deflated without one.
	maxDictParts = 64
	// maxDictPart is deflate's window: what lies further back is never
	// referred to.
	maxDictPart = 32 << 10
	// manifestLevel is the deflate level: levels below 2 ignore what
	// came before the flush.
	manifestLevel = 5
)

func newManifestDict() *manifestDict {
	return &manifestDict{parts: map[string]*dictPart{}}
}

// compact returns the compact form of Helm release record s, or s itself
// when its record does not decode (for the check to report).
func (d *manifestDict) compact(s *corev1.Secret) any {
	b, err := inflateRecord(s.Data["release"])
	if err != nil {
		return s
	}
	var p checkedParts
	if err := json.Unmarshal(b, &p); err != nil {
		return s
	}
	parts, err := d.deflate(p.Manifest)
	if err != nil {
		return s
	}
	return &compactRecord{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, UID: s.UID, ResourceVersion: s.ResourceVersion,
			Labels: s.Labels, DeletionTimestamp: s.DeletionTimestamp},
		parts: parts,
	}
}

// splitManifest cuts a manifest before each line that starts a document
// ("---"); the parts, joined, are the manifest.
func splitManifest(m string) []string {
	var parts []string
	for len(m) > 0 {
		i := strings.Index(m[1:], "\n---")
		if i < 0 {
			return append(parts, m)
		}
		parts = append(parts, m[:i+2])
		m = m[i+2:]
	}
	return parts
}

// partKey is a part's first two lines ("---" and Helm's "# Source:").
func partKey(part string) string {
	end := 0
	for range 2 {
		i := strings.IndexByte(part[end:], '\n')
		if i < 0 {
			return part
		}
		end += i + 1
	}
	return part[:end]
}

func (d *manifestDict) deflate(manifest string) ([]compactPart, error) {
	split := splitManifest(manifest)
	parts := make([]compactPart, 0, len(split))
	var buf bytes.Buffer
	for _, s := range split {
		ref := d.reference(partKey(s), s)
		buf.Reset()
		n, err := d.deflatePart(&buf, ref, s)
		if err != nil {
			return nil, err
		}
		if ref != nil && !bytes.Equal(buf.Bytes()[:n], ref.prefix) {
			// Not the stream the reference starts with after all: deflate
			// the part on its own.
			ref = nil
			buf.Reset()
			if n, err = d.deflatePart(&buf, nil, s); err != nil {
				return nil, err
			}
		}
		parts = append(parts, compactPart{ref: ref, data: bytes.Clone(buf.Bytes()[n:])})
	}
	return parts, nil
}

// deflatePart writes ref's text (when there is a reference) and part to
// buf, flushing between them, and returns where part's bytes start.
func (d *manifestDict) deflatePart(buf *bytes.Buffer, ref *dictPart, part string) (int, error) {
	w, _ := d.writers.Get().(*flate.Writer)
	if w == nil {
		var err error
		if w, err = flate.NewWriter(buf, manifestLevel); err != nil {
			return 0, err
		}
	} else {
		w.Reset(buf)
	}
	defer d.writers.Put(w)
	if ref != nil {
		if _, err := w.Write(ref.text); err != nil {
			return 0, err
		}
		if err := w.Flush(); err != nil {
			return 0, err
		}
	}
	n := buf.Len()
	if _, err := io.WriteString(w, part); err != nil {
		return 0, err
	}
	return n, w.Close()
}

// reference is the reference part for key, taking part as it when the key
// is new and there is room.
func (d *manifestDict) reference(key, part string) *dictPart {
	d.mu.RLock()
	ref, ok := d.parts[key]
	d.mu.RUnlock()
	if ok {
		return ref
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ref, ok := d.parts[key]; ok {
		return ref
	}
	if len(d.parts) >= maxDictParts || len(part) > maxDictPart {
		return nil
	}
	ref = &dictPart{text: []byte(part)}
	// The stream of the text alone, flushed: where every part deflated
	// against it starts.
	var buf bytes.Buffer
	n, err := d.deflatePart(&buf, ref, "")
	if err != nil {
		return nil
	}
	ref.prefix = bytes.Clone(buf.Bytes()[:n])
	d.parts[key] = ref
	return ref
}

// manifest inflates the record's manifest.
func (r *compactRecord) manifest() (string, error) {
	var out strings.Builder
	for i, p := range r.parts {
		var src io.Reader = bytes.NewReader(p.data)
		skip := int64(0)
		if p.ref != nil {
			src = io.MultiReader(bytes.NewReader(p.ref.prefix), src)
			skip = int64(len(p.ref.text))
		}
		fr := flate.NewReader(src)
		if _, err := io.CopyN(io.Discard, fr, skip); err != nil {
			return "", fmt.Errorf("part %d of the cached manifest: %w", i+1, err)
		}
		// A manifest is tens of kilobytes; bound what a part may inflate to.
		if _, err := io.Copy(&out, io.LimitReader(fr, 64<<20)); err != nil {
			return "", fmt.Errorf("part %d of the cached manifest: %w", i+1, err)
		}
		if err := fr.Close(); err != nil {
			return "", fmt.Errorf("part %d of the cached manifest: %w", i+1, err)
		}
	}
	return out.String(), nil
}

// record is the helmRecord a check reads.
func (r *compactRecord) record() (helmRecord, bool) {
	rec, ok := recordLabels(r.Labels)
	rec.compact = r
	return rec, ok
}

// release is the part of the release a check reads: its manifest.
func (r *compactRecord) release(name string, version int, status string) (*release.Release, error) {
	m, err := r.manifest()
	if err != nil {
		return nil, err
	}
	return &release.Release{Name: name, Version: version, Namespace: r.Namespace, Manifest: m,
		Info: &release.Info{Status: rcommon.Status(status)}}, nil
}
