package provision

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	rel "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// fastRecords is Helm's Secrets storage driver with one change: it writes
// each release record compressed at gzip's fastest level, where Helm's
// own driver uses its best. A record carries the whole chart (some 200 KB
// of JSON); an install writes it twice (pending, then deployed), and the
// best level was about 5 % of serve's CPU at scale for records a third
// smaller. Everything else is Helm's format (the Secret's name, type and
// labels, base64 of gzipped JSON), so Helm reads them back, the CLI
// included. Reads, lists and deletes are Helm's driver's.
//
// With a gate, every revision passes urumi's render check as it is
// stored, and what is read back is known to the gate as checked (see
// renderGate).
type fastRecords struct {
	driver.Driver
	ctx     context.Context
	secrets corev1client.SecretInterface
	enc     *recordEncoder
	gate    *renderGate
	// rest, if set, writes the records in namespace, asking for the
	// metadata alone in answer (see writeRecord); else secrets does.
	rest      rest.Interface
	namespace string
}

// metadataOnly asks the API server to answer with the object's metadata
// alone (as client-go's metadata client asks).
const metadataOnly = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1," +
	"application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

// recordsClient is the REST client fastRecords writes with: the typed
// client's, when it is a real one (a fake clientset's is not).
func recordsClient(c corev1client.CoreV1Interface) rest.Interface {
	if rc, ok := c.RESTClient().(*rest.RESTClient); ok && rc != nil {
		return rc
	}
	return nil
}

// writeRecord creates (or replaces) a record. The API server answers a
// write with the object written, here a record of 60 KB and more that
// urumi reads, decodes and drops: asked for its metadata alone, it sends
// a few hundred bytes. (Two records an install: some 90 MB of the 1.7 GB
// serve allocated while 200 stores were made.)
func (d *fastRecords) writeRecord(create bool, obj *corev1.Secret) error {
	switch {
	case d.rest != nil && create:
		return d.rest.Post().Namespace(d.namespace).Resource("secrets").
			SetHeader("Accept", metadataOnly).Body(obj).Do(d.ctx).Error()
	case d.rest != nil:
		return d.rest.Put().Namespace(d.namespace).Resource("secrets").Name(obj.Name).
			SetHeader("Accept", metadataOnly).Body(obj).Do(d.ctx).Error()
	case create:
		_, err := d.secrets.Create(d.ctx, obj, metav1.CreateOptions{})
		return err
	}
	_, err := d.secrets.Update(d.ctx, obj, metav1.UpdateOptions{})
	return err
}

// recordEncoder encodes release records, keeping one gzip writer (1.2 MB,
// most of what encoding a record allocates) for the next one. Records are
// compressed one at a time: each takes a fraction of a millisecond, and a
// writer per worker in flight (a sync.Pool's, kept across two collections)
// was megabytes of live heap for nothing. The zero value is ready to use;
// a nil one makes a writer each time.
type recordEncoder struct {
	zmu sync.Mutex
	zw  *gzip.Writer
	// chartJSON is the chart last encoded, and chartZ its gzip member.
	mu                sync.Mutex
	chartJSON, chartZ []byte
}

// Create stores a new record; one of the same name is driver.ErrReleaseExists.
func (d *fastRecords) Create(key string, r rel.Releaser) error {
	if err := d.check(r); err != nil {
		return err
	}
	obj, err := d.enc.recordSecret(key, r, "createdAt")
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	d.stored(r, obj)
	if err := d.writeRecord(true, obj); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return driver.ErrReleaseExists
		}
		return fmt.Errorf("create: failed to create: %w", err)
	}
	return nil
}

// Update replaces a record, as Helm's driver does (without a
// resourceVersion: the last writer wins).
func (d *fastRecords) Update(key string, r rel.Releaser) error {
	if err := d.check(r); err != nil {
		return err
	}
	obj, err := d.enc.recordSecret(key, r, "modifiedAt")
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	d.stored(r, obj)
	if err := d.writeRecord(false, obj); err != nil {
		return fmt.Errorf("update: failed to update: %w", err)
	}
	return nil
}

// check passes a revision about to be stored through the gate, if any.
func (d *fastRecords) check(r rel.Releaser) error {
	if d.gate == nil {
		return nil
	}
	rl, err := asRelease(r)
	if err != nil {
		return err
	}
	return d.gate.release(rl)
}

// stored tells the gate, if any, the record about to be written.
func (d *fastRecords) stored(r rel.Releaser, obj *corev1.Secret) {
	if d.gate == nil {
		return
	}
	if rl, err := asRelease(r); err == nil && rl != nil {
		d.gate.stored(rl, obj.Data["release"])
	}
}

func (d *fastRecords) Get(key string) (rel.Releaser, error) {
	r, err := d.Driver.Get(key)
	if err == nil && d.gate != nil {
		d.gate.trustRelease(r)
	}
	return r, err
}

func (d *fastRecords) List(filter func(rel.Releaser) bool) ([]rel.Releaser, error) {
	return d.trusted(d.Driver.List(filter))
}

