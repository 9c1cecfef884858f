package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// `urumi doctor`: whether a cluster is fit for stores, before the first
// one. Each finding says what was looked at, and how to fix what is not
// there.

// Kinds of doctor finding.
const (
	DoctorServerVersion  = "server-version"
	DoctorIngressClass   = "ingress-class"
	DoctorIngressNS      = "ingress-namespace"
	DoctorGateway        = "gateway"
	DoctorStorageClass   = "storage-class"
	DoctorTLSIssuer      = "tls-issuer"
	DoctorPodSecurity    = "pod-security"
	DoctorPermissions    = "permissions"
	DoctorNetworkPlugins = "network-policy-enforcement"
)

// DoctorReport is the doctor's findings and the worst of them.
type DoctorReport struct {
	Status   CheckStatus `json:"status"`
	Findings []Finding   `json:"findings"`
}

// Failed names the kinds of the failed findings.
func (r DoctorReport) Failed() []string {
	var out []string
	for _, f := range r.Findings {
		if f.Status == CheckFail {
			out = append(out, f.Kind)
		}
	}
	return out
}

// Doctor looks at the cluster: the API server's version against urumi's
// client, the IngressClass and the ingress controller's namespace (or,
// with route gateway, the Gateway and its listener), a
// default StorageClass, cert-manager's ClusterIssuer when TLS is
// configured, whether Pod Security admission refuses what `restricted`
// forbids, urumi's own permissions; and says plainly what it cannot
// know: whether the network plugin enforces NetworkPolicy.
func (k *Kube) Doctor(ctx context.Context) DoctorReport {
	var r DoctorReport
	add := func(f Finding) {
		r.Findings = append(r.Findings, f)
		r.Status = worse(r.Status, f.Status)
	}
	r.Status = CheckPass
	add(k.doctorVersion())
	if k.Settings.Route == RouteGateway {
		add(k.doctorGateway(ctx))
	} else {
		for _, f := range k.doctorIngress(ctx) {
			add(f)
		}
	}
	add(k.doctorStorage(ctx))
	add(k.doctorTLS(ctx))
	add(k.doctorPodSecurity(ctx))
	if err := k.Preflight(ctx); err != nil {
		add(Finding{Kind: DoctorPermissions, Status: CheckFail, Message: err.Error(),
			Fix: "grant what `urumi rbac --user NAME` prints (as a cluster admin), or use another --context"})
	} else {
		add(Finding{Kind: DoctorPermissions, Status: CheckPass, Message: "the kubeconfig's user may do everything a store needs"})
	}
	add(Finding{Kind: DoctorNetworkPlugins, Status: CheckInfo,
		Message: "no API can prove that the cluster's network plugin enforces NetworkPolicy (some, like flannel alone, accept policies and ignore them); urumi's isolation rests on it",
		Fix: "after creating a store NAME, this must time out, not print a page: " +
			"`kubectl run urumi-netpol-probe -n default --rm -i --restart=Never --image=busybox:1.36 -- wget -qO- -T 5 http://wordpress.store-NAME.svc.cluster.local`"})
	return r
}

// clientGoMinor is the minor version of the client-go urumi was built
// with (v0.37.1 speaks to Kubernetes 1.37), or 0 when the build does not
// say (a test binary lists no dependencies).
func clientGoMinor() int {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return 0
	}
	for _, d := range info.Deps {
		if d.Path == "k8s.io/client-go" {
			return moduleMinor(d.Version)
		}
	}
	return 0
}

// moduleMinor is the minor number of a module version ("v0.37.1": 37).
func moduleMinor(v string) int {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) < 2 {
		return 0
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0
	}
	return n
}

