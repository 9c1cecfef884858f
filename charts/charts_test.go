package charts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	testRelease   = "shop"
	testNamespace = "store-shop"
	testSecret    = "shop-credentials"
)

// renderCases are the value sets rendered into testdata/<name>.golden.
var renderCases = []struct {
	name   string
	values string
}{
	{
		name: "defaults",
		values: `
credentialsSecret: shop-credentials
host: shop.stores.example.com
`,
	},
	{
		name: "tls-custom-class",
		values: `
credentialsSecret: shop-credentials
host: shop.stores.example.com
ingress:
  className: traefik
  tlsIssuer: letsencrypt-prod
  annotations:
    traefik.ingress.kubernetes.io/router.middlewares: store-shop-headers@kubernetescrd
site:
  title: Shop of Things
admin:
  user: owner
  email: owner@example.com
woocommerce:
  version: 10.1.2
`,
	},
	{
		// Strings that would break out of an unquoted scalar, each accepted
		// by the schema: they must render as one quoted value.
		name: "awkward-strings",
		values: `
credentialsSecret: shop-credentials
host: shop.stores.example.com
ingress:
  annotations:
    example.com/note: "a: b # c {{ .Release.Namespace }} \"d\" 'e' *f &g !h"
site:
  title: 'Shop "A" {{ .Release.Namespace }}: #1 & *more* - ''quoted'''
admin:
  user: shop.owner@example
  email: owner+shop@example.co.uk
woocommerce:
  version: 10.1.2-beta.1
`,
	},
	{
		// Routed through a Gateway API Gateway instead of an Ingress.
		name: "gateway",
		values: `
credentialsSecret: shop-credentials
host: shop.stores.example.com
ingress:
  enabled: false
gateway:
  enabled: true
  name: public
  namespace: gateways
  sectionName: https
`,
	},
	{
		name: "overrides",
		values: `
credentialsSecret: shop-credentials
host: shop.stores.example.com
ingress:
  enabled: false
site:
  scheme: https
images:
  pullPolicy: Always
  wordpress:
    repository: registry.example.com/mirror/wordpress
    tag: 7.1.2-php8.4-apache
    digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  cli:
    repository: registry.example.com/mirror/wordpress
    tag: cli-2.12.0-php8.4
  mariadb:
    repository: registry.example.com/mirror/mariadb
    tag: "11.4.13"
resources:
  wordpress:
    requests: {cpu: 500m, memory: 512Mi}
    limits: {cpu: "2", memory: 2Gi}
  mariadb:
    requests: {cpu: 500m, memory: 1Gi}
    limits: {cpu: "2", memory: 2Gi}
  setup:
    requests: {cpu: 200m, memory: 256Mi}
    limits: {cpu: "1", memory: 768Mi}
  cron:
    requests: {cpu: 20m, memory: 96Mi}
    limits: {cpu: 200m, memory: 384Mi}
storage:
  className: longhorn
  wordpress:
    size: 20Gi
  mariadb:
    size: 10Gi
setup:
  backoffLimit: 2
  activeDeadlineSeconds: 600
cron:
  schedule: "*/5 * * * *"
  startingDeadlineSeconds: 300
  activeDeadlineSeconds: 900
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 2
`,
	},
	{
		// WP-Cron back on page loads: no CronJob, no DISABLE_WP_CRON.
		name: "cron-disabled",
		values: `
credentialsSecret: shop-credentials
host: shop.stores.example.com
cron:
  enabled: false
`,
	},
}

func readValues(t *testing.T, s string) map[string]any {
	t.Helper()
	v, err := common.ReadValues([]byte(s))
	if err != nil {
		t.Fatalf("parse test values: %v", err)
	}
	return v.AsMap()
}

// render renders the store chart the way `helm install` would for revision 1.
func render(t *testing.T, values map[string]any) (map[string]string, error) {
	t.Helper()
	c, err := Store()
	if err != nil {
		t.Fatalf("Store(): %v", err)
	}
	opts := common.ReleaseOptions{Name: testRelease, Namespace: testNamespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValues(c, values, opts, nil)
	if err != nil {
		return nil, err
	}
	return engine.Engine{}.RenderWithContext(context.Background(), c, top)
}

func TestStoreLoads(t *testing.T) {
	c, err := Store()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("chart metadata invalid: %v", err)
	}
	if c.Name() != StoreChartName {
		t.Errorf("chart name = %q, want %q", c.Name(), StoreChartName)
	}
	if len(c.Templates) == 0 || c.Values == nil || c.Schema == nil {
		t.Errorf("chart loaded without templates, values or schema: %d templates", len(c.Templates))
	}
	for _, f := range c.Files {
		if f.Name == "files/setup.sh" {
			return
		}
	}
	t.Error("files/setup.sh missing from the embedded chart")
}

func TestLint(t *testing.T) {
	// Lint mode logs every unset required value through slog; with the chart
	// defaults that is expected, and Helm reports real problems as messages.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))

	for _, tc := range []struct {
		name   string
		values map[string]any
	}{
		{"chart defaults", nil},
		{"store values", readValues(t, renderCases[1].values)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = testNamespace
			result := lint.Run([]string{"store"}, tc.values)
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

func TestRenderGolden(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := render(t, readValues(t, tc.values))
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			got := joinRendered(out)
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
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
					path, firstDiff(string(want), got))
			}
		})
	}
}

// joinRendered prints rendered templates in file order, as `helm template` does.
func joinRendered(out map[string]string) string {
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		content := strings.TrimSpace(out[name])
		if content == "" {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, content)
	}
	return b.String()
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
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

// manifests holds the decoded objects of one render.
type manifests struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	jobs         []batchv1.Job
	cronJobs     []batchv1.CronJob
	services     []corev1.Service
	claims       []corev1.PersistentVolumeClaim
	configMaps   []corev1.ConfigMap
	ingresses    []networkingv1.Ingress
	httpRoutes   []gwapiv1.HTTPRoute
	all          []metav1.ObjectMeta
}

