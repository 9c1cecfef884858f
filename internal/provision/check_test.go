package provision

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/backup"
	"github.com/urumi/urumi/internal/store"
)

func TestSubsetDiff(t *testing.T) {
	cases := []struct {
		name       string
		want, live any
		diffs      []string // paths
	}{
		{"equal", map[string]any{"a": "x"}, map[string]any{"a": "x"}, nil},
		{"server adds fields", map[string]any{"a": "x"}, map[string]any{"a": "x", "b": int64(1)}, nil},
		{"yaml float against json int", map[string]any{"port": float64(80)}, map[string]any{"port": int64(80)}, nil},
		{"number spelt as a string", map[string]any{"port": "8080"}, map[string]any{"port": int64(8080)}, nil},
		{"quantity spelt otherwise", map[string]any{"cpu": "1000m", "mem": "1Gi"}, map[string]any{"cpu": "1", "mem": "1024Mi"}, nil},
		{"number against a quantity", map[string]any{"cpu": float64(0.5)}, map[string]any{"cpu": "500m"}, nil},
		{"quantity changed", map[string]any{"cpu": "500m"}, map[string]any{"cpu": "2"}, []string{"x.cpu"}},
		{"number changed", map[string]any{"replicas": float64(1)}, map[string]any{"replicas": int64(0)}, []string{"x.replicas"}},
		{"string changed", map[string]any{"image": "a:1"}, map[string]any{"image": "a:2"}, []string{"x.image"}},
		{"empty wanted, missing live", map[string]any{"resources": map[string]any{}, "args": []any{}, "s": ""}, map[string]any{}, nil},
		{"nothing wanted, something live", map[string]any{"annotations": nil, "labels": map[string]any{}},
			map[string]any{"annotations": map[string]any{"deployment.kubernetes.io/revision": "1"}, "labels": map[string]any{"a": "b"}}, nil},
		{"empty list wanted, items live", map[string]any{"args": []any{}}, map[string]any{"args": []any{"x"}}, []string{"x.args"}},
		{"false is not empty", map[string]any{"automount": false}, map[string]any{}, []string{"x.automount"}},
		{"false changed to true", map[string]any{"automount": false}, map[string]any{"automount": true}, []string{"x.automount"}},
		{"list element added", map[string]any{"l": []any{"a"}}, map[string]any{"l": []any{"a", "b"}}, []string{"x.l"}},
		{"list element changed deep", map[string]any{"l": []any{map[string]any{"n": "a", "p": float64(1)}}},
			map[string]any{"l": []any{map[string]any{"n": "a", "p": int64(2), "extra": true}}}, []string{"x.l[0].p"}},
		{"map replaced by scalar", map[string]any{"m": map[string]any{"a": "b"}}, map[string]any{"m": "b"}, []string{"x.m"}},
		{"string that looks like a quantity is not a number", map[string]any{"v": "1e3"}, map[string]any{"v": "1k"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var paths []string
			for _, d := range subsetDiff("x", c.want, c.live) {
				paths = append(paths, d.Path)
			}
			if !slices.Equal(paths, c.diffs) {
				t.Errorf("diffs %v, want %v", paths, c.diffs)
			}
		})
	}
}

func TestEqualDiffSeesAddedFields(t *testing.T) {
	want := map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"}}
	live := map[string]any{"podSelector": map[string]any{}, "policyTypes": []any{"Ingress"},
		"ingress": []any{map[string]any{}}}
	diffs := equalDiff("spec", want, live)
	if len(diffs) != 1 || diffs[0].Path != "spec.ingress" || describeDiffs(diffs, false) != "spec.ingress was added" {
		t.Fatalf("diffs %+v", diffs)
	}
	if d := equalDiff("spec", want, want); len(d) != 0 {
		t.Fatalf("equal specs differ: %+v", d)
	}
}

func TestDescribeDiffHidesValues(t *testing.T) {
	d := fieldDiff{Path: "data.password", Want: "s3cret", Got: "other"}
	if s := d.describe(true); strings.Contains(s, "s3cret") || strings.Contains(s, "other") {
		t.Fatalf("hidden diff shows a value: %s", s)
	}
	if s := d.describe(false); !strings.Contains(s, `"other"`) {
		t.Fatalf("diff: %s", s)
	}
}

