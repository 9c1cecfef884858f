package provision

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/tools/cache"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"helm.sh/helm/v4/pkg/kube"
)

// Waiting for a release's objects to be ready, with fewer requests than
// Helm's status watcher, which LISTs and WATCHes every kind of the release
// in the store's namespace (eight kinds: sixteen requests per install or
// upgrade) although only workloads, Jobs and claims become ready later
// than they are made:
//
//   - in `urumi serve`, whose drift reconciler already watches every kind
//     in every store namespace, the objects are read from its informers:
//     no request at all;
//   - elsewhere (the CLI), Helm's watcher waits on those kinds only.
//
// Readiness is judged as Helm judges it: kstatus for workloads and
// claims, and a Job's Complete condition (WaitForJobs).

// waitsForReadiness says whether an object can be made before it is ready:
// the other kinds of the store chart (config maps, ClusterIP services,
// ingresses, routes, cron jobs) are current once the API server has
// accepted them, as kstatus computes them.
func waitsForReadiness(info *resource.Info) bool {
	if info.Mapping == nil {
		return true
	}
	switch info.Mapping.GroupVersionKind.GroupKind().String() {
	case "Deployment.apps", "StatefulSet.apps", "DaemonSet.apps", "ReplicaSet.apps", "Job.batch", "PersistentVolumeClaim", "Pod":
		return true
	case "Service":
		// A load balancer's address comes later.
		u, err := toUnstructured(info.Object)
		if err != nil {
			return true
		}
		t, _, _ := unstructured.NestedString(u.Object, "spec", "type")
		return t == string(corev1.ServiceTypeLoadBalancer)
	}
	return false
}

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// onlyWaited is the part of resources worth waiting for.
func onlyWaited(resources kube.ResourceList) kube.ResourceList {
	return resources.Filter(waitsForReadiness)
}

// filteredWaiter is Helm's waiter, given only what becomes ready later.
type filteredWaiter struct{ kube.Waiter }

func (w filteredWaiter) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return w.Waiter.Wait(onlyWaited(resources), timeout)
}

func (w filteredWaiter) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return w.Waiter.WaitWithJobs(onlyWaited(resources), timeout)
}

// cacheWaiter reads the drift reconciler's informers. Hooks and deletions
// are left to Helm's waiter.
type cacheWaiter struct {
	kube.Waiter
	ctx   context.Context
	cache *driftCache
	// recheck is how often the cache is read without word of a change
	// (0: cacheRecheck).
	recheck time.Duration
}

// cacheRecheck is how often a waiter reads the cache when nothing it
// follows changed. It reads the cache again as soon as the informers
// deliver a change to an object of a kind it waits for, in the namespace
// of what it waits for (driftCache's follow), so this is only a safety
// net; a poll every 250 ms, before,
// was 64 wakeups a second with 16 installs in flight, and up to 250 ms
// late.
const cacheRecheck = 2 * time.Second

// judged is an object's last verdict, kept while its resourceVersion
// stays, its key in the cache, and whether it is waited for at all.
type judged struct {
	skip    bool // not waited for
	key     string
	version string
	ready   bool
	msg     string
}

func (w cacheWaiter) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, false)
}

func (w cacheWaiter) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, true)
}

func (w cacheWaiter) wait(resources kube.ResourceList, timeout time.Duration, jobs bool) error {
	ctx, cancel := context.WithTimeout(w.ctx, timeout)
	defer cancel()
	// Told before the first read, so that no change between a read and
	// the wait after it goes unseen.
	changes := make(chan struct{}, 1)
	kinds := map[string][]string{} // by namespace
	for _, info := range resources {
		if kind := info.Mapping.GroupVersionKind.Kind; waited(info, jobs) && !slices.Contains(kinds[info.Namespace], kind) {
			kinds[info.Namespace] = append(kinds[info.Namespace], kind)
		}
	}
	for ns, k := range kinds {
		defer w.cache.follow(ns, k, changes)()
	}
	recheck := w.recheck
	if recheck <= 0 {
		recheck = cacheRecheck
	}
	t := time.NewTicker(recheck)
	defer t.Stop()
	seen := map[*resource.Info]*judged{}
	for {
		if !w.cache.live() {
			// The reconciler stopped (serve shutting down, or its watches
			// failed): what the cache holds will not change, so Helm's
			// watcher waits out the rest.
			return w.helmWait(resources, jobs, time.Until(deadline(ctx)))
		}
		pending, err := w.pending(resources, jobs, seen)
		if err != nil {
			return err
		}
		if pending == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", pending, ctx.Err())
		case <-changes:
		case <-w.cache.done: // read once more, then to Helm's waiter
		case <-t.C:
		}
	}
}

// helmWait is Helm's waiter on what becomes ready later.
func (w cacheWaiter) helmWait(resources kube.ResourceList, jobs bool, timeout time.Duration) error {
	if jobs {
		return w.Waiter.WaitWithJobs(onlyWaited(resources), timeout)
	}
	return w.Waiter.Wait(onlyWaited(resources), timeout)
}

// waited says whether a wait, with or without jobs, waits for info.
func waited(info *resource.Info, jobs bool) bool {
	return waitsForReadiness(info) && (jobs || info.Mapping.GroupVersionKind.Kind != "Job")
}