// decode parses every rendered manifest strictly into its k8s.io/api type, so
// a misspelt or misplaced field fails the test.
func decode(t *testing.T, out map[string]string) manifests {
	t.Helper()
	var m manifests
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
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var obj any
			switch tm.APIVersion + "/" + tm.Kind {
			case "apps/v1/Deployment":
				m.deployments = append(m.deployments, appsv1.Deployment{})
				obj = &m.deployments[len(m.deployments)-1]
			case "apps/v1/StatefulSet":
				m.statefulSets = append(m.statefulSets, appsv1.StatefulSet{})
				obj = &m.statefulSets[len(m.statefulSets)-1]
			case "batch/v1/Job":
				m.jobs = append(m.jobs, batchv1.Job{})
				obj = &m.jobs[len(m.jobs)-1]
			case "batch/v1/CronJob":
				m.cronJobs = append(m.cronJobs, batchv1.CronJob{})
				obj = &m.cronJobs[len(m.cronJobs)-1]
			case "v1/Service":
				m.services = append(m.services, corev1.Service{})
				obj = &m.services[len(m.services)-1]
			case "v1/PersistentVolumeClaim":
				m.claims = append(m.claims, corev1.PersistentVolumeClaim{})
				obj = &m.claims[len(m.claims)-1]
			case "v1/ConfigMap":
				m.configMaps = append(m.configMaps, corev1.ConfigMap{})
				obj = &m.configMaps[len(m.configMaps)-1]
			case "networking.k8s.io/v1/Ingress":
				m.ingresses = append(m.ingresses, networkingv1.Ingress{})
				obj = &m.ingresses[len(m.ingresses)-1]
			case "gateway.networking.k8s.io/v1/HTTPRoute":
				m.httpRoutes = append(m.httpRoutes, gwapiv1.HTTPRoute{})
				obj = &m.httpRoutes[len(m.httpRoutes)-1]
			default:
				t.Fatalf("%s: unexpected object %s %s (a chart that renders Secrets or other kinds needs review)", name, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s: %s: %v", name, tm.Kind, err)
			}
			var meta struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatal(err)
			}
			m.all = append(m.all, meta.Metadata)
		}
	}
	return m
}

// podTemplate is one pod template of a workload, with the component it
// must be labelled with.
type podTemplate struct {
	owner     string
	component string
	template  corev1.PodTemplateSpec
}

func (m manifests) podTemplates() []podTemplate {
	var pts []podTemplate
	for _, d := range m.deployments {
		pts = append(pts, podTemplate{"Deployment/" + d.Name, ComponentWordPress, d.Spec.Template})
	}
	for _, s := range m.statefulSets {
		pts = append(pts, podTemplate{"StatefulSet/" + s.Name, ComponentMariaDB, s.Spec.Template})
	}
	for _, j := range m.jobs {
		pts = append(pts, podTemplate{"Job/" + j.Name, ComponentSetup, j.Spec.Template})
	}
	for _, c := range m.cronJobs {
		pts = append(pts, podTemplate{"CronJob/" + c.Name, ComponentCron, c.Spec.JobTemplate.Spec.Template})
	}
	return pts
}

// credentialEnv matches names of variables that carry a credential.
var credentialEnv = regexp.MustCompile(`PASSWORD|_KEY$|_SALT$|SECRET|TOKEN`)

func TestRenderedManifests(t *testing.T) {
	restricted, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			values := readValues(t, tc.values)
			out, err := render(t, values)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			m := decode(t, out)

			if len(m.deployments) != 1 || len(m.statefulSets) != 1 || len(m.jobs) != 1 {
				t.Fatalf("want one Deployment, StatefulSet and Job; got %d, %d, %d",
					len(m.deployments), len(m.statefulSets), len(m.jobs))
			}
			wantCron := lookup(values, "cron", "enabled") != "false"
			if n := len(m.cronJobs); n != map[bool]int{true: 1, false: 0}[wantCron] {
				t.Fatalf("%d CronJobs with cron.enabled=%v", n, wantCron)
			}

			usedKeys := map[string]bool{}
			for _, pt := range m.podTemplates() {
				checkPodTemplate(t, pt, usedKeys)
				results := restricted.EvaluatePod(
					psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()},
					&pt.template.ObjectMeta, &pt.template.Spec)
				for _, r := range results {
					if !r.Allowed {
						t.Errorf("%s: Pod Security restricted forbids it: %s: %s", pt.owner, r.ForbiddenReason, r.ForbiddenDetail)
					}
				}
			}
			for _, key := range SecretKeys() {
				if !usedKeys[key] {
					t.Errorf("Secret key %q is never read by the chart", key)
				}
			}

			// No object of the release may be a hook: Helm must wait for all
			// of them, the setup Job included, as part of the release.
			for _, meta := range m.all {
				for k := range meta.Annotations {
					if strings.HasPrefix(k, "helm.sh/hook") {
						t.Errorf("%s carries hook annotation %s", meta.Name, k)
					}
				}
			}

			checkServices(t, m)
			checkWorkloads(t, m, values)
			checkSetup(t, m, values)
			checkCron(t, m, values)
			checkIngress(t, m, values)
			checkHTTPRoute(t, m, values)
		})
	}
}

func checkPodTemplate(t *testing.T, pt podTemplate, usedKeys map[string]bool) {
	t.Helper()
	labels := pt.template.Labels
	for k, want := range map[string]string{
		LabelInstance:  testRelease,
		LabelPartOf:    PartOfStore,
		LabelManagedBy: "Helm",
		LabelComponent: pt.component,
	} {
		if labels[k] != want {
			t.Errorf("%s: pod label %s = %q, want %q", pt.owner, k, labels[k], want)
		}
	}

	spec := pt.template.Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false", pt.owner)
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks must be false", pt.owner)
	}
	psc := spec.SecurityContext
	if psc == nil {
		t.Fatalf("%s: no pod securityContext", pt.owner)
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: runAsNonRoot must be true", pt.owner)
	}
	if psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: runAsUser must be a non-root uid", pt.owner)
	}
	if psc.FSGroup == nil {
		t.Errorf("%s: fsGroup must be set so the volume is writable", pt.owner)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile must be RuntimeDefault", pt.owner)
	}

	containers := append(slices.Clone(spec.InitContainers), spec.Containers...)
	for _, c := range containers {
		where := pt.owner + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", where)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", where)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities must drop ALL and add none", where)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: must not be privileged", where)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() ||
			c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: needs cpu and memory requests and limits (the namespace has a ResourceQuota)", where)
		}
		if c.ImagePullPolicy == "" {
			t.Errorf("%s: imagePullPolicy not set", where)
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				ref := e.ValueFrom.SecretKeyRef
				if ref.Name != testSecret {
					t.Errorf("%s: env %s reads Secret %q, want credentialsSecret %q", where, e.Name, ref.Name, testSecret)
				}
				if !slices.Contains(SecretKeys(), ref.Key) {
					t.Errorf("%s: env %s reads unknown Secret key %q", where, e.Name, ref.Key)
				}
				usedKeys[ref.Key] = true
				continue
			}
			if credentialEnv.MatchString(e.Name) {
				t.Errorf("%s: credential env %s must come from the credentials Secret, not a literal value", where, e.Name)
			}
		}
		if len(c.EnvFrom) > 0 {
			t.Errorf("%s: envFrom would import unreviewed variables", where)
		}
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("%s: hostPath volume %s", pt.owner, v.Name)
		}
	}
}

