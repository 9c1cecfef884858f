package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"time"
	"unique"

	"google.golang.org/protobuf/encoding/protowire"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/urumi/urumi/charts"
)

// The reconciler's watches decode straight into what its cache keeps. At
// rest most of a fleet's watch events are the chart's cron runs: every
// store starts a Job and a pod every minute, and each changes a few
// times. Each event used to be decoded into Go structs (a pod's spec: its
// containers, volumes, environment), trimmed, marshalled again and
// packed. Now the informers of the packed kinds read the protobuf the API
// server sends and copy out of it what the cache keeps (packWire): the
// object's encoding without
//   - every object's managed fields;
//   - a Pod's spec, and its status but for its phase and conditions;
//   - a ResourceQuota's status (what is used changes with every pod);
//   - a ReplicaSet's pod template;
//   - the pod template of a Job a CronJob made (a cron run);
//
// and, read from its metadata, what packedMeta keeps. trimCached drops the
// same from an object decoded whole (a fake clientset's, in tests, or a
// body sent as JSON), which is then packed: TestPackWire compares the two.

// packedKind is a kind the reconciler's cache keeps packed (packed.go):
// how to make one to decode into, where its informer lists and watches,
// what is kept of it, and what it is kept against.
type packedKind struct {
	new      func() protoObject
	gvk      schema.GroupVersionKind
	typeName string // its Go type's name, the first part of its refKey
	resource string // its resource in the API, "pods"
	// refs are what its objects are kept against (delta.go); nil: apart.
	refs *deltaRefs
	// trim says what the cache keeps of a top-level field other than the
	// metadata; nil: all of them, whole.
	trim trimRule
	// eventsEnd is this kind as the bookmark that ends a watch's initial
	// events is packed: the one packed object that reads as annotated
	// (endsInitialEvents, packed.GetAnnotations). The reflector waits for
	// it, and never stores it.
	eventsEnd         *packedKind
	endsInitialEvents bool
	// lazy: what a watch sends of this kind is kept whole at first (see
	// lazyDeltas).
	lazy bool
}

// trimRule says what the cache keeps of an object's top-level field num:
// nothing (keep false), all of it (sub nil), or the fields of it sub
// keeps. m is the object's metadata.
type trimRule func(num protowire.Number, m *wireMeta) (keep bool, sub func(protowire.Number) bool)

// The kinds the cache trims on the wire (trimCached, for decoded objects).
func trimPod(num protowire.Number, _ *wireMeta) (bool, func(protowire.Number) bool) {
	switch num {
	case 2: // spec
		return false, nil
	case 3: // status: its phase and conditions
		return true, func(n protowire.Number) bool { return n == 1 || n == 2 }
	}
	return true, nil
}

func trimQuota(num protowire.Number, _ *wireMeta) (bool, func(protowire.Number) bool) {
	return num != 3, nil // status
}

func trimReplicaSet(num protowire.Number, _ *wireMeta) (bool, func(protowire.Number) bool) {
	if num == 2 { // spec, without its template
		return true, func(n protowire.Number) bool { return n != 3 }
	}
	return true, nil
}

// trimJob drops a cron run's pod template. The template of any other Job
// (the setup Job, urumi's own) is judged, and kept.
func trimJob(num protowire.Number, m *wireMeta) (bool, func(protowire.Number) bool) {
	if num == 2 && string(m.controller) == "CronJob" {
		return true, func(n protowire.Number) bool { return n != 6 }
	}
	return true, nil
}

// notManagedFields keeps an object's metadata but its managed fields.
func notManagedFields(n protowire.Number) bool { return n != 17 }

// packedAs is the packed kind of T's objects (see watching for what an
// informer needs).
func packedAs[T any, PT interface {
	*T
	protoObject
}]() *packedKind {
	o := PT(new(T))
	k := &packedKind{new: func() protoObject { return PT(new(T)) }, typeName: fmt.Sprintf("%T", o)}
	if gvks, _, err := scheme.Scheme.ObjectKinds(o); err == nil {
		k.gvk = gvks[0]
	}
	return k
}