// helmSecret is a release record as Helm's secret driver writes it.
func helmSecret(t testing.TB, ns string, version int, status rcommon.Status, manifest string, compress bool) corev1.Secret {
	t.Helper()
	rel := release.Release{Name: releaseName, Namespace: ns, Version: version, Manifest: manifest, Info: &release.Info{Status: status}}
	b, err := json.Marshal(rel)
	if err != nil {
		t.Fatal(err)
	}
	if compress {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(b)
		_ = w.Close()
		b = buf.Bytes()
	}
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.store.v" + strconv.Itoa(version), Namespace: ns,
			Labels: map[string]string{"owner": "helm", "name": releaseName, "status": string(status), "version": strconv.Itoa(version)}},
		Data: map[string][]byte{"release": []byte(base64.StdEncoding.EncodeToString(b))},
	}
}

func TestDecodeHelmRelease(t *testing.T) {
	for _, compress := range []bool{true, false} {
		s := helmSecret(t, "store-shop", 3, rcommon.StatusDeployed, "kind: ConfigMap\n", compress)
		r, ok := newHelmRecord(&s)
		if !ok || r.Version != 3 || r.Status != "deployed" {
			t.Fatalf("record %+v", r)
		}
		rel, err := r.release()
		if err != nil || rel.Manifest != "kind: ConfigMap\n" || rel.Version != 3 {
			t.Fatalf("decode (compressed %v): %v %+v", compress, err, rel)
		}
	}
	if _, err := decodeHelmRelease([]byte("not base64!")); err == nil {
		t.Fatal("decoded garbage")
	}
}

const testManifest = `---
apiVersion: v1
kind: Service
metadata:
  name: wordpress
  labels: {app.kubernetes.io/component: wordpress}
spec:
  type: ClusterIP
  selector: {app.kubernetes.io/component: wordpress}
  ports:
  - {name: http, port: 80, targetPort: http}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: wordpress
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/component: wordpress}
  template:
    metadata:
      labels: {app.kubernetes.io/component: wordpress}
    spec:
      automountServiceAccountToken: false
      containers:
      - name: wordpress
        image: docker.io/library/wordpress:7
        resources:
          requests: {cpu: 250m, memory: 256Mi}
          limits: {cpu: "1", memory: 1Gi}
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: setup
spec:
  backoffLimit: 6
  template:
    metadata:
      labels: {app.kubernetes.io/component: setup}
    spec:
      restartPolicy: OnFailure
      containers:
      - name: setup
        image: docker.io/library/wordpress:cli
`

