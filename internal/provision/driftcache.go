package provision

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// driftCache is the reconciler's view of the cluster: one informer per
// kind that `store check` reads (a LIST, then a WATCH, each), kept in
// memory, so that a store is judged from memory and the API server sees
// no request at rest beyond the watches. It takes the same snapshot a
// check takes with its LISTs, so the reconciler and `store check` judge
// alike.
type driftCache struct {
	k *Kube
	// memo holds the release check's comparisons of unchanged objects,
	// for the snapshots of this cache (diffMemo).
	memo      *diffMemo
	factories []informers.SharedInformerFactory
	// informers are the packed kinds' own (wirepack.go), running while
	// running counts them.
	informers []cache.Controller
	running   sync.WaitGroup

	namespaces   cache.Indexer // labelled urumi's
	secrets      cache.Indexer // labelled urumi's, but Helm's records
	helm         cache.Indexer // Helm's release records, but superseded ones
	quotas       cache.Indexer
	limitRanges  cache.Indexer
	policies     cache.Indexer
	configMaps   cache.Indexer
	services     cache.Indexer
	claims       cache.Indexer
	pods         cache.Indexer
	deployments  cache.Indexer
	statefulSets cache.Indexer
	replicaSets  cache.Indexer
	jobs         cache.Indexer
	cronJobs     cache.Indexer
	ingresses    cache.Indexer
	roleBindings cache.Indexer

	// manifests compacts the release records the cache keeps; refs are
	// what packed objects are kept against.
	manifests *manifestDict
	refs      *deltaRefs

	// done is closed when the informers stop following the cluster (the
	// context start was given ends); nil: never started, as in tests.
	done <-chan struct{}

	// followers are told of the changes the informers deliver, by
	// namespace (see follow).
	followMu  sync.Mutex
	followers map[string][]follower
}

// follower is a channel told of changes to objects of some kinds.
type follower struct {
	kinds []string
	ch    chan<- struct{}
}

// follow has ch told (without blocking: ch should hold one word) of every
// change the informers deliver to objects of kinds (Deployment, Job, ...)
// in namespace ns, until the returned function is called. A cache waiter
// reads the cache again only when told, instead of polling it.
func (c *driftCache) follow(ns string, kinds []string, ch chan<- struct{}) (stop func()) {
	c.followMu.Lock()
	defer c.followMu.Unlock()
	if c.followers == nil {
		c.followers = map[string][]follower{}
	}
	c.followers[ns] = append(c.followers[ns], follower{kinds: kinds, ch: ch})
	return func() {
		c.followMu.Lock()
		defer c.followMu.Unlock()
		rest := slices.DeleteFunc(c.followers[ns], func(f follower) bool { return f.ch == ch })
		if len(rest) == 0 {
			delete(c.followers, ns)
		} else {
			c.followers[ns] = rest
		}
	}
}

// changed tells the followers of kind in obj's namespace that obj, of
// that kind, changed. The informers' event handlers call it
// (Reconciler.Run), for every event.
func (c *driftCache) changed(kind string, obj any) {
	ns := eventNamespace(obj)
	c.followMu.Lock()
	defer c.followMu.Unlock()
	for _, f := range c.followers[ns] {
		if !slices.Contains(f.kinds, kind) {
			continue
		}
		select {
		case f.ch <- struct{}{}:
		default: // already told, not read yet
		}
	}
}

// eventNamespace is the namespace of an informer event's object: the
// namespace it is in, or a Namespace's own name; "" if it has none.
func eventNamespace(obj any) string {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	if ns := m.GetNamespace(); ns != "" {
		return ns
	}
	return m.GetName() // a Namespace
}

// watchedKind is one informer and which of its events may be drift.
type watchedKind struct {
	name string
	// updates says which updates (not only adds and deletes) may be
	// drift; nil: every update.
	updates func(old, obj any) bool
	// routine says which objects come and go on their own every minute
	// and need no judging: the chart's cron runs (a Job its CronJob made,
	// and that Job's pods). Whether they belong to the chart is judged
	// when anything else changes, and when the reconciler revisits every
	// store (Reconciler.Resync).
	routine func(obj any) bool
	// selector, when set, picks the objects watched by label.
	selector string
	// packed, when set, makes the cache keep this kind packed (see
	// packed.go, wirepack.go).
	packed *packedKind
}

