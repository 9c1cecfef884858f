package provision

import (
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"reflect"
	"slices"
	"unique"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/urumi/urumi/charts"
)

// packed is an object the reconciler's cache keeps as its protobuf
// encoding, beside the metadata its index and event filters read (name,
// namespace, uid, resource version, generation, owners, deletion, and a
// digest of its labels). A Deployment, StatefulSet, Job or CronJob decoded
// into Go structs takes 8–13 KB, most of it its pod template; encoded,
// 1.5–2.5 KB. A trimmed pod or ReplicaSet, or a Secret, decoded holds a
// map or two of a few hundred bytes each; encoded, a few hundred bytes in
// one slice. They are read rarely: a judgement, a wait, one of Helm's
// reads. Each read decodes a copy, which readers may change freely.
//
// The encoding is kept as a delta against a reference (see delta.go) when
// the cache was given references and one makes it smaller.
type packed struct {
	metav1.ObjectMeta
	labels uint64 // labelDigest of the object's labels
	raw    []byte // the encoding, or its delta against ref
	ref    *deltaRef
	kind   func() protoObject
}

// protoObject is an API type with its generated protobuf codec.
type protoObject interface {
	runtime.Object
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// pack encodes obj, when it is a protoObject, as a packed object of the
// kind kind makes, kept against refs when they are not nil; otherwise obj
// is returned as it is.
func pack(obj any, kind func() protoObject, refs *deltaRefs) any {
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
		raw, ref = refs.delta(refKey(obj, m), raw)
	}
	return &packed{
		ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: unique.Make(m.GetNamespace()).Value(), UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(),
			Generation: m.GetGeneration(), OwnerReferences: m.GetOwnerReferences(), DeletionTimestamp: m.GetDeletionTimestamp()},
		labels: labelDigest(m.GetLabels()), raw: raw, ref: ref, kind: kind,
	}
}

// refKey is the reference an object is kept against: its type and its
// role in the store, the chart's component label (a pod's or a Job's name
// is made up anew for each), or else its name.
func refKey(obj any, m metav1.Object) string {
	role := m.GetLabels()[charts.LabelComponent]
	if role == "" {
		role = m.GetName()
	}
	return reflect.TypeOf(obj).String() + "\x00" + role
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
		return nil, fmt.Errorf("decode cached %s/%s: %w", p.Namespace, p.Name, err)
	}
	o := p.kind()
	if err := o.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("decode cached %s/%s: %w", p.Namespace, p.Name, err)
	}
	return o, nil
}

// packedAs is a packed kind's constructor.
func packedAs[T any, PT interface {
	*T
	protoObject
}]() func() protoObject {
	return func() protoObject { return PT(new(T)) }
}