// pending describes the first object not ready yet ("" when all are), or
// fails when one will never be (a failed Job). An object is judged again
// only when its resourceVersion moved: 16 installs at once each read
// some twenty objects at every change to a kind they wait for.
func (w cacheWaiter) pending(resources kube.ResourceList, jobs bool, seen map[*resource.Info]*judged) (string, error) {
	for _, info := range resources {
		j := seen[info]
		if j == nil {
			j = &judged{key: info.Namespace + "/" + info.Name, skip: !waited(info, jobs)}
			seen[info] = j
		}
		if j.skip {
			continue
		}
		kind := info.Mapping.GroupVersionKind.Kind
		what := func() string { return kind + " " + j.key }
		idx := w.cache.index(kind)
		if idx == nil {
			// No informer of that kind (not one the chart makes): wait as
			// Helm would, for this object alone.
			if j.ready {
				continue
			}
			if err := w.Waiter.WaitWithJobs(kube.ResourceList{info}, time.Until(deadline(w.ctx))); err != nil {
				return "", err
			}
			j.ready = true
			continue
		}
		obj, ok, err := idx.GetByKey(j.key)
		if err != nil {
			return "", fmt.Errorf("read %s from the cache: %w", what(), err)
		}
		if !ok {
			return what() + " not seen yet", nil
		}
		version := ""
		if m, err := meta.Accessor(obj); err == nil {
			version = m.GetResourceVersion()
		}
		if j.version != version || version == "" {
			if obj, err = unpack(obj); err != nil {
				return "", err
			}
			// The cache may lag a moment behind the change just made: an
			// older copy of the object says nothing about the new one.
			if older(obj, info.Object) {
				return what() + " not seen since the change", nil
			}
			ready, msg, err := objectReady(obj, info.Mapping.GroupVersionKind)
			if err != nil {
				return "", fmt.Errorf("%s: %w", what(), err)
			}
			j.version, j.ready, j.msg = version, ready, msg
		}
		if !j.ready {
			return what() + ": " + j.msg, nil
		}
	}
	return "", nil
}

// withoutTemplates is a workload without its pod template (and a
// StatefulSet without its claim templates), which kstatus never reads:
// they are most of a workload, and converting them to maps for it was
// most of what judging one cost. Other objects are returned as they are.
// The object itself is not changed: the copy is shallow.
func withoutTemplates(obj runtime.Object) runtime.Object {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		c := *o
		c.Spec.Template = corev1.PodTemplateSpec{}
		return &c
	case *appsv1.StatefulSet:
		c := *o
		c.Spec.Template, c.Spec.VolumeClaimTemplates = corev1.PodTemplateSpec{}, nil
		return &c
	case *appsv1.DaemonSet:
		c := *o
		c.Spec.Template = corev1.PodTemplateSpec{}
		return &c
	case *appsv1.ReplicaSet:
		c := *o
		c.Spec.Template = corev1.PodTemplateSpec{}
		return &c
	}
	return obj
}

// deadline is ctx's deadline, or an hour from now.
func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Hour)
}

// older says whether the cached object is an earlier generation than the
// one the API server returned for the change.
func older(cached any, applied runtime.Object) bool {
	c, err1 := meta.Accessor(cached)
	a, err2 := meta.Accessor(applied)
	if err1 != nil || err2 != nil {
		return false
	}
	return c.GetGeneration() < a.GetGeneration() || c.GetUID() != a.GetUID() && a.GetUID() != ""
}

// objectReady judges one cached object: a Job by its conditions, as Helm's
// WaitForJobs does (a failed Job is an error at once), the rest by
// kstatus, as Helm's status watcher does.
func objectReady(obj any, gvk schema.GroupVersionKind) (bool, string, error) {
	if j, ok := obj.(*batchv1.Job); ok {
		for _, c := range j.Status.Conditions {
			if c.Status != corev1.ConditionTrue {
				continue
			}
			switch c.Type {
			case batchv1.JobComplete:
				return true, "", nil
			case batchv1.JobFailed:
				return false, "", fmt.Errorf("job failed: %s %s", c.Reason, c.Message)
			}
		}
		return false, "job in progress", nil
	}
	ro, ok := obj.(runtime.Object)
	if !ok {
		return false, "", fmt.Errorf("unexpected cached %T", obj)
	}
	u, err := toUnstructured(withoutTemplates(ro))
	if err != nil {
		return false, "", err
	}
	// Typed objects from an informer carry no kind, which kstatus reads.
	u.SetGroupVersionKind(gvk)
	if d, ok := obj.(*appsv1.Deployment); ok && d.Spec.Paused {
		return true, "", nil // Helm does not wait for a paused Deployment
	}
	res, err := status.Compute(u)
	if err != nil {
		return false, "", err
	}
	switch res.Status {
	case status.CurrentStatus:
		return true, "", nil
	case status.FailedStatus:
		return false, "", fmt.Errorf("failed: %s", res.Message)
	}
	return false, res.Message, nil
}

// index is the informer index of kind, or nil.
func (c *driftCache) index(kind string) cache.Indexer {
	switch kind {
	case "Deployment":
		return c.deployments
	case "StatefulSet":
		return c.statefulSets
	case "ReplicaSet":
		return c.replicaSets
	case "Job":
		return c.jobs
	case "PersistentVolumeClaim":
		return c.claims
	case "Pod":
		return c.pods
	case "Service":
		return c.services
	}
	return nil
}