// never: a pod's updates are its workload's status, which the workload
// reports.
func never(_, _ any) bool { return false }

// specChanged: an update that changed what the object asks for (its
// generation) or its labels, not only its status.
func specChanged(old, obj any) bool {
	o, err1 := meta.Accessor(old)
	n, err2 := meta.Accessor(obj)
	if err1 != nil || err2 != nil {
		return true
	}
	return o.GetGeneration() != n.GetGeneration() || !sameLabels(old, obj)
}

// sameLabels says whether two copies of an object carry the same labels
// (a packed object keeps only their digest).
func sameLabels(old, obj any) bool {
	o, ok1 := old.(*packed)
	n, ok2 := obj.(*packed)
	if ok1 && ok2 {
		return o.labels == n.labels
	}
	a, err1 := meta.Accessor(old)
	b, err2 := meta.Accessor(obj)
	return err1 == nil && err2 == nil && !ok1 && !ok2 && maps.Equal(a.GetLabels(), b.GetLabels())
}

// quotaChanged: an update of a quota's spec or labels; its status (what
// is used) changes with every pod. The cache keeps quotas packed: the two
// copies' specs are compared as they are encoded (decoding them, their
// quantities parsed, was 1.3 % of serve's CPU while a fleet was made). A
// spec encoded otherwise but meaning the same counts as a change: the
// store is judged once more.
func quotaChanged(old, obj any) bool {
	if !sameLabels(old, obj) {
		return true
	}
	if o, ok := old.(*packed); ok {
		if n, ok := obj.(*packed); ok {
			a, err1 := packedField(o, 2) // spec
			b, err2 := packedField(n, 2)
			return err1 != nil || err2 != nil || !bytes.Equal(a, b)
		}
	}
	old, err1 := unpack(old)
	obj, err2 := unpack(obj)
	o, ok1 := old.(*corev1.ResourceQuota)
	n, ok2 := obj.(*corev1.ResourceQuota)
	return err1 != nil || err2 != nil || !ok1 || !ok2 || !equality.Semantic.DeepEqual(o.Spec, n.Spec)
}

// controlledBy says whether obj's controller is of kind.
func controlledBy(kind string) func(obj any) bool {
	return func(obj any) bool {
		if p, ok := obj.(*packed); ok {
			return p.controller == kind
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return false
		}
		ref := metav1.GetControllerOfNoCopy(m)
		return ref != nil && ref.Kind == kind
	}
}

// watchedKinds are the kinds the cache watches, in the order of its
// indexes; the packed ones kept against refs.
func watchedKinds(refs *deltaRefs) []watchedKind {
	return []watchedKind{
		{name: "namespace", selector: LabelManagedBy + "=" + ManagedBy, packed: packedAs[corev1.Namespace]().watching("namespaces", refs, nil)},
		// Apart, without a reference: a store's secrets are never kept
		// against another's.
		{name: "secret", selector: urumiSecretSelector, packed: packedAs[corev1.Secret]().watching("secrets", nil, nil)},
		{name: "release", selector: helmRecordSelector},
		{name: "quota", updates: quotaChanged, packed: packedAs[corev1.ResourceQuota]().watching("resourcequotas", refs, trimQuota).lazily()},
		{name: "limit-range", packed: packedAs[corev1.LimitRange]().watching("limitranges", refs, nil)},
		{name: "network-policy", packed: packedAs[networkingv1.NetworkPolicy]().watching("networkpolicies", refs, nil)},
		{name: "configmap", packed: packedAs[corev1.ConfigMap]().watching("configmaps", refs, nil)},
		{name: "service", packed: packedAs[corev1.Service]().watching("services", refs, nil)},
		{name: "claim", packed: packedAs[corev1.PersistentVolumeClaim]().watching("persistentvolumeclaims", refs, nil).lazily()},
		{name: "pod", updates: never, routine: controlledBy("Job"), packed: packedAs[corev1.Pod]().watching("pods", refs, trimPod).lazily()},
		{name: "deployment", packed: packedAs[appsv1.Deployment]().watching("deployments", refs, nil).lazily()},
		{name: "statefulset", packed: packedAs[appsv1.StatefulSet]().watching("statefulsets", refs, nil).lazily()},
		{name: "replicaset", updates: never, packed: packedAs[appsv1.ReplicaSet]().watching("replicasets", refs, trimReplicaSet).lazily()},
		{name: "job", routine: controlledBy("CronJob"), packed: packedAs[batchv1.Job]().watching("jobs", refs, trimJob).lazily()},
		{name: "cronjob", updates: specChanged, packed: packedAs[batchv1.CronJob]().watching("cronjobs", refs, nil).lazily()},
		{name: "ingress", packed: packedAs[networkingv1.Ingress]().watching("ingresses", refs, nil)},
		{name: "role-binding", packed: packedAs[rbacv1.RoleBinding]().watching("rolebindings", refs, nil)},
	}
}