func checkServices(t *testing.T, m manifests) {
	t.Helper()
	services := map[string]corev1.Service{}
	for _, s := range m.services {
		services[s.Name] = s
	}
	for _, want := range []struct {
		name, component, targetPort string
		port                        int32
	}{
		{"mariadb", ComponentMariaDB, "mysql", MariaDBPort},
		{"wordpress", ComponentWordPress, "http", 80},
	} {
		s, ok := services[want.name]
		if !ok {
			t.Errorf("no Service %s", want.name)
			continue
		}
		if s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service %s type = %q, want ClusterIP", s.Name, s.Spec.Type)
		}
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Port != want.port || s.Spec.Ports[0].TargetPort.StrVal != want.targetPort {
			t.Errorf("Service %s ports = %+v, want %d -> %s", s.Name, s.Spec.Ports, want.port, want.targetPort)
		}
		if s.Spec.Selector[LabelComponent] != want.component || s.Spec.Selector[LabelInstance] != testRelease {
			t.Errorf("Service %s selector = %v", s.Name, s.Spec.Selector)
		}
	}
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func checkWorkloads(t *testing.T, m manifests, values map[string]any) {
	t.Helper()
	d := m.deployments[0]
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("wordpress strategy = %q, want Recreate (ReadWriteOnce volume)", d.Spec.Strategy.Type)
	}
	wp := d.Spec.Template.Spec.Containers[0]
	if p := containerPort(wp, "http"); p != WordPressPort {
		t.Errorf("wordpress http port = %d, want %d", p, WordPressPort)
	}
	if wp.StartupProbe == nil || wp.ReadinessProbe == nil || wp.LivenessProbe == nil {
		t.Error("wordpress needs startup, readiness and liveness probes")
	} else if grace := wp.StartupProbe.PeriodSeconds * wp.StartupProbe.FailureThreshold; grace < 300 {
		t.Errorf("wordpress startup grace = %ds, want at least 300s", grace)
	}
	if *d.Spec.Template.Spec.SecurityContext.RunAsUser != 33 {
		t.Error("wordpress must run as www-data (33)")
	}

	s := m.statefulSets[0]
	if s.Spec.ServiceName != "mariadb" || len(s.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("mariadb StatefulSet: serviceName %q, %d claim templates", s.Spec.ServiceName, len(s.Spec.VolumeClaimTemplates))
	}
	db := s.Spec.Template.Spec.Containers[0]
	if p := containerPort(db, "mysql"); p != MariaDBPort {
		t.Errorf("mariadb port = %d, want %d", p, MariaDBPort)
	}
	if db.StartupProbe == nil || db.ReadinessProbe == nil || db.LivenessProbe == nil {
		t.Error("mariadb needs startup, readiness and liveness probes")
	}
	if *s.Spec.Template.Spec.SecurityContext.RunAsUser != 999 {
		t.Error("mariadb must run as mysql (999)")
	}

	j := m.jobs[0]
	if j.Name != "wordpress-setup-1" {
		t.Errorf("Job name = %q, want wordpress-setup-1 (one Job per revision)", j.Name)
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("Job restartPolicy = %q", j.Spec.Template.Spec.RestartPolicy)
	}
	aff := j.Spec.Template.Spec.Affinity
	if aff == nil || aff.PodAffinity == nil || len(aff.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatal("setup Job needs a required podAffinity to the WordPress pod")
	}
	term := aff.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0]
	if term.TopologyKey != "kubernetes.io/hostname" || term.LabelSelector.MatchLabels[LabelComponent] != ComponentWordPress {
		t.Errorf("setup Job affinity term = %+v", term)
	}
	claims := map[string]bool{}
	for _, v := range j.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.PersistentVolumeClaim.ClaimName] = true
		}
	}
	if len(m.claims) != 1 || !claims[m.claims[0].Name] {
		t.Errorf("setup Job must mount the WordPress claim; claims %v", claims)
	}
	if m.claims[0].Spec.AccessModes[0] != corev1.ReadWriteOnce {
		t.Errorf("wordpress claim access modes = %v", m.claims[0].Spec.AccessModes)
	}

	wantClass := lookup(values, "storage", "className")
	for _, spec := range []corev1.PersistentVolumeClaimSpec{m.claims[0].Spec, s.Spec.VolumeClaimTemplates[0].Spec} {
		if got := ptr.Deref(spec.StorageClassName, ""); got != wantClass {
			t.Errorf("storageClassName = %q, want %q", got, wantClass)
		}
	}
}

