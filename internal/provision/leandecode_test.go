package provision

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// leanTestMeta is the metadata of an object as the API server sends it,
// managed fields and all.
func leanTestMeta(name string, owner *metav1.OwnerReference) metav1.ObjectMeta {
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

func leanTestTemplate() corev1.PodTemplateSpec {
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

// leanTestObjects are objects of each kind the lean decoder knows, and of
// one it does not.
func leanTestObjects() []runtime.Object {
	tmpl := leanTestTemplate()
	now := metav1.NewTime(time.Unix(1700000060, 0))
	pod := func(name string) corev1.Pod {
		return corev1.Pod{
			ObjectMeta: leanTestMeta(name, controllerRef("Job", "wordpress-cron-1")),
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
		ObjectMeta: leanTestMeta("wordpress-cron-1", controllerRef("CronJob", "wordpress-cron")),
		Spec:       batchv1.JobSpec{BackoffLimit: new(int32), Template: tmpl},
		Status:     batchv1.JobStatus{Active: 1, StartTime: &now},
	}
	setup := cronRun
	setup.ObjectMeta = leanTestMeta("setup", nil)
	rs := appsv1.ReplicaSet{
		ObjectMeta: leanTestMeta("wordpress-5d8", controllerRef("Deployment", "wordpress")),
		Spec:       appsv1.ReplicaSetSpec{Replicas: new(int32), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}, Template: tmpl},
		Status:     appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 1},
	}
	quota := corev1.ResourceQuota{
		ObjectMeta: leanTestMeta("store", nil),
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("6")}},
		Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("6")},
			Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4")}},
	}
	deploy := appsv1.Deployment{ObjectMeta: leanTestMeta("wordpress", nil), Spec: appsv1.DeploymentSpec{Template: tmpl}}
	return withKinds([]runtime.Object{
		new(pod("cron-1-abc")),
		&corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "99", Continue: "next"}, Items: []corev1.Pod{pod("a"), pod("b")}},
		new(cronRun), new(setup),
		&batchv1.JobList{Items: []batchv1.Job{cronRun, setup}},
		new(rs),
		&appsv1.ReplicaSetList{Items: []appsv1.ReplicaSet{rs}},
		new(quota), &corev1.ResourceQuotaList{Items: []corev1.ResourceQuota{quota}},
		new(deploy),
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

// cachedForm is what the reconciler's cache makes of obj: trimCached, item by
// item for a list.
func cachedForm(t *testing.T, obj runtime.Object) runtime.Object {
	t.Helper()
	obj = obj.DeepCopyObject()
	switch obj.(type) {
	case *corev1.PodList, *batchv1.JobList, *appsv1.ReplicaSetList, *corev1.ResourceQuotaList:
		if err := meta.EachListItem(obj, func(item runtime.Object) error { trimCached(item); return nil }); err != nil {
			t.Fatal(err)
		}
	case *appsv1.Deployment: // not a lean kind: decoded whole
	default:
		trimCached(obj)
	}
	return obj
}

// TestLeanDecoder: what the lean decoder makes of each kind is what the
// generated decoder makes of it after trimCached, with or without an
// object to decode into; a kind it does not know, JSON, and a body it
// cannot read go to the generated decoder.
func TestLeanDecoder(t *testing.T) {
	full := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	lean := leanDecoder{full}
	for _, obj := range leanTestObjects() {
		var buf bytes.Buffer
		if err := full.Encode(obj, &buf); err != nil {
			t.Fatal(err)
		}
		want := cachedForm(t, obj)
		want.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		for _, into := range []runtime.Object{nil, reflect.New(reflect.TypeOf(obj).Elem()).Interface().(runtime.Object)} {
			got, gvk, err := lean.Decode(buf.Bytes(), nil, into)
			if err != nil {
				t.Fatalf("%T: %v", obj, err)
			}
			if gvk == nil || gvk.Kind != reflect.TypeOf(obj).Elem().Name() {
				t.Errorf("%T: kind %v", obj, gvk)
			}
			if into != nil && got != into {
				t.Errorf("%T: decoded into a new object, not the one given", obj)
			}
			got.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%T (into %T):\n got %+v\nwant %+v", obj, into, got, want)
			}
		}
	}

	// What the decoder leaves out of a cron run's pod and Job, spelled
	// out, and what it keeps of the setup Job.
	objs := leanTestObjects()
	var buf bytes.Buffer
	for i, check := range []func(runtime.Object){
		func(o runtime.Object) {
			p := o.(*corev1.Pod)
			if len(p.Spec.Containers) != 0 || p.ManagedFields != nil || p.Status.ContainerStatuses != nil || p.Status.PodIP != "" {
				t.Errorf("pod kept what the cache drops: %+v", p)
			}
			if p.Status.Phase != corev1.PodRunning || len(p.Status.Conditions) != 2 || p.Labels["app.kubernetes.io/component"] != "cron" ||
				metav1.GetControllerOf(p) == nil {
				t.Errorf("pod lost what the judge reads: %+v", p)
			}
		},
		nil, nil,
		func(o runtime.Object) {
			if j := o.(*batchv1.Job); len(j.Spec.Template.Spec.Containers) != 1 || j.ManagedFields != nil {
				t.Errorf("the setup Job's template was dropped, or its managed fields kept: %+v", j)
			}
		},
	} {
		if check == nil {
			continue
		}
		buf.Reset()
		if err := full.Encode(objs[i], &buf); err != nil {
			t.Fatal(err)
		}
		got, _, err := lean.Decode(buf.Bytes(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(got)
	}
	buf.Reset()
	if err := full.Encode(objs[2], &buf); err != nil {
		t.Fatal(err)
	}
	if got, _, err := lean.Decode(buf.Bytes(), nil, nil); err != nil || len(got.(*batchv1.Job).Spec.Template.Spec.Containers) != 0 {
		t.Errorf("a cron run's template was kept: %v", err)
	}

	// Into an object of another type: the generated decoder's answer (a
	// new Pod, decoded whole).
	buf.Reset()
	if err := full.Encode(objs[0], &buf); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	want, _, wantErr := full.Decode(buf.Bytes(), nil, svc)
	got, _, err := lean.Decode(buf.Bytes(), nil, svc)
	if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
		t.Errorf("into a Service: got %T %v, want %T %v", got, err, want, wantErr)
	}
	// A truncated pod: an error, never a panic or half an object.
	for n := len(protobufPrefix) + 1; n < buf.Len(); n += 7 {
		_, _, _ = lean.Decode(buf.Bytes()[:n], nil, nil)
	}
	if _, _, err := lean.Decode(buf.Bytes()[:buf.Len()-3], nil, nil); err == nil {
		t.Error("a truncated pod decoded")
	}
	// Not protobuf: the generated decoder refuses it as before.
	if _, _, err := lean.Decode([]byte(`{"kind":"Pod","apiVersion":"v1"}`), nil, nil); err == nil {
		t.Error("JSON decoded by the protobuf decoder")
	}
}