func (d *fastRecords) Query(labels map[string]string) ([]rel.Releaser, error) {
	return d.trusted(d.Driver.Query(labels))
}

// trusted makes the gate know the revisions read from the records.
func (d *fastRecords) trusted(rs []rel.Releaser, err error) ([]rel.Releaser, error) {
	if d.gate != nil {
		for _, r := range rs {
			d.gate.trustRelease(r)
		}
	}
	return rs, err
}

// recordSecret is the Secret Helm's driver would write for r under key,
// stamped (createdAt or modifiedAt) with the time now.
func (e *recordEncoder) recordSecret(key string, r rel.Releaser, stamp string) (*corev1.Secret, error) {
	rls, ok := r.(*release.Release)
	if !ok || rls == nil {
		return nil, fmt.Errorf("unsupported release type %T", r)
	}
	data, err := e.encode(rls)
	if err != nil {
		return nil, fmt.Errorf("failed to encode release %q: %w", rls.Name, err)
	}
	lbs := make(map[string]string, len(rls.Labels)+5)
	maps.Copy(lbs, rls.Labels)
	lbs[stamp] = strconv.FormatInt(time.Now().Unix(), 10)
	lbs["name"] = rls.Name
	lbs["owner"] = "helm"
	lbs["status"] = rls.Info.Status.String()
	lbs["version"] = strconv.Itoa(rls.Version)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: key, Labels: lbs},
		Type:       "helm.sh/release.v1",
		Data:       map[string][]byte{"release": data},
	}, nil
}

// encode is Helm's encoding of a release record, base64 of gzipped JSON,
// at gzip's fastest level. The JSON is exactly what Helm's driver writes;
// the gzip stream is three members, which every gzip reader (Helm's, Go's
// by default) reads as one stream: what comes before the chart, the chart,
// and what comes after it. A record carries its whole chart, some 150 KB
// of its 200 KB of JSON, and every store's chart is the same: the chart's
// member is compressed once and reused while the chart encodes to the same
// JSON (compressing it for every record was 2 % of serve's CPU while a
// fleet was made).
func (e *recordEncoder) encode(rls *release.Release) ([]byte, error) {
	var buf bytes.Buffer
	if rls.Chart == nil {
		b, err := json.Marshal(rls)
		if err != nil {
			return nil, err
		}
		if err := e.gzip(&buf, b); err != nil {
			return nil, err
		}
	} else {
		chartJSON, err := json.Marshal(rls.Chart)
		if err != nil {
			return nil, err
		}
		rest := *rls
		rest.Chart = nil
		b, err := json.Marshal(&rest)
		if err != nil {
			return nil, err
		}
		// The chart goes after the name and the info, as the Release's
		// fields are ordered.
		head, err := json.Marshal(struct {
			Name string        `json:"name,omitempty"`
			Info *release.Info `json:"info,omitempty"`
		}{rls.Name, rls.Info})
		if err != nil {
			return nil, err
		}
		at := len(head) - 1
		if !bytes.HasPrefix(b, head[:at]) {
			return nil, errors.New("encode release: the record does not begin with its name and info")
		}
		// b is {name, info, the rest}: the chart goes between the info
		// and the rest, with the commas JSON needs.
		before := bytes.Clone(b[:at])
		if at > 1 {
			before = append(before, ',')
		}
		before = append(before, `"chart":`...)
		after := b[at:]
		if after[0] != '}' && after[0] != ',' {
			after = append([]byte{','}, after...)
		}
		z, err := e.chartMember(chartJSON)
		if err != nil {
			return nil, err
		}
		if err := e.gzip(&buf, before); err != nil {
			return nil, err
		}
		buf.Write(z)
		if err := e.gzip(&buf, after); err != nil {
			return nil, err
		}
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(buf.Len()))
	base64.StdEncoding.Encode(out, buf.Bytes())
	return out, nil
}

// gzip appends b to buf as a gzip member.
func (e *recordEncoder) gzip(buf *bytes.Buffer, b []byte) error {
	var zw *gzip.Writer
	if e != nil {
		e.zmu.Lock()
		defer e.zmu.Unlock()
		zw = e.zw
	}
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(buf, gzip.BestSpeed); err != nil {
			return err
		}
		if e != nil {
			e.zw = zw
		}
	} else {
		zw.Reset(buf)
	}
	if _, err := zw.Write(b); err != nil {
		return err
	}
	return zw.Close()
}

// chartMember is chartJSON as a gzip member: the one made last, when the
// chart encodes as it did then.
func (e *recordEncoder) chartMember(chartJSON []byte) ([]byte, error) {
	if e != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.chartJSON != nil && bytes.Equal(e.chartJSON, chartJSON) {
			return e.chartZ, nil
		}
	}
	var buf bytes.Buffer
	if err := e.gzip(&buf, chartJSON); err != nil {
		return nil, err
	}
	if e != nil {
		e.chartJSON, e.chartZ = bytes.Clone(chartJSON), buf.Bytes()
	}
	return buf.Bytes(), nil
}
