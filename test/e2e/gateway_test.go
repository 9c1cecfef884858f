package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/simcluster"
	"github.com/urumi/urumi/internal/store"
)

var gvrHTTPRoute = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// TestGatewayRoute: with --route gateway, a store made by urumi's own
// identity under what `urumi rbac` prints reaches READY with an HTTPRoute
// (no Ingress) that the API server accepted against the Gateway API's
// CRDs, attached to the configured Gateway; its NetworkPolicy admits the
// Gateway's namespace and `store check` (with its isolation self-test)
// passes. The boundary policy refuses that identity an HTTPRoute for
// another host. `urumi doctor` checks the Gateway.
func TestGatewayRoute(t *testing.T) {
	e := newEnv(t, storeDSN(t))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	must(t, e.cl.InstallGatewayAPI(ctx))
	e.extra = append(e.extra, "URUMI_ROUTE=gateway", "URUMI_GATEWAY_NAME="+simcluster.GatewayName,
		"URUMI_GATEWAY_NAMESPACE="+simcluster.GatewayNamespace, "URUMI_GATEWAY_SECTION="+simcluster.GatewayListener)

	rep, r := e.doctor()
	if f := doctorFinding(rep, provision.DoctorGateway); f.Status != provision.CheckPass || r.code != 0 {
		t.Errorf("doctor with the Gateway: %+v\n%s", f, r)
	}
	if f := doctorFinding(rep, provision.DoctorIngressClass); f.Kind != "" {
		t.Errorf("doctor judged the IngressClass with route gateway: %+v", f)
	}
	rep, r = e.doctor("--gateway-name", "missing")
	if f := doctorFinding(rep, provision.DoctorGateway); f.Status != provision.CheckFail || r.code != exitCheckFailed ||
		!strings.Contains(f.Message, simcluster.GatewayNamespace+"/missing") {
		t.Errorf("doctor with a missing Gateway: %+v\n%s", f, r)
	}
	rep, _ = e.doctor("--gateway-section", "https")
	if f := doctorFinding(rep, provision.DoctorGateway); f.Status != provision.CheckFail || !strings.Contains(f.Message, "no listener https") {
		t.Errorf("doctor with a missing listener: %+v", f)
	}

	// urumi's identity: what `urumi rbac` prints, and nothing else.
	const user, policy = "urumi-gateway", "urumi-gateway"
	grantRBAC(t, e, "--user", user, "--name", policy)
	kubeconfig, err := e.cl.UserKubeconfig(user)
	must(t, err)
	e.extra = append(e.extra, "KUBECONFIG="+kubeconfig)

	const name = "gw-shop"
	ns := provision.Namespace(name)
	t.Cleanup(func() { e.run("store", "delete", name) })
	s := decodeStore(t, e.ok("store", "create", name, "-o", "json"))
	if s.Status != store.StatusReady {
		t.Fatalf("store routed through the Gateway: %+v", s)
	}

	dyn := dynamic.NewForConfigOrDie(e.cl.Config)
	routes, err := dyn.Resource(gvrHTTPRoute).Namespace(ns).List(ctx, metav1.ListOptions{})
	must(t, err)
	if len(routes.Items) != 1 {
		t.Fatalf("%d HTTPRoutes in %s, want 1", len(routes.Items), ns)
	}
	rt := routes.Items[0]
	hosts, _, _ := unstructured.NestedStringSlice(rt.Object, "spec", "hostnames")
	parents, _, _ := unstructured.NestedSlice(rt.Object, "spec", "parentRefs")
	if len(hosts) != 1 || hosts[0] != name+".localhost" || len(parents) != 1 {
		t.Fatalf("HTTPRoute hostnames %v, parentRefs %v", hosts, parents)
	}
	p := parents[0].(map[string]any)
	if p["name"] != simcluster.GatewayName || p["namespace"] != simcluster.GatewayNamespace || p["sectionName"] != simcluster.GatewayListener {
		t.Errorf("HTTPRoute attaches to %v", p)
	}
	if ings, err := e.client.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{}); err != nil || len(ings.Items) != 0 {
		t.Errorf("Ingresses of a store routed through a Gateway: %v %v", ings, err)
	}
	pol, err := e.client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "allow-ingress-to-wordpress", metav1.GetOptions{})
	must(t, err)
	if got := pol.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]; got != simcluster.GatewayNamespace {
		t.Errorf("the store admits namespace %q, want the Gateway's %s", got, simcluster.GatewayNamespace)
	}

	crep, r := e.check(name)
	if r.code != 0 || crep.Status != provision.CheckPass {
		t.Fatalf("store check of a store routed through a Gateway: %s", r)
	}
	isolated := false
	for _, f := range crep.Stores[0].Findings {
		isolated = isolated || f.Kind == provision.FindingIsolation && f.Status == provision.CheckPass
	}
	if !isolated {
		t.Errorf("no passing isolation self-test: %+v", crep.Stores[0].Findings)
	}

	// The cluster refuses urumi's identity a route for another host, even
	// in the store's namespace and as part of its release.
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	must(t, err)
	userDyn := dynamic.NewForConfigOrDie(cfg)
	hostile := rt.DeepCopy()
	hostile.SetName("wordpress-alias")
	hostile.SetResourceVersion("")
	hostile.SetUID("")
	hostile.SetManagedFields(nil)
	must(t, unstructured.SetNestedStringSlice(hostile.Object, []string{"bank.localhost"}, "spec", "hostnames"))
	delete(hostile.Object, "status")
	_, err = userDyn.Resource(gvrHTTPRoute).Namespace(ns).Create(ctx, hostile, metav1.CreateOptions{})
	if !denied(err, policy, "may serve only the store's host "+name+".localhost") {
		t.Errorf("an HTTPRoute for another host as urumi's identity: %v", err)
	}
	must(t, unstructured.SetNestedStringSlice(hostile.Object, []string{name + ".localhost"}, "spec", "hostnames"))
	_, err = userDyn.Resource(gvrHTTPRoute).Namespace(ns).Create(ctx, hostile, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Errorf("the same HTTPRoute for the store's own host, dry run: %v", err)
	}

	e.ok("store", "delete", name)
	waitFor(ctx, t, "the store's namespace to go", func() (bool, error) {
		_, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}
