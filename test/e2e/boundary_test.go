package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// grantRBAC applies, as a cluster admin would with kubectl apply, the four
// objects `urumi rbac args...` prints (ClusterRole, ClusterRoleBinding,
// ValidatingAdmissionPolicy and its binding), removes them when the test
// ends, and checks the role holds exactly what the preflight checks.
func grantRBAC(t *testing.T, e *env, args ...string) {
	t.Helper()
	ctx := context.Background()
	docs := strings.Split(e.ok(append([]string{"rbac"}, args...)...).stdout, "---\n")
	if len(docs) != 4 {
		t.Fatalf("urumi rbac printed %d documents, want a ClusterRole, a ClusterRoleBinding, a ValidatingAdmissionPolicy and its binding", len(docs))
	}
	var (
		role          rbacv1.ClusterRole
		binding       rbacv1.ClusterRoleBinding
		policy        admissionv1.ValidatingAdmissionPolicy
		policyBinding admissionv1.ValidatingAdmissionPolicyBinding
	)
	for i, obj := range []any{&role, &binding, &policy, &policyBinding} {
		must(t, yaml.UnmarshalStrict([]byte(docs[i]), obj))
	}
	if role.Kind != "ClusterRole" || binding.Kind != "ClusterRoleBinding" || policy.Kind != "ValidatingAdmissionPolicy" ||
		policyBinding.Kind != "ValidatingAdmissionPolicyBinding" || !reflect.DeepEqual(role.Rules, provision.Rules()) {
		t.Fatalf("urumi rbac printed %+v, %+v, %+v and %+v", role, binding, policy, policyBinding)
	}
	rbac, adm := e.client.RbacV1(), e.client.AdmissionregistrationV1()
	t.Cleanup(func() {
		ctx := context.Background()
		_ = adm.ValidatingAdmissionPolicyBindings().Delete(ctx, policyBinding.Name, metav1.DeleteOptions{})
		_ = adm.ValidatingAdmissionPolicies().Delete(ctx, policy.Name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{})
	})
	_, err := rbac.ClusterRoles().Create(ctx, &role, metav1.CreateOptions{})
	must(t, err)
	_, err = rbac.ClusterRoleBindings().Create(ctx, &binding, metav1.CreateOptions{})
	must(t, err)
	_, err = adm.ValidatingAdmissionPolicies().Create(ctx, &policy, metav1.CreateOptions{})
	must(t, err)
	_, err = adm.ValidatingAdmissionPolicyBindings().Create(ctx, &policyBinding, metav1.CreateOptions{})
	must(t, err)
}

// userClient is a client authenticated as user, member of groups, and its
// kubeconfig.
func userClient(t *testing.T, e *env, user string, groups ...string) (kubernetes.Interface, string) {
	t.Helper()
	kubeconfig, err := e.cl.UserKubeconfig(user, groups...)
	must(t, err)
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	must(t, err)
	return kubernetes.NewForConfigOrDie(cfg), kubeconfig
}