// effective is values over the chart's defaults, as the templates see them.
func effective(t *testing.T, values map[string]any) map[string]any {
	t.Helper()
	c, err := Store()
	if err != nil {
		t.Fatal(err)
	}
	v, err := chartutil.CoalesceValues(c, values)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func configMapData(t *testing.T, m manifests, name, key string) string {
	t.Helper()
	for _, c := range m.configMaps {
		if c.Name == name {
			return c.Data[key]
		}
	}
	t.Fatalf("no ConfigMap %s", name)
	return ""
}

func env(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func mountPath(c corev1.Container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}

// checkSetup: the setup Job learns the wordpress image's WordPress release
// from a first container of that image, and runs the chart's setup script,
// which updates core and WooCommerce with their databases.
func checkSetup(t *testing.T, m manifests, values map[string]any) {
	t.Helper()
	values = effective(t, values)
	spec := m.jobs[0].Spec.Template.Spec
	if len(spec.InitContainers) != 1 || len(spec.Containers) != 1 {
		t.Fatalf("setup Job has %d init containers and %d containers, want 1 and 1", len(spec.InitContainers), len(spec.Containers))
	}
	init, setup := spec.InitContainers[0], spec.Containers[0]
	images := values["images"].(map[string]any)
	if want := imageRef(images["wordpress"]); init.Image != want {
		t.Errorf("setup Job's first container runs %q, want the wordpress image %q (it says the WordPress release)", init.Image, want)
	}
	if want := imageRef(images["cli"]); setup.Image != want {
		t.Errorf("setup container runs %q, want the wp-cli image %q", setup.Image, want)
	}
	file, ok := env(setup, "IMAGE_WORDPRESS_VERSION_FILE")
	if !ok || !strings.HasPrefix(file.Value, "/tmp/") {
		t.Fatalf("setup container's IMAGE_WORDPRESS_VERSION_FILE = %+v, want a file under /tmp", file)
	}
	if mountPath(init, "tmp") != "/tmp" || mountPath(setup, "tmp") != "/tmp" {
		t.Errorf("the tmp volume is mounted at %q and %q, want /tmp in both containers", mountPath(init, "tmp"), mountPath(setup, "tmp"))
	}
	cmd := strings.Join(init.Command, " ")
	if !strings.Contains(cmd, "$WORDPRESS_VERSION") && !strings.Contains(cmd, "${WORDPRESS_VERSION") || !strings.Contains(cmd, "> "+file.Value) {
		t.Errorf("setup Job's first container runs %q, want it to write WORDPRESS_VERSION to %s", cmd, file.Value)
	}
	if !reflectEqualResources(init.Resources, setup.Resources) {
		t.Errorf("setup Job's first container has resources %v, want the setup container's %v (the quota counts the larger)", init.Resources, setup.Resources)
	}
	if init.SecurityContext == nil || init.SecurityContext.ReadOnlyRootFilesystem == nil || !*init.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("setup Job's first container needs a read-only root filesystem")
	}

	script := configMapData(t, m, "wordpress-setup", "setup.sh")
	file2, err := os.ReadFile(filepath.Join("store", "files", "setup.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if script != string(file2) {
		t.Error("the rendered setup.sh differs from files/setup.sh")
	}
	// The application's upgrade steps, in order: core, its database,
	// WooCommerce, its database.
	last := -1
	for _, step := range []string{
		`wp core update --version="$image"`,
		"wp core update-db",
		`wp plugin install woocommerce --version="$WOOCOMMERCE_VERSION" --force`,
		"wp wc update",
	} {
		i := strings.Index(script, step)
		if i < 0 {
			t.Errorf("the rendered setup script lacks %q", step)
			continue
		}
		if i < last {
			t.Errorf("the rendered setup script runs %q too early", step)
		}
		last = i
	}
}

func imageRef(v any) string {
	m := v.(map[string]any)
	ref := fmt.Sprint(m["repository"])
	if tag := fmt.Sprint(m["tag"]); tag != "" {
		ref += ":" + tag
	}
	if d, _ := m["digest"].(string); d != "" {
		ref += "@" + d
	}
	return ref
}

func reflectEqualResources(a, b corev1.ResourceRequirements) bool {
	for _, pair := range [][2]corev1.ResourceList{{a.Requests, b.Requests}, {a.Limits, b.Limits}} {
		if len(pair[0]) != len(pair[1]) {
			return false
		}
		for k, v := range pair[0] {
			if w, ok := pair[1][k]; !ok || v.Cmp(w) != 0 {
				return false
			}
		}
	}
	return true
}

// checkCron: with cron.enabled, page loads no longer run WP-Cron and a
// CronJob runs it, one run at a time, as the setup Job runs (on the
// WordPress pod's node, with the WordPress volume and the same
// configuration); without, neither.
func checkCron(t *testing.T, m manifests, values map[string]any) {
	t.Helper()
	values = effective(t, values)
	cron := values["cron"].(map[string]any)
	var wantExtra string
	if cron["enabled"] == true {
		wantExtra = "define('DISABLE_WP_CRON', true);"
	}
	containers := []corev1.Container{m.deployments[0].Spec.Template.Spec.Containers[0], m.jobs[0].Spec.Template.Spec.Containers[0]}
	for _, c := range m.cronJobs {
		containers = append(containers, c.Spec.JobTemplate.Spec.Template.Spec.Containers...)
	}
	for _, c := range containers {
		if e, _ := env(c, "WORDPRESS_CONFIG_EXTRA"); e.Value != wantExtra || e.ValueFrom != nil {
			t.Errorf("container %s: WORDPRESS_CONFIG_EXTRA = %q, want %q", c.Name, e.Value, wantExtra)
		}
	}
	if cron["enabled"] != true {
		for _, c := range m.configMaps {
			if c.Name == "wordpress-cron" {
				t.Error("cron.enabled=false still renders the cron script")
			}
		}
		return
	}

	cj := m.cronJobs[0]
	if cj.Name != "wordpress-cron" || cj.Labels[LabelComponent] != ComponentCron {
		t.Errorf("CronJob %s labelled component %q, want wordpress-cron, %s", cj.Name, cj.Labels[LabelComponent], ComponentCron)
	}
	num := func(k string) int64 {
		switch v := cron[k].(type) {
		case int64:
			return v
		case float64:
			return int64(v)
		case int:
			return int64(v)
		}
		t.Fatalf("cron.%s = %T", k, cron[k])
		return 0
	}
	spec := cj.Spec
	if spec.Schedule != cron["schedule"] {
		t.Errorf("schedule %q, want %q", spec.Schedule, cron["schedule"])
	}
	if spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid: runs must not overlap", spec.ConcurrencyPolicy)
	}
	if ptr.Deref(spec.StartingDeadlineSeconds, 0) != num("startingDeadlineSeconds") {
		t.Errorf("startingDeadlineSeconds %v, want %d", spec.StartingDeadlineSeconds, num("startingDeadlineSeconds"))
	}
	if int64(ptr.Deref(spec.SuccessfulJobsHistoryLimit, -1)) != num("successfulJobsHistoryLimit") ||
		int64(ptr.Deref(spec.FailedJobsHistoryLimit, -1)) != num("failedJobsHistoryLimit") {
		t.Errorf("history limits %v/%v, want the values'", spec.SuccessfulJobsHistoryLimit, spec.FailedJobsHistoryLimit)
	}
	job := spec.JobTemplate.Spec
	if ptr.Deref(job.BackoffLimit, -1) != 0 {
		t.Errorf("backoffLimit %v, want 0: the next run is the retry", job.BackoffLimit)
	}
	if ptr.Deref(job.ActiveDeadlineSeconds, 0) != num("activeDeadlineSeconds") {
		t.Errorf("activeDeadlineSeconds %v, want %d", job.ActiveDeadlineSeconds, num("activeDeadlineSeconds"))
	}
	if spec.JobTemplate.Labels[LabelComponent] != ComponentCron {
		t.Errorf("the cron job's Jobs are labelled %v, want component %s", spec.JobTemplate.Labels, ComponentCron)
	}
	pod := job.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("cron pod restartPolicy %q, want Never", pod.RestartPolicy)
	}
	setupPod := m.jobs[0].Spec.Template.Spec
	if !reflect.DeepEqual(pod.Affinity, setupPod.Affinity) || pod.Affinity == nil {
		t.Errorf("cron pod affinity %+v, want the setup Job's (the WordPress volume is ReadWriteOnce)", pod.Affinity)
	}
	if !reflect.DeepEqual(pod.SecurityContext, setupPod.SecurityContext) {
		t.Errorf("cron pod security context %+v, want the setup Job's", pod.SecurityContext)
	}
	claims := map[string]string{}
	for _, v := range pod.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
		case v.ConfigMap != nil:
			claims[v.Name] = "configmap/" + v.ConfigMap.Name
		}
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("cron pod has %d containers and %d init containers, want one container", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	if claims["data"] != m.claims[0].Name || mountPath(c, "data") != "/var/www/html" {
		t.Errorf("cron container mounts %q at %q, want the WordPress claim at /var/www/html", claims["data"], mountPath(c, "data"))
	}
	if want := imageRef(values["images"].(map[string]any)["cli"]); c.Image != want {
		t.Errorf("cron container runs %q, want the wp-cli image %q", c.Image, want)
	}
	if claims["script"] != "configmap/wordpress-cron" || strings.Join(c.Command, " ") != "/bin/sh "+mountPath(c, "script")+"/cron.sh" {
		t.Errorf("cron container runs %q with script volume %q", c.Command, claims["script"])
	}
	if c.SecurityContext == nil || !ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false) {
		t.Error("cron container needs a read-only root filesystem")
	}
	// Resources from resources.cron.
	res := values["resources"].(map[string]any)["cron"].(map[string]any)
	for _, kind := range []string{"requests", "limits"} {
		list := c.Resources.Requests
		if kind == "limits" {
			list = c.Resources.Limits
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			want := resource.MustParse(fmt.Sprint(res[kind].(map[string]any)[string(r)]))
			if got := list[r]; got.Cmp(want) != 0 {
				t.Errorf("cron container %s.%s = %s, want %s (resources.cron)", kind, r, got.String(), want.String())
			}
		}
	}
	if e, _ := env(c, "CONTAINER_MEMORY_MIB"); e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil ||
		e.ValueFrom.ResourceFieldRef.ContainerName != c.Name || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("cron container's CONTAINER_MEMORY_MIB = %+v, want its own memory limit", e)
	}
	// The same WordPress configuration as WordPress itself: every
	// variable of wp-config.php, credentials through the Secret.
	wp := m.deployments[0].Spec.Template.Spec.Containers[0]
	for _, e := range wp.Env {
		got, ok := env(c, e.Name)
		if !ok || !reflect.DeepEqual(got, e) {
			t.Errorf("cron container's %s = %+v, want WordPress' %+v", e.Name, got, e)
		}
	}
	script := configMapData(t, m, "wordpress-cron", "cron.sh")
	file, err := os.ReadFile(filepath.Join("store", "files", "cron.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if script != string(file) || !strings.Contains(script, "wp cron event run --due-now") {
		t.Error("the rendered cron.sh differs from files/cron.sh, or does not run the due events")
	}
}