func (k *Kube) doctorVersion() Finding {
	f := Finding{Kind: DoctorServerVersion}
	v, err := k.Client.Discovery().ServerVersion()
	if err != nil {
		f.Status, f.Message = CheckFail, "cannot read the API server's version: "+describeAPIError(err).Error()
		f.Fix = "check --kubeconfig/--context and that the API server is up"
		return f
	}
	server, err := strconv.Atoi(strings.TrimRight(v.Minor, "+"))
	client := clientGoMinor()
	switch {
	case err != nil || v.Major != "1":
		f.Status, f.Message = CheckWarn, fmt.Sprintf("API server %s: urumi cannot read its version", v.GitVersion)
	case client == 0:
		f.Status, f.Message = CheckPass, fmt.Sprintf("API server %s", v.GitVersion)
	case server-client > 1 || client-server > 1:
		f.Status = CheckWarn
		f.Message = fmt.Sprintf("API server %s is %d minor versions from urumi's Kubernetes client (1.%d): only one version of skew is supported", v.GitVersion, abs(server-client), client)
		f.Fix = "use a urumi release built for this Kubernetes version"
	default:
		f.Status, f.Message = CheckPass, fmt.Sprintf("API server %s, urumi's client 1.%d: within one minor version", v.GitVersion, client)
	}
	return f
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func (k *Kube) doctorIngress(ctx context.Context) []Finding {
	class, ns := k.Settings.IngressClass, k.Settings.IngressNamespace
	f := Finding{Kind: DoctorIngressClass, Object: "IngressClass/" + class}
	switch ic, err := k.Client.NetworkingV1().IngressClasses().Get(ctx, class, metav1.GetOptions{}); {
	case class == "":
		f.Status, f.Message = CheckFail, "no IngressClass is configured"
		f.Fix = "set --ingress-class (or ingress-class in the config file) to the cluster's ingress controller's class"
	case apierrors.IsNotFound(err):
		f.Status, f.Message = CheckFail, fmt.Sprintf("IngressClass %s does not exist: stores would get no route", class)
		f.Fix = "install an ingress controller (ingress-nginx makes IngressClass nginx), or set --ingress-class to an existing class (`kubectl get ingressclass`)"
	case err != nil:
		f.Status, f.Message = CheckFail, "cannot read IngressClass "+class+": "+describeAPIError(err).Error()
	default:
		f.Status, f.Message = CheckPass, fmt.Sprintf("IngressClass %s exists (controller %s)", class, ic.Spec.Controller)
	}
	g := Finding{Kind: DoctorIngressNS, Object: "Namespace/" + ns}
	switch _, err := k.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); {
	case ns == "":
		g.Status, g.Message = CheckFail, "no ingress controller namespace is configured: no store's NetworkPolicy would let the controller in"
		g.Fix = "set --ingress-namespace to the namespace the ingress controller runs in"
	case apierrors.IsNotFound(err):
		g.Status, g.Message = CheckFail, fmt.Sprintf("namespace %s (the ingress-namespace setting) does not exist: stores' policies admit the ingress controller from there only", ns)
		g.Fix = "set --ingress-namespace to the namespace the ingress controller's pods run in (`kubectl get pods -A -l app.kubernetes.io/component=controller`)"
	case err != nil:
		g.Status, g.Message = CheckFail, "cannot read namespace "+ns+": "+describeAPIError(err).Error()
	default:
		g.Status, g.Message = CheckPass, fmt.Sprintf("namespace %s exists: stores admit the ingress controller from it", ns)
	}
	return []Finding{f, g}
}

func (k *Kube) doctorStorage(ctx context.Context) Finding {
	f := Finding{Kind: DoctorStorageClass}
	list, err := k.Client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		f.Status, f.Message = CheckFail, "cannot list StorageClasses: "+describeAPIError(err).Error()
		return f
	}
	var defaults []string
	for _, sc := range list.Items {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			defaults = append(defaults, sc.Name)
		}
	}
	switch {
	case len(defaults) == 0:
		f.Status = CheckFail
		f.Message = fmt.Sprintf("no default StorageClass (%d classes): the stores' claims, which name no class, would stay Pending", len(list.Items))
		f.Fix = "mark one default: `kubectl annotate storageclass NAME storageclass.kubernetes.io/is-default-class=true`, or have an admin set storage.className on each store"
	case len(defaults) > 1:
		f.Status, f.Object = CheckWarn, "StorageClass/"+defaults[0]
		f.Message = "several default StorageClasses: " + strings.Join(defaults, ", ") + "; the newest wins"
		f.Fix = "keep one default"
	default:
		f.Status, f.Object = CheckPass, "StorageClass/"+defaults[0]
		f.Message = "default StorageClass " + defaults[0]
	}
	return f
}

var gkClusterIssuer = schema.GroupKind{Group: "cert-manager.io", Kind: "ClusterIssuer"}