// watching is k as an informer of the cache lists and watches it: as
// resource, kept against refs and trimmed by trim.
func (k *packedKind) watching(resource string, refs *deltaRefs, trim trimRule) *packedKind {
	k.resource, k.refs, k.trim = resource, refs, trim
	end := *k
	end.endsInitialEvents = true
	k.eventsEnd = &end
	return k
}

// lazily is k with the objects its watch sends kept whole at first (see
// lazyDeltas): a kind whose objects change again and again as a store is
// made.
func (k *packedKind) lazily() *packedKind {
	k.lazy = true
	k.eventsEnd.lazy = true
	return k
}

// pack packs obj, a decoded object of kind k: trimmed, then encoded.
func (k *packedKind) pack(obj runtime.Object) (runtime.Object, error) {
	trimCached(obj)
	p, ok := pack(obj, k, k.refs).(*packed)
	if !ok {
		return nil, fmt.Errorf("cannot pack a %T as a %s", obj, k.gvk.Kind)
	}
	return p, nil
}

// wireMeta is what the cache reads of an object's metadata as it is
// encoded; its byte slices point into the encoding.
type wireMeta struct {
	name, namespace, resourceVersion []byte
	generation                       int64
	deletion                         []byte // a metav1.Time, encoded
	controller                       []byte // the kind of the controlling owner
	component                        []byte // the chart's component label
	labels                           uint64 // labelDigest of the labels
	eventsEnd                        bool   // annotated as the end of a watch's initial events
}

