package simcluster

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// The Gateway API objects InstallGatewayAPI makes, as a cluster with a
// Gateway implementation would have them. No controller runs: routes are
// accepted by the API server (schema and CEL validation), never reconciled.
const (
	GatewayClass     = "simcluster"
	GatewayNamespace = "gateway-system"
	GatewayName      = "public"
	// GatewayListener admits HTTPRoutes from namespaces labelled
	// app.kubernetes.io/managed-by=urumi, the stores'.
	GatewayListener = "http"
)

//go:embed crds/*.yaml
var gatewayCRDs embed.FS

var (
	gvrCRD          = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	gvrGatewayClass = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gatewayclasses"}
	gvrGateway      = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}
)

// InstallGatewayAPI installs the Gateway API's standard CRDs (see
// crds/README.md for their version), a GatewayClass, and a Gateway in its
// own namespace whose listener admits the stores' routes. It is idempotent;
// clusters start without them, as most do, and tests that route stores
// through a Gateway call it.
func (c *Cluster) InstallGatewayAPI(ctx context.Context) error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	files, err := fs.Glob(gatewayCRDs, "crds/*.yaml")
	if err != nil {
		return err
	}
	var names []string
	for _, f := range files {
		b, err := gatewayCRDs.ReadFile(f)
		if err != nil {
			return err
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		crd := &unstructured.Unstructured{Object: obj}
		names = append(names, crd.GetName())
		if _, err := dyn.Resource(gvrCRD).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", crd.GetName(), err)
		}
	}
	err = c.poll(ctx, 60*time.Second, "Gateway API CRDs established", func() (bool, error) {
		for _, n := range names {
			crd, err := dyn.Resource(gvrCRD).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			established := false
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				established = established || m["type"] == "Established" && m["status"] == "True"
			}
			if !established {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: GatewayNamespace, Labels: map[string]string{"app.kubernetes.io/name": "gateway"}}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", GatewayNamespace, err)
	}
	class := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
		"metadata": map[string]any{"name": GatewayClass},
		"spec":     map[string]any{"controllerName": "simcluster.urumi.io/gateway"},
	}}
	gateway := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": map[string]any{"name": GatewayName, "namespace": GatewayNamespace},
		"spec": map[string]any{
			"gatewayClassName": GatewayClass,
			"listeners": []any{map[string]any{
				"name": GatewayListener, "protocol": "HTTP", "port": int64(80),
				"allowedRoutes": map[string]any{
					"kinds": []any{map[string]any{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}},
					"namespaces": map[string]any{
						"from":     "Selector",
						"selector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/managed-by": "urumi"}},
					},
				},
			}},
		},
	}}
	// A CRD just established may still be refused for a moment while the
	// API server's discovery and storage catch up.
	var last error
	err = c.poll(ctx, 30*time.Second, "GatewayClass and Gateway created", func() (bool, error) {
		if _, last = dyn.Resource(gvrGatewayClass).Create(ctx, class, metav1.CreateOptions{}); last != nil && !apierrors.IsAlreadyExists(last) {
			return false, nil
		}
		if _, last = dyn.Resource(gvrGateway).Namespace(GatewayNamespace).Create(ctx, gateway, metav1.CreateOptions{}); last != nil && !apierrors.IsAlreadyExists(last) {
			return false, nil
		}
		return true, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w: %w", err, last)
	}
	return err
}
