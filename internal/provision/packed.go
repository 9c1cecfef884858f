package provision

import (
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"
	"unique"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/urumi/urumi/charts"
)

// packed is an object the reconciler's cache keeps as its protobuf
// encoding, beside the metadata its index and event filters read (name,
// namespace, resource version, generation, the kind of its controller,
// deletion, and a digest of its labels). A Deployment, StatefulSet, Job or CronJob decoded
// into Go structs takes 8–13 KB, most of it its pod template; encoded,
// 1.5–2.5 KB. A trimmed pod or ReplicaSet, or a Secret, decoded holds a
// map or two of a few hundred bytes each; encoded, a few hundred bytes in
// one slice. They are read rarely: a judgement, a wait, one of Helm's
// reads. Each read decodes a copy, which readers may change freely.
//
// The encoding is kept as a delta against a reference (see delta.go) when
// the cache was given references and one makes it smaller.
type packed struct {
	packedMeta
	labels uint64 // labelDigest of the object's labels
	raw    []byte // the encoding, or its delta against ref
	ref    *deltaRef
	kind   *packedKind
}

// A packed object is a runtime.Object, as the informers of the packed
// kinds receive it from their watches (wirepack.go). Copies share the
// encoding, which is never changed.
func (p *packed) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (p *packed) DeepCopyObject() runtime.Object {
	c := *p
	return &c
}

// GetAnnotations: a packed object keeps none; the bookmark that ends a
// watch's initial events, which only the reflector reads, says so.
func (p *packed) GetAnnotations() map[string]string {
	if p.kind != nil && p.kind.endsInitialEvents {
		return map[string]string{metav1.InitialEventsAnnotationKey: "true"}
	}
	return nil
}

// packedMeta is the metadata a packed object keeps beside its encoding,
// and its metav1.Object: 80 bytes where an ObjectMeta takes 232. What it
// does not keep reads as empty (the labels too: the digest stands for
// them; the uid and the owner references: read them from the decoded
// object, unpack), and setting it is ignored. Of the owners it keeps the
// kind of the controller, which the informers' event filters read
// (controlledBy): a cron run's pods and Jobs are told apart by it.
type packedMeta struct {
	name, namespace, resourceVersion string
	generation                       int64
	controller                       string // the kind of the controlling owner, or ""
	deletion                         *metav1.Time
}

var _ metav1.Object = (*packedMeta)(nil)

func (m *packedMeta) GetNamespace() string                          { return m.namespace }
func (m *packedMeta) SetNamespace(ns string)                        { m.namespace = ns }
func (m *packedMeta) GetName() string                               { return m.name }
func (m *packedMeta) SetName(name string)                           { m.name = name }
func (m *packedMeta) GetGenerateName() string                       { return "" }
func (m *packedMeta) SetGenerateName(string)                        {}
func (m *packedMeta) GetUID() types.UID                             { return "" }
func (m *packedMeta) SetUID(types.UID)                              {}
func (m *packedMeta) GetResourceVersion() string                    { return m.resourceVersion }
func (m *packedMeta) SetResourceVersion(v string)                   { m.resourceVersion = v }
func (m *packedMeta) GetGeneration() int64                          { return m.generation }
func (m *packedMeta) SetGeneration(g int64)                         { m.generation = g }
func (m *packedMeta) GetSelfLink() string                           { return "" }
func (m *packedMeta) SetSelfLink(string)                            {}
func (m *packedMeta) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (m *packedMeta) SetCreationTimestamp(metav1.Time)              {}
func (m *packedMeta) GetDeletionTimestamp() *metav1.Time            { return m.deletion }
func (m *packedMeta) SetDeletionTimestamp(t *metav1.Time)           { m.deletion = t }
func (m *packedMeta) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (m *packedMeta) SetDeletionGracePeriodSeconds(*int64)          {}
func (m *packedMeta) GetLabels() map[string]string                  { return nil }
func (m *packedMeta) SetLabels(map[string]string)                   {}
func (m *packedMeta) GetAnnotations() map[string]string             { return nil }
func (m *packedMeta) SetAnnotations(map[string]string)              {}
func (m *packedMeta) GetFinalizers() []string                       { return nil }
func (m *packedMeta) SetFinalizers([]string)                        {}
func (m *packedMeta) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (m *packedMeta) SetOwnerReferences([]metav1.OwnerReference)    {}
func (m *packedMeta) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (m *packedMeta) SetManagedFields([]metav1.ManagedFieldsEntry)  {}