// newDriftCache sets up the informers; start them with start. notice,
// when not nil, is told of each change that may be drift (see handler).
func newDriftCache(k *Kube, notice func(obj any)) (*driftCache, []watchedKind, error) {
	c := &driftCache{k: k, manifests: newManifestDict(), refs: newDeltaRefs(), memo: newDiffMemo()}
	kinds := watchedKinds(c.refs)
	idx := []*cache.Indexer{&c.namespaces, &c.secrets, &c.helm, &c.quotas, &c.limitRanges, &c.policies, &c.configMaps,
		&c.services, &c.claims, &c.pods, &c.deployments, &c.statefulSets, &c.replicaSets, &c.jobs, &c.cronJobs,
		&c.ingresses, &c.roleBindings}

	// The packed kinds' clients, a group version each, on one connection.
	clients := map[schema.GroupVersion]rest.Interface{}
	if k.watchConfig != nil {
		byGV := map[schema.GroupVersion]map[schema.GroupVersionKind]*packedKind{}
		for _, w := range kinds {
			if w.packed != nil {
				gv := w.packed.gvk.GroupVersion()
				if byGV[gv] == nil {
					byGV[gv] = map[schema.GroupVersionKind]*packedKind{}
				}
				byGV[gv][w.packed.gvk] = w.packed
			}
		}
		for gv, packed := range byGV {
			r, err := watchREST(k.watchConfig, k.watchHTTP, gv, packed)
			if err != nil {
				return nil, nil, err
			}
			clients[gv] = r
		}
	}
	// Otherwise (tests, on a fake clientset) and for Helm's records,
	// informers of a factory for each selector, which decode whole.
	client := k.watches
	if client == nil {
		client = k.Client
	}
	factories := map[string]informers.SharedInformerFactory{}
	factory := func(selector string) informers.SharedInformerFactory {
		f := factories[selector]
		if f == nil {
			// No resync: the reconciler revisits every store itself,
			// spread over its period (Reconciler.revisit).
			f = informers.NewSharedInformerFactoryWithOptions(client, 0,
				informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
			factories[selector] = f
			c.factories = append(c.factories, f)
		}
		return f
	}
	for i := range kinds {
		w := &kinds[i]
		h := c.handler(w, notice)
		var shared cache.SharedIndexInformer
		switch kind := w.packed; {
		case kind != nil && k.watchConfig != nil:
			if kind.lazy {
				h = lazyHandler{ResourceEventHandler: h, q: &lazyDeltas{kind: kind}, idx: idx[i]}
			}
			indexer, inf := packedInformer(clients[kind.gvk.GroupVersion()], kind, w.selector, h)
			c.informers = append(c.informers, inf)
			*idx[i] = indexer
			continue
		case kind != nil:
			gi, err := factory(w.selector).ForResource(kind.gvk.GroupVersion().WithResource(kind.resource))
			if err != nil {
				return nil, nil, fmt.Errorf("watch %ss: %w", w.name, err)
			}
			shared = gi.Informer()
			_ = shared.SetTransform(func(obj any) (any, error) {
				trimCached(obj)
				return pack(obj, kind, kind.refs), nil
			})
		default: // Helm's release records, compacted
			shared = factory(w.selector).Core().V1().Secrets().Informer()
			_ = shared.SetTransform(func(obj any) (any, error) {
				trimCached(obj)
				shareStrings(obj)
				if s, ok := obj.(*corev1.Secret); ok {
					return c.manifests.compact(s), nil
				}
				return obj, nil
			})
		}
		if _, err := shared.AddEventHandler(h); err != nil {
			return nil, nil, fmt.Errorf("watch %ss: %w", w.name, err)
		}
		*idx[i] = shared.GetIndexer()
	}
	return c, kinds, nil
}

// handler is the one event handler of w's informer. It tells the cache's
// followers of every change (see follow), and notice, when not nil, of
// those that may be drift: not w's routine objects, and of the updates
// only those w says may be. One handler an informer: a shared informer
// passes every event through two goroutines of each handler's.
func (c *driftCache) handler(w *watchedKind, notice func(obj any)) cache.ResourceEventHandler {
	kind := "" // told to no follower
	if w.packed != nil {
		kind = w.packed.gvk.Kind
	}
	if notice == nil {
		notice = func(any) {}
	}
	routine := func(obj any) bool {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		return w.routine != nil && w.routine(obj)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			c.changed(kind, obj)
			if !routine(obj) {
				notice(obj)
			}
		},
		UpdateFunc: func(old, obj any) {
			c.changed(kind, obj)
			if !routine(obj) && (w.updates == nil || w.updates(old, obj)) {
				notice(obj)
			}
		},
		DeleteFunc: func(obj any) {
			c.changed(kind, obj)
			if !routine(obj) {
				notice(obj)
			}
		},
	}
}