// parse reads an ObjectMeta's encoding.
func (m *wireMeta) parse(msg []byte) error {
	type label struct{ k, v []byte }
	var room [16]label
	labels := room[:0]
	controllerSeen := false
	err := eachWireField(msg, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if num == 7 { // generation
			if typ != protowire.VarintType {
				return errWireProto
			}
			m.generation = int64(x)
			return nil
		}
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			m.name = v
		case 3:
			m.namespace = v
		case 6:
			m.resourceVersion = v
		case 9:
			m.deletion = v
		case 11, 12: // labels, annotations: map entries
			var key, val []byte
			if err := eachField(v, func(n protowire.Number, b []byte) error {
				switch n {
				case 1:
					key = b
				case 2:
					val = b
				}
				return nil
			}); err != nil {
				return err
			}
			if num == 11 {
				labels = append(labels, label{key, val})
				if string(key) == charts.LabelComponent {
					m.component = val
				}
			} else if string(key) == metav1.InitialEventsAnnotationKey && string(val) == "true" {
				m.eventsEnd = true
			}
		case 13: // owner references: the first controller's kind
			var kind []byte
			controller := false
			if err := eachWireField(v, func(n protowire.Number, t protowire.Type, b []byte, x uint64) error {
				switch {
				case n == 1 && t == protowire.BytesType:
					kind = b
				case n == 6 && t == protowire.VarintType:
					controller = x != 0
				}
				return nil
			}); err != nil {
				return err
			}
			if controller && !controllerSeen {
				m.controller, controllerSeen = kind, true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// As labelDigest: sorted by key, each key and value ended by a NUL
	// (a map's entries arrive sorted from the API server, but need not).
	// Of a key given twice, the last counts, as it does decoded.
	slices.SortStableFunc(labels, func(a, b label) int { return bytes.Compare(a.k, b.k) })
	h := fnv.New64a()
	for i, l := range labels {
		if i+1 < len(labels) && bytes.Equal(l.k, labels[i+1].k) {
			continue
		}
		_, _ = h.Write(l.k)
		_, _ = h.Write([]byte{0})
		_, _ = h.Write(l.v)
		_, _ = h.Write([]byte{0})
	}
	m.labels = h.Sum64()
	return nil
}

// packWire packs obj, the encoding of an object of kind k (the bytes a
// runtime.Unknown carries), without decoding it: what the cache keeps of
// it is copied field by field, in the order it came. An object of a lazy
// kind that a watch sent (lazy) is kept whole, not yet as a delta (see
// lazyDeltas).
func (k *packedKind) packWire(obj []byte, lazy bool) (*packed, error) {
	var m wireMeta
	seen := false
	err := eachField(obj, func(num protowire.Number, v []byte) error {
		if num != 1 {
			return nil
		}
		if seen { // never from an API server; decoded, the two would merge
			return fmt.Errorf("%w: metadata given twice", errWireProto)
		}
		seen = true
		return m.parse(v)
	})
	if err == nil && !seen {
		err = m.parse(nil) // no labels: their digest still
	}
	if err != nil {
		return nil, err
	}
	type part struct {
		field []byte // the field whole, tag and all
		num   protowire.Number
		v     []byte // its value, when sub keeps part of it
		sub   func(protowire.Number) bool
		n     int
	}
	var room [6]part
	parts := room[:0]
	size := 0
	err = eachRawField(obj, func(num protowire.Number, typ protowire.Type, field, v []byte) error {
		var sub func(protowire.Number) bool
		switch {
		case typ != protowire.BytesType:
		case num == 1:
			sub = notManagedFields
		case k.trim != nil:
			keep, s := k.trim(num, &m)
			if !keep {
				return nil
			}
			sub = s
		}
		if sub == nil {
			parts = append(parts, part{field: field})
			size += len(field)
			return nil
		}
		n, err := filteredSize(v, sub)
		if err != nil {
			return err
		}
		parts = append(parts, part{num: num, v: v, sub: sub, n: n})
		size += protowire.SizeTag(num) + protowire.SizeBytes(n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 0, size)
	for _, p := range parts {
		if p.sub == nil {
			raw = append(raw, p.field...)
			continue
		}
		raw = protowire.AppendTag(raw, p.num, protowire.BytesType)
		raw = protowire.AppendVarint(raw, uint64(p.n))
		raw = appendFiltered(raw, p.v, p.sub)
	}
	p := &packed{
		packedMeta: packedMeta{name: string(m.name), namespace: unique.Make(string(m.namespace)).Value(),
			resourceVersion: string(m.resourceVersion), generation: m.generation},
		labels: m.labels, kind: k,
	}
	if len(m.controller) > 0 {
		p.controller = unique.Make(string(m.controller)).Value()
	}
	if m.deletion != nil {
		p.deletion = &metav1.Time{}
		if err := p.deletion.Unmarshal(m.deletion); err != nil {
			return nil, fmt.Errorf("%w: deletion timestamp: %w", errWireProto, err)
		}
	}
	if m.eventsEnd {
		p.kind = k.eventsEnd
	}
	if lazy && k.lazy {
		p.raw = raw
		return p, nil
	}
	p.raw, p.ref = k.refs.delta(refKey(k.typeName, string(m.component), p.name, k.gvk.Kind == "Namespace"), raw)
	return p, nil
}

// asDelta is p, an object of kind k kept whole, kept against its
// reference instead; nil when there is none or a delta is no smaller.
func (k *packedKind) asDelta(p *packed) *packed {
	if p.ref != nil || k.refs == nil {
		return nil
	}
	var m wireMeta
	err := eachField(p.raw, func(num protowire.Number, v []byte) error {
		if num == 1 {
			return m.parse(v)
		}
		return nil
	})
	if err != nil {
		return nil
	}
	raw, ref := k.refs.delta(refKey(k.typeName, string(m.component), p.name, k.gvk.Kind == "Namespace"), p.raw)
	if ref == nil {
		return nil
	}
	c := *p
	c.raw, c.ref = raw, ref
	return &c
}

// packedList is a list of a packed kind, as its informer lists it.
type packedList struct {
	metav1.ListMeta
	Items []*packed
	kind  *packedKind
}

func (l *packedList) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (l *packedList) DeepCopyObject() runtime.Object {
	c := *l
	c.Items = slices.Clone(l.Items)
	return &c
}

// packingSerializer is a client's serializers with their decoders
// packing the cache's kinds (packingDecoder).
type packingSerializer struct {
	runtime.NegotiatedSerializer
	kinds map[schema.GroupVersionKind]*packedKind
}

func (s packingSerializer) SupportedMediaTypes() []runtime.SerializerInfo {
	infos := slices.Clone(s.NegotiatedSerializer.SupportedMediaTypes())
	for i := range infos {
		proto := infos[i].MediaType == runtime.ContentTypeProtobuf
		infos[i].Serializer = packingDecoder{infos[i].Serializer, proto, s.kinds}
		if st := infos[i].StreamSerializer; st != nil && proto {
			c := *st
			c.Serializer = watchEnvelopes{st.Serializer}
			infos[i].StreamSerializer = &c
		}
	}
	return infos
}

// watchEnvelopes reads a protobuf watch event's envelope (its type and
// its object's bytes) as metav1.WatchEvent's own decoder does, but
// without copying the object out of the frame: every event of the
// reconciler's watches was copied once more than it is read (6 % of what
// serve allocated while 200 stores were made). The frame is the stream
// decoder's buffer, read into again only after the event's object is
// decoded, and the cache's decoder copies what it keeps (packWire; the
// API's own decoders copy too). Anything else, and an envelope it cannot
// read, it hands to the serializer it wraps.
type watchEnvelopes struct{ runtime.Serializer }

func (s watchEnvelopes) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	e, ok := into.(*metav1.WatchEvent)
	if !ok {
		return s.Serializer.Decode(data, defaults, into)
	}
	var typ, raw []byte
	err := eachField(data, func(num protowire.Number, v []byte) error {
		switch num {
		case 1: // type
			typ = v
		case 2: // object, a RawExtension
			return eachField(v, func(num protowire.Number, v []byte) error {
				if num == 1 { // raw
					raw = v
				}
				return nil
			})
		}
		return nil
	})
	if err != nil || len(data) == 0 {
		return s.Serializer.Decode(data, defaults, into)
	}
	*e = metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: raw}}
	return e, &schema.GroupVersionKind{}, nil
}

// packingDecoder decodes the objects of its kinds into packed objects,
// and a list into a packedList: protobuf with packWire, anything else
// decoded whole and then packed. Other kinds (a watch's error Status)
// it hands to the Serializer's own decoder.
type packingDecoder struct {
	runtime.Serializer
	protobuf bool
	kinds    map[schema.GroupVersionKind]*packedKind
}

// protobufPrefix opens every protobuf body of the Kubernetes API.
const protobufPrefix = "k8s\x00"

// errWireProto: the bytes are not the protobuf they claim to be.
var errWireProto = errors.New("malformed protobuf")

func (d packingDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if l, ok := into.(*packedList); ok {
		return d.decodeList(data, defaults, l)
	}
	if into == nil && d.protobuf {
		if gvk, raw, ok := wireEnvelope(data); ok {
			if k := d.kinds[gvk]; k != nil {
				p, err := k.packWire(raw, true)
				if err != nil {
					return nil, &gvk, fmt.Errorf("decode %s: %w", gvk.Kind, err)
				}
				return p, &gvk, nil
			}
		}
	}
	obj, gvk, err := d.Serializer.Decode(data, defaults, into)
	if err != nil || into != nil || gvk == nil {
		return obj, gvk, err
	}
	if k := d.kinds[*gvk]; k != nil {
		obj, err = k.pack(obj)
	}
	return obj, gvk, err
}

// decodeList decodes a list of l's kind into l.
func (d packingDecoder) decodeList(data []byte, defaults *schema.GroupVersionKind, l *packedList) (runtime.Object, *schema.GroupVersionKind, error) {
	if d.protobuf {
		if gvk, raw, ok := wireEnvelope(data); ok && gvk == l.kind.gvk.GroupVersion().WithKind(l.kind.gvk.Kind+"List") {
			err := eachField(raw, func(num protowire.Number, v []byte) error {
				switch num {
				case 1:
					return l.ListMeta.Unmarshal(v)
				case 2:
					p, err := l.kind.packWire(v, false)
					if err != nil {
						return err
					}
					l.Items = append(l.Items, p)
				}
				return nil
			})
			if err != nil {
				return nil, &gvk, fmt.Errorf("decode %s: %w", gvk.Kind, err)
			}
			return l, &gvk, nil
		}
	}
	obj, gvk, err := d.Serializer.Decode(data, defaults, nil)
	if err != nil {
		return obj, gvk, err
	}
	if gvk == nil || *gvk != l.kind.gvk.GroupVersion().WithKind(l.kind.gvk.Kind+"List") {
		return obj, gvk, nil // a Status, say: the caller reads it
	}
	list, err := meta.ListAccessor(obj)
	if err != nil {
		return nil, gvk, err
	}
	l.ResourceVersion, l.Continue, l.RemainingItemCount = list.GetResourceVersion(), list.GetContinue(), list.GetRemainingItemCount()
	err = meta.EachListItem(obj, func(item runtime.Object) error {
		p, err := l.kind.pack(item)
		if err == nil {
			l.Items = append(l.Items, p.(*packed))
		}
		return err
	})
	return l, gvk, err
}

// watchREST is a REST client of the reconciler's watches for group
// version gv (its kinds packed as kinds says), on config and httpClient.
func watchREST(config *rest.Config, httpClient *http.Client, gv schema.GroupVersion, kinds map[schema.GroupVersionKind]*packedKind) (rest.Interface, error) {
	c := rest.CopyConfig(config)
	c.GroupVersion = &gv
	c.APIPath = "/apis"
	if gv.Group == "" {
		c.APIPath = "/api"
	}
	c.NegotiatedSerializer = packingSerializer{rest.CodecFactoryForGeneratedClient(scheme.Scheme, scheme.Codecs).WithoutConversion(), kinds}
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	r, err := rest.RESTClientForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", gv, err)
	}
	return r, nil
}

