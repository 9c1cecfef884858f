package provision

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"helm.sh/helm/v4/pkg/kube"

	"github.com/urumi/urumi/charts"
)

// fieldManager is urumi's name in the objects' managed fields, for what it
// applies itself and for what Helm applies for it.
const fieldManager = "urumi"

// Helm names its field manager after the running binary unless told
// otherwise (a package variable of its kube client, read on every apply):
// a store made by `kubectl urumi` would then belong to "kubectl-urumi",
// and an upgrade by `urumi` or `urumi serve` would conflict with it. Set
// once, before anything runs.
func init() { kube.ManagedFieldsManager = fieldManager }

// Names of the objects urumi creates in a store's namespace.
const (
	quotaName       = "store-quota"
	limitRangeName  = "store-limits"
	credentialsName = "store-credentials"
	releaseName     = "store"
)

var (
	gvrNamespace     = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	gvrQuota         = schema.GroupVersionResource{Version: "v1", Resource: "resourcequotas"}
	gvrLimitRange    = schema.GroupVersionResource{Version: "v1", Resource: "limitranges"}
	gvrNetworkPolicy = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}
)

// object is a typed Kubernetes object.
type object interface {
	runtime.Object
	metav1.Object
}

// creator is the Create method of a typed client.
type creator[T object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
}

// ensure creates obj, or, when it exists already (a step run again),
// server-side-applies it to bring it back to what urumi wants. Creating
// first is the common case, and for the API server a protobuf POST costs
// much less than an apply patch, which it parses as YAML and merges field
// by field.
func ensure[T object](ctx context.Context, k *Kube, gvr schema.GroupVersionResource, c creator[T], obj T) error {
	_, err := c.Create(ctx, obj, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		return k.apply(ctx, gvr, obj)
	}
	if err != nil {
		return fmt.Errorf("create %s %s: %w", gvr.Resource, obj.GetName(), describeAPIError(err))
	}
	return nil
}

// apply server-side-applies obj as urumi's field manager: creating it or
// bringing it back to what urumi wants, so every step can run again.
func (k *Kube) apply(ctx context.Context, gvr schema.GroupVersionResource, obj runtime.Object) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("convert %s: %w", gvr.Resource, err)
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	ri := k.Dynamic.Resource(gvr)
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	if ns := u.GetNamespace(); ns != "" {
		_, err = ri.Namespace(ns).Apply(ctx, u.GetName(), u, opts)
	} else {
		_, err = ri.Apply(ctx, u.GetName(), u, opts)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", gvr.Resource, u.GetName(), describeAPIError(err))
	}
	return nil
}

func storeLabels(name, owner string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelStore: name, LabelOwner: labelSafe(owner)}
}

// ensureNamespace creates the store's namespace with urumi's labels and the
// restricted Pod Security level.
func (k *Kube) ensureNamespace(ctx context.Context, name, owner string) error {
	_, err := k.createNamespace(ctx, name, owner)
	return err
}

// createNamespace is ensureNamespace, and says whether this call made the
// namespace: then nothing of a store can be in it yet.
func (k *Kube) createNamespace(ctx context.Context, name, owner string) (bool, error) {
	labels := storeLabels(name, owner)
	maps.Copy(labels, map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	})
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: Namespace(name), Labels: labels},
	}
	namespaces := k.Client.CoreV1().Namespaces()
	_, err := namespaces.Create(ctx, ns, metav1.CreateOptions{FieldManager: fieldManager})
	if err == nil {
		return true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("create namespace %s: %w", ns.Name, describeAPIError(err))
	}
	// A namespace still terminating from an earlier store of the same name
	// cannot take new objects: say so instead of failing obscurely later.
	existing, err := namespaces.Get(ctx, ns.Name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("read namespace %s: %w", ns.Name, describeAPIError(err))
	}
	if existing.DeletionTimestamp != nil {
		return false, fmt.Errorf("namespace %s is still being deleted (from an earlier store named %s): wait for it to go, then retry", ns.Name, name)
	}
	if existing.Labels[LabelManagedBy] != ManagedBy {
		return false, fmt.Errorf("namespace %s exists and is not managed by urumi: choose another store name or remove the namespace", ns.Name)
	}
	return false, k.apply(ctx, gvrNamespace, ns)
}

