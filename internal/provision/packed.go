package provision

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// packed is an object the reconciler's cache keeps as its protobuf
// encoding, beside the metadata its index and event filters read (name,
// namespace, uid, resource version, generation, labels, owners,
// deletion). A Deployment, StatefulSet, Job or CronJob decoded into Go
// structs takes 8–13 KB, most of it its pod template; encoded, 1.5–2.5 KB.
// They change rarely once a store is up, and are read rarely: a judgement,
// a wait, one of Helm's reads. Each read decodes a copy, which readers may
// change freely.
type packed struct {
	metav1.ObjectMeta
	raw  []byte
	kind func() protoObject
}

// protoObject is an API type with its generated protobuf codec.
type protoObject interface {
	runtime.Object
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// pack encodes obj, when it is a protoObject, as a packed object of the
// kind kind makes; otherwise obj is returned as it is.
func pack(obj any, kind func() protoObject) any {
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
	return &packed{
		ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(), ResourceVersion: m.GetResourceVersion(),
			Generation: m.GetGeneration(), Labels: m.GetLabels(), OwnerReferences: m.GetOwnerReferences(), DeletionTimestamp: m.GetDeletionTimestamp()},
		raw: raw, kind: kind,
	}
}

// unpack decodes a packed object; anything else is returned as it is.
func unpack(obj any) (any, error) {
	p, ok := obj.(*packed)
	if !ok {
		return obj, nil
	}
	o := p.kind()
	if err := o.Unmarshal(p.raw); err != nil {
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
