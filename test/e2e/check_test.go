package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// exitCheckFailed is the exit code of a check that found a failure.
const exitCheckFailed = 6

func (e *env) check(args ...string) (provision.CheckReport, result) {
	e.t.Helper()
	r := e.run(append([]string{"store", "check"}, append(args, "-o", "json")...)...)
	var rep provision.CheckReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		e.t.Fatalf("store check %v: decode: %v\n%s", args, err, r)
	}
	return rep, r
}

// failedFinding finds a failed finding of kind about object (any object
// when object is "").
func failedFinding(rep provision.CheckReport, kind, object string) (provision.Finding, bool) {
	for _, s := range append([]provision.StoreCheck{{Findings: rep.Orphans}}, rep.Stores...) {
		for _, f := range s.Findings {
			if f.Status == provision.CheckFail && f.Kind == kind && (object == "" || f.Object == object) {
				return f, true
			}
		}
	}
	return provision.Finding{}, false
}

// TestStoreCheck creates one store, checks that it passes (with its
// isolation self-test), then makes each kind of drift in turn, checks
// that `store check` fails naming it, and puts the store back before the
// next.
func TestStoreCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storeDSN(t))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	name := "checked"
	ns := "store-" + name
	e.ok("store", "create", name)

	// The store's objects settle (the Deployment's status) a moment after
	// create returns or a drift is undone, on a loaded machine: poll.
	passes := func(what string) {
		t.Helper()
		var last result
		for {
			rep, r := e.check(name)
			if r.code == 0 && rep.Status != provision.CheckFail {
				return
			}
			last = r
			select {
			case <-ctx.Done():
				t.Fatalf("store check does not pass %s: %s", what, last)
			case <-time.After(time.Second):
			}
		}
	}
	passes("on a fresh store")
	rep, _ := e.check(name)
	iso := slices.IndexFunc(rep.Stores[0].Findings, func(f provision.Finding) bool { return f.Kind == provision.FindingIsolation })
	if iso < 0 || rep.Stores[0].Findings[iso].Status != provision.CheckPass {
		t.Fatalf("no passing isolation self-test: %+v", rep.Stores[0].Findings)
	}
	for _, s := range rep.Stores[0].Findings {
		if strings.Contains(s.Message+s.Fix, "password") && s.Kind != provision.FindingCredentials {
			t.Errorf("a finding speaks of passwords: %+v", s)
		}
	}

	c := e.client
	var savedSecret []byte // the removed key's value, between drift and undo
	drifts := []struct {
		name          string
		drift, undo   func(t *testing.T)
		kind, object  string
		extraKinds    []string
		checkFindings func(t *testing.T, rep provision.CheckReport, r result)
	}{
		{
			name: "deleted policy", kind: provision.FindingNetworkPolicy, object: "NetworkPolicy/default-deny",
			extraKinds: []string{provision.FindingIsolation},
			drift: func(t *testing.T) {
				must(t, c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "default-deny", metav1.DeleteOptions{}))
			},
			undo: func(t *testing.T) {
				must(t, recreatePolicy(ctx, e, ns, "default-deny", networkingv1.NetworkPolicySpec{
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}}, name))
			},
		},
		{
			name: "edited quota", kind: provision.FindingQuota, object: "ResourceQuota/store-quota",
			drift: func(t *testing.T) { setQuota(ctx, t, e, ns, corev1.ResourceLimitsCPU, "64") },
			undo:  func(t *testing.T) { setQuota(ctx, t, e, ns, corev1.ResourceLimitsCPU, "4") },
		},
		{
			name: "secret key removed", kind: provision.FindingCredentials, object: "Secret/store-credentials",
			drift: func(t *testing.T) {
				s, err := c.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
				must(t, err)
				saved := s.Data[charts.SecretKeyMariaDBPassword]
				delete(s.Data, charts.SecretKeyMariaDBPassword)
				_, err = c.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
				must(t, err)
				savedSecret = saved
			},
			undo: func(t *testing.T) {
				s, err := c.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
				must(t, err)
				s.Data[charts.SecretKeyMariaDBPassword] = savedSecret
				_, err = c.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
				must(t, err)
			},
			checkFindings: func(t *testing.T, rep provision.CheckReport, r result) {
				if strings.Contains(r.stdout, string(savedSecret)) || strings.Contains(r.stderr, string(savedSecret)) {
					t.Error("check printed a credential")
				}
			},
		},
		{
			name: "extra allow-all ingress policy", kind: provision.FindingIsolation,
			extraKinds: []string{provision.FindingExtraPolicy},
			drift: func(t *testing.T) {
				_, err := c.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
					ObjectMeta: metav1.ObjectMeta{Name: "allow-all"},
					Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
						Ingress: []networkingv1.NetworkPolicyIngressRule{{}}},
				}, metav1.CreateOptions{})
				must(t, err)
			},
			undo: func(t *testing.T) {
				must(t, c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "allow-all", metav1.DeleteOptions{}))
			},
			checkFindings: func(t *testing.T, rep provision.CheckReport, _ result) {
				f, _ := failedFinding(rep, provision.FindingIsolation, "")
				if !slices.ContainsFunc(f.Isolation, func(r provision.IsolationRow) bool {
					return r.From == "another store's WordPress" && r.To == "MariaDB" && r.Port == "TCP 3306" && r.Expected == "denied" && r.Got == "allowed"
				}) {
					t.Errorf("the isolation rows do not name another store reaching MariaDB on 3306: %+v", f.Isolation)
				}
				// In a table, the truth table is printed.
				r := e.run("store", "check", name)
				row := slices.ContainsFunc(strings.Split(r.stderr, "\n"), func(l string) bool {
					return strings.HasPrefix(l, "another store's WordPress") && strings.Contains(l, "MariaDB") && strings.Contains(l, "TCP 3306") && strings.HasSuffix(strings.TrimSpace(l), "FAIL")
				})
				if r.code != exitCheckFailed || !strings.Contains(r.stderr, "WANTED") || !row {
					t.Errorf("table output lacks the isolation table's row for another store reaching MariaDB: %s", r)
				}
			},
		},
		{
			name: "NodePort service added", kind: provision.FindingExposedService, object: "Service/open",
			drift: func(t *testing.T) {
				// The plan's quota forbids NodePorts: loosen it first (drift too).
				setQuota(ctx, t, e, ns, corev1.ResourceServicesNodePorts, "1")
				waitFor(ctx, t, "a NodePort Service", func() (bool, error) {
					_, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
						ObjectMeta: metav1.ObjectMeta{Name: "open"},
						Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{charts.LabelComponent: charts.ComponentMariaDB},
							Ports: []corev1.ServicePort{{Port: 3306}}},
					}, metav1.CreateOptions{})
					return err == nil, err
				})
			},
			undo: func(t *testing.T) {
				must(t, c.CoreV1().Services(ns).Delete(ctx, "open", metav1.DeleteOptions{}))
				setQuota(ctx, t, e, ns, corev1.ResourceServicesNodePorts, "0")
			},
		},
		{
			name: "deployment scaled to 0", kind: provision.FindingWorkload, object: "Deployment/wordpress",
			extraKinds: []string{provision.FindingReleaseObject},
			drift:      func(t *testing.T) { scale(ctx, t, e, ns, "wordpress", 0) },
			undo:       func(t *testing.T) { scale(ctx, t, e, ns, "wordpress", 1) },
		},
		{
			name: "release object edited", kind: provision.FindingReleaseObject, object: "Service/wordpress",
			drift: func(t *testing.T) {
				_, err := c.CoreV1().Services(ns).Patch(ctx, "wordpress", types.MergePatchType,
					[]byte(`{"spec":{"selector":{"app.kubernetes.io/component":"mariadb"}}}`), metav1.PatchOptions{})
				must(t, err)
			},
			undo: func(t *testing.T) {
				_, err := c.CoreV1().Services(ns).Patch(ctx, "wordpress", types.MergePatchType,
					[]byte(`{"spec":{"selector":{"app.kubernetes.io/component":"wordpress"}}}`), metav1.PatchOptions{})
				must(t, err)
			},
		},
	}
	for _, d := range drifts {
		t.Run(d.name, func(t *testing.T) {
			d.drift(t)
			rep, r := e.check(name)
			if r.code != exitCheckFailed || rep.Status != provision.CheckFail {
				t.Errorf("check after %s: want exit %d and status fail: %s", d.name, exitCheckFailed, r)
			}
			for _, kind := range append([]string{d.kind}, d.extraKinds...) {
				object := ""
				if kind == d.kind {
					object = d.object
				}
				if _, ok := failedFinding(rep, kind, object); !ok {
					t.Errorf("no failed %s finding for %q: %s", kind, object, r.stdout)
				}
			}
			if d.checkFindings != nil {
				d.checkFindings(t, rep, r)
			}
			d.undo(t)
			passes("after undoing " + d.name)
		})
	}
}