// packedInformer is an informer of kind k (in every namespace; selector,
// when not empty, picks by label) over client, whose objects arrive
// packed, kept in an nsStore.
func packedInformer(client rest.Interface, k *packedKind, selector string, h cache.ResourceEventHandler) (cache.Indexer, cache.Controller) {
	// A plain informer, not a shared one: it calls h from the loop that
	// files each change, where a shared informer hands every event on
	// through two goroutines of each handler's (and the cache has one
	// handler an informer). client-go's informers build their own store;
	// this one is built from its parts (a FIFO, a controller) around an
	// nsStore. The FIFO is told what the store holds (KnownObjects), so a
	// new list ends with a delete of each object it no longer names.
	store := newNSStore()
	fifo := cache.NewRealFIFOWithOptions(cache.RealFIFOOptions{
		Name:         "RealFIFO " + k.gvk.Kind,
		KeyFunction:  cache.MetaNamespaceKeyFunc,
		KnownObjects: store,
	})
	ctrl := cache.New(&cache.Config{
		Queue:             fifo,
		ListerWatcher:     cache.ToListWatcherWithWatchListSemantics(packedListWatch(client, k, selector), client),
		ObjectType:        &packed{},
		ObjectDescription: k.gvk.Kind,
		Process: func(obj any, initial bool) error {
			deltas, ok := obj.(cache.Deltas)
			if !ok {
				return fmt.Errorf("%s informer: %T popped, not deltas", k.gvk.Kind, obj)
			}
			return fileDeltas(store, h, deltas, initial)
		},
	})
	return store, ctrl
}