func (k *Kube) doctorTLS(ctx context.Context) Finding {
	issuer := k.Settings.TLSIssuer
	f := Finding{Kind: DoctorTLSIssuer}
	if issuer == "" {
		f.Status, f.Message = CheckPass, "TLS is not configured: stores are served over HTTP (set --tls-issuer to a cert-manager ClusterIssuer for HTTPS)"
		return f
	}
	f.Object = "ClusterIssuer/" + issuer
	k.discovery.Invalidate() // a CRD installed since urumi last looked
	mapping, err := k.mapper.RESTMapping(gkClusterIssuer, "v1")
	if meta.IsNoMatchError(err) {
		f.Status = CheckFail
		f.Message = fmt.Sprintf("TLS issuer %s is configured but cert-manager is not installed: the cluster has no ClusterIssuer kind (cert-manager.io)", issuer)
		f.Fix = "install cert-manager and create the ClusterIssuer, or unset --tls-issuer"
		return f
	}
	if err != nil {
		f.Status, f.Message = CheckFail, "cannot look up the ClusterIssuer kind: "+describeAPIError(err).Error()
		return f
	}
	obj, err := k.Dynamic.Resource(mapping.Resource).Get(ctx, issuer, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		f.Status, f.Message = CheckFail, fmt.Sprintf("ClusterIssuer %s does not exist: stores' certificates would never be issued", issuer)
		f.Fix = "create it (`kubectl get clusterissuer` lists those there), or set --tls-issuer to one of them"
		return f
	case err != nil:
		f.Status, f.Message = CheckFail, "cannot read ClusterIssuer "+issuer+": "+describeAPIError(err).Error()
		return f
	}
	conds, _, _ := unstructuredConditions(obj.Object)
	if ready, ok := conds["Ready"]; ok && ready != "True" {
		f.Status, f.Message = CheckWarn, fmt.Sprintf("ClusterIssuer %s exists but is not Ready", issuer)
		f.Fix = "`kubectl describe clusterissuer " + issuer + "` says why"
		return f
	}
	f.Status, f.Message = CheckPass, fmt.Sprintf("ClusterIssuer %s exists", issuer)
	return f
}

// unstructuredConditions reads status.conditions as type → status.
func unstructuredConditions(obj map[string]any) (map[string]string, bool, error) {
	out := map[string]string{}
	st, _ := obj["status"].(map[string]any)
	list, _ := st["conditions"].([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		t, _ := m["type"].(string)
		s, _ := m["status"].(string)
		if t != "" {
			out[t] = s
		}
	}
	return out, len(list) > 0, nil
}

// doctorPodSecurity asks the API server, in dry-run, to create a pod that
// `restricted` forbids in a namespace labelled to enforce it, and expects
// a refusal from Pod Security admission. Dry-run leaves nothing. The
// namespace is a store's when there is one; otherwise one made for the
// test and deleted after it (a dry-run namespace cannot hold a dry-run
// pod: admission reads the namespace's labels from the cluster).
func (k *Kube) doctorPodSecurity(ctx context.Context) Finding {
	f := Finding{Kind: DoctorPodSecurity}
	namespaces := k.Client.CoreV1().Namespaces()
	ns := ""
	list, err := namespaces.List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy + ",pod-security.kubernetes.io/enforce=restricted", Limit: 1})
	if err == nil && len(list.Items) > 0 {
		ns = list.Items[0].Name
	} else {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		tmp := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   "urumi-doctor-" + hex.EncodeToString(b),
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "urumi.io/doctor": "true"},
		}}
		if _, err := namespaces.Create(ctx, tmp, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
			f.Status = CheckWarn
			f.Message = "could not test Pod Security admission: no store namespace exists and a test namespace could not be made: " + describeAPIError(err).Error()
			f.Fix = "run doctor again after the first store, or as a user who may create namespaces"
			return f
		}
		ns = tmp.Name
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = namespaces.Delete(dctx, ns, metav1.DeleteOptions{})
		}()
	}
	f.Object = "Namespace/" + ns
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "urumi-doctor-privileged", Namespace: ns},
		Spec: corev1.PodSpec{
			HostNetwork: true,
			Containers: []corev1.Container{{
				Name: "probe", Image: "registry.k8s.io/pause:3.10",
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
				Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
				},
			}},
		},
	}
	_, err = k.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	switch {
	case err == nil:
		f.Status = CheckFail
		f.Message = fmt.Sprintf("a privileged pod was admitted (dry run) in namespace %s, labelled to enforce restricted: Pod Security admission is not enforced", ns)
		f.Fix = "enable the PodSecurity admission plugin on the API server (on by default since Kubernetes 1.25), or install an equivalent policy engine"
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "PodSecurity"):
		f.Status = CheckPass
		f.Message = fmt.Sprintf("Pod Security admission refused a privileged pod (dry run) in %s, labelled to enforce restricted", ns)
	case apierrors.IsForbidden(err):
		f.Status = CheckWarn
		f.Message = "could not test Pod Security admission: the dry-run pod was refused for another reason: " + describeAPIError(err).Error()
		f.Fix = "run doctor as a user who may create pods (nothing is created: it is a dry run)"
	default:
		f.Status = CheckWarn
		f.Message = "could not test Pod Security admission: " + describeAPIError(err).Error()
	}
	return f
}