func recreatePolicy(ctx context.Context, e *env, ns, name string, spec networkingv1.NetworkPolicySpec, store string) error {
	_, err := e.client.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"app.kubernetes.io/managed-by": "urumi", "urumi.io/store": store, "urumi.io/owner": "tester"}},
		Spec: spec,
	}, metav1.CreateOptions{})
	return err
}

func setQuota(ctx context.Context, t *testing.T, e *env, ns string, name corev1.ResourceName, v string) {
	t.Helper()
	// The quota controller writes the quota's status with every pod the
	// cron job starts: read and write again on a conflict.
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		q, err := e.client.CoreV1().ResourceQuotas(ns).Get(ctx, "store-quota", metav1.GetOptions{})
		if err != nil {
			return err
		}
		q.Spec.Hard[name] = resource.MustParse(v)
		_, err = e.client.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{})
		return err
	}))
}

func scale(ctx context.Context, t *testing.T, e *env, ns, name string, n int32) {
	t.Helper()
	// The Deployment controller writes its status: read and write again on
	// a conflict.
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := e.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Replicas = ptr.To(n)
		_, err = e.client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}))
	waitFor(ctx, t, "the Deployment's status", func() (bool, error) {
		d, err := e.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Status.Replicas == n && d.Status.ReadyReplicas == n, nil
	})
}