// fakeStore is a snapshot of store "shop" as urumi makes it, healthy.
func fakeStore(t *testing.T) (*Kube, *snapshot, store.Store) {
	t.Helper()
	plan, err := Plans{}.Get("medium")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := encodeOptions(Options{BaseDomain: "example.com", IngressClass: "nginx", Plan: &plan})
	if err != nil {
		t.Fatal(err)
	}
	st := store.Store{Name: "shop", Owner: "alice", Plan: "medium", Status: store.StatusReady, Options: opts}
	ns := Namespace("shop")
	k := &Kube{Settings: Settings{IngressNamespace: "ingress-nginx"}}
	labels := storeLabels("shop", "alice")
	nsLabels := storeLabels("shop", "alice")
	for _, l := range []string{"enforce", "audit", "warn"} {
		nsLabels["pod-security.kubernetes.io/"+l] = "restricted"
	}
	nsLabels["kubernetes.io/metadata.name"] = ns
	o := &nsObjects{}
	o.quotas = []corev1.ResourceQuota{{ObjectMeta: metav1.ObjectMeta{Name: quotaName, Namespace: ns, Labels: labels}, Spec: corev1.ResourceQuotaSpec{Hard: plan.quotaHard()}}}
	o.limitRanges = []corev1.LimitRange{{ObjectMeta: metav1.ObjectMeta{Name: limitRangeName, Namespace: ns, Labels: labels}, Spec: plan.limitRange()}}
	ps, err := networkPolicies("shop", "alice", "ingress-nginx", plan.Egress)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		o.policies = append(o.policies, *p)
	}
	data := map[string][]byte{}
	for _, key := range charts.SecretKeys() {
		data[key] = []byte("x")
	}
	o.secrets = []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: credentialsName, Namespace: ns, Labels: labels}, Data: data}}
	s := helmSecret(t, ns, 1, rcommon.StatusDeployed, testManifest, true)
	rec, _ := newHelmRecord(&s)
	o.helm = []helmRecord{rec}

	objs, err := manifestObjects(testManifest)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(i int, into any) {
		b, err := json.Marshal(objs[i].Object)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, into); err != nil {
			t.Fatal(err)
		}
	}
	var svc corev1.Service
	decode(0, &svc)
	svc.Namespace, svc.Spec.ClusterIP = ns, "10.96.3.4" // the server's
	o.services = []corev1.Service{svc}
	var dep appsv1.Deployment
	decode(1, &dep)
	dep.Namespace = ns
	dep.Annotations = map[string]string{"deployment.kubernetes.io/revision": "1", "meta.helm.sh/release-name": "store"} // the server's and Helm's
	dep.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"                                // defaulted
	dep.Status = appsv1.DeploymentStatus{ReadyReplicas: 1, AvailableReplicas: 1}
	o.deployments = []appsv1.Deployment{dep}
	var job batchv1.Job
	decode(2, &job)
	job.Namespace = ns
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	o.jobs = []batchv1.Job{job}
	rs := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "wordpress-abc", Namespace: ns,
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "wordpress", Controller: ptr.To(true)}}}}
	o.replicaSets = []appsv1.ReplicaSet{rs}
	o.pods = []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "wordpress-abc-1", Namespace: ns,
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "wordpress-abc", Controller: ptr.To(true)}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		{ObjectMeta: metav1.ObjectMeta{Name: "setup-1", Namespace: ns,
			OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: "setup", Controller: ptr.To(true)}}},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
	}
	o.claims = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "wordpress", Namespace: ns}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}}
	snap := &snapshot{k: k, namespaces: map[string]*corev1.Namespace{ns: {ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels}}},
		byNS: map[string]*nsObjects{ns: o}}
	return k, snap, st
}

func failures(sc StoreCheck) []string {
	var out []string
	for _, f := range sc.Findings {
		if f.Status == CheckFail {
			out = append(out, f.Kind+" "+f.Object)
		}
	}
	return out
}

