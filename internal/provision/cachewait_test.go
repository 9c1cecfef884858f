package provision

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"helm.sh/helm/v4/pkg/kube"
)

func infoOf(obj runtime.Object, gvk schema.GroupVersionKind) *resource.Info {
	m, _ := meta.Accessor(obj)
	return &resource.Info{
		Namespace: m.GetNamespace(), Name: m.GetName(), Object: obj,
		Mapping: &meta.RESTMapping{GroupVersionKind: gvk},
	}
}

var (
	gvkDeployment = appsv1.SchemeGroupVersion.WithKind("Deployment")
	gvkJob        = batchv1.SchemeGroupVersion.WithKind("Job")
	gvkConfigMap  = corev1.SchemeGroupVersion.WithKind("ConfigMap")
	gvkService    = corev1.SchemeGroupVersion.WithKind("Service")
	gvkClaim      = corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim")
)

func waitedDeployment(gen, observed int64, ready int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "wordpress", Generation: gen, UID: "d1"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: ready, UpdatedReplicas: ready,
			ReadyReplicas: ready, AvailableReplicas: ready,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}},
	}
}

func TestWaitsForReadiness(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "c"}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "s"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}}
	lb := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "lb"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "p"}}
	list := kube.ResourceList{
		infoOf(cm, gvkConfigMap), infoOf(svc, gvkService), infoOf(lb, gvkService),
		infoOf(claim, gvkClaim), infoOf(waitedDeployment(1, 1, 1), gvkDeployment),
	}
	var got []string
	for _, i := range onlyWaited(list) {
		got = append(got, i.Name)
	}
	if strings.Join(got, ",") != "lb,p,wordpress" {
		t.Errorf("waited for %v, want the load balancer, the claim and the Deployment", got)
	}
}

func TestCacheWaiter(t *testing.T) {
	deployments := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	jobs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	c := &driftCache{deployments: deployments, jobs: jobs}
	w := cacheWaiter{ctx: context.Background(), cache: c}
	// The cache keeps Deployments and Jobs packed (packed.go), as here.

	applied := waitedDeployment(2, 0, 0) // what the change returned: generation 2
	list := kube.ResourceList{infoOf(applied, gvkDeployment)}
	pending := func() string {
		t.Helper()
		p, err := w.pending(list, true, map[*resource.Info]*judged{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := pending(); !strings.Contains(p, "not seen yet") {
		t.Errorf("nothing cached: pending %q", p)
	}
	// The cache still holds generation 1, ready: that says nothing about 2.
	_ = deployments.Add(pack(waitedDeployment(1, 1, 1), packedAs[appsv1.Deployment](), nil))
	if p := pending(); !strings.Contains(p, "not seen since the change") {
		t.Errorf("older generation cached: pending %q", p)
	}
	_ = deployments.Update(pack(waitedDeployment(2, 2, 0), packedAs[appsv1.Deployment](), nil))
	if p := pending(); p == "" {
		t.Error("generation 2 with no ready replica counted as ready")
	}
	_ = deployments.Update(pack(waitedDeployment(2, 2, 1), packedAs[appsv1.Deployment](), nil))
	if p := pending(); p != "" {
		t.Errorf("ready Deployment: pending %q", p)
	}

	// Across polls, an object is judged again only when its version
	// moved: the same version with other contents (which the API server
	// never sends) keeps the verdict; a new version is judged.
	seen := map[*resource.Info]*judged{}
	versioned := func(ready int32, version string) any {
		d := waitedDeployment(2, 2, ready)
		d.ResourceVersion = version
		return pack(d, packedAs[appsv1.Deployment](), nil)
	}
	_ = deployments.Update(versioned(0, "7"))
	for i, c := range []struct {
		obj   any
		ready bool
	}{{versioned(0, "7"), false}, {versioned(1, "7"), false}, {versioned(1, "8"), true}, {versioned(0, "8"), true}, {versioned(0, "9"), false}} {
		_ = deployments.Update(c.obj)
		p, err := w.pending(list, true, seen)
		if err != nil || (p == "") != c.ready {
			t.Errorf("poll %d: pending %q, %v; want ready = %v", i, p, err, c.ready)
		}
	}
	_ = deployments.Update(pack(waitedDeployment(2, 2, 1), packedAs[appsv1.Deployment](), nil))

	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "setup", UID: "j1"}}
	list = append(list, infoOf(job, gvkJob))
	_ = jobs.Add(pack(job.DeepCopy(), packedAs[batchv1.Job](), nil))
	if p := pending(); !strings.Contains(p, "job in progress") {
		t.Errorf("running Job: pending %q", p)
	}
	if p, err := w.pending(list, false, map[*resource.Info]*judged{}); p != "" || err != nil {
		t.Errorf("without WaitForJobs a running Job is not waited for: %q, %v", p, err)
	}
	failed := job.DeepCopy()
	failed.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}
	_ = jobs.Update(pack(failed, packedAs[batchv1.Job](), nil))
	if _, err := w.pending(list, true, map[*resource.Info]*judged{}); err == nil || !strings.Contains(err.Error(), "BackoffLimitExceeded") {
		t.Errorf("failed Job: %v, want an error naming the reason", err)
	}
	done := job.DeepCopy()
	done.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	_ = jobs.Update(pack(done, packedAs[batchv1.Job](), nil))
	if err := w.WaitWithJobs(list, time.Second); err != nil {
		t.Errorf("everything ready: %v", err)
	}

	// Not ready by the deadline: the error names what was waited for.
	_ = deployments.Update(pack(waitedDeployment(2, 2, 0), packedAs[appsv1.Deployment](), nil))
	err := w.WaitWithJobs(list, 300*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "Deployment store-a/wordpress") {
		t.Errorf("timeout: %v", err)
	}

	// A cache that no longer follows the cluster (serve draining its jobs
	// after SIGTERM stopped the reconciler) is not waited on: Helm's
	// waiter waits out the rest, on what becomes ready later.
	stopped := make(chan struct{})
	close(stopped)
	c.done = stopped
	helm := &recordingWaiter{}
	w.Waiter = helm
	if err := w.WaitWithJobs(append(list, infoOf(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "c"}}, gvkConfigMap)), time.Second); err != nil {
		t.Errorf("stopped cache: %v, want Helm's waiter's answer", err)
	}
	if helm.calls != 1 || !helm.jobs || len(helm.waited) != 2 {
		t.Errorf("stopped cache: Helm's waiter called %d times (jobs %v) for %d objects, want once, with jobs, for the Deployment and the Job", helm.calls, helm.jobs, len(helm.waited))
	}
}