// TestCheckOrphans reports both sides with --all: a namespace labelled
// urumi's that has no store, and a READY store whose namespace is gone.
func TestCheckOrphans(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storeDSN(t))
	ctx := context.Background()
	ghost := "store-ghost-orphan"
	_, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ghost,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "urumi", "urumi.io/store": "ghost-orphan"}}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { _ = e.client.CoreV1().Namespaces().Delete(context.Background(), ghost, metav1.DeleteOptions{}) })

	// A record made READY without its namespace (as if someone deleted it).
	db := e.openDB()
	st, job, err := db.CreateStore(ctx, store.Store{Name: "lost-ns", Owner: "tester", Plan: "medium", Namespace: "store-lost-ns"}, "tester")
	must(t, err)
	must(t, db.CancelJob(ctx, job.ID))
	st.Status = store.StatusReady
	must(t, db.UpdateStore(ctx, st))
	// A queued store is still being made: not an orphan.
	_, _, err = db.CreateStore(ctx, store.Store{Name: "queued-ns", Owner: "tester", Plan: "medium", Namespace: "store-queued-ns"}, "tester")
	must(t, err)

	rep, r := e.check("--all")
	if r.code != exitCheckFailed {
		t.Fatalf("check --all: %s", r)
	}
	if _, ok := failedFinding(rep, provision.FindingOrphanNS, "Namespace/"+ghost); !ok {
		t.Errorf("the unowned namespace is not reported: %s", r.stdout)
	}
	if _, ok := failedFinding(rep, provision.FindingOrphanRecord, "Namespace/store-lost-ns"); !ok {
		t.Errorf("the store whose namespace is gone is not reported: %s", r.stdout)
	}
	if _, ok := failedFinding(rep, provision.FindingOrphanRecord, "Namespace/store-queued-ns"); ok {
		t.Errorf("a queued store is reported as an orphan: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "orphans") {
		t.Errorf("the error does not count orphans: %s", r.stderr)
	}
	// A single store by name: not found is exit 3, as for get.
	if r := e.run("store", "check", "no-such-store"); r.code != 3 {
		t.Errorf("check of a missing store: %s", r)
	}

	// Each side resolved: the record forgotten, and a store whose record
	// was lost (its namespace holding its release, credentials and data)
	// adopted back, keeping them.
	if r := e.run("store", "forget", "queued-ns"); r.code == 0 {
		t.Errorf("forget of a store being made: %s", r)
	}
	e.ok("store", "forget", "lost-ns")
	e.ok("store", "create", "adoptee", "--owner", "tester")
	before := credentials(t, e, "adoptee")
	must(t, db.RemoveStore(ctx, "adoptee"))
	rep, r = e.check("--all")
	if _, ok := failedFinding(rep, provision.FindingOrphanNS, "Namespace/store-adoptee"); !ok {
		t.Errorf("the store whose record was lost is not reported: %s", r.stdout)
	}
	if r := e.run("store", "adopt", "adoptee", "--owner", "bad owner"); r.code != 2 {
		t.Errorf("adopt with an invalid owner: %s", r)
	}
	e.ok("store", "adopt", "adoptee")
	st, ok := e.getStore("adoptee")
	if !ok || st.Status != store.StatusReady || st.Owner != "tester" || st.Release.Revision != 2 {
		t.Errorf("adopted store: %+v, want READY, owner tester (from the namespace), revision 2", st)
	}
	if after := credentials(t, e, "adoptee"); string(after[charts.SecretKeyMariaDBPassword]) != string(before[charts.SecretKeyMariaDBPassword]) {
		t.Error("adopt changed the database password")
	}
	if rep, r := e.check("adoptee"); r.code != 0 {
		t.Errorf("the adopted store does not pass its check: %s", rep.Status)
	}
	rep, r = e.check("--all")
	for _, ns := range []string{"store-lost-ns", "store-adoptee"} {
		if f, ok := failedFinding(rep, provision.FindingOrphanRecord, "Namespace/"+ns); ok {
			t.Errorf("still an orphan after forget/adopt: %+v", f)
		}
		if f, ok := failedFinding(rep, provision.FindingOrphanNS, "Namespace/"+ns); ok {
			t.Errorf("still an orphan after forget/adopt: %+v", f)
		}
	}
	entries, err := db.ListAudit(ctx, store.AuditFilter{})
	must(t, err)
	for _, action := range []string{"forget", "adopt"} {
		if !slices.ContainsFunc(entries, func(a store.AuditEntry) bool { return a.Action == action }) {
			t.Errorf("no %s audit entry", action)
		}
	}
	e.ok("audit", "verify")
}