// ensureQuota applies the plan's ResourceQuota and LimitRange.
func (k *Kube) ensureQuota(ctx context.Context, name, owner string, plan Plan) error {
	ns := Namespace(name)
	q := &corev1.ResourceQuota{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
		ObjectMeta: metav1.ObjectMeta{Name: quotaName, Namespace: ns, Labels: storeLabels(name, owner)},
		Spec:       corev1.ResourceQuotaSpec{Hard: plan.quotaHard()},
	}
	if err := ensure(ctx, k, gvrQuota, k.Client.CoreV1().ResourceQuotas(ns), q); err != nil {
		return err
	}
	lr := &corev1.LimitRange{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
		ObjectMeta: metav1.ObjectMeta{Name: limitRangeName, Namespace: ns, Labels: storeLabels(name, owner)},
		Spec:       plan.limitRange(),
	}
	return ensure(ctx, k, gvrLimitRange, k.Client.CoreV1().LimitRanges(ns), lr)
}

// Ranges no store may reach, whatever its plan: private, shared (CGNAT),
// link-local (cloud metadata), loopback and multicast ranges, where a
// cluster's pods, services, nodes and API server live.
func blockedIPv4() []string {
	return []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"}
}

func blockedIPv6() []string {
	return []string{"fc00::/7", "fe80::/10", "::1/128", "64:ff9b::/96", "ff00::/8"}
}

// publicInternet is every public address, IPv4 and IPv6.
func publicInternet() []networkingv1.NetworkPolicyPeer {
	return []networkingv1.NetworkPolicyPeer{
		{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: blockedIPv4()}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: blockedIPv6()}},
	}
}

// networkPolicies isolate a store: nothing in or out by default; the ingress
// controller may reach WordPress; pods may resolve names; WordPress, the
// setup Job and the cron job may reach MariaDB; the setup Job may fetch
// plugins over HTTPS from outside the cluster, and nothing inside it;
// WordPress, and the cron job that runs WordPress' scheduled events (orders,
// e-mails, webhooks), may reach what the plan's egress allows (public
// HTTPS, a mail relay), never the cluster. Nothing may reach the setup or
// cron pods.
func networkPolicies(name, owner, ingressNamespace string, egress Egress) ([]*networkingv1.NetworkPolicy, error) {
	ns := Namespace(name)
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p int, proto *corev1.Protocol) networkingv1.NetworkPolicyPort {
		v := intstr.FromInt(p)
		return networkingv1.NetworkPolicyPort{Port: &v, Protocol: proto}
	}
	component := func(c string) metav1.LabelSelector {
		return metav1.LabelSelector{MatchLabels: map[string]string{charts.LabelComponent: c}}
	}
	components := func(cs ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: charts.LabelComponent, Operator: metav1.LabelSelectorOpIn, Values: cs,
		}}}
	}
	nsByName := func(n string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": n}}
	}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	egressOnly := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	policy := func(n string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: ns, Labels: storeLabels(name, owner)},
			Spec:       spec,
		}
	}
	policies := []*networkingv1.NetworkPolicy{
		policy("default-deny", networkingv1.NetworkPolicySpec{PolicyTypes: both}),
		policy("allow-dns", networkingv1.NetworkPolicySpec{
			PolicyTypes: egressOnly,
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsByName("kube-system")}},
				Ports: []networkingv1.NetworkPolicyPort{port(53, &udp), port(53, &tcp)},
			}},
		}),
		policy("allow-ingress-to-wordpress", networkingv1.NetworkPolicySpec{
			PodSelector: component(charts.ComponentWordPress),
			PolicyTypes: ingress,
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsByName(ingressNamespace)}},
				Ports: []networkingv1.NetworkPolicyPort{port(charts.WordPressPort, &tcp)},
			}},
		}),
		policy("allow-mariadb-from-wordpress", networkingv1.NetworkPolicySpec{
			PodSelector: component(charts.ComponentMariaDB),
			PolicyTypes: ingress,
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: components(charts.ComponentWordPress, charts.ComponentSetup, charts.ComponentCron)}},
				Ports: []networkingv1.NetworkPolicyPort{port(charts.MariaDBPort, &tcp)},
			}},
		}),
		policy("allow-wordpress-to-mariadb", networkingv1.NetworkPolicySpec{
			PodSelector: *components(charts.ComponentWordPress, charts.ComponentSetup, charts.ComponentCron),
			PolicyTypes: egressOnly,
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{charts.LabelComponent: charts.ComponentMariaDB}}}},
				Ports: []networkingv1.NetworkPolicyPort{port(charts.MariaDBPort, &tcp)},
			}},
		}),
		policy("allow-setup-https-egress", networkingv1.NetworkPolicySpec{
			PodSelector: component(charts.ComponentSetup),
			PolicyTypes: egressOnly,
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To:    publicInternet(),
				Ports: []networkingv1.NetworkPolicyPort{port(443, &tcp)},
			}},
		}),
	}
	var wpEgress []networkingv1.NetworkPolicyEgressRule
	if egress.PublicHTTPS {
		wpEgress = append(wpEgress, networkingv1.NetworkPolicyEgressRule{
			To:    publicInternet(),
			Ports: []networkingv1.NetworkPolicyPort{port(443, &tcp)},
		})
	}
	if egress.MailRelay != "" {
		pfx, p, err := parseRelay(egress.MailRelay)
		if err != nil {
			return nil, err
		}
		wpEgress = append(wpEgress, networkingv1.NetworkPolicyEgressRule{
			To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: pfx.String()}}},
			Ports: []networkingv1.NetworkPolicyPort{port(p, &tcp)},
		})
	}
	// Always present, so that a plan changed to no egress replaces the
	// rules with none: an egress policy without rules allows nothing.
	policies = append(policies, policy("allow-wordpress-egress", networkingv1.NetworkPolicySpec{
		PodSelector: *components(charts.ComponentWordPress, charts.ComponentCron),
		PolicyTypes: egressOnly,
		Egress:      wpEgress,
	}))
	return policies, nil
}