// TestJudge holds each drift kind to a failed finding that names it, on
// a store otherwise as urumi makes it.
func TestJudge(t *testing.T) {
	ctx := context.Background()
	k, snap, st := fakeStore(t)
	sc := k.judge(ctx, snap, st)
	if sc.Status != CheckPass {
		t.Fatalf("a healthy store: %s %v\n%+v", sc.Status, failures(sc), sc.Findings)
	}
	for _, kind := range []string{FindingNamespace, FindingQuota, FindingLimitRange, FindingNetworkPolicy, FindingIsolation, FindingCredentials, FindingRelease, FindingReleaseObject, FindingWorkload, FindingSetupJob, FindingClaim} {
		if !slices.ContainsFunc(sc.Findings, func(f Finding) bool { return f.Kind == kind && f.Status == CheckPass }) {
			t.Errorf("no pass finding of kind %s", kind)
		}
	}

	ns := Namespace("shop")
	allowAll := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}}
	cases := []struct {
		name  string
		drift func(o *nsObjects, n *corev1.Namespace)
		want  []string // kind object, each among the failures
	}{
		{"policy deleted", func(o *nsObjects, _ *corev1.Namespace) {
			o.policies = slices.DeleteFunc(o.policies, func(p networkingv1.NetworkPolicy) bool { return p.Name == "default-deny" })
		}, []string{"network-policy NetworkPolicy/default-deny", "isolation "}},
		{"policy edited", func(o *nsObjects, _ *corev1.Namespace) {
			o.policies[2].Spec.Ingress[0].Ports[0].Port = ptr.To(intstr.FromInt(9999))
		}, []string{"network-policy NetworkPolicy/allow-ingress-to-wordpress", "isolation "}},
		{"quota edited", func(o *nsObjects, _ *corev1.Namespace) {
			o.quotas[0].Spec.Hard[corev1.ResourceLimitsCPU] = resource.MustParse("64")
		}, []string{"quota ResourceQuota/store-quota"}},
		{"limit range edited", func(o *nsObjects, _ *corev1.Namespace) {
			o.limitRanges[0].Spec.Limits[0].Max[corev1.ResourceCPU] = resource.MustParse("64")
		}, []string{"limit-range LimitRange/store-limits"}},
		{"secret key removed", func(o *nsObjects, _ *corev1.Namespace) {
			delete(o.secrets[0].Data, charts.SecretKeyMariaDBPassword)
		}, []string{"credentials Secret/store-credentials"}},
		{"pod security lowered", func(_ *nsObjects, n *corev1.Namespace) {
			n.Labels["pod-security.kubernetes.io/enforce"] = "privileged"
		}, []string{"namespace Namespace/" + ns}},
		{"allow-all policy added", func(o *nsObjects, _ *corev1.Namespace) {
			o.policies = append(o.policies, allowAll)
		}, []string{"isolation ", "extra-policy NetworkPolicy/allow-all"}},
		{"NodePort service added", func(o *nsObjects, _ *corev1.Namespace) {
			o.services = append(o.services, corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "open", Namespace: ns}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}})
		}, []string{"exposed-service Service/open"}},
		{"deployment scaled to 0", func(o *nsObjects, _ *corev1.Namespace) {
			o.deployments[0].Spec.Replicas = ptr.To(int32(0))
			o.deployments[0].Status = appsv1.DeploymentStatus{}
		}, []string{"workload Deployment/wordpress", "release-object Deployment/wordpress"}},
		{"release object edited", func(o *nsObjects, _ *corev1.Namespace) {
			o.deployments[0].Spec.Template.Spec.Containers[0].Image = "evil:latest"
		}, []string{"release-object Deployment/wordpress"}},
		{"release object deleted", func(o *nsObjects, _ *corev1.Namespace) {
			o.services = nil
		}, []string{"release-object Service/wordpress"}},
		{"release pending", func(o *nsObjects, _ *corev1.Namespace) {
			o.helm = append(o.helm, helmRecord{Name: releaseName, Version: 2, Status: "pending-upgrade", secret: o.helm[0].secret})
		}, []string{"release Release/store (revision 2)"}},
		{"role binding added", func(o *nsObjects, _ *corev1.Namespace) {
			o.roleBindings = append(o.roleBindings, rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "admin", Namespace: ns},
				RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "admin"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "mallory"}}})
		}, []string{"role-binding RoleBinding/admin"}},
		{"stray pod", func(o *nsObjects, _ *corev1.Namespace) {
			o.pods = append(o.pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shell", Namespace: ns}, Status: corev1.PodStatus{Phase: corev1.PodRunning}})
		}, []string{"stray-pod Pod/shell"}},
		{"claim pending", func(o *nsObjects, _ *corev1.Namespace) {
			o.claims[0].Status.Phase = corev1.ClaimPending
		}, []string{"claim PersistentVolumeClaim/wordpress"}},
		{"setup job failed", func(o *nsObjects, _ *corev1.Namespace) {
			o.jobs[0].Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}
		}, []string{"setup-job Job/setup"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, snap, st := fakeStore(t)
			c.drift(snap.byNS[ns], snap.namespaces[ns])
			sc := k.judge(ctx, snap, st)
			got := failures(sc)
			for _, w := range c.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Errorf("failures %q lack %q", got, w)
				}
			}
			if sc.Status != CheckFail {
				t.Errorf("status %s", sc.Status)
			}
		})
	}
}

func TestJudgeIsolationNamesPeerAndPort(t *testing.T) {
	k, snap, st := fakeStore(t)
	ns := Namespace("shop")
	o := snap.byNS[ns]
	o.policies = append(o.policies, networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}})
	sc := k.judge(context.Background(), snap, st)
	i := slices.IndexFunc(sc.Findings, func(f Finding) bool { return f.Kind == FindingIsolation })
	f := sc.Findings[i]
	if f.Status != CheckFail || f.Table == "" || !strings.Contains(f.Table, "FAIL") {
		t.Fatalf("isolation finding: %+v", f)
	}
	if !slices.ContainsFunc(f.Isolation, func(r IsolationRow) bool {
		return r.From == peerOtherWordPress && r.To == peerMariaDB && r.Port == "TCP 3306" && r.Expected == "denied" && r.Got == "allowed"
	}) {
		t.Fatalf("rows lack another store reaching MariaDB: %+v", f.Isolation)
	}
}

