package provision

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
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
}

// recordEncoder encodes release records, keeping its gzip writers (about
// 1 MB each, most of what encoding a record allocates) for the next one.
// The zero value is ready to use; a nil one makes a writer each time.
type recordEncoder struct {
	writers sync.Pool
}

// Create stores a new record; one of the same name is driver.ErrReleaseExists.
func (d *fastRecords) Create(key string, r rel.Releaser) error {
	if err := d.check(r); err != nil {
		return err
	}
	obj, err := d.enc.recordSecret(key, r, "createdAt")
	if err == nil {
		d.stored(r, obj)
	}
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := d.secrets.Create(d.ctx, obj, metav1.CreateOptions{}); err != nil {
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
	if err == nil {
		d.stored(r, obj)
	}
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if _, err := d.secrets.Update(d.ctx, obj, metav1.UpdateOptions{}); err != nil {
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
	if rl, err := asRelease(r); err == nil && rl != nil && d.gate != nil {
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
// at gzip's fastest level.
func (e *recordEncoder) encode(rls *release.Release) ([]byte, error) {
	b, err := json.Marshal(rls)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	var zw *gzip.Writer
	if e != nil {
		zw, _ = e.writers.Get().(*gzip.Writer)
	}
	if zw == nil {
		if zw, err = gzip.NewWriterLevel(&buf, gzip.BestSpeed); err != nil {
			return nil, err
		}
	} else {
		zw.Reset(&buf)
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if e != nil {
		e.writers.Put(zw)
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(buf.Len()))
	base64.StdEncoding.Encode(out, buf.Bytes())
	return out, nil
}
