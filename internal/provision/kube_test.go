package provision

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// The reconciler's watches ask the API server for no gzip and speak
// HTTP/1.1, each on its own connection (see NewKube); urumi's other
// requests still accept gzip and share HTTP/2. (Over TLS, as to every API
// server: client-go gives a config without TLS options Go's default
// transport, which ignores the compression setting.)
func TestWatchTransport(t *testing.T) {
	type seen struct {
		encoding string
		proto    int
	}
	var mu sync.Mutex
	got := map[string]seen{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Query().Get("watch")] = seen{r.Header.Get("Accept-Encoding"), r.ProtoMajor}
		mu.Unlock()
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}`, http.StatusInternalServerError)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	k, err := NewKube(&rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = k.watches.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	_, _ = k.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	mu.Lock()
	defer mu.Unlock()
	if w := got["true"]; w.encoding != "" || w.proto != 1 {
		t.Errorf("the reconciler's watch sent Accept-Encoding %q over HTTP/%d, want none over HTTP/1.1", w.encoding, w.proto)
	}
	if l := got[""]; l.encoding != "gzip" || l.proto != 2 {
		t.Errorf("a list sent Accept-Encoding %q over HTTP/%d, want gzip over HTTP/2", l.encoding, l.proto)
	}
}

// Helm's release records carry urumi's label (an install labels them), but
// neither `store check` nor the reconciler's cache takes them for urumi's
// own Secrets: each holds a record once, compacted, among the records.
func TestSecretsLeaveOutReleaseRecords(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := Namespace(testStoreName)
	mine := map[string]string{LabelManagedBy: ManagedBy}
	record := helmSecret(t, ns, 1, rcommon.StatusDeployed, "---\nkind: ConfigMap\n", true)
	record.Labels[LabelManagedBy] = ManagedBy
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: mine}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: credentialsName, Namespace: ns, Labels: mine}},
		&record)
	k := &Kube{Client: client}
	snap, err := k.takeSnapshot(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := newDriftCache(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); c.stop() }()
	for what, s := range map[string]*snapshot{"store check": snap, "the reconciler": c.snapshot(ns)} {
		o := s.byNS[ns]
		if o == nil {
			t.Fatalf("%s: no objects in %s", what, ns)
		}
		var names []string
		for _, sec := range o.secrets {
			names = append(names, sec.Name)
		}
		if len(names) != 1 || names[0] != credentialsName || len(o.helm) != 1 {
			t.Errorf("%s: urumi's secrets %v, records %d; want the credentials and one record", what, names, len(o.helm))
		}
	}
}

// The reconciler's cache keeps pods, ReplicaSets, config maps and urumi's
// Secrets packed (the Secrets without a reference), and hands them back
// whole (what trimCached leaves) when read; a packed object's labels are
// kept as a digest, which still tells a label change from a status change.
func TestCacheKeepsPacked(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := Namespace(testStoreName)
	mine := map[string]string{LabelManagedBy: ManagedBy}
	rsLabels := map[string]string{"app": "wordpress", "pod-template-hash": "abc"}
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: mine}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: credentialsName, Namespace: ns, Labels: mine},
			Data: map[string][]byte{"admin-password": []byte("s3cret")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "setup", Namespace: ns}, Data: map[string]string{"setup.sh": "#!/bin/sh\n"}},
		quota(ns, "2", "1"),
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "wordpress-abc", Namespace: ns, Labels: rsLabels},
			Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "wordpress"}}}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "wordpress-abc-x", Namespace: ns, Labels: rsLabels,
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "wordpress-abc", Controller: ptr.To(true)}}},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "wordpress"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}})
	c, _, err := newDriftCache(&Kube{Client: client}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); c.stop() }()
	for what, idx := range map[string]cache.Indexer{"secret": c.secrets, "replicaset": c.replicaSets, "pod": c.pods, "configmap": c.configMaps,
		"namespace": c.namespaces, "quota": c.quotas} {
		for _, obj := range idx.List() {
			p, ok := obj.(*packed)
			if !ok {
				t.Fatalf("the cache keeps a %s as %T, want it packed", what, obj)
			}
			if p.name == "" || p.namespace != ns && what != "namespace" {
				t.Errorf("packed %s keeps %+v", what, p.packedMeta)
			}
			// Kept against a reference (delta.go), but a store's secrets.
			if apart := what == "secret"; (p.ref == nil) != apart {
				t.Errorf("packed %s kept against %p", what, p.ref)
			}
		}
	}
	// The event filters tell a cron run's pods by their controller's
	// kind, which a packed pod keeps.
	for _, obj := range c.pods.List() {
		if !controlledBy("ReplicaSet")(obj) || controlledBy("Job")(obj) {
			t.Errorf("packed pod: controlled by a ReplicaSet %v, by a Job %v", controlledBy("ReplicaSet")(obj), controlledBy("Job")(obj))
		}
	}
	snap := c.snapshot(ns)
	o := snap.byNS[ns]
	if o == nil || len(o.secrets) != 1 || len(o.replicaSets) != 1 || len(o.pods) != 1 || len(o.configMaps) != 1 || len(o.quotas) != 1 {
		t.Fatalf("snapshot: %+v", o)
	}
	if n := c.namespace(ns); n == nil || n.Name != ns || !maps.Equal(n.Labels, mine) || snap.namespaces[ns] == nil {
		t.Errorf("namespace read back as %+v", n)
	}
	if c.namespace("store-nobody") != nil {
		t.Error("a namespace never made read back")
	}
	if q := o.quotas[0]; q.Spec.Hard.Pods().String() != "2" || len(q.Status.Used) != 0 {
		t.Errorf("quota read back as %+v (want its spec, no status)", q)
	}

	// quotaChanged (a quota's update filter) on packed copies: what is
	// used changes with every pod, and is not a change.
	packQuota := func(q *corev1.ResourceQuota) any {
		trimCached(q)
		return pack(q, packedAs[corev1.ResourceQuota](), c.refs)
	}
	base := packQuota(quota(ns, "2", "1"))
	if quotaChanged(base, packQuota(quota(ns, "2", "2"))) {
		t.Error("a quota's usage counted as a change")
	}
	relabelled := quota(ns, "2", "1")
	relabelled.Labels = map[string]string{"a": "b"}
	for what, q := range map[string]*corev1.ResourceQuota{"its spec": quota(ns, "3", "1"), "its labels": relabelled} {
		if !quotaChanged(base, packQuota(q)) {
			t.Errorf("a change of %s is not seen", what)
		}
	}
	if cm := o.configMaps[0]; cm.Data["setup.sh"] != "#!/bin/sh\n" {
		t.Errorf("config map read back as %+v", cm)
	}
	if string(o.secrets[0].Data["admin-password"]) != "s3cret" || o.secrets[0].Labels[LabelManagedBy] != ManagedBy {
		t.Errorf("secret read back as %+v", o.secrets[0].ObjectMeta)
	}
	if rs := o.replicaSets[0]; !maps.Equal(rs.Labels, rsLabels) || len(rs.Spec.Template.Spec.Containers) != 0 {
		t.Errorf("ReplicaSet read back with labels %v, template %+v (want the labels, no template)", rs.Labels, rs.Spec.Template)
	}
	pod := o.pods[0]
	if !maps.Equal(pod.Labels, rsLabels) || pod.Status.Phase != corev1.PodRunning || len(pod.Status.Conditions) != 1 ||
		len(pod.Spec.Containers) != 0 || metav1.GetControllerOfNoCopy(&pod) == nil {
		t.Errorf("pod read back as %+v", pod)
	}

	// specChanged (a CronJob's update filter) on packed copies.
	cron := func(gen int64, labels map[string]string, last int64) any {
		return pack(&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "cron", Namespace: ns, Generation: gen, Labels: labels},
			Status: batchv1.CronJobStatus{LastScheduleTime: &metav1.Time{Time: time.Unix(last, 0)}}}, packedAs[batchv1.CronJob](), nil)
	}
	a, b := map[string]string{"a": "1", "b": "2"}, map[string]string{"b": "2", "a": "1"}
	if specChanged(cron(1, a, 1), cron(1, b, 2)) {
		t.Error("a status update with the same labels counts as a change")
	}
	for what, obj := range map[string]any{
		"a label value": cron(1, map[string]string{"a": "1", "b": "3"}, 1), "a label more": cron(1, map[string]string{"a": "1", "b": "2", "c": ""}, 1),
		"a label key and value run together": cron(1, map[string]string{"a": "1b", "": "2"}, 1), "the generation": cron(2, a, 1),
	} {
		if !specChanged(cron(1, a, 1), obj) {
			t.Errorf("a change of %s is not seen", what)
		}
	}
}

// TestRevisit: every Resync the reconciler queues every store with a
// namespace once, spread over the period rather than all at one moment.
func TestRevisit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mine := map[string]string{LabelManagedBy: ManagedBy}
	names := []string{"a", "b", "c", "d"}
	var objs []runtime.Object
	for _, n := range names {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace(n), Labels: mine}})
	}
	objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}})
	c, _, err := newDriftCache(&Kube{Client: fake.NewClientset(objs...)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); c.stop() }()
	const period = 2 * time.Second
	r := &Reconciler{Resync: period, cache: c,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	defer r.queue.ShutDown()
	start := time.Now()
	r.revisit()
	got := map[string]time.Duration{}
	for len(got) < len(names) {
		name, quit := r.queue.Get()
		if quit {
			t.Fatal("queue shut down")
		}
		if _, twice := got[name]; twice {
			t.Errorf("%s queued twice", name)
		}
		got[name] = time.Since(start)
		r.queue.Done(name)
	}
	if len(got) != len(names) {
		t.Fatalf("queued %v, want %v", got, names)
	}
	var last time.Duration
	for _, d := range got {
		last = max(last, d)
	}
	// Four stores over two seconds: the last comes 1.5 s in, not at once;
	// nothing comes after the period.
	if last < period/2 || last > period+5*time.Second {
		t.Errorf("the last store was queued %s in, want spread over %s: %v", last, period, got)
	}
	if r.queue.Len() != 0 {
		t.Errorf("%d more queued", r.queue.Len())
	}
}

// quota is a store's quota allowing pods, of which used are used.
func quota(ns, pods, used string) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "store", Namespace: ns, Labels: map[string]string{LabelManagedBy: ManagedBy}},
		Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse(pods)}},
		Status: corev1.ResourceQuotaStatus{Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse(used)}}}
}
