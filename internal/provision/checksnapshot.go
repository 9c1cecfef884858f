package provision

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// snapshot is what `store check` reads of the cluster, taken once with a
// few LISTs per kind: of one namespace for one store, or cluster-wide and
// filtered to the store namespaces for --all. Every store is then judged
// from it without another request (but for kinds a release holds that the
// snapshot does not list up front, each listed once when first needed).
type snapshot struct {
	k *Kube
	// scope is the one namespace listed, or "" for cluster-wide lists.
	scope string

	namespaces map[string]*corev1.Namespace // store namespaces, by name
	byNS       map[string]*nsObjects

	mu    sync.Mutex
	extra map[schema.GroupKind]map[string][]map[string]any // lazily listed kinds, by namespace

	// memo, in a snapshot of the reconciler's cache, holds the release
	// check's comparisons of objects that have not changed (diffMemo).
	memo *diffMemo
}

// nsObjects are one namespace's objects of every listed kind.
type nsObjects struct {
	quotas       []corev1.ResourceQuota
	limitRanges  []corev1.LimitRange
	policies     []networkingv1.NetworkPolicy
	secrets      []corev1.Secret // urumi's (labelled managed-by=urumi), but Helm's records
	helm         []helmRecord
	configMaps   []corev1.ConfigMap
	services     []corev1.Service
	claims       []corev1.PersistentVolumeClaim
	pods         []corev1.Pod
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	replicaSets  []appsv1.ReplicaSet
	jobs         []batchv1.Job
	cronJobs     []batchv1.CronJob
	ingresses    []networkingv1.Ingress
	roleBindings []rbacv1.RoleBinding
}

func (s *snapshot) in(ns string) *nsObjects {
	o := s.byNS[ns]
	if o == nil {
		o = &nsObjects{}
		s.byNS[ns] = o
	}
	return o
}