// ensureNetworkPolicies applies the policies of a store with options o.
func (k *Kube) ensureNetworkPolicies(ctx context.Context, name, owner string, o Options, egress Egress) error {
	policies := k.Client.NetworkingV1().NetworkPolicies(Namespace(name))
	want, err := networkPolicies(name, owner, k.routerNamespace(o), egress)
	if err != nil {
		return err
	}
	for _, p := range want {
		if err := ensure(ctx, k, gvrNetworkPolicy, policies, p); err != nil {
			return err
		}
	}
	return nil
}

// ensureCredentials creates the store's credentials Secret from crypto/rand,
// once: an existing Secret keeps its values (they are the database's
// passwords), and only missing keys are filled in.
func (k *Kube) ensureCredentials(ctx context.Context, name, owner string) error {
	secrets := k.Client.CoreV1().Secrets(Namespace(name))
	// Create first: on a new store, the common case, that is the only
	// request. An existing Secret is then read and only its missing keys
	// are filled in.
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: credentialsName, Namespace: Namespace(name), Labels: storeLabels(name, owner)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{},
	}
	if err := fillCredentials(s.Data); err != nil {
		return err
	}
	_, err := secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create secret %s: %w", credentialsName, describeAPIError(err))
	}
	if s, err = secrets.Get(ctx, credentialsName, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("read secret %s: %w", credentialsName, describeAPIError(err))
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	missing := false
	for _, key := range charts.SecretKeys() {
		if len(s.Data[key]) == 0 {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	if err := fillCredentials(s.Data); err != nil {
		return err
	}
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update secret %s: %w", credentialsName, describeAPIError(err))
	}
	return nil
}

// fillCredentials sets every missing key: passwords of 32 and salts of 64
// characters drawn uniformly from crypto/rand.
func fillCredentials(data map[string][]byte) error {
	for _, key := range charts.SecretKeys() {
		if len(data[key]) > 0 {
			continue
		}
		n := 64
		switch key {
		case charts.SecretKeyMariaDBRootPassword, charts.SecretKeyMariaDBPassword, charts.SecretKeyWordPressAdminPassword:
			n = 32
		}
		v, err := randomString(n)
		if err != nil {
			return fmt.Errorf("generate %s: %w", key, err)
		}
		data[key] = []byte(v)
	}
	return nil
}

// Alphanumerics only: safe in shells, SQL, URLs and PHP without quoting.
const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString draws n characters of alphabet uniformly, rejecting bytes
// that would bias the draw.
func randomString(n int) (string, error) {
	const limit = 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// deleteNamespace deletes a store's namespace and waits until it is gone,
// so the store's quota and name are really free when the job ends.
func (k *Kube) deleteNamespace(ctx context.Context, ns string) error {
	policy := metav1.DeletePropagationForeground
	err := k.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", ns, describeAPIError(err))
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		// In serve, the reconciler's informers see the namespace go: the
		// API server is asked only to confirm it (a poll asked it four
		// times a second for as long as the deletion took).
		if c := k.waitCache.Load(); c == nil || c.namespace(ns) == nil {
			_, err := k.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s still terminating: %w", ns, ctx.Err())
		case <-t.C:
		}
	}
}