// lazyHandler is the handler of a lazy kind's own informer (packedInformer
// calls it from the loop that files each change): after h, it queues
// what the watch sent kept whole, and keeps as deltas what has stayed as
// it was for lazyDelay (see lazyDeltas). What the informer's first list
// brings, and what a later list brings back unchanged, is kept as a delta
// at once.
type lazyHandler struct {
	cache.ResourceEventHandler
	q   *lazyDeltas
	idx *cache.Indexer
}

func (h lazyHandler) OnAdd(obj any, initial bool) {
	h.ResourceEventHandler.OnAdd(obj, initial)
	if p, ok := obj.(*packed); ok && initial {
		h.q.settleOne(*h.idx, p)
		return
	}
	h.queue(obj)
}

func (h lazyHandler) OnUpdate(old, obj any) {
	h.ResourceEventHandler.OnUpdate(old, obj)
	o, ok1 := old.(*packed)
	p, ok2 := obj.(*packed)
	if ok1 && ok2 && o.resourceVersion == p.resourceVersion {
		h.q.settleOne(*h.idx, p)
		return
	}
	h.queue(obj)
}

func (h lazyHandler) OnDelete(obj any) {
	h.ResourceEventHandler.OnDelete(obj)
	h.q.settle(*h.idx, time.Now())
}

func (h lazyHandler) queue(obj any) {
	now := time.Now()
	h.q.add(obj, now)
	h.q.settle(*h.idx, now)
}

// trimCached drops what no check, wait or cached read uses from an
// object the reconciler keeps (the object is then packed, or its strings
// shared and a Helm release record compacted: see packed and
// compactRecord):
//   - managed fields, often half an object's size;
//   - a pod's spec and container statuses (the judge reads its labels,
//     controller and phase; a wait its conditions);
//   - a quota's status (what is used changes with every pod; the judge
//     compares the quota's spec: 4 KB a store);
//   - a ReplicaSet's pod template (the judge follows its controller; the
//     template is its Deployment's, which is judged), and a cron run's
//     (a Job its CronJob made: the same, every minute).
func trimCached(obj any) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Spec = corev1.PodSpec{}
		o.Status = corev1.PodStatus{Phase: o.Status.Phase, Conditions: o.Status.Conditions}
	case *corev1.ResourceQuota:
		o.Status = corev1.ResourceQuotaStatus{}
	case *appsv1.ReplicaSet:
		o.Spec.Template = corev1.PodTemplateSpec{}
	case *batchv1.Job:
		if ref := metav1.GetControllerOfNoCopy(o); ref != nil && ref.Kind == "CronJob" {
			o.Spec.Template = corev1.PodTemplateSpec{}
		}
	}
}

// shareStrings, for an object the cache keeps decoded, shares what every
// store's objects repeat: label and annotation keys and values.
func shareStrings(obj any) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetLabels(internMap(m.GetLabels()))
		m.SetAnnotations(internMap(m.GetAnnotations()))
	}
}