func checkIngress(t *testing.T, m manifests, values map[string]any) {
	t.Helper()
	if lookup(values, "ingress", "enabled") == "false" {
		if len(m.ingresses) != 0 {
			t.Error("ingress.enabled=false still renders an Ingress")
		}
		return
	}
	if len(m.ingresses) != 1 {
		t.Fatalf("want one Ingress, got %d", len(m.ingresses))
	}
	ing := m.ingresses[0]
	wantClass := lookup(values, "ingress", "className")
	if wantClass == "" {
		wantClass = "nginx"
	}
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != wantClass {
		t.Errorf("ingressClassName = %q, want %q", ptr.Deref(ing.Spec.IngressClassName, "<unset>"), wantClass)
	}
	host := lookup(values, "host")
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != host {
		t.Fatalf("Ingress rules = %+v, want one for %s", ing.Spec.Rules, host)
	}
	backend := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if backend.Name != "wordpress" || backend.Port.Number != 80 {
		t.Errorf("Ingress backend = %+v, want wordpress:80", backend)
	}
	issuer := lookup(values, "ingress", "tlsIssuer")
	if got := ing.Annotations["cert-manager.io/cluster-issuer"]; got != issuer {
		t.Errorf("cluster-issuer annotation = %q, want %q", got, issuer)
	}
	if issuer == "" {
		if len(ing.Spec.TLS) != 0 {
			t.Error("TLS section without an issuer")
		}
		return
	}
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != testRelease+"-tls" || !slices.Equal(ing.Spec.TLS[0].Hosts, []string{host}) {
		t.Errorf("Ingress TLS = %+v", ing.Spec.TLS)
	}
}