func (e *env) doctor(args ...string) (provision.DoctorReport, result) {
	e.t.Helper()
	r := e.run(append([]string{"doctor", "-o", "json"}, args...)...)
	var rep provision.DoctorReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		e.t.Fatalf("doctor: decode: %v\n%s", err, r)
	}
	return rep, r
}

func doctorFinding(rep provision.DoctorReport, kind string) provision.Finding {
	for _, f := range rep.Findings {
		if f.Kind == kind {
			return f
		}
	}
	return provision.Finding{}
}

// TestDoctor passes on the simulated cluster and fails naming what is
// missing: the TLS issuer, then the IngressClass (put back after).
func TestDoctor(t *testing.T) {
	e := newEnv(t, storeDSN(t))
	ctx := context.Background()
	rep, r := e.doctor()
	if r.code != 0 || rep.Status == provision.CheckFail {
		t.Fatalf("doctor on the simulated cluster: %s", r)
	}
	for _, kind := range []string{provision.DoctorServerVersion, provision.DoctorIngressClass, provision.DoctorIngressNS,
		provision.DoctorStorageClass, provision.DoctorTLSIssuer, provision.DoctorPodSecurity, provision.DoctorPermissions} {
		if f := doctorFinding(rep, kind); f.Status != provision.CheckPass {
			t.Errorf("%s: %+v", kind, f)
		}
	}
	if f := doctorFinding(rep, provision.DoctorServerVersion); !strings.Contains(f.Message, "within one minor version") {
		t.Errorf("the version skew is not judged: %+v", f)
	}
	if f := doctorFinding(rep, provision.DoctorNetworkPlugins); f.Status != provision.CheckInfo || !strings.Contains(f.Fix, "kubectl run") {
		t.Errorf("the network plugin line: %+v", f)
	}
	// The Pod Security test leaves no namespace of its own behind.
	waitFor(ctx, t, "doctor's namespaces to go", func() (bool, error) {
		l, err := e.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: "urumi.io/doctor=true"})
		if err != nil {
			return false, err
		}
		for _, n := range l.Items {
			if n.DeletionTimestamp == nil {
				return false, nil
			}
		}
		return true, nil
	})

	rep, r = e.doctor("--tls-issuer", "letsencrypt")
	if r.code != exitCheckFailed || !strings.Contains(r.stderr, "tls-issuer") {
		t.Errorf("doctor with a TLS issuer and no cert-manager: %s", r)
	}
	if f := doctorFinding(rep, provision.DoctorTLSIssuer); f.Status != provision.CheckFail || !strings.Contains(f.Message, "ClusterIssuer") {
		t.Errorf("tls finding: %+v", f)
	}

	ic, err := e.client.NetworkingV1().IngressClasses().Get(ctx, "nginx", metav1.GetOptions{})
	must(t, err)
	must(t, e.client.NetworkingV1().IngressClasses().Delete(ctx, "nginx", metav1.DeleteOptions{}))
	t.Cleanup(func() {
		ic.ResourceVersion, ic.UID = "", ""
		if _, err := e.client.NetworkingV1().IngressClasses().Create(context.Background(), ic, metav1.CreateOptions{}); err != nil {
			t.Errorf("put the IngressClass back: %v", err)
		}
	})
	rep, r = e.doctor()
	if r.code != exitCheckFailed || !strings.Contains(r.stderr, "ingress-class") {
		t.Errorf("doctor without the IngressClass: %s", r)
	}
	if f := doctorFinding(rep, provision.DoctorIngressClass); f.Status != provision.CheckFail || !strings.Contains(f.Message, "nginx") {
		t.Errorf("ingress class finding: %+v", f)
	}
}