func TestJudgeSkipsStoresInFlight(t *testing.T) {
	k, snap, st := fakeStore(t)
	st.Status = store.StatusProvisioning
	sc := k.judge(context.Background(), snap, st)
	if sc.Status != CheckWarn || sc.Findings[0].Kind != FindingState {
		t.Fatalf("a store being created: %+v", sc)
	}
}

// TestJudgeBackupPolicies: a backup's policies, made by urumi, are not
// extra; the same names without urumi's label are.
func TestJudgeBackupPolicies(t *testing.T) {
	ctx := context.Background()
	k, snap, st := fakeStore(t)
	ns := Namespace(st.Name)
	ps, err := backup.NetworkPolicies(ns, storeLabels(st.Name, st.Owner), []backup.Endpoint{mustEndpoint(t, "10.0.0.8/32:8000")})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		snap.byNS[ns].policies = append(snap.byNS[ns].policies, *p)
	}
	if sc := k.judge(ctx, snap, st); sc.Status != CheckPass {
		t.Errorf("with a backup's policies: %s %v", sc.Status, failures(sc))
	}
	snap.byNS[ns].policies[len(snap.byNS[ns].policies)-1].Labels = nil
	sc := k.judge(ctx, snap, st)
	if !slices.ContainsFunc(sc.Findings, func(f Finding) bool {
		return f.Kind == FindingExtraPolicy && f.Object == "NetworkPolicy/"+ps[len(ps)-1].Name && f.Status != CheckPass
	}) {
		t.Errorf("an unlabelled policy of a backup's name is not reported as extra: %+v", sc.Findings)
	}
}

func mustEndpoint(t *testing.T, s string) backup.Endpoint {
	t.Helper()
	e, err := backup.ParseEndpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestJudgePasswordReset: a password reset's policies, Job and pod, made
// by urumi, are neither extra nor stray; the same pod under a Job urumi did
// not label is stray, and the reset policies unlabelled are extra.
func TestJudgePasswordReset(t *testing.T) {
	ctx := context.Background()
	k, snap, st := fakeStore(t)
	ns := Namespace(st.Name)
	o := snap.byNS[ns]
	for _, p := range passwordResetPolicies(st.Name, st.Owner) {
		o.policies = append(o.policies, *p)
	}
	spec, err := resetSpec(st.Name, st.Owner, map[string]any{"images": map[string]any{"cli": map[string]any{"repository": "wordpress", "tag": "cli"}}})
	if err != nil {
		t.Fatal(err)
	}
	job := passwordResetJob(spec)
	o.jobs = append(o.jobs, *job)
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x1", Namespace: ns, Labels: job.Spec.Template.Labels,
		OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: job.Name, Controller: ptr.To(true)}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	o.pods = append(o.pods, pod)
	if sc := k.judge(ctx, snap, st); sc.Status != CheckPass {
		t.Fatalf("with a password reset: %s %v", sc.Status, failures(sc))
	}

	// A Job of the reset's name without urumi's label runs a stray pod.
	o.jobs[len(o.jobs)-1].Labels = nil
	if got := failures(k.judge(ctx, snap, st)); !slices.Contains(got, "stray-pod Pod/"+pod.Name) {
		t.Errorf("a pod of an unlabelled Job is not stray: %v", got)
	}
	o.jobs[len(o.jobs)-1].Labels = job.Labels
	o.policies[len(o.policies)-1].Labels = nil
	sc := k.judge(ctx, snap, st)
	if !slices.ContainsFunc(sc.Findings, func(f Finding) bool {
		return f.Kind == FindingExtraPolicy && f.Object == "NetworkPolicy/"+PolicyMariaDBFromPasswordReset && f.Status != CheckPass
	}) {
		t.Errorf("an unlabelled reset policy is not reported as extra: %v", failures(sc))
	}
}