// protoObject is an API type with its generated protobuf codec.
type protoObject interface {
	runtime.Object
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// pack encodes obj, when it is a protoObject, as a packed object of kind,
// kept against refs when they are not nil; otherwise obj is returned as
// it is.
func pack(obj any, kind *packedKind, refs *deltaRefs) any {
	p, ok := obj.(protoObject)
	if !ok {
		return obj
	}
	raw, err := p.Marshal()
	if err != nil {
		return obj
	}
	m, err := meta.Accessor(p)
	if err != nil {
		return obj
	}
	var ref *deltaRef
	if refs != nil {
		_, ns := obj.(*corev1.Namespace)
		raw, ref = refs.delta(refKey(kind.typeName, m.GetLabels()[charts.LabelComponent], m.GetName(), ns), raw)
	}
	return &packed{
		packedMeta: packedMeta{name: m.GetName(), namespace: unique.Make(m.GetNamespace()).Value(), resourceVersion: m.GetResourceVersion(),
			generation: m.GetGeneration(), controller: controllerKind(m), deletion: m.GetDeletionTimestamp()},
		labels: labelDigest(m.GetLabels()), raw: raw, ref: ref, kind: kind,
	}
}

// controllerKind is the kind of m's controlling owner, or "".
func controllerKind(m metav1.Object) string {
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		return unique.Make(ref.Kind).Value()
	}
	return ""
}

// refKey is the reference an object is kept against: its type and its
// role in the store, the chart's component label (a pod's or a Job's name
// is made up anew for each), or else its name; a store's namespace, named
// for the store, by its type alone. Objects packed decoded (pack) and
// from the wire (packWire) are keyed alike.
func refKey(typeName, component, name string, namespace bool) string {
	role := component
	if role == "" && !namespace {
		role = name
	}
	return typeName + "\x00" + role
}

// labelDigest is a 64-bit FNV-1a digest of labels, the same for the same
// labels in any order.
func labelDigest(labels map[string]string) uint64 {
	keys := slices.Sorted(maps.Keys(labels))
	h := fnv.New64a()
	for _, k := range keys {
		// A NUL cannot occur in a label key or value: the parts cannot
		// run into each other.
		_, _ = io.WriteString(h, k)
		_, _ = h.Write([]byte{0})
		_, _ = io.WriteString(h, labels[k])
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// unpack decodes a packed object; anything else is returned as it is.
func unpack(obj any) (any, error) {
	p, ok := obj.(*packed)
	if !ok {
		return obj, nil
	}
	raw, err := undelta(p.raw, p.ref)
	if err != nil {
		return nil, fmt.Errorf("decode cached %s/%s: %w", p.namespace, p.name, err)
	}
	if p.kind == nil {
		return nil, fmt.Errorf("decode cached %s/%s: no kind", p.namespace, p.name)
	}
	o := p.kind.new()
	if err := o.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("decode cached %s/%s: %w", p.namespace, p.name, err)
	}
	return o, nil
}

// packedField is the encoding of p's top-level field num (the last, as a
// decoder reads it), or nil when p has none.
func packedField(p *packed, num protowire.Number) ([]byte, error) {
	raw, err := undelta(p.raw, p.ref)
	if err != nil {
		return nil, err
	}
	var v []byte
	err = eachField(raw, func(n protowire.Number, b []byte) error {
		if n == num {
			v = b
		}
		return nil
	})
	return v, err
}