// fileDeltas files deltas in store and tells h of each, oldest first, as
// client-go's informers do (its processDeltas, for a FIFO that is told
// what the store holds).
func fileDeltas(store cache.Store, h cache.ResourceEventHandler, deltas cache.Deltas, initial bool) error {
	for _, d := range deltas {
		switch d.Type {
		case cache.Sync, cache.Replaced, cache.Added, cache.Updated:
			old, exists, err := store.Get(d.Object)
			if err != nil {
				return err
			}
			if err := store.Update(d.Object); err != nil {
				return err
			}
			if exists {
				h.OnUpdate(old, d.Object)
			} else {
				h.OnAdd(d.Object, initial)
			}
		case cache.Deleted:
			if err := store.Delete(d.Object); err != nil {
				return err
			}
			h.OnDelete(d.Object)
		default:
			return fmt.Errorf("informer: a %s delta, which this FIFO does not send", d.Type)
		}
	}
	return nil
}

// packedListWatch lists and watches kind k over client, as packedInformer.
func packedListWatch(client rest.Interface, k *packedKind, selector string) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = selector
			l := &packedList{kind: k}
			if err := client.Get().Resource(k.resource).VersionedParams(&opts, scheme.ParameterCodec).Do(ctx).Into(l); err != nil {
				return nil, err
			}
			return l, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = selector
			opts.Watch = true
			var timeout time.Duration
			if opts.TimeoutSeconds != nil {
				timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
			}
			return client.Get().Resource(k.resource).VersionedParams(&opts, scheme.ParameterCodec).Timeout(timeout).Watch(ctx)
		},
	}
}