// recordingWaiter is a Helm waiter that says everything is ready and
// records what it was asked.
type recordingWaiter struct {
	kube.Waiter
	calls  int
	jobs   bool
	waited kube.ResourceList
}

func (r *recordingWaiter) Wait(res kube.ResourceList, _ time.Duration) error {
	r.calls, r.waited = r.calls+1, res
	return nil
}

func (r *recordingWaiter) WaitWithJobs(res kube.ResourceList, _ time.Duration) error {
	r.calls, r.jobs, r.waited = r.calls+1, true, res
	return nil
}

// After an apply, each object keeps its identity, and the waits decide as
// they did with the API server's whole answer.
func TestSlimApplied(t *testing.T) {
	full := waitedDeployment(3, 2, 1)
	full.ResourceVersion, full.Labels = "41", map[string]string{"app.kubernetes.io/component": "wordpress"}
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "helm", Operation: metav1.ManagedFieldsOperationApply}}
	full.Spec.Template.Spec.Containers = []corev1.Container{{Name: "wordpress", Image: "wordpress:6", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(full)
	if err != nil {
		t.Fatal(err)
	}
	deployment := &unstructured.Unstructured{Object: u}
	deployment.SetGroupVersionKind(gvkDeployment)
	lb := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"namespace": "store-a", "name": "lb", "uid": "s1"},
		"spec":     map[string]any{"type": "LoadBalancer", "ports": []any{map[string]any{"port": int64(80)}}}}}
	typed := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "typed-lb"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "c"}, Data: map[string]string{"k": "v"}}
	list := kube.ResourceList{infoOf(deployment, gvkDeployment), infoOf(lb, gvkService), infoOf(typed, gvkService), infoOf(cm, gvkConfigMap)}
	before := make([]runtime.Object, len(list))
	for i, info := range list {
		before[i] = info.Object
	}
	waited := func() []string {
		var names []string
		for _, i := range onlyWaited(list) {
			names = append(names, i.Name)
		}
		return names
	}
	wantWaited := waited()

	slimApplied(list)

	if got := waited(); !slices.Equal(got, wantWaited) {
		t.Errorf("waited for %v after slimming, %v before", got, wantWaited)
	}
	for i, info := range list {
		s, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			t.Fatalf("%s: slimmed into %T", info.Name, info.Object)
		}
		b, _ := meta.Accessor(before[i])
		if s.GroupVersionKind() != before[i].GetObjectKind().GroupVersionKind() || s.GetName() != b.GetName() ||
			s.GetNamespace() != b.GetNamespace() || s.GetUID() != b.GetUID() || s.GetResourceVersion() != b.GetResourceVersion() ||
			s.GetGeneration() != b.GetGeneration() || !maps.Equal(s.GetLabels(), b.GetLabels()) {
			t.Errorf("%s: identity changed: %v", info.Name, s.Object)
		}
		for k := range s.Object {
			if k != "apiVersion" && k != "kind" && k != "metadata" && !(k == "spec" && s.GetKind() == "Service") {
				t.Errorf("%s: kept %q", info.Name, k)
			}
		}
		if s.GetManagedFields() != nil {
			t.Errorf("%s: kept its managed fields", info.Name)
		}
	}
	// The cache waiter's "is the cached copy older than the change?"
	// answers as before.
	for _, c := range []*appsv1.Deployment{waitedDeployment(2, 2, 1), waitedDeployment(3, 3, 1), waitedDeployment(4, 4, 1)} {
		if got, want := older(c, list[0].Object), older(c, before[0]); got != want {
			t.Errorf("cached generation %d: older = %v after slimming, %v before", c.Generation, got, want)
		}
	}
}