// checkHTTPRoute: with gateway.enabled, one HTTPRoute for the store's host
// only, attached to the named Gateway (and listener), routed to wordpress.
func checkHTTPRoute(t *testing.T, m manifests, values map[string]any) {
	t.Helper()
	if lookup(values, "gateway", "enabled") != "true" {
		if len(m.httpRoutes) != 0 {
			t.Error("an HTTPRoute rendered without gateway.enabled")
		}
		return
	}
	if len(m.httpRoutes) != 1 || len(m.ingresses) != 0 {
		t.Fatalf("want one HTTPRoute and no Ingress, got %d and %d", len(m.httpRoutes), len(m.ingresses))
	}
	rt := m.httpRoutes[0]
	if len(rt.Spec.ParentRefs) != 1 {
		t.Fatalf("parentRefs = %+v, want one", rt.Spec.ParentRefs)
	}
	p := rt.Spec.ParentRefs[0]
	if string(p.Name) != lookup(values, "gateway", "name") || p.Namespace == nil || string(*p.Namespace) != lookup(values, "gateway", "namespace") ||
		ptr.Deref(p.Kind, "") != "Gateway" || ptr.Deref(p.Group, "") != gwapiv1.GroupName ||
		string(ptr.Deref(p.SectionName, "")) != lookup(values, "gateway", "sectionName") || p.Port != nil {
		t.Errorf("parentRef = %+v, want the Gateway of the values", p)
	}
	if host := lookup(values, "host"); len(rt.Spec.Hostnames) != 1 || string(rt.Spec.Hostnames[0]) != host {
		t.Errorf("hostnames = %v, want [%s]", rt.Spec.Hostnames, host)
	}
	if len(rt.Spec.Rules) != 1 || len(rt.Spec.Rules[0].BackendRefs) != 1 || len(rt.Spec.Rules[0].Filters) != 0 {
		t.Fatalf("rules = %+v, want one rule with one backend and no filters", rt.Spec.Rules)
	}
	b := rt.Spec.Rules[0].BackendRefs[0]
	if b.Name != "wordpress" || ptr.Deref(b.Port, 0) != 80 || b.Namespace != nil || b.Kind != nil || b.Group != nil {
		t.Errorf("backendRef = %+v, want the wordpress Service on port 80", b)
	}
}

// lookup returns the value at path in values as a string ("" when absent).
func lookup(values map[string]any, path ...string) string {
	var v any = values
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func TestRequiredValues(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"no credentialsSecret", "host: shop.stores.example.com", "credentialsSecret is required"},
		{"no host", "credentialsSecret: shop-credentials", "host is required"},
		{"no host, ingress disabled", "credentialsSecret: shop-credentials\ningress: {enabled: false}", "host is required"},
		{"invalid host", "credentialsSecret: c\nhost: Shop_1.example.com", "/host"},
		{"invalid scheme", "credentialsSecret: c\nhost: shop.example.com\nsite: {scheme: ftp}", "/site/scheme"},
		{"invalid credentialsSecret", "credentialsSecret: Shop_Creds\nhost: shop.example.com", "/credentialsSecret"},
		{"unknown value", "credentialsSecret: c\nhost: shop.example.com\ningress: {classname: traefik}", "classname"},
		{"credential as value", "credentialsSecret: c\nhost: shop.example.com\nmariadbPassword: hunter2", "mariadbPassword"},
		{"ingress and gateway", "credentialsSecret: c\nhost: shop.example.com\ngateway: {enabled: true, name: g, namespace: gw}", "not both"},
		{"gateway without name", "credentialsSecret: c\nhost: shop.example.com\ningress: {enabled: false}\ngateway: {enabled: true, namespace: gw}", "gateway.name is required"},
		{"gateway namespace invalid", "credentialsSecret: c\nhost: shop.example.com\ngateway: {namespace: a.b}", "/gateway/namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, readValues(t, tc.values))
			if err == nil {
				t.Fatal("render succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestDryRunInstall runs the chart through Helm's install action (client-side
// dry run), the path urumi's provisioning takes, and checks that the release
// has no hooks: the setup Job is part of the release, so Helm's wait covers it.
func TestDryRunInstall(t *testing.T) {
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: common.DefaultCapabilities,
	}
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = testRelease
	install.Namespace = testNamespace

	c, err := Store()
	if err != nil {
		t.Fatal(err)
	}
	r, err := install.RunWithContext(context.Background(), c, readValues(t, renderCases[0].values))
	if err != nil {
		t.Fatalf("dry-run install: %v", err)
	}
	rel, ok := r.(*releasev1.Release)
	if !ok {
		t.Fatalf("install returned %T, want *release/v1.Release", r)
	}
	if len(rel.Hooks) != 0 {
		t.Errorf("release has %d hooks, want none", len(rel.Hooks))
	}
	for _, kind := range []string{"kind: Job", "kind: CronJob", "kind: StatefulSet", "kind: Deployment", "kind: Ingress"} {
		if !strings.Contains(rel.Manifest, kind) {
			t.Errorf("release manifest lacks %q", kind)
		}
	}
	if strings.Contains(rel.Manifest, "kind: Secret") {
		t.Error("release manifest contains a Secret")
	}
}

// TestSetupScriptSyntax parses the chart's scripts with the system's POSIX
// shell and reads them for credentials: never traced, printed or passed
// as an argument (TestSetupScript runs them).
func TestSetupScriptSyntax(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh in PATH")
	}
	for _, name := range []string{"setup.sh", "cron.sh"} {
		path := filepath.Join("store", "files", name)
		out, err := exec.Command(sh, "-n", path).CombinedOutput()
		if err != nil {
			t.Fatalf("sh -n %s: %v\n%s", name, err, out)
		}
		script, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(script), "\n") {
			code := strings.TrimSpace(line)
			if strings.HasPrefix(code, "#") {
				continue
			}
			if regexp.MustCompile(`\bset\s+-[a-z]*x`).MatchString(code) {
				t.Errorf("%s traces commands, which would print credentials: %q", name, line)
			}
			// A password may only be written into a pipe to wp-cli's --prompt.
			toPrompt := strings.Contains(code, "printf '%s\\n' \"$WP_ADMIN_PASSWORD\" | wp ")
			if strings.Contains(code, "PASSWORD") && !toPrompt && (strings.Contains(code, "echo") || strings.Contains(code, "printf") || strings.Contains(code, "log ")) {
				t.Errorf("%s may print a credential: %q", name, line)
			}
			// Nor may it be an argument: arguments show in the process list.
			if regexp.MustCompile(`--(admin_password|user_pass)=`).MatchString(code) {
				t.Errorf("%s passes a password as an argument: %q", name, line)
			}
		}
	}
}

// hostileStrings are values a tenant might send to break out of a scalar:
// a new document, a new key, a template action, control characters.
var hostileStrings = []string{
	"7.1.2\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: evil",
	"x\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: evil\n  namespace: kube-system",
	"x\"\ninjected: \"y",
	"x'\n  hostPID: true",
	"x: y",
	"{{ .Release.Namespace }}",
	"{{ fail \"boom\" }}",
	"x\x00y",
	"x\ry",
	"x\ty",
	"x\u2028y",
	"- a\n- b",
	"*anchor",
	"&anchor x",
	"!!binary eA==",
	"x #comment",
	"",
	strings.Repeat("a", 70000),
}

// TestHostileValues sets every string value of the chart, and every map key
// a value may carry, to each hostile string: the schema refuses it, or it
// renders as one scalar that reads back unchanged, in the same objects as a
// plain render.
func TestHostileValues(t *testing.T) {
	base := readValues(t, renderCases[1].values)
	baseOut, err := render(t, base)
	if err != nil {
		t.Fatal(err)
	}
	baseline := decode(t, baseOut)

	paths := [][]string{
		{"credentialsSecret"}, {"host"},
		{"ingress", "className"}, {"ingress", "tlsIssuer"}, {"ingress", "annotations", "example.com/note"},
		{"site", "title"}, {"site", "scheme"},
		{"admin", "user"}, {"admin", "email"},
		{"images", "pullPolicy"},
		{"storage", "className"}, {"storage", "wordpress", "size"}, {"storage", "mariadb", "size"},
		{"woocommerce", "version"},
		{"setup", "backoffLimit"}, {"setup", "activeDeadlineSeconds"},
		{"cron", "enabled"}, {"cron", "schedule"}, {"cron", "startingDeadlineSeconds"}, {"cron", "activeDeadlineSeconds"},
		{"cron", "successfulJobsHistoryLimit"}, {"cron", "failedJobsHistoryLimit"},
	}
	for _, image := range []string{"wordpress", "cli", "mariadb"} {
		for _, field := range []string{"repository", "tag", "digest"} {
			paths = append(paths, []string{"images", image, field})
		}
	}
	for _, component := range []string{"wordpress", "mariadb", "setup", "cron"} {
		for _, kind := range []string{"requests", "limits"} {
			paths = append(paths, []string{"resources", component, kind, "cpu"}, []string{"resources", component, kind, "memory"})
		}
	}
	// Map keys: annotation keys and resource names.
	keyParents := [][]string{
		{"ingress", "annotations"},
		{"resources", "wordpress", "limits"},
		{"resources", "setup", "requests"},
		{"resources", "cron", "limits"},
	}

	accepted := 0
	check := func(t *testing.T, values map[string]any, value string) {
		out, err := render(t, values)
		if err != nil {
			if !strings.Contains(err.Error(), "schema") && !strings.Contains(err.Error(), "is not a valid DNS name") && !strings.Contains(err.Error(), "is required") {
				t.Errorf("render failed, but not by the values schema: %v", err)
			}
			return
		}
		accepted++
		m := decode(t, out) // fails on any kind the chart does not ship
		if len(m.all) != len(baseline.all) {
			t.Fatalf("rendered %d objects, want %d", len(m.all), len(baseline.all))
		}
		for _, meta := range m.all {
			if meta.Namespace != "" {
				t.Errorf("%s has namespace %q", meta.Name, meta.Namespace)
			}
		}
		if value != "" && !renderedLeaf(t, out, value) {
			t.Errorf("accepted value %q does not read back as one scalar", value)
		}
	}
	for _, p := range paths {
		for i, s := range hostileStrings {
			t.Run(fmt.Sprintf("%s/%d", strings.Join(p, "."), i), func(t *testing.T) {
				values := readValues(t, renderCases[1].values)
				setPath(values, p, s)
				check(t, values, s)
			})
		}
	}
	for _, p := range keyParents {
		for i, s := range hostileStrings {
			t.Run(fmt.Sprintf("key %s/%d", strings.Join(p, "."), i), func(t *testing.T) {
				values := readValues(t, renderCases[1].values)
				setPath(values, append(slices.Clone(p), s), "1")
				check(t, values, s)
			})
		}
	}
	if accepted == 0 {
		t.Error("no hostile value was accepted: the test would not notice quoting being lost")
	}
}

// setPath sets values[p0][p1]... = v, creating maps on the way.
func setPath(values map[string]any, path []string, v any) {
	m := values
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// renderedLeaf reports whether some string in the rendered objects, a map
// key or a value, contains want.
func renderedLeaf(t *testing.T, out map[string]string, want string) bool {
	t.Helper()
	var found bool
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if strings.Contains(k, want) {
					found = true
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case string:
			if strings.Contains(v, want) {
				found = true
			}
		}
	}
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
			var obj any
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			walk(obj)
		}
	}
	return found
}