// denied reports whether err is the boundary policy's refusal, with want in
// its message.
func denied(err error, policy, want string) bool {
	return err != nil && apierrors.IsForbidden(err) &&
		strings.Contains(err.Error(), fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request", policy, policy)) &&
		strings.Contains(err.Error(), want)
}

// TestBoundary: with what `urumi rbac` prints applied, the API server itself
// holds urumi's identity to its stores' namespaces. Direct calls as that
// identity are refused; a store whose rendered manifests carry hostile
// documents, with urumi's render check switched off, fails with the API
// server's refusal and leaves none of them behind; and stores are still
// created, made READY and deleted as that identity.
func TestBoundary(t *testing.T) {
	e := newEnv(t, backends[0].dsn(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A user name that is hostile to the policy's CEL: quotes and a
	// backslash must stay inside the string literal.
	const user, policy = `urumi-"boundary"\bot`, "urumi-boundary"
	grantRBAC(t, e, "--user", user, "--name", policy)
	client, kubeconfig := userClient(t, e, user)
	e.extra = append(e.extra, "KUBECONFIG="+kubeconfig)

	// Policies are enforced a little after they are created: wait until a
	// write RBAC allows everywhere is refused outside a store.
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bnd-probe"}}
	var probeErr error
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	waitFor(wctx, t, "the boundary policy to be enforced", func() (bool, error) {
		_, probeErr = client.CoreV1().ConfigMaps("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return probeErr != nil, nil
	})
	if !denied(probeErr, policy, "may write only in its stores' namespaces") || !strings.Contains(probeErr.Error(), "ConfigMap bnd-probe (create) in namespace default refused") {
		t.Fatalf("a ConfigMap in default: %v; want the boundary policy's refusal naming it", probeErr)
	}

	// A store made by urumi's identity under the policy, through the CLI.
	const victim, attacker = "bnd-victim", "bnd-attacker"
	victimNS, attackerNS := provision.Namespace(victim), provision.Namespace(attacker)
	if s := decodeStore(t, e.ok("store", "create", victim, "-o", "json")); s.Status != store.StatusReady {
		t.Fatalf("store created as urumi's identity under the policy: %+v", s)
	}
	// A namespace named like a store's that urumi did not make.
	_, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "store-bnd-foreign"}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() {
		_ = e.client.CoreV1().Namespaces().Delete(context.Background(), "store-bnd-foreign", metav1.DeleteOptions{})
	})

	t.Run("direct calls", func(t *testing.T) {
		helm := func(ns string) map[string]string { return map[string]string{"meta.helm.sh/release-namespace": ns} }
		ingress := func(ns, host string, annotations map[string]string) *networkingv1.Ingress {
			prefix := networkingv1.PathTypePrefix
			return &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Name: "bnd-evil", Namespace: ns, Annotations: annotations},
				Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
					Host: host,
					IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
						Path: "/", PathType: &prefix,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "wordpress", Port: networkingv1.ServiceBackendPort{Number: 80}}},
					}}}},
				}}},
			}
		}
		service := func(ns string, typ corev1.ServiceType) *corev1.Service {
			return &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "bnd-evil", Namespace: ns, Annotations: helm(ns)},
				Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": "bnd-evil"},
					Ports: []corev1.ServicePort{{Port: 80}}},
			}
		}
		namespace := func(name string, labels map[string]string) *corev1.Namespace {
			return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
		}
		managed := func(store, enforce string) map[string]string {
			return map[string]string{provision.LabelManagedBy: provision.ManagedBy, provision.LabelStore: store, "pod-security.kubernetes.io/enforce": enforce}
		}
		labelPatch := func(labels string) []byte { return []byte(`{"metadata":{"labels":{` + labels + `}}}`) }
		core, apps, net := client.CoreV1(), client.AppsV1(), client.NetworkingV1()
		create := metav1.CreateOptions{}
		for _, tc := range []struct {
			what string
			do   func() error
			want string
			// exists reports whether the refused object is there anyway.
			exists func() bool
		}{
			{"a privileged Deployment in kube-system", func() error {
				_, err := apps.Deployments("kube-system").Create(ctx, privilegedDeployment("kube-system"), create)
				return err
			}, "Deployment bnd-evil (create) in namespace kube-system refused", func() bool {
				_, err := e.client.AppsV1().Deployments("kube-system").Get(ctx, "bnd-evil", metav1.GetOptions{})
				return err == nil
			}},
			{"an Ingress in another store's namespace with that store's host", func() error {
				_, err := net.Ingresses(victimNS).Create(ctx, ingress(victimNS, victim+".localhost", nil), create)
				return err
			}, "only through the Helm release", ingressExists(ctx, e, victimNS)},
			{"the same, marked as another store's release, as Helm would", func() error {
				_, err := net.Ingresses(victimNS).Create(ctx, ingress(victimNS, victim+".localhost", helm(attackerNS)), create)
				return err
			}, "only through the Helm release", ingressExists(ctx, e, victimNS)},
			{"an Ingress for another store's host", func() error {
				_, err := net.Ingresses(victimNS).Create(ctx, ingress(victimNS, "bnd-other.localhost", helm(victimNS)), create)
				return err
			}, "may serve only the store's host " + victim + ".localhost", ingressExists(ctx, e, victimNS)},
			{"an Ingress with a server snippet", func() error {
				_, err := net.Ingresses(victimNS).Create(ctx, ingress(victimNS, victim+".localhost", map[string]string{
					"meta.helm.sh/release-namespace":               victimNS,
					"nginx.ingress.kubernetes.io/server-snippet":   "location /x { proxy_pass https://kubernetes.default; }",
					"nginx.ingress.kubernetes.io/rewrite-target":   "/",
					"nginx.ingress.kubernetes.io/auth-secret-type": "auth-file",
				}), create)
				return err
			}, "may not carry nginx.ingress.kubernetes.io/server-snippet:", ingressExists(ctx, e, victimNS)},
			{"an Ingress naming another namespace's Secret", func() error {
				_, err := net.Ingresses(victimNS).Create(ctx, ingress(victimNS, victim+".localhost", map[string]string{
					"meta.helm.sh/release-namespace":          victimNS,
					"nginx.ingress.kubernetes.io/auth-type":   "basic",
					"nginx.ingress.kubernetes.io/auth-secret": "kube-system/bootstrap-token",
				}), create)
				return err
			}, "may not carry nginx.ingress.kubernetes.io/auth-secret:", ingressExists(ctx, e, victimNS)},
			{"a Service in default", func() error {
				_, err := core.Services("default").Create(ctx, service("default", corev1.ServiceTypeClusterIP), create)
				return err
			}, "Service bnd-evil (create) in namespace default refused", serviceExists(ctx, e, "default")},
			{"a LoadBalancer Service in a store's namespace", func() error {
				_, err := core.Services(victimNS).Create(ctx, service(victimNS, corev1.ServiceTypeLoadBalancer), create)
				return err
			}, "only ClusterIP Services without external IPs: Service bnd-evil of type LoadBalancer", serviceExists(ctx, e, victimNS)},
			{"a NodePort Service in a store's namespace", func() error {
				_, err := core.Services(victimNS).Create(ctx, service(victimNS, corev1.ServiceTypeNodePort), create)
				return err
			}, "of type NodePort", serviceExists(ctx, e, victimNS)},
			{"a service account token Secret in a store's namespace", func() error {
				_, err := core.Secrets(victimNS).Create(ctx, &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: "bnd-evil", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
					Type:       corev1.SecretTypeServiceAccountToken,
				}, create)
				return err
			}, "only Opaque Secrets", func() bool {
				_, err := e.client.CoreV1().Secrets(victimNS).Get(ctx, "bnd-evil", metav1.GetOptions{})
				return err == nil
			}},
			{"a claim naming a volume", func() error {
				_, err := core.PersistentVolumeClaims(victimNS).Create(ctx, &corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Name: "bnd-evil", Annotations: helm(victimNS)},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
						VolumeName:  "pv-of-another-store",
						Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					},
				}, create)
				return err
			}, "may not name its volume", func() bool {
				return objectExists(e.client.CoreV1().PersistentVolumeClaims(victimNS).Get(ctx, "bnd-evil", metav1.GetOptions{}))
			}},
			{"a store namespace enforcing the privileged Pod Security level", func() error {
				_, err := core.Namespaces().Create(ctx, namespace("store-bnd-evil", managed("bnd-evil", "privileged")), create)
				return err
			}, "must enforce the restricted Pod Security level", namespaceExists(ctx, e, "store-bnd-evil")},
			{"a store namespace without urumi's labels", func() error {
				_, err := core.Namespaces().Create(ctx, namespace("store-bnd-evil", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}), create)
				return err
			}, "must carry the labels app.kubernetes.io/managed-by=urumi and urumi.io/store=bnd-evil", namespaceExists(ctx, e, "store-bnd-evil")},
			{"a namespace not named store-*", func() error {
				_, err := core.Namespaces().Create(ctx, namespace("bnd-evil", managed("bnd-evil", "restricted")), create)
				return err
			}, "only namespaces named store-<store name>: namespace bnd-evil refused", namespaceExists(ctx, e, "bnd-evil")},
			{"relabelling kube-system as urumi's", func() error {
				_, err := core.Namespaces().Patch(ctx, "kube-system", types.MergePatchType,
					labelPatch(`"app.kubernetes.io/managed-by":"urumi","urumi.io/store":"system"`), metav1.PatchOptions{})
				return err
			}, "namespace kube-system refused", func() bool {
				ns, err := e.client.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
				return err != nil || ns.Labels[provision.LabelManagedBy] != ""
			}},
			{"relaxing a store namespace's Pod Security level", func() error {
				_, err := core.Namespaces().Patch(ctx, victimNS, types.MergePatchType,
					labelPatch(`"pod-security.kubernetes.io/enforce":"privileged"`), metav1.PatchOptions{})
				return err
			}, "must enforce the restricted Pod Security level", func() bool {
				ns, err := e.client.CoreV1().Namespaces().Get(ctx, victimNS, metav1.GetOptions{})
				return err != nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted"
			}},
			{"taking over a store-named namespace urumi did not make", func() error {
				_, err := core.Namespaces().Patch(ctx, "store-bnd-foreign", types.MergePatchType,
					labelPatch(`"app.kubernetes.io/managed-by":"urumi","urumi.io/store":"bnd-foreign","pod-security.kubernetes.io/enforce":"restricted"`), metav1.PatchOptions{})
				return err
			}, "namespace store-bnd-foreign is not managed by urumi", func() bool {
				ns, err := e.client.CoreV1().Namespaces().Get(ctx, "store-bnd-foreign", metav1.GetOptions{})
				return err != nil || ns.Labels[provision.LabelManagedBy] != ""
			}},
			{"deleting a store-named namespace urumi did not make", func() error {
				return core.Namespaces().Delete(ctx, "store-bnd-foreign", metav1.DeleteOptions{})
			}, "namespace store-bnd-foreign is not managed by urumi", func() bool {
				ns, err := e.client.CoreV1().Namespaces().Get(ctx, "store-bnd-foreign", metav1.GetOptions{})
				return err != nil || ns.DeletionTimestamp != nil
			}},
		} {
			err := tc.do()
			if !denied(err, policy, tc.want) {
				t.Errorf("%s: got %v; want the boundary policy's refusal saying %q", tc.what, err, tc.want)
			}
			if tc.exists() {
				t.Errorf("%s: refused, yet there", tc.what)
			}
		}

		// What urumi does is still allowed: an object of the store's own
		// release in its namespace, changed and deleted.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bnd-allowed", Annotations: helm(victimNS)}, Data: map[string]string{"a": "1"}}
		_, err := core.ConfigMaps(victimNS).Create(ctx, cm, create)
		must(t, err)
		_, err = core.ConfigMaps(victimNS).Patch(ctx, cm.Name, types.MergePatchType, []byte(`{"data":{"a":"2"}}`), metav1.PatchOptions{})
		must(t, err)
		must(t, core.ConfigMaps(victimNS).Delete(ctx, cm.Name, metav1.DeleteOptions{}))
	})

	t.Run("hostile release", func(t *testing.T) {
		db := e.openDB()
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		must(t, err)
		settings := provision.Settings{BaseDomain: "localhost", IngressClass: "nginx", IngressNamespace: "ingress-nginx", Timeout: 2 * time.Minute}
		k, err := provision.NewKube(cfg, settings, slog.New(slog.DiscardHandler))
		must(t, err)
		// The chart's output, plus what an injected value could append,
		// with urumi's render check off: only the cluster stands in the way.
		k.SkipRenderCheck = true
		k.RenderHook = appendDocs(hostileManifests(victim))
		svc := &provision.Service{DB: db, Settings: settings}
		runner := &provision.Runner{DB: db, Kube: k, Worker: "boundary-test", Lease: 30 * time.Second, Log: slog.New(slog.DiscardHandler)}
		caller := provision.Caller{Name: "tester", Admin: true}

		_, job, err := svc.Create(ctx, caller, provision.CreateRequest{Name: attacker})
		must(t, err)
		_, err = runner.Drive(ctx, job.ID, nil)
		if err == nil {
			t.Fatal("a release with hostile documents was installed")
		}
		for _, want := range []string{
			"Deployment bnd-evil (create) in namespace kube-system refused",
			"Ingress bnd-evil (create) in namespace " + victimNS + " is not part of that namespace's release",
			"Service bnd-evil (create) in namespace default refused",
			"Service bnd-evil-lb of type LoadBalancer in namespace " + attackerNS + " refused",
			// Helm labels what it applies managed-by=Helm, so this one
			// lacks urumi's label as well as the restricted level.
			"namespace store-bnd-evil must ",
			"namespace bnd-evil refused",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the failed create should carry the API server's refusal %q:\n%v", want, err)
			}
		}
		if s, _ := db.GetStore(ctx, attacker); s.Status != store.StatusFailed || !strings.Contains(s.Error, "denied request") {
			t.Errorf("store %s: status %s, error %q; want FAILED with the API server's refusal", attacker, s.Status, s.Error)
		}
		for what, exists := range map[string]func() bool{
			"Deployment kube-system/bnd-evil": func() bool {
				_, err := e.client.AppsV1().Deployments("kube-system").Get(ctx, "bnd-evil", metav1.GetOptions{})
				return err == nil
			},
			"Ingress " + victimNS + "/bnd-evil": ingressExists(ctx, e, victimNS),
			"Service default/bnd-evil":          serviceExists(ctx, e, "default"),
			"Service " + attackerNS + "/bnd-evil-lb": func() bool {
				return objectExists(e.client.CoreV1().Services(attackerNS).Get(ctx, "bnd-evil-lb", metav1.GetOptions{}))
			},
			"Namespace store-bnd-evil": namespaceExists(ctx, e, "store-bnd-evil"),
			"Namespace bnd-evil":       namespaceExists(ctx, e, "bnd-evil"),
		} {
			if exists() {
				t.Errorf("%s exists after the API server refused it", what)
			}
		}

		// The failed store is deleted as urumi's identity, under the policy.
		_, job, err = svc.Delete(ctx, caller, attacker)
		must(t, err)
		if final, err := runner.Drive(ctx, job.ID, nil); err != nil || final.State != store.JobSucceeded {
			t.Fatalf("delete %s as urumi's identity: %+v, %v", attacker, final, err)
		}
		if namespaceExists(ctx, e, attackerNS)() {
			t.Errorf("namespace %s remains after delete", attackerNS)
		}
	})

	// The victim store, untouched by all of the above, is deleted.
	e.ok("store", "delete", victim)
	if _, err := e.client.CoreV1().Namespaces().Get(ctx, victimNS, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace %s after delete: %v", victimNS, err)
	}
}