// gvrGateway is the Gateway API's Gateway resource.
var gvrGateway = schema.GroupVersionResource{Group: gwapiv1.GroupName, Version: "v1", Resource: "gateways"}

// doctorGateway checks that the Gateway stores attach to exists, has the
// configured listener, and that its listeners admit routes from the
// stores' namespaces: a Gateway's listeners admit only routes of its own
// namespace unless they say otherwise.
func (k *Kube) doctorGateway(ctx context.Context) Finding {
	gw := k.Settings.Gateway
	f := Finding{Kind: DoctorGateway, Object: "Gateway/" + gw.Namespace + "/" + gw.Name}
	if err := k.Settings.checkRoute(); err != nil {
		f.Status, f.Message = CheckFail, err.Error()
		f.Fix = "set --gateway-name and --gateway-namespace (or gateway-name and gateway-namespace in the config file) to the Gateway stores attach to"
		return f
	}
	if _, err := k.mapper.RESTMapping(schema.GroupKind{Group: gwapiv1.GroupName, Kind: "HTTPRoute"}, "v1"); meta.IsNoMatchError(err) {
		f.Status, f.Message = CheckFail, "the cluster does not serve the Gateway API's HTTPRoute (gateway.networking.k8s.io/v1): stores would get no route"
		f.Fix = "install the Gateway API CRDs (standard channel) and a Gateway implementation, or use --route ingress"
		return f
	}
	u, err := k.Dynamic.Resource(gvrGateway).Namespace(gw.Namespace).Get(ctx, gw.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		f.Status, f.Message = CheckFail, fmt.Sprintf("Gateway %s does not exist: stores would get no route", gw)
		f.Fix = "create the Gateway, or set --gateway-name and --gateway-namespace to an existing one (`kubectl get gateways -A`)"
		return f
	case err != nil:
		f.Status, f.Message = CheckFail, "cannot read Gateway "+gw.Namespace+"/"+gw.Name+": "+describeAPIError(err).Error()
		return f
	}
	var g gwapiv1.Gateway
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &g); err != nil {
		f.Status, f.Message = CheckFail, "cannot read Gateway "+gw.Namespace+"/"+gw.Name+": "+err.Error()
		return f
	}
	var admitting []string
	for _, l := range g.Spec.Listeners {
		if gw.SectionName != "" && string(l.Name) != gw.SectionName {
			continue
		}
		from := gwapiv1.NamespacesFromSame
		if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil && l.AllowedRoutes.Namespaces.From != nil {
			from = *l.AllowedRoutes.Namespaces.From
		}
		if from == gwapiv1.NamespacesFromAll || from == gwapiv1.NamespacesFromSelector {
			admitting = append(admitting, string(l.Name))
		}
	}
	switch {
	case gw.SectionName != "" && !slices.ContainsFunc(g.Spec.Listeners, func(l gwapiv1.Listener) bool { return string(l.Name) == gw.SectionName }):
		f.Status, f.Message = CheckFail, fmt.Sprintf("Gateway %s/%s has no listener %s", gw.Namespace, gw.Name, gw.SectionName)
		f.Fix = "set --gateway-section to one of its listeners (`kubectl get gateway -n " + gw.Namespace + " " + gw.Name + " -o yaml`), or to none"
	case len(admitting) == 0:
		f.Status, f.Message = CheckFail, fmt.Sprintf("Gateway %s admits routes from its own namespace only: the stores' HTTPRoutes, each in its store's namespace, would not attach", gw)
		f.Fix = "set the listener's allowedRoutes.namespaces to from: Selector matching app.kubernetes.io/managed-by=urumi (or from: All)"
	default:
		f.Status, f.Message = CheckPass, fmt.Sprintf("Gateway %s exists (class %s) and admits routes from other namespaces on listener %s", gw, g.Spec.GatewayClassName, strings.Join(admitting, ", "))
	}
	return f
}
