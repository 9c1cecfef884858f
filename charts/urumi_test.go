package charts_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/kube"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/simcluster"
)

// The urumi chart is not embedded (urumi never installs itself); its tests
// read it from the repository, as helm would from a checkout.
const urumiChartDir = "urumi"

var cluster simcluster.Shared

func TestMain(m *testing.M) { os.Exit(cluster.RunTests(m)) }

// updateGoldens reads the -update flag the package's own tests define (two
// definitions of it in one test binary would panic).
func updateGoldens() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// urumiCase is one installation: where, under which release name, with
// which values, and the names the RBAC objects must then carry.
type urumiCase struct {
	name           string
	namespace      string
	release        string
	values         string
	serviceMonitor bool // the cluster serves monitoring.coreos.com/v1 ServiceMonitor
	// What `urumi rbac --service-account namespace/wantSA --name wantRBAC
	// --base-domain wantDomain` is given for the same installation.
	wantRBAC, wantSA, wantDomain string
}

var urumiCases = []urumiCase{
	{
		name:      "urumi-defaults",
		namespace: "urumi-system",
		release:   "urumi",
		values: `
config:
  baseDomain: shops.example.com
database:
  secretName: urumi-db
auditKey:
  secretName: urumi-audit-key
`,
		wantRBAC: "urumi-system-urumi", wantSA: "urumi", wantDomain: "shops.example.com",
	},
	{
		name:           "urumi-everything",
		namespace:      "ops",
		release:        "prod",
		serviceMonitor: true,
		values: `
replicaCount: 3
image:
  repository: registry.example.com:5000/mirror/urumi
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  pullPolicy: Always
imagePullSecrets: [registry-credentials]
serviceAccount:
  name: urumi-api
rbac:
  name: urumi-prod
config:
  baseDomain: .stores.example.org
  ingressClass: traefik
  ingressNamespace: traefik
  tlsIssuer: letsencrypt-prod
  route: gateway
  gateway:
    name: public
    namespace: gateways
    sectionName: https
  timeout: 10m
  defaultMaxStores: 20
  lease: 1m
  defaultPlan: small
  workers: 8
  createRate: 0
  shutdownGrace: 2m
  logFormat: text
  logLevel: debug
database:
  secretName: pg-app
  secretKey: uri
auditKey:
  secretName: urumi-audit
  secretKey: key.hex
bootstrapToken:
  secretName: urumi-first-admin
  secretKey: admin-token
service:
  port: 80
ingress:
  enabled: true
  className: nginx
  host: urumi.example.org
  tlsSecretName: urumi-tls
  annotations:
    cert-manager.io/cluster-issuer: letsencrypt-prod
httpRoute:
  enabled: true
  hostnames: [urumi.example.org]
  parentRefs:
    - name: public
      namespace: gateways
      sectionName: https
networkPolicy:
  ingressFrom:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: ingress-nginx
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: monitoring
      podSelector:
        matchLabels:
          app.kubernetes.io/name: prometheus
  egress:
    apiServer:
      to:
        - ipBlock: {cidr: 10.0.0.10/32}
      ports: [6443]
    postgres:
      to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: databases
      ports: [5432]
podDisruptionBudget:
  maxUnavailable: 2
topologySpread:
  enabled: false
resources:
  requests: {cpu: 250m, memory: 256Mi}
  limits: {cpu: "2", memory: 1Gi}
metrics:
  serviceMonitor:
    interval: 15s
    labels:
      release: kube-prometheus-stack
nodeSelector:
  kubernetes.io/os: linux
`,
		wantRBAC: "urumi-prod", wantSA: "urumi-api", wantDomain: ".stores.example.org",
	},
	{
		name:      "urumi-minimal",
		namespace: "urumi",
		release:   "api",
		values: `
config:
  baseDomain: localhost
database:
  secretName: db
auditKey:
  secretName: audit
networkPolicy:
  enabled: false
podDisruptionBudget:
  enabled: false
metrics:
  enabled: false
rbac:
  create: false
`,
	},
}

func loadUrumi(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(urumiChartDir)
	if err != nil {
		t.Fatalf("load charts/urumi: %v", err)
	}
	return c
}

func parseValues(t *testing.T, s string) map[string]any {
	t.Helper()
	v, err := common.ReadValues([]byte(s))
	if err != nil {
		t.Fatalf("parse test values: %v", err)
	}
	return v.AsMap()
}