func objectExists(_ any, err error) bool { return err == nil }

func ingressExists(ctx context.Context, e *env, ns string) func() bool {
	return func() bool {
		return objectExists(e.client.NetworkingV1().Ingresses(ns).Get(ctx, "bnd-evil", metav1.GetOptions{}))
	}
}

func serviceExists(ctx context.Context, e *env, ns string) func() bool {
	return func() bool {
		return objectExists(e.client.CoreV1().Services(ns).Get(ctx, "bnd-evil", metav1.GetOptions{}))
	}
}

func namespaceExists(ctx context.Context, e *env, name string) func() bool {
	return func() bool { return objectExists(e.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})) }
}

// privilegedDeployment is what an attacker wants in kube-system: a
// privileged, hostPID pod with the node's root filesystem mounted.
func privilegedDeployment(ns string) *appsv1.Deployment {
	privileged := true
	labels := map[string]string{"app": "bnd-evil"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bnd-evil", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostPID: true,
					Containers: []corev1.Container{{
						Name: "evil", Image: "busybox",
						SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
						VolumeMounts:    []corev1.VolumeMount{{Name: "root", MountPath: "/host"}},
					}},
					Volumes: []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
				},
			},
		},
	}
}

// hostileManifests are the documents the injected image tag added
// to a store's release, and more: a privileged Deployment in kube-system,
// an Ingress in the victim store's namespace for its host, a Service in
// default, a LoadBalancer Service in the store's own namespace, a store
// namespace that admits privileged pods and a namespace of any name.
func hostileManifests(victim string) string {
	deployment, err := yaml.Marshal(privilegedDeployment("kube-system"))
	if err != nil {
		panic(err)
	}
	return "apiVersion: apps/v1\nkind: Deployment\n" + string(deployment) + `---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bnd-evil
  namespace: ` + provision.Namespace(victim) + `
spec:
  rules:
  - host: ` + victim + `.localhost
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: wordpress
            port:
              number: 80
---
apiVersion: v1
kind: Service
metadata:
  name: bnd-evil
  namespace: default
spec:
  selector:
    app: bnd-evil
  ports:
  - port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: bnd-evil-lb
spec:
  type: LoadBalancer
  selector:
    app: bnd-evil
  ports:
  - port: 80
---
apiVersion: v1
kind: Namespace
metadata:
  name: store-bnd-evil
  labels:
    app.kubernetes.io/managed-by: urumi
    urumi.io/store: bnd-evil
    pod-security.kubernetes.io/enforce: privileged
---
apiVersion: v1
kind: Namespace
metadata:
  name: bnd-evil
`
}