// TestValuesSchema checks the schema's bounds on values a tenant or an
// operator might set: each line is a YAML fragment merged into valid values.
func TestValuesSchema(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		ok           bool
	}{
		{"cron every five minutes", "cron: {schedule: '*/5 * * * *'}", true},
		{"cron ranges and lists", "cron: {schedule: '0,30 8-18 * * 1-5'}", true},
		{"cron descriptor", "cron: {schedule: '@hourly'}", true},
		{"cron every", "cron: {schedule: '@every 1s'}", false},
		{"cron six fields", "cron: {schedule: '* * * * * *'}", false},
		{"cron names", "cron: {schedule: '0 0 * JAN MON'}", false},
		{"cron time zone", "cron: {schedule: 'CRON_TZ=UTC * * * * *'}", false},
		{"cron two spaces", "cron: {schedule: '*  * * * *'}", false},
		{"cron line break", "cron: {schedule: \"* * * * *\\n* * * * *\"}", false},
		{"cron enabled string", "cron: {enabled: 'false'}", false},
		{"cron history", "cron: {successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 0}", true},
		{"cron history too long", "cron: {failedJobsHistoryLimit: 4}", false},
		{"cron deadline too short", "cron: {activeDeadlineSeconds: 29}", false},
		{"cron starting deadline too long", "cron: {startingDeadlineSeconds: 3601}", false},
		{"cron unknown value", "cron: {concurrencyPolicy: Allow}", false},
		{"cron gpu", "resources: {cron: {limits: {nvidia.com/gpu: 1}}}", false},
		{"mirror with port", "images: {wordpress: {repository: localhost:5000/mirror/word_press, tag: 7.1.2-php8.3-apache}}", true},
		{"uppercase repository", "images: {wordpress: {repository: Docker.io/library/wordpress, tag: x}}", false},
		{"repository with tag", "images: {wordpress: {repository: 'docker.io/library/wordpress:7', tag: x}}", false},
		{"repository with scheme", "images: {wordpress: {repository: 'https://evil.example.com/x', tag: x}}", false},
		{"tag with colon", "images: {wordpress: {repository: wordpress, tag: 'a:b'}}", false},
		{"tag starting with dot", "images: {wordpress: {repository: wordpress, tag: .a}}", false},
		{"tag too long", "images: {wordpress: {repository: wordpress, tag: " + strings.Repeat("a", 129) + "}}", false},
		{"digest not sha256", "images: {wordpress: {repository: wordpress, tag: a, digest: 'md5:00'}}", false},
		{"pull policy", "images: {pullPolicy: Sometimes}", false},
		{"gpu", "resources: {wordpress: {limits: {nvidia.com/gpu: 1}}}", false},
		{"hugepages", "resources: {wordpress: {limits: {hugepages-2Mi: 1Gi}}}", false},
		{"ephemeral storage", "resources: {wordpress: {requests: {ephemeral-storage: 1Gi}}}", false},
		{"unknown resource section", "resources: {wordpress: {claims: [{name: x}]}}", false},
		{"cpu quantity", "resources: {wordpress: {limits: {cpu: 1500m, memory: 1.5Gi}}}", true},
		{"cpu number", "resources: {wordpress: {limits: {cpu: 2}}}", true},
		{"negative cpu", "resources: {wordpress: {limits: {cpu: -1}}}", false},
		{"cpu garbage", "resources: {wordpress: {limits: {cpu: 1 core}}}", false},
		{"backoffLimit in bounds", "setup: {backoffLimit: 10, activeDeadlineSeconds: 7200}", true},
		{"backoffLimit huge", "setup: {backoffLimit: 1000000}", false},
		{"backoffLimit string", "setup: {backoffLimit: '4'}", false},
		{"deadline too long", "setup: {activeDeadlineSeconds: 7201}", false},
		{"deadline too short", "setup: {activeDeadlineSeconds: 59}", false},
		{"ingress class", "ingress: {className: nginx.internal}", true},
		{"ingress class uppercase", "ingress: {className: Nginx}", false},
		{"storage class too long", "storage: {className: " + strings.Repeat("a", 254) + "}", false},
		{"tls issuer", "ingress: {tlsIssuer: letsencrypt-prod}", true},
		{"tls issuer with slash", "ingress: {tlsIssuer: a/b}", false},
		{"annotation", "ingress: {annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 64m}}", true},
		{"annotation hook", "ingress: {annotations: {helm.sh/hook: pre-install}}", false},
		{"annotation helm meta", "ingress: {annotations: {meta.helm.sh/release-namespace: kube-system}}", false},
		{"annotation urumi", "ingress: {annotations: {urumi.io/store: other}}", false},
		{"annotation issuer", "ingress: {annotations: {cert-manager.io/issuer: other}}", false},
		{"annotation legacy class", "ingress: {annotations: {kubernetes.io/ingress.class: other}}", false},
		{"annotation key with space", "ingress: {annotations: {'a b': x}}", false},
		{"annotation value newline", "ingress: {annotations: {a: \"x\\ny\"}}", false},
		{"annotation value long", "ingress: {annotations: {a: " + strings.Repeat("a", 4097) + "}}", false},
		{"admin user", "admin: {user: shop.owner@example}", true},
		{"admin user quote", "admin: {user: \"o'brien\"}", false},
		{"admin user as a wp-cli option", "admin: {user: --debug}", false},
		{"admin email as a wp-cli option", "admin: {email: --debug@example.com}", false},
		{"admin email", "admin: {email: owner+shop@example.co.uk}", true},
		{"admin email no domain", "admin: {email: owner@localhost}", false},
		{"admin email injection", "admin: {email: \"a@b.c\\nBcc: x@y.z\"}", false},
		{"title unicode", "site: {title: Café «Ünïcode» 🛒}", true},
		{"title too long", "site: {title: " + strings.Repeat("a", 201) + "}", false},
		{"title line separator", "site: {title: \"a\\u2028b\"}", false},
		{"woocommerce version", "woocommerce: {version: 10.1.2-beta.1}", true},
		{"woocommerce latest", "woocommerce: {version: latest}", false},
		{"storage size", "storage: {wordpress: {size: 1Ti}}", true},
		{"storage size garbage", "storage: {wordpress: {size: 1Gi x}}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values := readValues(t, renderCases[0].values)
			extra := readValues(t, tc.values)
			values = chartutil.CoalesceTables(extra, values)
			_, err := render(t, values)
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Error("accepted, want the values schema to refuse it")
			}
		})
	}
}