// renderUrumi renders the chart as `helm install` would for revision 1, in
// a cluster that serves ServiceMonitors if serviceMonitor.
func renderUrumi(t *testing.T, tc urumiCase, values map[string]any) (map[string]string, error) {
	t.Helper()
	return renderUrumiSchema(t, tc, values, true)
}

// renderUrumiSchema renders with or without the values schema, to show
// what the templates refuse on their own.
func renderUrumiSchema(t *testing.T, tc urumiCase, values map[string]any, schema bool) (map[string]string, error) {
	t.Helper()
	c := loadUrumi(t)
	caps := &common.Capabilities{
		KubeVersion: common.DefaultCapabilities.KubeVersion,
		APIVersions: slices.Clone(common.DefaultCapabilities.APIVersions),
	}
	if tc.serviceMonitor {
		caps.APIVersions = append(caps.APIVersions, "monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor")
	}
	opts := common.ReleaseOptions{Name: tc.release, Namespace: tc.namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(c, values, opts, caps, !schema)
	if err != nil {
		return nil, err
	}
	return engine.Engine{Strict: true}.RenderWithContext(context.Background(), c, top)
}

func TestUrumiLint(t *testing.T) {
	// As for the store chart: lint logs unset required values through slog.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	for _, tc := range append([]urumiCase{{name: "chart defaults", namespace: "urumi-system"}}, urumiCases...) {
		t.Run(tc.name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = tc.namespace
			result := lint.Run([]string{urumiChartDir}, parseValues(t, tc.values))
			for _, err := range result.Errors {
				t.Errorf("lint error: %v", err)
			}
			for _, m := range result.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %v", m)
				}
			}
			if result.TotalChartsLinted != 1 {
				t.Errorf("linted %d charts, want 1", result.TotalChartsLinted)
			}
		})
	}
}

func TestUrumiRenderGolden(t *testing.T) {
	for _, tc := range urumiCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := renderUrumi(t, tc, parseValues(t, tc.values))
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			got := joinTemplates(out)
			path := filepath.Join("testdata", tc.name+".golden")
			if updateGoldens() {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./charts -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("rendered chart differs from %s (run go test ./charts -update after checking the change):\n%s",
					path, lineDiff(string(want), got))
			}
		})
	}
}

// joinTemplates prints rendered templates in file order, as `helm template` does.
func joinTemplates(out map[string]string) string {
	names := slices.Sorted(maps.Keys(out))
	var b strings.Builder
	for _, name := range names {
		content := strings.TrimSpace(out[name])
		if content == "" || strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, content)
	}
	return b.String()
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %q\n  got:  %q", i+1, wl, gl)
		}
	}
	return "(no line differs)"
}

// documents splits rendered templates into YAML documents, keyed by kind
// and name ("Deployment/urumi"), strictly decoding nothing yet.
func documents(t *testing.T, out map[string]string) map[string][]byte {
	t.Helper()
	docs := map[string][]byte{}
	for name, content := range out {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(content)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			var u unstructured.Unstructured
			if err := yaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if u.Object == nil {
				continue
			}
			key := u.GetKind() + "/" + u.GetName()
			if _, dup := docs[key]; dup {
				t.Errorf("%s rendered twice", key)
			}
			docs[key] = doc
		}
	}
	return docs
}

// decodeStrict decodes doc into obj, refusing any field obj's type lacks.
func decodeStrict(t *testing.T, doc []byte, obj any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("decode %T: %v\n%s", obj, err, doc)
	}
}