// FuzzLeanDecoder: on any bytes the lean decoder returns an error or an
// object, never panics, and where the generated decoder reads a lean kind
// the lean decoder reads the same, trimmed.
func FuzzLeanDecoder(f *testing.F) {
	full := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	for _, obj := range leanTestObjects() {
		var buf bytes.Buffer
		if err := full.Encode(obj, &buf); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	lean := leanDecoder{full}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := lean.Decode(data, nil, nil)
		if err != nil {
			return
		}
		want, _, err := full.Decode(data, nil, nil)
		if err != nil {
			return // the lean decoder skipped what the generated one refused
		}
		switch want.(type) {
		case *corev1.Pod, *corev1.PodList, *corev1.ResourceQuota, *corev1.ResourceQuotaList, *batchv1.Job, *batchv1.JobList, *appsv1.ReplicaSet, *appsv1.ReplicaSetList:
			want = cachedForm(t, want)
		}
		got.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		want.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("lean %+v\nfull %+v", got, want)
		}
	})
}

// TestLeanWatchClient: the reconciler's clientset decodes pods leanly in
// a GET, a LIST and a WATCH, and other kinds whole.
func TestLeanWatchClient(t *testing.T) {
	full := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	objs := leanTestObjects()
	encode := func(w http.ResponseWriter, obj runtime.Object) {
		w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
		if err := full.Encode(obj, w); err != nil {
			t.Error(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Query().Get("watch") == "true":
			w.Header().Set("Content-Type", runtime.ContentTypeProtobuf+";stream=watch")
			var obj bytes.Buffer
			if err := full.Encode(objs[0], &obj); err != nil {
				t.Error(err)
			}
			fw := protobuf.LengthDelimitedFramer.NewFrameWriter(w)
			var ev bytes.Buffer
			raw := protobuf.NewRawSerializer(scheme.Scheme, scheme.Scheme)
			if err := raw.Encode(&metav1.WatchEvent{Type: string(watch.Added), Object: runtime.RawExtension{Raw: obj.Bytes()}}, &ev); err != nil {
				t.Error(err)
			}
			_, _ = fw.Write(ev.Bytes())
		case r.URL.Path == "/api/v1/namespaces/store-a/pods/cron-1-abc":
			encode(w, objs[0])
		case r.URL.Path == "/api/v1/namespaces/store-a/pods":
			encode(w, objs[1])
		case r.URL.Path == "/apis/apps/v1/namespaces/store-a/deployments/wordpress":
			encode(w, objs[len(objs)-1])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	config := &rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: runtime.ContentTypeProtobuf,
		AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON}}
	c, err := leanWatchClient(config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lean := func(what string, p *corev1.Pod) {
		if len(p.Spec.Containers) != 0 || p.ManagedFields != nil || p.Status.Phase != corev1.PodRunning || len(p.Labels) == 0 {
			t.Errorf("%s: not decoded leanly: %+v", what, p)
		}
	}
	p, err := c.CoreV1().Pods("store-a").Get(ctx, "cron-1-abc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lean("get", p)
	l, err := c.CoreV1().Pods("store-a").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 2 || l.Continue != "next" {
		t.Errorf("list: %+v", l)
	}
	for i := range l.Items {
		lean("list", &l.Items[i])
	}
	w, err := c.CoreV1().Pods("store-a").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			t.Fatalf("watch: %v %T", ev.Type, ev.Object)
		}
		lean("watch", p)
	case <-time.After(30 * time.Second):
		t.Fatal("watch: no event")
	}
	w.Stop()
	d, err := c.AppsV1().Deployments("store-a").Get(ctx, "wordpress", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 || d.ManagedFields == nil {
		t.Errorf("a Deployment was not decoded whole: %+v", d)
	}
}