// appendDocs is a post-renderer that appends its documents to the chart's.
type appendDocs string

func (a appendDocs) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	out := bytes.NewBuffer(bytes.Clone(in.Bytes()))
	out.WriteString("\n---\n" + string(a))
	return out, nil
}

// TestBoundaryIdentities: the policy `urumi rbac` prints for a group or a
// service account applies to a member of that group and to that service
// account, as the one for a user does to the user.
func TestBoundaryIdentities(t *testing.T) {
	e := newEnv(t, backends[0].dsn(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	member, _ := userClient(t, e, "bnd-member", "bnd-operators")
	const saNS, saName = "bnd-system", "urumi"
	_, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: saNS}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { _ = e.client.CoreV1().Namespaces().Delete(context.Background(), saNS, metav1.DeleteOptions{}) })
	_, err = e.client.CoreV1().ServiceAccounts(saNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saName}}, metav1.CreateOptions{})
	must(t, err)
	expiry := int64(600)
	token, err := e.client.CoreV1().ServiceAccounts(saNS).CreateToken(ctx, saName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	must(t, err)
	cfg := rest.AnonymousClientConfig(e.cl.Config)
	cfg.BearerToken = token.Status.Token
	sa := kubernetes.NewForConfigOrDie(cfg)

	for _, tc := range []struct {
		policy string
		args   []string
		client kubernetes.Interface
	}{
		{"urumi-bnd-group", []string{"--group", "bnd-operators"}, member},
		{"urumi-bnd-sa", []string{"--service-account", saNS + "/" + saName}, sa},
	} {
		grantRBAC(t, e, append(tc.args, "--name", tc.policy)...)
		probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bnd-probe"}}
		var probeErr error
		waitFor(ctx, t, "policy "+tc.policy+" to be enforced", func() (bool, error) {
			_, probeErr = tc.client.CoreV1().ConfigMaps("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return probeErr != nil && !apierrors.IsForbidden(probeErr) || denied(probeErr, tc.policy, ""), nil
		})
		if !denied(probeErr, tc.policy, "ConfigMap bnd-probe (create) in namespace default refused") {
			t.Errorf("%s: a ConfigMap in default: %v; want the policy's refusal", strings.Join(tc.args, " "), probeErr)
		}
	}
}
