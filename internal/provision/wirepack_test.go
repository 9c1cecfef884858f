package provision

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// wireTestMeta is the metadata of an object as the API server sends it,
// managed fields and all.
func wireTestMeta(name string, owner *metav1.OwnerReference) metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name: name, Namespace: "store-a", UID: "uid-" + "name", ResourceVersion: "42", Generation: 3,
		CreationTimestamp: metav1.NewTime(time.Unix(1700000000, 0)),
		Labels:            map[string]string{"app.kubernetes.io/component": "cron", "app.kubernetes.io/managed-by": "urumi"},
		Annotations:       map[string]string{"a": "b"},
		Finalizers:        []string{"batch.kubernetes.io/job-tracking"},
		ManagedFields: []metav1.ManagedFieldsEntry{{
			Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{}}}`)},
		}},
	}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return m
}

func wireTestTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app.kubernetes.io/component": "cron"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "cron", Image: "wordpress:cli", Command: []string{"/bin/sh", "/opt/urumi/cron.sh"},
				Env: []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceMemory: resource.MustParse("128Mi"), corev1.ResourceCPU: resource.MustParse("125m")}},
			}},
			Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

func controllerRef(kind, name string) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{APIVersion: "batch/v1", Kind: kind, Name: name, UID: "owner", Controller: &yes}
}

// wireTestObjects are objects of kinds the cache keeps packed, trimmed on
// the wire or not, lists of them, and an object of a kind it does not.
func wireTestObjects() []runtime.Object {
	tmpl := wireTestTemplate()
	now := metav1.NewTime(time.Unix(1700000060, 0))
	pod := func(name string) corev1.Pod {
		return corev1.Pod{
			ObjectMeta: wireTestMeta(name, controllerRef("Job", "wordpress-cron-1")),
			Spec:       tmpl.Spec,
			Status: corev1.PodStatus{
				Phase: corev1.PodRunning, HostIP: "10.0.0.1", PodIP: "10.1.0.7", QOSClass: corev1.PodQOSBurstable, StartTime: &now,
				Conditions: []corev1.PodCondition{
					{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
					{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "not yet"},
				},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "cron", Image: "wordpress:cli", RestartCount: 2,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
			},
		}
	}
	cronRun := batchv1.Job{
		ObjectMeta: wireTestMeta("wordpress-cron-1", controllerRef("CronJob", "wordpress-cron")),
		Spec:       batchv1.JobSpec{BackoffLimit: new(int32), Template: tmpl},
		Status:     batchv1.JobStatus{Active: 1, StartTime: &now},
	}
	setup := cronRun
	setup.ObjectMeta = wireTestMeta("setup", nil)
	rs := appsv1.ReplicaSet{
		ObjectMeta: wireTestMeta("wordpress-5d8", controllerRef("Deployment", "wordpress")),
		Spec:       appsv1.ReplicaSetSpec{Replicas: new(int32), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}, Template: tmpl},
		Status:     appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 1},
	}
	quota := corev1.ResourceQuota{
		ObjectMeta: wireTestMeta("store", nil),
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("6")}},
		Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("6")},
			Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4")}},
	}
	deploy := appsv1.Deployment{ObjectMeta: wireTestMeta("wordpress", nil), Spec: appsv1.DeploymentSpec{Template: tmpl}}
	// Being deleted, with two owners, the second its controller.
	going := pod("wordpress-5d8-x")
	going.DeletionTimestamp = &now
	going.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "u1"},
		*controllerRef("ReplicaSet", "wordpress-5d8")}
	ns := corev1.Namespace{ObjectMeta: wireTestMeta("store-a", nil), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	ns.Namespace = ""
	return withKinds([]runtime.Object{
		new(pod("cron-1-abc")),
		&corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "99", Continue: "next"}, Items: []corev1.Pod{pod("a"), pod("b")}},
		new(cronRun), new(setup),
		&batchv1.JobList{Items: []batchv1.Job{cronRun, setup}},
		new(rs),
		&appsv1.ReplicaSetList{Items: []appsv1.ReplicaSet{rs}},
		new(quota), &corev1.ResourceQuotaList{Items: []corev1.ResourceQuota{quota}},
		new(deploy), &going, &ns,
		// Top-level fields that are not messages: immutable (a varint).
		&corev1.ConfigMap{ObjectMeta: wireTestMeta("setup", nil), Data: map[string]string{"setup.sh": "#!/bin/sh\n"}, Immutable: new(true)},
		&corev1.Secret{ObjectMeta: wireTestMeta("store-credentials", nil), Type: corev1.SecretTypeOpaque, Immutable: new(false),
			Data: map[string][]byte{"admin-password": []byte("s3cret")}},
		&batchv1.CronJob{ObjectMeta: wireTestMeta("wordpress-cron", nil), Spec: batchv1.CronJobSpec{Schedule: "* * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}},
		&corev1.Service{ObjectMeta: wireTestMeta("wordpress", nil), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		// Not a packed kind: decoded whole.
		&corev1.Endpoints{ObjectMeta: wireTestMeta("wordpress", nil)},
	})
}

// withKinds sets each object's kind, as the API server's encoder does.
func withKinds(objs []runtime.Object) []runtime.Object {
	for _, o := range objs {
		gvks, _, err := scheme.Scheme.ObjectKinds(o)
		if err != nil {
			panic(err)
		}
		o.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
	return objs
}

// wireKinds are the cache's packed kinds by kind, as newDriftCache makes
// them.
func wireKinds(refs *deltaRefs) map[schema.GroupVersionKind]*packedKind {
	out := map[schema.GroupVersionKind]*packedKind{}
	for _, w := range watchedKinds(refs) {
		if w.packed != nil {
			out[w.packed.gvk] = w.packed
		}
	}
	return out
}

// packedTyped is what the cache makes of obj decoded whole (trimCached,
// then packed), item by item for a list; nil for a kind it keeps
// decoded.
func packedTyped(t *testing.T, kinds map[schema.GroupVersionKind]*packedKind, obj runtime.Object) []*packed {
	t.Helper()
	obj = obj.DeepCopyObject()
	var items []runtime.Object
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			t.Fatal(err)
		}
	} else {
		items = []runtime.Object{obj}
	}
	var out []*packed
	for _, item := range items {
		gvks, _, err := scheme.Scheme.ObjectKinds(item)
		if err != nil {
			t.Fatal(err)
		}
		k := kinds[gvks[0]]
		if k == nil {
			return nil
		}
		p, err := k.pack(item)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.(*packed))
	}
	return out
}

// samePacked says how got, packed from the wire, differs from want,
// packed decoded: its metadata, label digest, kind and what it unpacks
// to; "" when it does not.
func samePacked(got, want *packed) string {
	if !reflect.DeepEqual(got.packedMeta, want.packedMeta) || got.labels != want.labels || got.kind != want.kind {
		return fmt.Sprintf("metadata %+v labels %x kind %p, want %+v %x %p", got.packedMeta, got.labels, got.kind, want.packedMeta, want.labels, want.kind)
	}
	// Each is decoded once more from its own encoding: the cache's
	// (trimmed, decoded, encoded) has been, and a malformed quantity, say,
	// decodes to another state than it encodes from.
	canonical := func(p *packed) (any, error) {
		o, err := unpack(p)
		if err != nil {
			return nil, err
		}
		b, err := o.(protoObject).Marshal()
		if err != nil {
			return nil, err
		}
		c := p.kind.new()
		return c, c.Unmarshal(b)
	}
	g, err1 := canonical(got)
	w, err2 := canonical(want)
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("unpack: %v, %v", err1, err2)
	}
	if !reflect.DeepEqual(g, w) {
		return fmt.Sprintf("unpacks to\n %+v\nwant\n %+v", g, w)
	}
	return ""
}

// TestPackWire: what packWire makes of each kind the API server sends is
// what the cache makes of it decoded whole (trimCached, then packed): the
// same metadata, labels, kind and object, for an object and for a list,
// in protobuf and in JSON. Kinds the cache keeps decoded, and objects
// decoded into, go to the generated decoder.
func TestPackWire(t *testing.T) {
	full := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	json := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{})
	kinds := wireKinds(newDeltaRefs())
	for _, codec := range []struct {
		name string
		enc  runtime.Serializer
		dec  packingDecoder
	}{{"protobuf", full, packingDecoder{full, true, kinds}}, {"json", json, packingDecoder{json, false, kinds}}} {
		for _, obj := range wireTestObjects() {
			var buf bytes.Buffer
			if err := codec.enc.Encode(obj, &buf); err != nil {
				t.Fatal(err)
			}
			want := packedTyped(t, kinds, obj)
			name := fmt.Sprintf("%s %T", codec.name, obj)
			var got []*packed
			if meta.IsListType(obj) {
				item, _ := strings.CutSuffix(obj.GetObjectKind().GroupVersionKind().Kind, "List")
				l := &packedList{kind: kinds[obj.GetObjectKind().GroupVersionKind().GroupVersion().WithKind(item)]}
				out, _, err := codec.dec.Decode(buf.Bytes(), nil, l)
				if err != nil || out != l {
					t.Fatalf("%s: %v, %T", name, err, out)
				}
				lm, _ := meta.ListAccessor(obj)
				if l.ResourceVersion != lm.GetResourceVersion() || l.Continue != lm.GetContinue() {
					t.Errorf("%s: list metadata %+v", name, l.ListMeta)
				}
				got = l.Items
			} else {
				out, gvk, err := codec.dec.Decode(buf.Bytes(), nil, nil)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if gvk == nil || gvk.Kind != reflect.TypeOf(obj).Elem().Name() {
					t.Errorf("%s: kind %v", name, gvk)
				}
				if want == nil {
					if _, ok := out.(*packed); ok || reflect.TypeOf(out) != reflect.TypeOf(obj) {
						t.Errorf("%s: a kind the cache keeps decoded came as %T", name, out)
					}
					continue
				}
				p, ok := out.(*packed)
				if !ok {
					t.Fatalf("%s: decoded as %T, want it packed", name, out)
				}
				got = []*packed{p}
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d objects, want %d", name, len(got), len(want))
			}
			for i := range got {
				if diff := samePacked(got[i], want[i]); diff != "" {
					t.Errorf("%s, item %d: %s", name, i, diff)
				}
			}
		}
	}

	// What the cache leaves out of a cron run's pod and Job, spelled out,
	// and what it keeps of the setup Job and of a pod being deleted.
	dec := packingDecoder{full, true, kinds}
	decode := func(obj runtime.Object) (*packed, runtime.Object) {
		t.Helper()
		var buf bytes.Buffer
		if err := full.Encode(obj, &buf); err != nil {
			t.Fatal(err)
		}
		out, _, err := dec.Decode(buf.Bytes(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := out.(*packed)
		o, err := unpack(p)
		if err != nil {
			t.Fatal(err)
		}
		return p, o.(runtime.Object)
	}
	objs := wireTestObjects()
	p, o := decode(objs[0])
	if pod := o.(*corev1.Pod); len(pod.Spec.Containers) != 0 || pod.ManagedFields != nil || pod.Status.ContainerStatuses != nil || pod.Status.PodIP != "" {
		t.Errorf("pod kept what the cache drops: %+v", pod)
	} else if pod.Status.Phase != corev1.PodRunning || len(pod.Status.Conditions) != 2 || pod.Labels["app.kubernetes.io/component"] != "cron" ||
		metav1.GetControllerOf(pod) == nil || pod.UID == "" {
		t.Errorf("pod lost what the judge reads: %+v", pod)
	}
	if p.controller != "Job" || p.name != "cron-1-abc" || p.namespace != "store-a" || p.resourceVersion != "42" || p.generation != 3 ||
		p.labels != labelDigest(objs[0].(*corev1.Pod).Labels) || p.deletion != nil {
		t.Errorf("pod packed as %+v, labels %x", p.packedMeta, p.labels)
	}
	// A pod a watch sent is kept whole at first (lazyDeltas), then as a
	// delta that reads back the same.
	if p.ref != nil || !p.kind.lazy {
		t.Errorf("a pod from a watch was kept as a delta at once (lazy kind: %v)", p.kind.lazy)
	}
	d := p.kind.asDelta(p)
	if d == nil || d.ref == nil || len(d.raw) >= len(p.raw) || d.packedMeta != p.packedMeta || d.labels != p.labels {
		t.Fatalf("the pod kept as a delta: %+v", d)
	}
	if od, err := unpack(d); err != nil || !equality.Semantic.DeepEqual(od, o) {
		t.Errorf("the pod kept as a delta reads back as %+v, %v; want %+v", od, err, o)
	}
	if p.kind.asDelta(d) != nil {
		t.Error("a delta was encoded again")
	}
	if _, o := decode(objs[2]); len(o.(*batchv1.Job).Spec.Template.Spec.Containers) != 0 {
		t.Error("a cron run's template was kept")
	}
	if _, o := decode(objs[3]); len(o.(*batchv1.Job).Spec.Template.Spec.Containers) != 1 || o.(*batchv1.Job).ManagedFields != nil {
		t.Errorf("the setup Job's template was dropped, or its managed fields kept: %+v", o)
	}
	if p, _ := decode(objs[10]); p.deletion == nil || !p.deletion.Equal(objs[10].(*corev1.Pod).DeletionTimestamp) || p.controller != "ReplicaSet" {
		t.Errorf("a pod being deleted, with its controller second, packed as %+v", p.packedMeta)
	}
	if p, _ := decode(objs[11]); p.namespace != "" || p.name != "store-a" {
		t.Errorf("a namespace packed as %+v", p.packedMeta)
	}
	if p, _ := decode(objs[13]); p.ref != nil {
		t.Error("a secret was kept against a reference")
	}

	// The bookmark that ends a watch's initial events reads as annotated;
	// any other object, bookmark or not, does not.
	end := withKinds([]runtime.Object{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "7",
		Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}})[0]
	plain := withKinds([]runtime.Object{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "8"}}})[0]
	if p, _ := decode(end); p.GetAnnotations()[metav1.InitialEventsAnnotationKey] != "true" || p.resourceVersion != "7" {
		t.Errorf("the end of the initial events packed as %+v, annotations %v", p.packedMeta, p.GetAnnotations())
	}
	for _, obj := range []runtime.Object{plain, objs[0]} {
		if p, _ := decode(obj); p.GetAnnotations() != nil {
			t.Errorf("%s reads as annotated", p.name)
		}
	}

	// Into an object of another type: the generated decoder's answer (a
	// new Pod, decoded whole).
	var buf bytes.Buffer
	if err := full.Encode(objs[0], &buf); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	want, _, wantErr := full.Decode(buf.Bytes(), nil, svc)
	got, _, err := dec.Decode(buf.Bytes(), nil, svc)
	if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
		t.Errorf("into a Service: got %T %v, want %T %v", got, err, want, wantErr)
	}
	// A truncated pod: an error, never a panic or half an object.
	for n := len(protobufPrefix) + 1; n < buf.Len(); n += 7 {
		_, _, _ = dec.Decode(buf.Bytes()[:n], nil, nil)
	}
	if _, _, err := dec.Decode(buf.Bytes()[:buf.Len()-3], nil, nil); err == nil {
		t.Error("a truncated pod decoded")
	}
	// Not protobuf: the protobuf decoder refuses it as before.
	if _, _, err := dec.Decode([]byte(`{"kind":"Pod","apiVersion":"v1"}`), nil, nil); err == nil {
		t.Error("JSON decoded by the protobuf decoder")
	}
}

// FuzzPackWire: on any bytes the packing decoder returns an error or an
// object, never panics, and where the generated decoder reads a packed
// kind from well-formed bytes the packed object is what the cache makes
// of the decoded one.
func FuzzPackWire(f *testing.F) {
	full := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	for _, obj := range wireTestObjects() {
		var buf bytes.Buffer
		if err := full.Encode(obj, &buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	kinds := wireKinds(nil)
	dec := packingDecoder{full, true, kinds}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := dec.Decode(data, nil, nil)
		if err != nil {
			return
		}
		p, ok := got.(*packed)
		if !ok {
			return
		}
		obj, _, err := full.Decode(data, nil, nil)
		if err != nil {
			return // packWire skipped what the generated decoder refused
		}
		// Compared on what an API server sends: bytes that encode back
		// as they came. (The generated decoder reads some malformed
		// bytes its own way: a map's key or value of the wrong wire type,
		// say, it reads as a length.)
		var again bytes.Buffer
		if err := full.Encode(obj, &again); err != nil || !bytes.Equal(again.Bytes(), data) {
			return
		}
		want := packedTyped(t, kinds, obj)
		if len(want) != 1 {
			t.Fatalf("packed a %T", obj)
		}
		if diff := samePacked(p, want[0]); diff != "" {
			t.Error(diff)
		}
	})
}

// A watch event's envelope reads as the API's decoder reads it, with the
// object's bytes left in the frame; what is no envelope is the wrapped
// decoder's to refuse.
func TestWatchEnvelopes(t *testing.T) {
	raw := protobuf.NewRawSerializer(scheme.Scheme, scheme.Scheme)
	env := watchEnvelopes{raw}
	pod := []byte("k8s\x00the pod's bytes")
	for _, ev := range []metav1.WatchEvent{
		{Type: string(watch.Added), Object: runtime.RawExtension{Raw: pod}},
		{Type: string(watch.Bookmark), Object: runtime.RawExtension{Raw: []byte("k8s\x00")}},
		{Type: string(watch.Deleted)},
	} {
		data, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var want, got metav1.WatchEvent
		if _, _, err := raw.Decode(data, nil, &want); err != nil {
			t.Fatal(err)
		}
		res, _, err := env.Decode(data, nil, &got)
		if err != nil || res != &got {
			t.Fatalf("%s: Decode = %v, %v", ev.Type, res, err)
		}
		if got.Type != want.Type || !bytes.Equal(got.Object.Raw, want.Object.Raw) {
			t.Errorf("%s: read %q %q, want %q %q", ev.Type, got.Type, got.Object.Raw, want.Type, want.Object.Raw)
		}
		if n := len(got.Object.Raw); n > 0 && &got.Object.Raw[n-1] != &data[len(data)-1] {
			t.Errorf("%s: the object was copied out of the frame", ev.Type)
		}
	}
	// Truncated: the tag of the object promises more than there is.
	data, _ := (&metav1.WatchEvent{Type: "ADDED", Object: runtime.RawExtension{Raw: pod}}).Marshal()
	var ev metav1.WatchEvent
	if _, _, err := env.Decode(data[:len(data)-3], nil, &ev); err == nil {
		t.Error("a truncated envelope decoded")
	}
	if _, _, err := env.Decode(nil, nil, &ev); err == nil {
		t.Error("an empty frame decoded")
	}
	// Another type goes to the wrapped decoder.
	var u runtime.Unknown
	if res, _, err := env.Decode(pod, nil, &u); err != nil || res != &u || !bytes.Equal(u.Raw, pod) {
		t.Errorf("Decode into Unknown = %v, %v", res, err)
	}
}

// TestPackedInformer: an informer of a packed kind keeps what the API
// server sends packed, through a LIST and through a WATCH that sends the
// initial events (the reflector waits for the bookmark that ends them).
func TestPackedInformer(t *testing.T) {
	full := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	raw := protobuf.NewRawSerializer(scheme.Scheme, scheme.Scheme)
	objs := wireTestObjects()
	list := objs[1].(*corev1.PodList)
	end := withKinds([]runtime.Object{&corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "99",
		Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}})[0]
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		asked = append(asked, r.URL.Path+"?"+q.Get("watch")+q.Get("sendInitialEvents")+" "+q.Get("labelSelector"))
		mu.Unlock()
		if r.URL.Path != "/api/v1/pods" {
			http.NotFound(w, r)
			return
		}
		if q.Get("watch") != "true" {
			w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
			if err := full.Encode(list, w); err != nil {
				t.Error(err)
			}
			return
		}
		w.Header().Set("Content-Type", runtime.ContentTypeProtobuf+";stream=watch")
		fw := protobuf.LengthDelimitedFramer.NewFrameWriter(w)
		send := func(typ watch.EventType, obj runtime.Object) {
			var o, ev bytes.Buffer
			if err := full.Encode(obj, &o); err != nil {
				t.Error(err)
			}
			if err := raw.Encode(&metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: o.Bytes()}}, &ev); err != nil {
				t.Error(err)
			}
			_, _ = fw.Write(ev.Bytes())
		}
		if q.Get("sendInitialEvents") == "true" {
			for i := range list.Items {
				p := list.Items[i]
				send(watch.Added, withKinds([]runtime.Object{&p})[0])
			}
			send(watch.Bookmark, end)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	config := &rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: runtime.ContentTypeProtobuf,
		AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON}}
	kinds := wireKinds(newDeltaRefs())
	k := kinds[corev1.SchemeGroupVersion.WithKind("Pod")]
	client, err := watchREST(config, http.DefaultClient, corev1.SchemeGroupVersion, kinds)
	if err != nil {
		t.Fatal(err)
	}
	want := packedTyped(t, kinds, list)
	check := func(what string, got []*packed) {
		t.Helper()
		slices.SortFunc(got, func(a, b *packed) int { return strings.Compare(a.name, b.name) })
		if len(got) != len(want) {
			t.Fatalf("%s: %d pods, want %d", what, len(got), len(want))
		}
		for i := range got {
			if diff := samePacked(got[i], want[i]); diff != "" {
				t.Errorf("%s: %s", what, diff)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := packedListWatch(client, k, "a=b").ListWithContext(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check("list", l.(*packedList).Items)
	if l.(*packedList).ResourceVersion != "99" {
		t.Errorf("list at %q", l.(*packedList).ResourceVersion)
	}

	var added atomic.Int32
	indexer, inf := packedInformer(client, k, "a=b", cache.ResourceEventHandlerFuncs{AddFunc: func(any) { added.Add(1) }})
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { inf.RunWithContext(ctx) })
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("the informer never synced")
	}
	var got []*packed
	for _, obj := range indexer.List() {
		got = append(got, obj.(*packed))
	}
	check("informer", got)
	if int(added.Load()) != len(want) {
		t.Errorf("the handler was told of %d adds, want %d", added.Load(), len(want))
	}
	byNS, err := indexer.ByIndex(cache.NamespaceIndex, "store-a")
	if err != nil || len(byNS) != len(want) {
		t.Errorf("namespace index: %d, %v", len(byNS), err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range asked {
		if !strings.HasSuffix(a, " a=b") {
			t.Errorf("asked %s, without the label selector", a)
		}
	}
}
