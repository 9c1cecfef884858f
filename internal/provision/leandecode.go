package provision

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	batchv1client "k8s.io/client-go/kubernetes/typed/batch/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// The reconciler's watches decode what its cache keeps, not what the API
// server sends. At rest most of a fleet's watch events are the chart's
// cron runs: every store starts a Job and a pod every minute, and each
// changes a few times. Decoding a pod's spec (its containers, volumes,
// environment) was a tenth of serve's CPU at rest, and the cache then
// dropped it (trimCached). The lean decoder skips, in the protobuf itself,
// what trimCached would drop from these kinds:
//   - every object's managed fields;
//   - a Pod's spec, and its status but for its phase and conditions;
//   - a ResourceQuota's status (what is used changes with every pod);
//   - a ReplicaSet's pod template;
//   - the pod template of a Job a CronJob made (a cron run).
//
// Whatever else the clients read (other kinds, errors, JSON) goes to the
// generated decoder as before. What the cache ends up holding is the
// same either way: TestLeanDecoder compares the two.

// leanWatchClient is a clientset for the reconciler's informers, on
// config (protobuf, no compression), whose core, apps and batch groups
// decode leanly.
func leanWatchClient(config *rest.Config) (kubernetes.Interface, error) {
	httpClient, err := rest.HTTPClientFor(config)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	all, err := kubernetes.NewForConfigAndClient(config, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	group := func(gv schema.GroupVersion, apiPath string) (rest.Interface, error) {
		c := rest.CopyConfig(config)
		c.GroupVersion, c.APIPath = &gv, apiPath
		c.NegotiatedSerializer = leanSerializer{rest.CodecFactoryForGeneratedClient(scheme.Scheme, scheme.Codecs).WithoutConversion()}
		if c.UserAgent == "" {
			c.UserAgent = rest.DefaultKubernetesUserAgent()
		}
		r, err := rest.RESTClientForConfigAndClient(c, httpClient)
		if err != nil {
			return nil, fmt.Errorf("kubernetes client for %s: %w", gv, err)
		}
		return r, nil
	}
	core, err := group(corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	apps, err := group(appsv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	batch, err := group(batchv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	return leanClientset{Interface: all, core: corev1client.New(core), apps: appsv1client.New(apps), batch: batchv1client.New(batch)}, nil
}

// leanClientset is a clientset whose core, apps and batch groups are the
// lean decoder's.
type leanClientset struct {
	kubernetes.Interface
	core  corev1client.CoreV1Interface
	apps  appsv1client.AppsV1Interface
	batch batchv1client.BatchV1Interface
}

func (c leanClientset) CoreV1() corev1client.CoreV1Interface    { return c.core }
func (c leanClientset) AppsV1() appsv1client.AppsV1Interface    { return c.apps }
func (c leanClientset) BatchV1() batchv1client.BatchV1Interface { return c.batch }

// leanSerializer is a client's serializers with the protobuf decoder
// made lean.
type leanSerializer struct {
	runtime.NegotiatedSerializer
}

func (s leanSerializer) SupportedMediaTypes() []runtime.SerializerInfo {
	infos := slices.Clone(s.NegotiatedSerializer.SupportedMediaTypes())
	for i := range infos {
		if infos[i].MediaType == runtime.ContentTypeProtobuf {
			infos[i].Serializer = leanDecoder{infos[i].Serializer}
		}
	}
	return infos
}

// leanDecoder decodes the kinds it knows leanly and hands anything else
// to next.
type leanDecoder struct {
	runtime.Serializer
}

// protobufPrefix opens every protobuf body of the Kubernetes API.
const protobufPrefix = "k8s\x00"

// errLeanProto: the bytes are not the protobuf they claim to be.
var errLeanProto = errors.New("malformed protobuf")

func (d leanDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	gvk, raw, ok := leanEnvelope(data)
	if !ok {
		return d.Serializer.Decode(data, defaults, into)
	}
	obj, ok := leanObject(gvk, into)
	if !ok {
		return d.Serializer.Decode(data, defaults, into)
	}
	if err := leanUnmarshal(gvk.Kind, raw, obj); err != nil {
		return nil, &gvk, fmt.Errorf("decode %s: %w", gvk.Kind, err)
	}
	return obj, &gvk, nil
}

// leanEnvelope reads the kind and the bytes of the object a protobuf body
// of the API carries (a runtime.Unknown after the prefix), without
// copying. ok is false for anything else, or for an object it carries
// encoded some other way.
func leanEnvelope(data []byte) (gvk schema.GroupVersionKind, raw []byte, ok bool) {
	if !bytes.HasPrefix(data, []byte(protobufPrefix)) {
		return gvk, nil, false
	}
	var apiVersion, kind string
	err := eachField(data[len(protobufPrefix):], func(num protowire.Number, v []byte) error {
		switch num {
		case 1: // typeMeta
			return eachField(v, func(num protowire.Number, v []byte) error {
				switch num {
				case 1:
					apiVersion = string(v)
				case 2:
					kind = string(v)
				}
				return nil
			})
		case 2: // raw
			raw = v
		case 3, 4: // contentEncoding, contentType
			if len(v) > 0 {
				return errLeanProto
			}
		}
		return nil
	})
	if err != nil || raw == nil {
		return gvk, nil, false
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return gvk, nil, false
	}
	return gv.WithKind(kind), raw, true
}

// leanObject is the object to decode a lean kind into: into, reset, when
// given, otherwise a new one. ok is false for any other kind, or an into
// of another type.
func leanObject(gvk schema.GroupVersionKind, into runtime.Object) (runtime.Object, bool) {
	var obj runtime.Object
	switch gvk {
	case corev1.SchemeGroupVersion.WithKind("Pod"):
		obj = &corev1.Pod{}
	case corev1.SchemeGroupVersion.WithKind("PodList"):
		obj = &corev1.PodList{}
	case corev1.SchemeGroupVersion.WithKind("ResourceQuota"):
		obj = &corev1.ResourceQuota{}
	case corev1.SchemeGroupVersion.WithKind("ResourceQuotaList"):
		obj = &corev1.ResourceQuotaList{}
	case appsv1.SchemeGroupVersion.WithKind("ReplicaSet"):
		obj = &appsv1.ReplicaSet{}
	case appsv1.SchemeGroupVersion.WithKind("ReplicaSetList"):
		obj = &appsv1.ReplicaSetList{}
	case batchv1.SchemeGroupVersion.WithKind("Job"):
		obj = &batchv1.Job{}
	case batchv1.SchemeGroupVersion.WithKind("JobList"):
		obj = &batchv1.JobList{}
	default:
		return nil, false
	}
	if into == nil {
		return obj, true
	}
	if reflect.TypeOf(into) != reflect.TypeOf(obj) {
		return nil, false
	}
	into.(interface{ Reset() }).Reset()
	return into, true
}

// leanUnmarshal decodes raw, an object of kind, into obj (see leanObject).
func leanUnmarshal(kind string, raw []byte, obj runtime.Object) error {
	switch o := obj.(type) {
	case *corev1.Pod:
		return leanPod(raw, o)
	case *corev1.PodList:
		return leanList(raw, &o.ListMeta, &o.Items, leanPod)
	case *corev1.ResourceQuota:
		return leanQuota(raw, o)
	case *corev1.ResourceQuotaList:
		return leanList(raw, &o.ListMeta, &o.Items, leanQuota)
	case *appsv1.ReplicaSet:
		return leanReplicaSet(raw, o)
	case *appsv1.ReplicaSetList:
		return leanList(raw, &o.ListMeta, &o.Items, leanReplicaSet)
	case *batchv1.Job:
		return leanJob(raw, o)
	case *batchv1.JobList:
		return leanList(raw, &o.ListMeta, &o.Items, leanJob)
	}
	return fmt.Errorf("no lean decoding of %s", kind)
}

// leanList decodes a list: its metadata, and each item with item.
func leanList[T any](raw []byte, meta *metav1.ListMeta, items *[]T, item func([]byte, *T) error) error {
	return eachField(raw, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			return meta.Unmarshal(v)
		case 2:
			*items = append(*items, *new(T))
			return item(v, &(*items)[len(*items)-1])
		}
		return nil
	})
}

// leanPod decodes a pod's metadata (without managed fields) and its
// phase and conditions.
func leanPod(raw []byte, p *corev1.Pod) error {
	return eachField(raw, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			return leanMeta(v, &p.ObjectMeta)
		case 3:
			return eachField(v, func(num protowire.Number, v []byte) error {
				switch num {
				case 1:
					p.Status.Phase = corev1.PodPhase(v)
				case 2:
					var c corev1.PodCondition
					if err := c.Unmarshal(v); err != nil {
						return err
					}
					p.Status.Conditions = append(p.Status.Conditions, c)
				}
				return nil
			})
		}
		return nil // the spec, and anything newer
	})
}