// A cached object of the same name but another uid (deleted and made
// again) is not the one the change made, whatever its generation.
func TestCacheWaiterOtherUID(t *testing.T) {
	deployments := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	w := cacheWaiter{ctx: context.Background(), cache: &driftCache{deployments: deployments}}
	applied := waitedDeployment(1, 0, 0)
	applied.UID = "new"
	list := kube.ResourceList{infoOf(applied, gvkDeployment)}
	_ = deployments.Add(pack(waitedDeployment(5, 5, 1), packedAs[appsv1.Deployment](), nil)) // uid d1, ready
	if p, err := w.pending(list, true, map[*resource.Info]*judged{}); err != nil || !strings.Contains(p, "not seen since the change") {
		t.Errorf("another uid cached: pending %q, %v", p, err)
	}
	same := waitedDeployment(1, 1, 1)
	same.UID = "new"
	_ = deployments.Update(pack(same, packedAs[appsv1.Deployment](), nil))
	if p, err := w.pending(list, true, map[*resource.Info]*judged{}); err != nil || p != "" {
		t.Errorf("the applied object, ready: pending %q, %v", p, err)
	}
}

// A waiter reads the cache again when the informers deliver a change in
// the namespace of what it waits for, not at its next recheck (set here
// beyond the test's life, so that only the word of the change can end
// the wait).
func TestCacheWaiterWokenByChange(t *testing.T) {
	deployments := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	c := &driftCache{deployments: deployments}
	w := cacheWaiter{ctx: context.Background(), cache: c, recheck: time.Hour}
	list := kube.ResourceList{infoOf(waitedDeployment(2, 0, 0), gvkDeployment)}
	_ = deployments.Add(pack(waitedDeployment(2, 2, 0), packedAs[appsv1.Deployment](), nil))

	done := make(chan error, 1)
	go func() { done <- w.Wait(list, time.Minute) }()
	// Until the waiter follows the namespace, a change would find no one
	// to tell: wait for it to.
	for {
		c.followMu.Lock()
		n := len(c.followers["store-a"])
		c.followMu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// A change elsewhere is not its business; one here is.
	other := waitedDeployment(2, 2, 1)
	other.Namespace = "store-b"
	c.changed("Deployment", pack(other, packedAs[appsv1.Deployment](), nil))
	ready := pack(waitedDeployment(2, 2, 1), packedAs[appsv1.Deployment](), nil)
	_ = deployments.Update(ready)
	c.changed("Deployment", ready)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ready after the change: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter did not read the cache again after a change in its namespace")
	}
	c.followMu.Lock()
	defer c.followMu.Unlock()
	if len(c.followers) != 0 {
		t.Errorf("the waiter still follows %v after its wait", slices.Collect(maps.Keys(c.followers)))
	}
}