// TestUrumiRBACEqualsUrumiRBAC holds the chart's ClusterRole, its binding,
// the admission policy and its binding equal, field by field, to what the
// functions behind `urumi rbac` build for the same service account, name
// and base domain (internal/cli/rbac.go's few lines of glue are repeated
// in wantRBAC).
func TestUrumiRBACEqualsUrumiRBAC(t *testing.T) {
	for _, tc := range urumiCases {
		if tc.wantRBAC == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			out, err := renderUrumi(t, tc, parseValues(t, tc.values))
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			docs := documents(t, out)
			subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: tc.namespace, Name: tc.wantSA}
			wantPolicy, wantPolicyBinding, err := provision.BoundaryPolicy(tc.wantRBAC, subject, tc.wantDomain)
			if err != nil {
				t.Fatal(err)
			}
			wantMeta := metav1.ObjectMeta{Name: tc.wantRBAC, Labels: map[string]string{provision.LabelManagedBy: provision.ManagedBy}}

			var role rbacv1.ClusterRole
			decodeStrict(t, need(t, docs, "ClusterRole/"+tc.wantRBAC), &role)
			checkMeta(t, role.TypeMeta, role.ObjectMeta, metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}, wantMeta)
			same(t, "ClusterRole rules", role.Rules, provision.Rules())
			if role.AggregationRule != nil {
				t.Errorf("ClusterRole has an aggregation rule: %v", role.AggregationRule)
			}

			var binding rbacv1.ClusterRoleBinding
			decodeStrict(t, need(t, docs, "ClusterRoleBinding/"+tc.wantRBAC), &binding)
			checkMeta(t, binding.TypeMeta, binding.ObjectMeta, metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"}, wantMeta)
			same(t, "ClusterRoleBinding roleRef", binding.RoleRef, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: tc.wantRBAC})
			same(t, "ClusterRoleBinding subjects", binding.Subjects, []rbacv1.Subject{subject})

			var policy admissionv1.ValidatingAdmissionPolicy
			decodeStrict(t, need(t, docs, "ValidatingAdmissionPolicy/"+tc.wantRBAC), &policy)
			checkMeta(t, policy.TypeMeta, policy.ObjectMeta, wantPolicy.TypeMeta, wantPolicy.ObjectMeta)
			same(t, "ValidatingAdmissionPolicy spec", policy.Spec, wantPolicy.Spec)

			var policyBinding admissionv1.ValidatingAdmissionPolicyBinding
			decodeStrict(t, need(t, docs, "ValidatingAdmissionPolicyBinding/"+tc.wantRBAC), &policyBinding)
			checkMeta(t, policyBinding.TypeMeta, policyBinding.ObjectMeta, wantPolicyBinding.TypeMeta, wantPolicyBinding.ObjectMeta)
			same(t, "ValidatingAdmissionPolicyBinding spec", policyBinding.Spec, wantPolicyBinding.Spec)

			// The service account the RBAC names is the one the pods run as.
			var sa corev1.ServiceAccount
			decodeStrict(t, need(t, docs, "ServiceAccount/"+tc.wantSA), &sa)
			if sa.Namespace != tc.namespace {
				t.Errorf("ServiceAccount namespace = %q, want %q", sa.Namespace, tc.namespace)
			}
		})
	}
}

func need(t *testing.T, docs map[string][]byte, key string) []byte {
	t.Helper()
	doc, ok := docs[key]
	if !ok {
		t.Fatalf("%s not rendered; rendered: %v", key, slices.Sorted(maps.Keys(docs)))
	}
	return doc
}

// checkMeta wants the type, the name, no namespace, and every label of
// want among got's (the chart adds its own: name, instance, version, chart).
func checkMeta(t *testing.T, gotType metav1.TypeMeta, got metav1.ObjectMeta, wantType metav1.TypeMeta, want metav1.ObjectMeta) {
	t.Helper()
	if gotType != wantType {
		t.Errorf("%s %s: type %v, want %v", gotType.Kind, got.Name, gotType, wantType)
	}
	if got.Name != want.Name || got.Namespace != "" {
		t.Errorf("%s: name %q namespace %q, want name %q and no namespace", gotType.Kind, got.Name, got.Namespace, want.Name)
	}
	for k, v := range want.Labels {
		if got.Labels[k] != v {
			t.Errorf("%s %s: label %s = %q, want %q", gotType.Kind, got.Name, k, got.Labels[k], v)
		}
	}
	if len(got.Annotations) > 0 {
		t.Errorf("%s %s: annotations %v, want none", gotType.Kind, got.Name, got.Annotations)
	}
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !equality.Semantic.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Errorf("%s differs from urumi rbac's:\n%s", what, lineDiff(string(w), string(g)))
	}
}