// TestPreviousStoreChart: the store chart 0.1.0, kept as it was in
// testdata/store-0.1.0 so that tests can make a store with it and upgrade
// it, still loads and renders, without the cron job that 0.2.0 adds.
func TestPreviousStoreChart(t *testing.T) {
	old, err := loader.LoadDir(filepath.Join("testdata", "store-0.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Store()
	if err != nil {
		t.Fatal(err)
	}
	if old.Name() != StoreChartName || old.Metadata.Version != "0.1.0" || cur.Metadata.Version != "0.2.0" {
		t.Fatalf("charts %s %s and %s %s, want %s 0.1.0 in testdata and 0.2.0 embedded",
			old.Name(), old.Metadata.Version, cur.Name(), cur.Metadata.Version, StoreChartName)
	}
	opts := common.ReleaseOptions{Name: testRelease, Namespace: testNamespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValues(old, readValues(t, renderCases[0].values), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Engine{}.RenderWithContext(context.Background(), old, top)
	if err != nil {
		t.Fatalf("render 0.1.0: %v", err)
	}
	m := decode(t, out)
	if len(m.deployments) != 1 || len(m.statefulSets) != 1 || len(m.jobs) != 1 || len(m.cronJobs) != 0 {
		t.Errorf("0.1.0 renders %d Deployments, %d StatefulSets, %d Jobs and %d CronJobs, want 1, 1, 1 and 0",
			len(m.deployments), len(m.statefulSets), len(m.jobs), len(m.cronJobs))
	}
	// The claims and the Secret's keys a 0.2.0 upgrade must keep.
	if len(m.claims) != 1 || m.claims[0].Name != "wordpress" || m.statefulSets[0].Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Error("0.1.0's volumes are not the ones 0.2.0 keeps (claim wordpress, MariaDB's data)")
	}
}