// TestCompactRecord: the reconciler's cache keeps a release record as the
// JSON of its manifest's documents, each deflated against the same
// document of the first manifest it saw. Every record reads back as the
// objects the check parses from the manifest Helm wrote; another store's
// costs a small part of its gzipped record; what is not a record it can
// read, or a manifest it cannot convert, is kept as it is, for the check
// to parse and report.
func TestCompactRecord(t *testing.T) {
	d := newManifestDict()
	// readBack compacts s, and says whether it was compacted, how many
	// bytes it keeps, and checks that it reads back as the check reads s.
	readBack := func(t *testing.T, s corev1.Secret) (bool, int) {
		t.Helper()
		data := maps.Clone(s.Data)
		want, wantErr := func() ([]*unstructured.Unstructured, error) {
			r, _ := newHelmRecord(&s)
			return r.objects()
		}()
		got := d.compact(&s)
		if !maps.EqualFunc(s.Data, data, bytes.Equal) {
			t.Error("compacting changed the Secret it was given (the informer's object may share it)")
		}
		c, ok := got.(*compactRecord)
		if !ok {
			if got != &s {
				t.Errorf("a record not compacted is kept as %T", got)
			}
			return false, 0
		}
		r, ok := c.record()
		if !ok || r.Version != 2 || r.Status != "deployed" || r.Name != releaseName {
			t.Fatalf("compacted record %+v", r)
		}
		objs, err := r.objects()
		if err != nil || wantErr != nil {
			t.Fatalf("compacted record reads back with %v; the record itself parses with %v", err, wantErr)
		}
		if !reflect.DeepEqual(objs, want) {
			t.Fatalf("compacted record reads back otherwise than the record parses: %s", firstDifference("", want, objs))
		}
		size := 0
		for _, p := range c.parts {
			size += len(p.data)
		}
		return true, size
	}

	// The chart, rendered and checked for three stores.
	for i, name := range []string{"shop", "other-shop", "third-shop"} {
		ns := Namespace(name)
		vals, err := chartValues(name, BuiltinPlans()[i%len(BuiltinPlans())], Options{BaseDomain: testBaseDomain, IngressClass: "nginx"})
		if err != nil {
			t.Fatal(err)
		}
		manifest, err := renderStoreIn(t, ns, vals, checkedRender(&Kube{}, ns, storeRoute{host: name + "." + testBaseDomain}))
		if err != nil {
			t.Fatal(err)
		}
		s := helmSecret(t, ns, 2, rcommon.StatusDeployed, manifest, true)
		compacted, size := readBack(t, s)
		if !compacted {
			t.Fatalf("%s: the chart's manifest is not compacted", name)
		}
		if i > 0 && size*10 > len(s.Data["release"]) {
			t.Errorf("%s: a record of %d bytes (manifest %d) kept in %d", name, len(s.Data["release"]), len(manifest), size)
		}
		t.Logf("%s: record %d bytes, manifest %d, kept %d", name, len(s.Data["release"]), len(manifest), size)
	}

	// Manifests unlike the chart's read back as the check parses them, or
	// are kept as they were (when the check cannot parse them, or they are
	// not a stream of YAML objects): none, one document without a
	// separator, parts too long for a reference, more parts than
	// references, numbers of each kind, strings that look like numbers,
	// empty documents, a repeated key; and a key JSON cannot have, JSON,
	// a list, a bad separator and random bytes.
	long := strings.Repeat("x: 0123456789abcdef\n", 4000)
	longDoc := "data:\n" + strings.Repeat("  k0123456789abcdef: v\n", 4000)
	var many strings.Builder
	for i := range 2 * maxDeltaRefs {
		fmt.Fprintf(&many, "---\n# Source: part-%d.yaml\nkind: ConfigMap\nmetadata:\n  name: c%d\n", i, i)
	}
	random := make([]byte, 5000)
	for i := range random {
		const alphabet = " -\n#abcxyz:"
		random[i] = alphabet[(i*7919+i>>3)%len(alphabet)] // YAML-ish text, separators included
	}
	numbers := "---\n# Source: n.yaml\nkind: Thing\nspec:\n  int: 3\n  big: 9007199254740993\n  float: 1.5\n  exp: 1e3\n" +
		"  octal: 0o17\n  hex: 0x1F\n  quoted: \"3\"\n  yes: yes\n  on: on\n  nothing: ~\n  date: 2026-12-02\n  list: [1, 2.0, \"x\"]\n  1: one\n" +
		"  true: key\n  nested:\n    deeper: [{a: 1}, {b: [1e-3]}]\n"
	for _, m := range []string{"", "kind: ConfigMap\n", "---\n# Source: long.yaml\n" + long + "---\n# Source: long.yaml\n" + long,
		"---\n# Source: long.yaml\n" + longDoc + "---\n# Source: long.yaml\n" + longDoc,
		many.String(), many.String() + "\n---", numbers, numbers + numbers, "---\n---\n---\n", "---\n# only a comment\n---\n{}\n"} {
		if compacted, _ := readBack(t, helmSecret(t, "store-x", 2, rcommon.StatusDeployed, m, true)); !compacted {
			t.Errorf("a manifest of %d bytes is not compacted", len(m))
		}
	}
	for _, m := range []string{numbers + "  null: ~\n", string(random),
		`{"kind":"ConfigMap"}`, "- kind: ConfigMap\n", "---\nkind: A\n---\n- b\n", "kind: [\n", "---\nkind: A\n--- b\n"} {
		if compacted, _ := readBack(t, helmSecret(t, "store-x", 2, rcommon.StatusDeployed, m, true)); compacted {
			t.Errorf("a manifest of %d bytes the check cannot parse as it is, or that is not YAML objects, is compacted", len(m))
		}
	}

	// A record as Helm writes it carries the chart; the compact form
	// does not.
	s := helmSecret(t, "store-shop", 2, rcommon.StatusDeployed, "kind: ConfigMap\n", true)
	rel, err := decodeHelmRelease(s.Data["release"])
	if err != nil {
		t.Fatal(err)
	}
	var tmpl strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&tmpl, "{{- /* template line %d */ -}}\n", i)
	}
	rel.Chart = &chart.Chart{Metadata: &chart.Metadata{Name: "store", Version: "0.2.0"},
		Templates: []*common.File{{Name: "templates/big.yaml", Data: []byte(tmpl.String())}}}
	b, _ := json.Marshal(rel)
	s.Data["release"] = []byte(base64.StdEncoding.EncodeToString(b))
	if compacted, size := readBack(t, s); !compacted || size > 100 {
		t.Errorf("a record carrying its chart is kept in %d bytes (compacted: %v)", size, compacted)
	}

	// A pending record is kept as it was: it lives while its operation
	// runs, and is compacted once the operation ends.
	pending := helmSecret(t, "store-shop", 3, rcommon.StatusPendingUpgrade, "kind: ConfigMap\n", true)
	if got, ok := d.compact(&pending).(*corev1.Secret); !ok || got != &pending {
		t.Errorf("a pending record is kept as %T", got)
	}

	// A record that does not decode is kept as it was.
	bad := helmSecret(t, "store-shop", 3, rcommon.StatusDeployed, "kind: ConfigMap\n", true)
	bad.Data["release"] = []byte("not base64!")
	if got, ok := d.compact(&bad).(*corev1.Secret); !ok || string(got.Data["release"]) != "not base64!" {
		t.Errorf("an undecodable record was changed: %T", got)
	}
}