func TestUrumiRenderedManifests(t *testing.T) {
	restricted, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range urumiCases {
		t.Run(tc.name, func(t *testing.T) {
			values := parseValues(t, tc.values)
			out, err := renderUrumi(t, tc, values)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			docs := documents(t, out)
			var deploy appsv1.Deployment
			for key, doc := range docs {
				if strings.HasPrefix(key, "Deployment/") {
					decodeStrict(t, doc, &deploy)
				}
			}
			if deploy.Name == "" {
				t.Fatalf("no Deployment rendered: %v", slices.Sorted(maps.Keys(docs)))
			}
			pod := deploy.Spec.Template
			for _, r := range restricted.EvaluatePod(psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &pod.ObjectMeta, &pod.Spec) {
				if !r.Allowed {
					t.Errorf("Pod Security restricted forbids the pods: %s: %s", r.ForbiddenReason, r.ForbiddenDetail)
				}
			}
			if pod.Spec.AutomountServiceAccountToken == nil || !*pod.Spec.AutomountServiceAccountToken {
				t.Error("the pods do not mount their service account token, which urumi serve calls the API server with")
			}
			if len(pod.Spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
			}
			ctr := pod.Spec.Containers[0]
			sc := ctr.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
				t.Errorf("container security context %+v: want a read-only root filesystem as uid 65532", sc)
			}
			if ctr.LivenessProbe == nil || ctr.LivenessProbe.HTTPGet == nil || ctr.LivenessProbe.HTTPGet.Path != "/healthz" ||
				ctr.ReadinessProbe == nil || ctr.ReadinessProbe.HTTPGet == nil || ctr.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Error("want liveness on /healthz and readiness on /readyz")
			}

			// The database URL comes from its Secret, never a literal; the
			// audit key is a file of a 0400 Secret volume, named by URUMI_AUDIT_KEY.
			env := map[string]corev1.EnvVar{}
			for _, e := range ctr.Env {
				env[e.Name] = e
			}
			db := env["URUMI_DB"]
			if db.Value != "" || db.ValueFrom == nil || db.ValueFrom.SecretKeyRef == nil {
				t.Errorf("URUMI_DB = %+v: want it from a secretKeyRef", db)
			}
			// Each Secret mounted is a 0400 file named by its variable: the
			// audit key always, the bootstrap token when it is set.
			fileEnv := map[string]string{"audit-key": "URUMI_AUDIT_KEY", "bootstrap-token": "URUMI_BOOTSTRAP_TOKEN_FILE"}
			mounted := map[string]bool{}
			for _, v := range pod.Spec.Volumes {
				if v.Secret == nil {
					continue
				}
				name, ok := fileEnv[v.Name]
				if !ok {
					t.Errorf("Secret volume %s is none of urumi's files", v.Name)
					continue
				}
				mounted[name] = true
				if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o400 || len(v.Secret.Items) != 1 {
					t.Errorf("volume %s %+v: want one key of a Secret with defaultMode 0400", v.Name, v.Secret)
					continue
				}
				var path string
				for _, m := range ctr.VolumeMounts {
					if m.Name == v.Name && m.ReadOnly {
						path = m.MountPath + "/" + v.Secret.Items[0].Path
					}
				}
				if path == "" || env[name].Value != path {
					t.Errorf("%s = %q, want the mounted file %q", name, env[name].Value, path)
				}
			}
			if !mounted["URUMI_AUDIT_KEY"] {
				t.Error("the audit key is not mounted")
			}
			bootstrap, _ := values["bootstrapToken"].(map[string]any)
			if wantBoot := bootstrap["secretName"] != nil && bootstrap["secretName"] != ""; mounted["URUMI_BOOTSTRAP_TOKEN_FILE"] != wantBoot {
				t.Errorf("bootstrap token mounted: %v, want %v", mounted["URUMI_BOOTSTRAP_TOKEN_FILE"], wantBoot)
			}
			if _, ok := env["URUMI_BOOTSTRAP_TOKEN_FILE"]; ok != mounted["URUMI_BOOTSTRAP_TOKEN_FILE"] {
				t.Error("URUMI_BOOTSTRAP_TOKEN_FILE set without its file mounted")
			}
			// Every setting of urumi's is an environment variable; a
			// variable urumi does not read would be a typo.
			for name := range env {
				if !knownEnv[name] {
					t.Errorf("environment variable %s is none of urumi's settings", name)
				}
			}

			_, hasMonitor := docs["ServiceMonitor/"+deploy.Name]
			annotated := pod.Annotations["prometheus.io/scrape"] == "true"
			metrics, _ := values["metrics"].(map[string]any)
			metricsOn := metrics["enabled"] != false
			if metricsOn && hasMonitor == annotated {
				t.Errorf("ServiceMonitor rendered: %v, scrape annotations: %v; want exactly one", hasMonitor, annotated)
			}
			if hasMonitor != (metricsOn && tc.serviceMonitor) {
				t.Errorf("ServiceMonitor rendered: %v, want it only when the cluster serves ServiceMonitors", hasMonitor)
			}

			if doc, ok := docs["NetworkPolicy/"+deploy.Name]; ok {
				var np networkingv1.NetworkPolicy
				decodeStrict(t, doc, &np)
				for i, r := range np.Spec.Egress {
					if len(r.Ports) == 0 {
						t.Errorf("egress rule %d allows every port", i)
					}
				}
				for i, r := range np.Spec.Ingress {
					if len(r.Ports) != 1 {
						t.Errorf("ingress rule %d: ports %v, want urumi's port only", i, r.Ports)
					}
				}
			}
		})
	}
}