// wireEnvelope reads the kind and the bytes of the object a protobuf body
// of the API carries (a runtime.Unknown after the prefix), without
// copying. ok is false for anything else, or for an object it carries
// encoded some other way.
func wireEnvelope(data []byte) (gvk schema.GroupVersionKind, raw []byte, ok bool) {
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
				return errWireProto
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

// eachRawField calls fn with each field of msg: its number and type, the
// field whole (tag and all), and its value when length-delimited.
func eachRawField(msg []byte, fn func(num protowire.Number, typ protowire.Type, field, v []byte) error) error {
	for b := msg; len(b) > 0; {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return fmt.Errorf("%w: %w", errWireProto, protowire.ParseError(tagLen))
		}
		valLen := protowire.ConsumeFieldValue(num, typ, b[tagLen:])
		if valLen < 0 {
			return fmt.Errorf("%w: %w", errWireProto, protowire.ParseError(valLen))
		}
		var v []byte
		if typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(b[tagLen:])
		}
		if err := fn(num, typ, b[:tagLen+valLen], v); err != nil {
			return err
		}
		b = b[tagLen+valLen:]
	}
	return nil
}

// eachWireField calls fn with each varint and length-delimited field of
// msg: its number and type, and its value (v for bytes, x for a varint).
func eachWireField(msg []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	return eachRawField(msg, func(num protowire.Number, typ protowire.Type, field, v []byte) error {
		switch typ {
		case protowire.BytesType:
			return fn(num, typ, v, 0)
		case protowire.VarintType:
			_, tagLen := protowire.ConsumeVarint(field)
			x, _ := protowire.ConsumeVarint(field[tagLen:])
			return fn(num, typ, nil, x)
		}
		return nil
	})
}

// eachField calls fn with the number and bytes of each length-delimited
// field of msg, in order, and skips the others.
func eachField(msg []byte, fn func(num protowire.Number, v []byte) error) error {
	return eachRawField(msg, func(num protowire.Number, typ protowire.Type, _, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		return fn(num, v)
	})
}

// filteredSize is the size of msg with only the fields keep keeps.
func filteredSize(msg []byte, keep func(protowire.Number) bool) (int, error) {
	n := 0
	err := eachRawField(msg, func(num protowire.Number, _ protowire.Type, field, _ []byte) error {
		if keep(num) {
			n += len(field)
		}
		return nil
	})
	return n, err
}

// appendFiltered appends the fields of msg keep keeps (msg was read
// whole by filteredSize).
func appendFiltered(dst, msg []byte, keep func(protowire.Number) bool) []byte {
	_ = eachRawField(msg, func(num protowire.Number, _ protowire.Type, field, _ []byte) error {
		if keep(num) {
			dst = append(dst, field...)
		}
		return nil
	})
	return dst
}