// leanQuota decodes a ResourceQuota's metadata (without managed fields)
// and spec.
func leanQuota(raw []byte, q *corev1.ResourceQuota) error {
	return eachField(raw, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			return leanMeta(v, &q.ObjectMeta)
		case 2:
			return q.Spec.Unmarshal(v)
		}
		return nil // the status
	})
}

// leanReplicaSet decodes a ReplicaSet but its managed fields and pod
// template.
func leanReplicaSet(raw []byte, rs *appsv1.ReplicaSet) error {
	return eachField(raw, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			return leanMeta(v, &rs.ObjectMeta)
		case 2:
			return rs.Spec.Unmarshal(without(v, 3)) // template
		case 3:
			return rs.Status.Unmarshal(v)
		}
		return nil
	})
}

// leanJob decodes a Job but its managed fields and, when a CronJob made
// it, its pod template. The template of any other Job (the setup Job,
// urumi's own) is judged, and kept.
func leanJob(raw []byte, j *batchv1.Job) error {
	var spec []byte
	err := eachField(raw, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			return leanMeta(v, &j.ObjectMeta)
		case 2:
			spec = v // after the metadata, which says who made the Job
		case 3:
			return j.Status.Unmarshal(v)
		}
		return nil
	})
	if err != nil || spec == nil {
		return err
	}
	if ref := metav1.GetControllerOfNoCopy(j); ref != nil && ref.Kind == "CronJob" {
		spec = without(spec, 6) // template
	}
	return j.Spec.Unmarshal(spec)
}

// leanMeta decodes object metadata but its managed fields.
func leanMeta(raw []byte, m *metav1.ObjectMeta) error {
	return m.Unmarshal(without(raw, 17))
}

// without is msg without its fields numbered num: msg itself when it has
// none, otherwise a copy. A malformed msg is returned as it is, for the
// generated decoder to refuse.
func without(msg []byte, num protowire.Number) []byte {
	var out []byte
	for b := msg; len(b) > 0; {
		n, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return msg
		}
		valLen := protowire.ConsumeFieldValue(n, typ, b[tagLen:])
		if valLen < 0 {
			return msg
		}
		field := b[:tagLen+valLen]
		if n == num && out == nil {
			out = append(make([]byte, 0, len(msg)), msg[:len(msg)-len(b)]...)
		} else if out != nil && n != num {
			out = append(out, field...)
		}
		b = b[len(field):]
	}
	if out == nil {
		return msg
	}
	return out
}

// eachField calls fn with the number and bytes of each length-delimited
// field of msg, in order, and skips the others.
func eachField(msg []byte, fn func(num protowire.Number, v []byte) error) error {
	for b := msg; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errLeanProto, protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w: %w", errLeanProto, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errLeanProto, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, v); err != nil {
			return err
		}
	}
	return nil
}