// TestJudgeTrimmedPods: the reconciler's cache keeps pods without their
// spec, quotas without their status, and ReplicaSets and cron runs without
// their template; the judge finds the same.
func TestJudgeTrimmedPods(t *testing.T) {
	ctx := context.Background()
	k, snap, st := fakeStore(t)
	o := snap.byNS[Namespace(st.Name)]
	stray := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shell", Namespace: Namespace(st.Name), Labels: map[string]string{"app": "x"}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "sh", Image: "busybox", Command: []string{"sleep", "1d"}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "sh", Ready: true}}}}
	o.pods = append(o.pods, stray)
	// A cron run: a Job its CronJob made, and the Job's pod.
	run := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "cron-29000000", Namespace: Namespace(st.Name),
		OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: "wordpress-cron", Controller: ptr.To(true)}}},
		Spec: batchv1.JobSpec{Template: o.jobs[0].Spec.Template}}
	o.jobs = append(o.jobs, run)
	o.pods = append(o.pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cron-29000000-x", Namespace: Namespace(st.Name),
		OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: run.Name, Controller: ptr.To(true)}}},
		Status: corev1.PodStatus{Phase: corev1.PodSucceeded}})
	for i := range o.quotas {
		o.quotas[i].Status = corev1.ResourceQuotaStatus{Hard: o.quotas[i].Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}}
	}
	want := failures(k.judge(ctx, snap, st))
	if !slices.Contains(want, "stray-pod Pod/shell") {
		t.Fatalf("untrimmed: %v, want the stray pod", want)
	}
	for i := range o.pods {
		trimCached(&o.pods[i])
		if len(o.pods[i].Spec.Containers) != 0 || o.pods[i].Status.Phase == "" {
			t.Fatalf("trimmed pod %s: %+v", o.pods[i].Name, o.pods[i])
		}
	}
	for i := range o.replicaSets {
		trimCached(&o.replicaSets[i])
	}
	if len(o.quotas) == 0 {
		t.Fatal("the store has no quota")
	}
	for i := range o.quotas {
		trimCached(&o.quotas[i])
		if len(o.quotas[i].Status.Used) != 0 || len(o.quotas[i].Spec.Hard) == 0 {
			t.Fatalf("trimmed quota %s: %+v", o.quotas[i].Name, o.quotas[i])
		}
	}
	for i := range o.jobs {
		trimCached(&o.jobs[i])
	}
	if n := len(o.jobs[0].Spec.Template.Spec.Containers); n == 0 {
		t.Error("the chart's setup Job lost its template: the judge compares it with the chart's")
	}
	if n := len(o.jobs[1].Spec.Template.Spec.Containers); n != 0 {
		t.Errorf("a cron run kept its template (%d containers)", n)
	}
	if got := failures(k.judge(ctx, snap, st)); !slices.Equal(got, want) {
		t.Errorf("trimmed: %v, untrimmed: %v", got, want)
	}
}

