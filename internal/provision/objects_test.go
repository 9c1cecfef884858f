package provision

import (
	"context"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/urumi/urumi/internal/simcluster"
)

var cluster simcluster.Shared

func TestMain(m *testing.M) { os.Exit(cluster.RunTests(m)) }

// The namespace-level steps create their objects the first time and, run
// again, bring back whatever was changed or removed since.
func TestNamespaceStepsConverge(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()
	k, err := NewKube(c.Config, Settings{IngressNamespace: "ingress-nginx"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const name, owner = "converge", "alice"
	ns := Namespace(name)
	plan, err := Plans{}.Get("small")
	if err != nil {
		t.Fatal(err)
	}
	steps := func() {
		t.Helper()
		if err := k.ensureNamespace(ctx, name, owner); err != nil {
			t.Fatal(err)
		}
		if err := k.ensureQuota(ctx, name, owner, plan); err != nil {
			t.Fatal(err)
		}
		if err := k.ensureNetworkPolicies(ctx, name, owner, Options{}, plan.Egress); err != nil {
			t.Fatal(err)
		}
	}
	steps()
	steps() // everything exists: nothing to do, and no error

	core, netv1 := k.Client.CoreV1(), k.Client.NetworkingV1()
	want, err := networkPolicies(name, owner, "ingress-nginx", plan.Egress)
	if err != nil {
		t.Fatal(err)
	}
	// urumi's policies spell out what the API server defaults: as stored,
	// each equals what urumi wants (the judgement's quick comparison).
	for _, p := range want {
		live, err := netv1.NetworkPolicies(ns).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(p.Spec, live.Spec) {
			t.Errorf("NetworkPolicy %s as stored differs from urumi's:\n%+v\n%+v", p.Name, live.Spec, p.Spec)
		}
	}
	// Someone loosens the quota, drops the default-deny policy, opens
	// another to every namespace and takes the namespace's Pod Security
	// label off.
	q, err := core.ResourceQuotas(ns).Get(ctx, quotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Spec.Hard[corev1.ResourcePods] = resource.MustParse("1000")
	if _, err := core.ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := netv1.NetworkPolicies(ns).Delete(ctx, want[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := netv1.NetworkPolicies(ns).Get(ctx, want[2].Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}
	if _, err := netv1.NetworkPolicies(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n, err := core.Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["pod-security.kubernetes.io/enforce"] = "privileged"
	if _, err := core.Namespaces().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	steps()
	q, err = core.ResourceQuotas(ns).Get(ctx, quotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := q.Spec.Hard[corev1.ResourcePods], resource.MustParse("10"); got.Cmp(want) != 0 {
		t.Errorf("quota pods = %s after the steps ran again, want %s", got.String(), want.String())
	}
	for _, w := range want {
		got, err := netv1.NetworkPolicies(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("policy %s after the steps ran again: %v", w.Name, err)
		}
		if len(got.Spec.Ingress) != len(w.Spec.Ingress) || len(w.Spec.Ingress) > 0 &&
			got.Spec.Ingress[0].From[0].NamespaceSelector.String() != w.Spec.Ingress[0].From[0].NamespaceSelector.String() {
			t.Errorf("policy %s not restored: ingress %v, want %v", w.Name, got.Spec.Ingress, w.Spec.Ingress)
		}
	}
	n, err = core.Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace Pod Security enforce = %q after the steps ran again, want restricted", got)
	}
}

func TestEnsureNamespaceRefusesForeignAndTerminating(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()
	k, err := NewKube(c.Config, Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	namespaces := k.Client.CoreV1().Namespaces()
	foreign := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace("foreign")}}
	if _, err := namespaces.Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = k.ensureNamespace(ctx, "foreign", "alice")
	if err == nil || !strings.Contains(err.Error(), "not managed by urumi") {
		t.Fatalf("ensureNamespace over a foreign namespace: %v, want it refused", err)
	}
	n, err := namespaces.Get(ctx, foreign.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels[LabelManagedBy] != "" {
		t.Errorf("the foreign namespace was labelled: %v", n.Labels)
	}

	// A finalizer keeps a deleted namespace terminating.
	if err := k.ensureNamespace(ctx, "leaving", "alice"); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"urumi.io/test"}}}
	cms := k.Client.CoreV1().ConfigMaps(Namespace("leaving"))
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = cms.Patch(context.Background(), "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})
	if err := namespaces.Delete(ctx, Namespace("leaving"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = k.ensureNamespace(ctx, "leaving", "alice")
	if err == nil || !strings.Contains(err.Error(), "still being deleted") {
		t.Fatalf("ensureNamespace over a terminating namespace: %v, want it refused", err)
	}
	if _, err := namespaces.Get(ctx, Namespace("leaving"), metav1.GetOptions{}); apierrors.IsNotFound(err) {
		t.Fatal("the namespace went away before the check: the finalizer did not hold it")
	}
}