// changed tells the followers of the object's kind in its namespace, a
// Namespace's followers of its own events, once however often until they
// read.
func TestDriftCacheFollow(t *testing.T) {
	c := &driftCache{}
	a, b := make(chan struct{}, 1), make(chan struct{}, 1)
	stopA := c.follow("store-a", []string{"ConfigMap", "Deployment"}, a)
	stopB := c.follow("store-b", []string{"Namespace"}, b)
	told := func(ch chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	inA := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "c"}}
	c.changed("ConfigMap", inA)
	c.changed("ConfigMap", pack(inA.DeepCopy(), packedAs[corev1.ConfigMap](), nil))
	if !told(a) || told(a) || told(b) {
		t.Error("two changes in store-a: want store-a's follower told once, store-b's not")
	}
	c.changed("Pod", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "p"}})
	if told(a) {
		t.Error("a Pod changed in store-a: its follower, which follows no Pods, was told")
	}
	c.changed("Namespace", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "store-b"}})
	if told(a) || !told(b) {
		t.Error("store-b's Namespace changed: want only store-b's follower told")
	}
	c.changed("ConfigMap", cache.DeletedFinalStateUnknown{Key: "store-a/c", Obj: inA})
	if !told(a) {
		t.Error("a deletion seen late (DeletedFinalStateUnknown) in store-a: follower not told")
	}
	stopA()
	c.changed("ConfigMap", inA)
	if told(a) {
		t.Error("told after it stopped following")
	}
	stopB()
	if len(c.followers) != 0 {
		t.Errorf("followers left: %v", c.followers)
	}
}

// TestObjectReadyWithoutTemplates: judging a workload without its
// templates reads as kstatus reads the whole object, and leaves the object
// as it was.
func TestObjectReadyWithoutTemplates(t *testing.T) {
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "wordpress"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "wordpress", Image: "wordpress:6"}}},
	}
	statefulSet := func(replicas, ready int32, partition *int32, current, update string) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "store-a", Name: "mariadb", Generation: 2},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(replicas), Template: template,
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
				UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: replicas, ReadyReplicas: ready,
				CurrentReplicas: ready, UpdatedReplicas: ready, CurrentRevision: current, UpdateRevision: update},
		}
		if partition != nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}
		}
		return s
	}
	withTemplate := func(d *appsv1.Deployment) *appsv1.Deployment { d.Spec.Template = template; return d }
	gvkStatefulSet := appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	for name, c := range map[string]struct {
		obj runtime.Object
		gvk schema.GroupVersionKind
	}{
		"ready Deployment":            {withTemplate(waitedDeployment(2, 2, 1)), gvkDeployment},
		"Deployment not observed":     {withTemplate(waitedDeployment(3, 2, 1)), gvkDeployment},
		"Deployment with no replicas": {withTemplate(waitedDeployment(1, 1, 0)), gvkDeployment},
		"ready StatefulSet":           {statefulSet(1, 1, nil, "r1", "r1"), gvkStatefulSet},
		"StatefulSet rolling out":     {statefulSet(1, 1, nil, "r1", "r2"), gvkStatefulSet},
		"StatefulSet not ready":       {statefulSet(2, 1, nil, "r1", "r1"), gvkStatefulSet},
		"StatefulSet partitioned":     {statefulSet(2, 2, ptr.To[int32](1), "r1", "r2"), gvkStatefulSet},
	} {
		whole, err := toUnstructured(c.obj)
		if err != nil {
			t.Fatal(err)
		}
		whole.SetGroupVersionKind(c.gvk)
		want, err := status.Compute(whole)
		if err != nil {
			t.Fatal(err)
		}
		ready, msg, err := objectReady(c.obj, c.gvk)
		if err != nil || ready != (want.Status == status.CurrentStatus) || !ready && msg != want.Message {
			t.Errorf("%s: ready %v %q %v; kstatus of the whole object: %s %q", name, ready, msg, err, want.Status, want.Message)
		}
		after, _ := toUnstructured(c.obj)
		if containers, _, _ := unstructured.NestedSlice(after.Object, "spec", "template", "spec", "containers"); len(containers) != 1 {
			t.Errorf("%s: judging it changed the object: %v", name, after.Object["spec"])
		}
	}
}