// firstDifference names where a and b first differ, and how.
func firstDifference(path string, a, b any) string {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return fmt.Sprintf("%s: %T %v, not %T %v", path, a, a, b, b)
	}
	switch a := a.(type) {
	case []*unstructured.Unstructured:
		b := b.([]*unstructured.Unstructured)
		for i := range min(len(a), len(b)) {
			if d := firstDifference(fmt.Sprintf("%s[%d]", path, i), a[i].Object, b[i].Object); d != "" {
				return d
			}
		}
		if len(a) != len(b) {
			return fmt.Sprintf("%s: %d objects, not %d", path, len(a), len(b))
		}
	case map[string]any:
		b := b.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(a)) {
			if d := firstDifference(path+"."+k, a[k], b[k]); d != "" {
				return d
			}
		}
		if len(a) != len(b) {
			return fmt.Sprintf("%s: keys %v, not %v", path, slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)))
		}
	case []any:
		b := b.([]any)
		for i := range min(len(a), len(b)) {
			if d := firstDifference(fmt.Sprintf("%s[%d]", path, i), a[i], b[i]); d != "" {
				return d
			}
		}
		if len(a) != len(b) {
			return fmt.Sprintf("%s: %d items, not %d", path, len(a), len(b))
		}
	default:
		if !reflect.DeepEqual(a, b) {
			return fmt.Sprintf("%s: %T %v, not %T %v", path, a, a, b, b)
		}
	}
	return ""
}

// BenchmarkReleaseObjects: what the judge pays for the release manifest's
// objects at every look at a store, from the record as Helm writes it (the
// manifest's YAML parsed) and from the cache's compact record (its JSON
// inflated and decoded).
func BenchmarkReleaseObjects(b *testing.B) {
	ns := Namespace("shop")
	vals, err := chartValues("shop", BuiltinPlans()[0], Options{BaseDomain: testBaseDomain, IngressClass: "nginx"})
	if err != nil {
		b.Fatal(err)
	}
	manifest, err := renderStoreIn(b, ns, vals, checkedRender(&Kube{}, ns, storeRoute{host: "shop." + testBaseDomain}))
	if err != nil {
		b.Fatal(err)
	}
	s := helmSecret(b, ns, 2, rcommon.StatusDeployed, manifest, true)
	d := newManifestDict()
	d.compact(&s) // the first record seen is the reference
	c, ok := d.compact(&s).(*compactRecord)
	if !ok {
		b.Fatal("not compacted")
	}
	for _, r := range []struct {
		name string
		rec  func() helmRecord
	}{
		{"record", func() helmRecord { r, _ := newHelmRecord(&s); return r }},
		{"compact", func() helmRecord { r, _ := c.record(); return r }},
	} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := r.rec()
				if objs, err := rec.objects(); err != nil || len(objs) == 0 {
					b.Fatal(objs, err)
				}
			}
		})
	}
}