// internMap is m with its keys and values interned: one copy of each
// string, however many objects hold it.
func internMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[unique.Make(k).Value()] = unique.Make(v).Value()
	}
	return out
}

// start starts every informer and waits for their first lists.
func (c *driftCache) start(ctx context.Context) error {
	c.done = ctx.Done()
	for _, f := range c.factories {
		f.Start(ctx.Done())
	}
	for _, inf := range c.informers {
		c.running.Go(func() { inf.RunWithContext(ctx) })
	}
	for _, f := range c.factories {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("watch %v: the cluster did not answer the first list: %w", typ, context.Cause(ctx))
			}
		}
	}
	for _, inf := range c.informers {
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return fmt.Errorf("watch: the cluster did not answer the first list: %w", context.Cause(ctx))
		}
	}
	return nil
}

// live says whether the informers still follow the cluster. A stopped
// cache stays readable but no longer changes.
func (c *driftCache) live() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// stop waits for the informers' goroutines once ctx is done.
func (c *driftCache) stop() {
	for _, f := range c.factories {
		f.Shutdown()
	}
	c.running.Wait()
}

// namespace is the cached store namespace ns, or nil.
func (c *driftCache) namespace(ns string) *corev1.Namespace {
	obj, ok, _ := c.namespaces.GetByKey(ns)
	if !ok {
		return nil
	}
	obj, err := unpack(obj)
	if err != nil {
		return nil
	}
	n, _ := obj.(*corev1.Namespace)
	return n
}

// namespaceNames are the cached namespaces labelled urumi's.
func (c *driftCache) namespaceNames() []string {
	return c.namespaces.ListKeys()
}

// snapshot is the snapshot `store check` would take of namespace ns, read
// from memory.
func (c *driftCache) snapshot(ns string) *snapshot {
	s := &snapshot{k: c.k, scope: ns, namespaces: map[string]*corev1.Namespace{}, byNS: map[string]*nsObjects{},
		extra: map[schema.GroupKind]map[string][]map[string]any{}, memo: c.memo}
	n := c.namespace(ns)
	if n == nil {
		return s
	}
	s.namespaces[ns] = n
	o := s.in(ns)
	o.quotas = cached[corev1.ResourceQuota](c.quotas, ns)
	o.limitRanges = cached[corev1.LimitRange](c.limitRanges, ns)
	o.policies = cached[networkingv1.NetworkPolicy](c.policies, ns)
	o.secrets = cached[corev1.Secret](c.secrets, ns)
	_ = cache.ListAllByNamespace(c.helm, ns, labels.Everything(), func(obj any) {
		var r helmRecord
		ok := false
		switch rec := obj.(type) {
		case *compactRecord:
			r, ok = rec.record()
		case *corev1.Secret:
			sec := *rec
			r, ok = newHelmRecord(&sec)
		}
		if ok {
			o.helm = append(o.helm, r)
		}
	})
	o.configMaps = cached[corev1.ConfigMap](c.configMaps, ns)
	o.services = cached[corev1.Service](c.services, ns)
	o.claims = cached[corev1.PersistentVolumeClaim](c.claims, ns)
	o.pods = cached[corev1.Pod](c.pods, ns)
	o.deployments = cached[appsv1.Deployment](c.deployments, ns)
	o.statefulSets = cached[appsv1.StatefulSet](c.statefulSets, ns)
	o.replicaSets = cached[appsv1.ReplicaSet](c.replicaSets, ns)
	o.jobs = cached[batchv1.Job](c.jobs, ns)
	o.cronJobs = cached[batchv1.CronJob](c.cronJobs, ns)
	o.ingresses = cached[networkingv1.Ingress](c.ingresses, ns)
	o.roleBindings = cached[rbacv1.RoleBinding](c.roleBindings, ns)
	return s
}

// cached copies namespace ns's objects out of an informer's index (the
// judge may not change what the cache shares).
func cached[T any](idx cache.Indexer, ns string) []T {
	var out []T
	_ = cache.ListAllByNamespace(idx, ns, labels.Everything(), func(obj any) {
		if o, err := unpack(obj); err == nil {
			obj = o
		}
		if p, ok := obj.(*T); ok {
			out = append(out, *p)
		}
	})
	return out
}