// takeSnapshot lists what check reads. With namespace set, only that
// namespace (one store); otherwise every namespace labelled as urumi's.
func (k *Kube) takeSnapshot(ctx context.Context, namespace string) (*snapshot, error) {
	s := &snapshot{k: k, scope: namespace, namespaces: map[string]*corev1.Namespace{}, byNS: map[string]*nsObjects{},
		extra: map[schema.GroupKind]map[string][]map[string]any{}}
	c := k.Client
	if namespace != "" {
		ns, err := c.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
		switch {
		case isNotFound(err):
			return s, nil
		case err != nil:
			return nil, fmt.Errorf("read namespace %s: %w", namespace, describeAPIError(err))
		}
		s.namespaces[ns.Name] = ns
	} else {
		list, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy})
		if err != nil {
			return nil, fmt.Errorf("list urumi's namespaces: %w", describeAPIError(err))
		}
		for i := range list.Items {
			s.namespaces[list.Items[i].Name] = &list.Items[i]
		}
		if len(s.namespaces) == 0 {
			return s, nil
		}
	}
	all := metav1.ListOptions{}
	helm := metav1.ListOptions{LabelSelector: helmRecordSelector}
	secrets := metav1.ListOptions{LabelSelector: urumiSecretSelector}
	ns := namespace // "" lists every namespace
	var mu sync.Mutex
	keep := func(n string) *nsObjects {
		if _, ok := s.namespaces[n]; !ok {
			return nil
		}
		return s.in(n)
	}
	lists := []struct {
		what string
		run  func() error
	}{
		{"resourcequotas", func() error {
			l, err := c.CoreV1().ResourceQuotas(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x corev1.ResourceQuota) { o.quotas = append(o.quotas, x) }, itemsOf(l, func(l *corev1.ResourceQuotaList) []corev1.ResourceQuota { return l.Items }))
		}},
		{"limitranges", func() error {
			l, err := c.CoreV1().LimitRanges(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x corev1.LimitRange) { o.limitRanges = append(o.limitRanges, x) }, itemsOf(l, func(l *corev1.LimitRangeList) []corev1.LimitRange { return l.Items }))
		}},
		{"networkpolicies", func() error {
			l, err := c.NetworkingV1().NetworkPolicies(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x networkingv1.NetworkPolicy) { o.policies = append(o.policies, x) }, itemsOf(l, func(l *networkingv1.NetworkPolicyList) []networkingv1.NetworkPolicy { return l.Items }))
		}},
		{"secrets", func() error {
			l, err := c.CoreV1().Secrets(ns).List(ctx, secrets)
			return collect(&mu, err, keep, func(o *nsObjects, x corev1.Secret) { o.secrets = append(o.secrets, x) }, itemsOf(l, func(l *corev1.SecretList) []corev1.Secret { return l.Items }))
		}},
		{"secrets (Helm release records)", func() error {
			l, err := c.CoreV1().Secrets(ns).List(ctx, helm)
			return collect(&mu, err, keep, func(o *nsObjects, x corev1.Secret) {
				if r, ok := newHelmRecord(&x); ok {
					o.helm = append(o.helm, r)
				}
			}, itemsOf(l, func(l *corev1.SecretList) []corev1.Secret { return l.Items }))
		}},
		{"configmaps", func() error {
			l, err := c.CoreV1().ConfigMaps(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x corev1.ConfigMap) { o.configMaps = append(o.configMaps, x) }, itemsOf(l, func(l *corev1.ConfigMapList) []corev1.ConfigMap { return l.Items }))
		}},
		{"services", func() error {
			l, err := c.CoreV1().Services(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x corev1.Service) { o.services = append(o.services, x) }, itemsOf(l, func(l *corev1.ServiceList) []corev1.Service { return l.Items }))
		}},
		{"persistentvolumeclaims", func() error {
			l, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x corev1.PersistentVolumeClaim) { o.claims = append(o.claims, x) }, itemsOf(l, func(l *corev1.PersistentVolumeClaimList) []corev1.PersistentVolumeClaim { return l.Items }))
		}},
		{"pods", func() error {
			l, err := c.CoreV1().Pods(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x corev1.Pod) { o.pods = append(o.pods, x) }, itemsOf(l, func(l *corev1.PodList) []corev1.Pod { return l.Items }))
		}},
		{"deployments", func() error {
			l, err := c.AppsV1().Deployments(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x appsv1.Deployment) { o.deployments = append(o.deployments, x) }, itemsOf(l, func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items }))
		}},
		{"statefulsets", func() error {
			l, err := c.AppsV1().StatefulSets(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x appsv1.StatefulSet) { o.statefulSets = append(o.statefulSets, x) }, itemsOf(l, func(l *appsv1.StatefulSetList) []appsv1.StatefulSet { return l.Items }))
		}},
		{"replicasets", func() error {
			l, err := c.AppsV1().ReplicaSets(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x appsv1.ReplicaSet) { o.replicaSets = append(o.replicaSets, x) }, itemsOf(l, func(l *appsv1.ReplicaSetList) []appsv1.ReplicaSet { return l.Items }))
		}},
		{"jobs", func() error {
			l, err := c.BatchV1().Jobs(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x batchv1.Job) { o.jobs = append(o.jobs, x) }, itemsOf(l, func(l *batchv1.JobList) []batchv1.Job { return l.Items }))
		}},
		{"cronjobs", func() error {
			l, err := c.BatchV1().CronJobs(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x batchv1.CronJob) { o.cronJobs = append(o.cronJobs, x) }, itemsOf(l, func(l *batchv1.CronJobList) []batchv1.CronJob { return l.Items }))
		}},
		{"ingresses", func() error {
			l, err := c.NetworkingV1().Ingresses(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x networkingv1.Ingress) { o.ingresses = append(o.ingresses, x) }, itemsOf(l, func(l *networkingv1.IngressList) []networkingv1.Ingress { return l.Items }))
		}},
		{"rolebindings", func() error {
			l, err := c.RbacV1().RoleBindings(ns).List(ctx, all)
			return collect(&mu, err, keep, func(o *nsObjects, x rbacv1.RoleBinding) { o.roleBindings = append(o.roleBindings, x) }, itemsOf(l, func(l *rbacv1.RoleBindingList) []rbacv1.RoleBinding { return l.Items }))
		}},
	}
	errs := make([]error, len(lists))
	var wg sync.WaitGroup
	for i, l := range lists {
		wg.Go(func() {
			if err := l.run(); err != nil {
				errs[i] = fmt.Errorf("list %s: %w", l.what, describeAPIError(err))
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// itemsOf returns a list's items, or none for a nil list (the call failed).
func itemsOf[L any, T any](l *L, items func(*L) []T) []T {
	if l == nil {
		return nil
	}
	return items(l)
}

// collect files a list's items under their namespaces, keeping only store
// namespaces'.
func collect[T any, PT interface {
	*T
	GetNamespace() string
}](mu *sync.Mutex, err error, keep func(string) *nsObjects, add func(*nsObjects, T), items []T) error {
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range items {
		if o := keep(PT(&items[i]).GetNamespace()); o != nil {
			add(o, items[i])
		}
	}
	return nil
}

// live is the live object of kind gk named name in namespace ns, as
// unstructured content, or nil when there is none.
func (s *snapshot) live(ctx context.Context, gk schema.GroupKind, ns, name string) (map[string]any, error) {
	obj, listed := s.listedObject(gk, ns, name)
	if !listed {
		return s.liveOther(ctx, gk, ns, name)
	}
	if obj == nil {
		return nil, nil
	}
	return runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
}

// liveObject is the live object of kind gk named name in namespace ns,
// of a kind the snapshot lists up front, or nil.
func (s *snapshot) liveObject(gk schema.GroupKind, ns, name string) metav1.Object {
	obj, _ := s.listedObject(gk, ns, name)
	if obj == nil {
		return nil
	}
	return obj.(metav1.Object)
}

// listedObject finds the object of kind gk named name in namespace ns
// among those the snapshot lists up front (nil when there is none);
// listed is false for other kinds.
func (s *snapshot) listedObject(gk schema.GroupKind, ns, name string) (obj runtime.Object, listed bool) {
	o := s.byNS[ns]
	if o == nil {
		o = &nsObjects{}
	}
	find := func(objs []runtime.Object) runtime.Object {
		for _, obj := range objs {
			if m, ok := obj.(metav1.Object); ok && m.GetName() == name {
				return obj
			}
		}
		return nil
	}
	switch gk {
	case schema.GroupKind{Kind: "ConfigMap"}:
		return find(ptrs(o.configMaps)), true
	case schema.GroupKind{Kind: "Service"}:
		return find(ptrs(o.services)), true
	case schema.GroupKind{Kind: "PersistentVolumeClaim"}:
		return find(ptrs(o.claims)), true
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
		return find(ptrs(o.deployments)), true
	case schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
		return find(ptrs(o.statefulSets)), true
	case schema.GroupKind{Group: "batch", Kind: "Job"}:
		return find(ptrs(o.jobs)), true
	case schema.GroupKind{Group: "batch", Kind: "CronJob"}:
		return find(ptrs(o.cronJobs)), true
	case schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}:
		return find(ptrs(o.ingresses)), true
	case schema.GroupKind{Group: "networking.k8s.io", Kind: "NetworkPolicy"}:
		return find(ptrs(o.policies)), true
	}
	return nil, false
}

// liveOther finds an object of a kind the snapshot does not list up
// front (a Gateway API HTTPRoute), listing that kind once.
func (s *snapshot) liveOther(ctx context.Context, gk schema.GroupKind, ns, name string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byNS, ok := s.extra[gk]
	if !ok {
		mapping, err := s.k.mapper.RESTMapping(gk)
		if err != nil {
			return nil, fmt.Errorf("find the API of %s: %w", gk, err)
		}
		l, err := s.k.Dynamic.Resource(mapping.Resource).Namespace(s.scope).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", mapping.Resource.Resource, describeAPIError(err))
		}
		byNS = map[string][]map[string]any{}
		for _, item := range l.Items {
			if _, ok := s.namespaces[item.GetNamespace()]; ok {
				byNS[item.GetNamespace()] = append(byNS[item.GetNamespace()], item.Object)
			}
		}
		s.extra[gk] = byNS
	}
	for _, obj := range byNS[ns] {
		if md, _ := obj["metadata"].(map[string]any); md != nil && md["name"] == name {
			return obj, nil
		}
	}
	return nil, nil
}

// ptrs makes a typed slice a slice of runtime.Objects.
func ptrs[T any, PT interface {
	*T
	runtime.Object
}](items []T) []runtime.Object {
	out := make([]runtime.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}