// knownEnv are the URUMI_* variables urumi reads (its global settings and
// serve's), and HOME.
var knownEnv = map[string]bool{
	"URUMI_DB": true, "URUMI_AUDIT_KEY": true, "URUMI_BASE_DOMAIN": true, "URUMI_INGRESS_CLASS": true,
	"URUMI_INGRESS_NAMESPACE": true, "URUMI_TLS_ISSUER": true, "URUMI_TIMEOUT": true,
	"URUMI_DEFAULT_MAX_STORES": true, "URUMI_LEASE": true, "URUMI_DEFAULT_PLAN": true,
	"URUMI_ADDR": true, "URUMI_WORKERS": true, "URUMI_CREATE_RATE": true, "URUMI_CREDENTIALS_RATE": true, "URUMI_SHUTDOWN_GRACE": true,
	"URUMI_LOG_FORMAT": true, "URUMI_LOG_LEVEL": true, "URUMI_BOOTSTRAP_TOKEN_FILE": true,
	"URUMI_ROUTE": true, "URUMI_GATEWAY_NAME": true, "URUMI_GATEWAY_NAMESPACE": true, "URUMI_GATEWAY_SECTION": true, "HOME": true,
}

// TestUrumiRefusesHostileValues: values that would break out of a YAML
// scalar or a CEL string literal of the admission policy, or widen it, are
// refused by the schema or the templates.
func TestUrumiRefusesHostileValues(t *testing.T) {
	base := urumiCases[0]
	for _, tc := range []struct {
		name      string
		namespace string
		values    string
		schema    bool   // false: the templates alone must refuse it
		want      string // in the error
	}{
		{name: "base domain closing the CEL string", values: `config: {baseDomain: 'x" || true || "y'}`, schema: true, want: "/config/baseDomain"},
		{name: "base domain with a newline", values: "config: {baseDomain: \"a.com\\nkind: Secret\"}", schema: true, want: "/config/baseDomain"},
		{name: "service account closing the CEL string", values: `serviceAccount: {name: 'a" || true || "b'}`, schema: true, want: "/serviceAccount/name"},
		{name: "rbac name with a space", values: `rbac: {name: "urumi x"}`, schema: true, want: "/rbac/name"},
		{name: "unknown key", values: `extra: 1`, schema: true, want: "'extra' not allowed"},
		{name: "unknown nested key", values: `networkPolicy: {egress: {smtp: {ports: [25]}}}`, schema: true, want: "'smtp' not allowed"},
		{name: "selector expression", values: `networkPolicy: {ingressFrom: [{podSelector: {matchExpressions: [{key: a, operator: Exists}]}}]}`, schema: true, want: "'matchExpressions' not allowed"},
		{name: "empty peer", values: `networkPolicy: {ingressFrom: [{}]}`, schema: true, want: "minProperties"},
		{name: "image with uppercase", values: `image: {repository: Registry/urumi}`, schema: true, want: "/image/repository"},
		{name: "Helm's annotation", values: `ingress: {annotations: {helm.sh/resource-policy: keep}}`, schema: true, want: "helm.sh/resource-policy"},
		{name: "zero replicas", values: `replicaCount: 0`, schema: true, want: "/replicaCount"},
		{name: "empty pull secret", values: `imagePullSecrets: [""]`, schema: true, want: "/imagePullSecrets/0"},
		{name: "gateway without a name", values: `httpRoute: {enabled: true, parentRefs: [{name: ""}]}`, schema: true, want: "/httpRoute/parentRefs/0/name"},
		{name: "database secret missing", values: `database: {secretName: ""}`, schema: true, want: "database.secretName is required"},
		{name: "base domain missing", values: `config: {baseDomain: ""}`, schema: true, want: "config.baseDomain is required"},
		{name: "ingress without host", values: `ingress: {enabled: true}`, schema: true, want: "ingress.host is required"},
		{name: "route without gateway", values: `httpRoute: {enabled: true}`, schema: true, want: "httpRoute.parentRefs is required"},
		{name: "hostile release namespace", namespace: `urumi" || true || "x`, schema: true, want: "release namespace"},
		// Past the schema (helm install --skip-schema-validation), the
		// names that reach the policy's CEL are still refused.
		{name: "no schema: base domain closing the CEL string", values: `config: {baseDomain: 'x" || true || "y'}`, want: "config.baseDomain"},
		{name: "no schema: service account closing the CEL string", values: `serviceAccount: {name: 'a" || true || "b'}`, want: "serviceAccount.name"},
		{name: "no schema: rbac name closing the CEL string", values: `rbac: {name: 'a" || true || "b'}`, want: "rbac.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.namespace != "" {
				c.namespace = tc.namespace
			}
			values := parseValues(t, base.values)
			override := parseValues(t, tc.values)
			merged := chartutil.CoalesceTables(override, values)
			_, err := renderUrumiSchema(t, c, merged, tc.schema)
			if err == nil {
				t.Fatalf("rendered with %s", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestUrumiInstall installs the chart through Helm's SDK onto the
// simulated cluster, into a namespace that enforces the restricted Pod
// Security level, and finds every object of the release; the pods become
// Ready and the admission policy, accepted and type-checked by the API
// server, refuses the chart's service account a write outside the stores.
func TestUrumiInstall(t *testing.T) {
	c := cluster.Get(t)
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, ic := range []struct {
		tc       urumiCase
		override string // over tc.values
		secrets  map[string]map[string]string
		kinds    []string
		replicas int
		monitor  bool // the cluster gets the Prometheus operator's ServiceMonitor kind first
		gateway  bool // the cluster gets the Gateway API's CRDs first
	}{
		{
			tc: urumiCases[0],
			secrets: map[string]map[string]string{
				"urumi-db":        {"url": "postgres://urumi@postgres.databases:5432/urumi"},
				"urumi-audit-key": {"audit-key": strings.Repeat("ab", 32)},
			},
			kinds: []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service",
				"ServiceAccount", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"},
			replicas: 2,
		},
		{
			// Everything but the ServiceMonitor, with the Gateway API's
			// CRDs installed for the HTTPRoute.
			tc: urumiCases[1],
			secrets: map[string]map[string]string{
				"pg-app":            {"uri": "postgres://urumi@postgres.databases:5432/urumi"},
				"urumi-audit":       {"key.hex": strings.Repeat("cd", 32)},
				"urumi-first-admin": {"admin-token": "urumi_0123456789ab_" + strings.Repeat("s", 43)},
			},
			kinds: []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "HTTPRoute", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "Service",
				"ServiceAccount", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"},
			replicas: 3,
			gateway:  true,
		},
		{
			// With the ServiceMonitor kind served, Helm's capabilities (from
			// the API server's discovery) make the chart render one.
			tc:       urumiCase{name: "monitored", namespace: "monitored", release: "urumi", wantRBAC: "monitored-urumi", wantSA: "urumi", values: urumiCases[0].values},
			override: "networkPolicy: {enabled: false}\npodDisruptionBudget: {enabled: false}\nreplicaCount: 1",
			secrets: map[string]map[string]string{
				"urumi-db":        {"url": "postgres://urumi@postgres.databases:5432/urumi"},
				"urumi-audit-key": {"audit-key": strings.Repeat("ef", 32)},
			},
			kinds: []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
				"ServiceAccount", "ServiceMonitor", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"},
			replicas: 1,
			monitor:  true,
		},
	} {
		t.Run(ic.tc.name, func(t *testing.T) {
			if ic.monitor {
				serveServiceMonitors(t, c)
			}
			if ic.gateway {
				if err := c.InstallGatewayAPI(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			values := chartutil.CoalesceTables(parseValues(t, ic.override), parseValues(t, ic.tc.values))
			installOnCluster(t, c, client, ic.tc, values, ic.secrets, ic.kinds, ic.replicas)
		})
	}
}

// serveServiceMonitors adds a stand-in for the Prometheus operator's
// ServiceMonitor CRD (its group, version and kind; any content) and waits
// until the API server serves it.
func serveServiceMonitors(t *testing.T, c *simcluster.Cluster) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {plural: servicemonitors, singular: servicemonitor, kind: ServiceMonitor, listKind: ServiceMonitorList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`), &crd.Object); err != nil {
		t.Fatal(err)
	}
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := crds.Create(t.Context(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "the ServiceMonitor CRD to be established", func() (bool, error) {
		got, err := crds.Get(t.Context(), crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, cond := range conds {
			if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}

func installOnCluster(t *testing.T, c *simcluster.Cluster, client kubernetes.Interface, tc urumiCase, values map[string]any,
	secrets map[string]map[string]string, want []string, replicas int) {
	t.Helper()
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tc.namespace, Labels: map[string]string{
		psaapi.EnforceLevelLabel: string(psaapi.LevelRestricted),
	}}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, data := range secrets {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}
		if _, err := client.CoreV1().Secrets(tc.namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &c.Kubeconfig, &tc.namespace
	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.DiscardHandler)
	if err := cfg.Init(flags, tc.namespace, "secret"); err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = tc.release, tc.namespace
	in.WaitStrategy, in.Timeout = kube.StatusWatcherStrategy, 2*time.Minute
	ch, err := loader.Load(urumiChartDir)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := in.RunWithContext(ctx, ch, values)
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	installed, ok := rel.(*releasev1.Release)
	if !ok {
		t.Fatalf("helm install returned a %T", rel)
	}

	// Every object of the manifest exists.
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))
	var kinds []string
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(installed.Manifest)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &u.Object); err != nil || u.Object == nil {
			continue
		}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Errorf("%s: %v", gvk, err)
			continue
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if u.GetNamespace() != "" {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		if _, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{}); err != nil {
			t.Errorf("%s %s after install: %v", gvk.Kind, u.GetName(), err)
		}
		kinds = append(kinds, gvk.Kind)
	}
	sort.Strings(kinds)
	if !slices.Equal(kinds, want) {
		t.Errorf("release objects %v, want %v", kinds, want)
	}

	// The pods are Ready (Helm waited for the Deployment; kwok plays the kubelet).
	pods, err := client.CoreV1().Pods(tc.namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + tc.release})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	monitored := slices.Contains(want, "ServiceMonitor")
	for _, p := range pods.Items {
		if annotated := p.Annotations["prometheus.io/scrape"] == "true"; annotated == monitored {
			t.Errorf("pod %s: scrape annotations %v with a ServiceMonitor %v: want exactly one way to scrape", p.Name, annotated, monitored)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if ready != replicas {
		t.Errorf("%d of %d pods Ready, want %d", ready, len(pods.Items), replicas)
	}

	// The API server type-checked the policy's expressions without a warning.
	var policy *admissionv1.ValidatingAdmissionPolicy
	poll(t, 30*time.Second, "the admission policy's type check", func() (bool, error) {
		policy, err = client.AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, tc.wantRBAC, metav1.GetOptions{})
		return err == nil && policy.Status.TypeChecking != nil, err
	})
	if w := policy.Status.TypeChecking.ExpressionWarnings; len(w) > 0 {
		t.Errorf("the API server warns about the policy's expressions: %v", w)
	}

	// As the chart's service account, which RBAC lets write ConfigMaps
	// anywhere, a ConfigMap outside the stores is refused by the policy.
	as := rest.CopyConfig(c.Config)
	as.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + tc.namespace + ":" + tc.wantSA}
	saClient, err := kubernetes.NewForConfig(as)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "the admission policy to refuse the service account", func() (bool, error) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "outside-"}}
		made, err := saClient.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
		if err == nil {
			// Not in force yet: take it away and ask again.
			_ = client.CoreV1().ConfigMaps("default").Delete(ctx, made.Name, metav1.DeleteOptions{})
			return false, nil
		}
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "urumi may write only in its stores' namespaces") {
			return true, nil
		}
		return false, fmt.Errorf("create a ConfigMap in default as the service account: %w", err)
	})

	un := action.NewUninstall(cfg)
	un.WaitStrategy, un.Timeout = kube.StatusWatcherStrategy, time.Minute
	if _, err := un.Run(tc.release); err != nil {
		t.Errorf("helm uninstall: %v", err)
	}
	if _, err := client.RbacV1().ClusterRoles().Get(ctx, tc.wantRBAC, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRole after uninstall: %v, want not found", err)
	}
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
