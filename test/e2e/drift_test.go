package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// driftAudit is the reconciler's audit entries for a store, oldest first.
func driftAudit(ctx context.Context, t *testing.T, db store.DB, name string) []store.AuditEntry {
	t.Helper()
	entries, err := db.ListAudit(ctx, store.AuditFilter{Store: name})
	must(t, err)
	var out []store.AuditEntry
	for _, a := range entries {
		if a.Action == "drift" || a.Action == "repair" {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b store.AuditEntry) int { return a.Time.Compare(b.Time) })
	return out
}

// TestDriftReconciler runs `urumi serve` (repair mode) beside a READY
// store, makes each kind of drift the issue names, and checks that serve
// notices it on its own, marks the store DEGRADED with an audit entry
// naming it, repairs what urumi made until `store check` passes, and
// leaves what a person made (an allow-all policy, a NodePort Service)
// DEGRADED with the reason until the person removes it. Then a second
// serve with --drift=report only marks a store and changes nothing.
func TestDriftReconciler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storeDSN(t))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c := e.client
	name := "drifting"
	ns := "store-" + name
	e.ok("store", "create", name)
	db := e.openDB()

	serve, serveOut := e.start("serve", "--addr", "127.0.0.1:0", "--workers", "2", "--drift", "repair")
	waitFor(ctx, t, "serve's drift reconciler to start", func() (bool, error) {
		return strings.Contains(serveOut.String(), "drift reconciler watching"), nil
	})
	seen := 0 // drift entries already looked at
	// healed waits for a new drift entry naming each of objects, then for
	// the store to be READY with its check passing.
	healed := func(what string, objects ...string) time.Duration {
		t.Helper()
		start := time.Now()
		var found store.AuditEntry
		waitFor(ctx, t, "a drift entry for "+what, func() (bool, error) {
			for _, a := range driftAudit(ctx, t, db, name)[seen:] {
				if a.Action == "drift" && a.Outcome == "found" && a.Actor == provision.ReconcilerActor {
					found = a
					return true, nil
				}
			}
			return false, nil
		})
		for _, o := range objects {
			if !strings.Contains(found.Detail, o) {
				t.Errorf("%s: the drift entry does not name %s: %q", what, o, found.Detail)
			}
		}
		if !strings.Contains(found.Detail, "repair queued") {
			t.Errorf("%s: no repair was queued: %q", what, found.Detail)
		}
		var last result
		waitFor(ctx, t, what+" repaired", func() (bool, error) {
			st, _ := e.getStore(name)
			if st.Status != store.StatusReady {
				return false, nil
			}
			rep, r := e.check(name)
			last = r
			return r.code == 0 && rep.Status != provision.CheckFail, nil
		})
		took := time.Since(start)
		_ = last
		seen = len(driftAudit(ctx, t, db, name))
		t.Logf("%s: repaired by serve in %s", what, took.Round(100*time.Millisecond))
		return took
	}

	// Each kind alone, so that each is seen, named and healed.
	t.Run("deleted policy", func(t *testing.T) {
		must(t, c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "default-deny", metav1.DeleteOptions{}))
		healed("a deleted policy", "NetworkPolicy/default-deny")
	})
	t.Run("edited quota", func(t *testing.T) {
		setQuota(ctx, t, e, ns, corev1.ResourceLimitsCPU, "64")
		healed("an edited quota", "ResourceQuota/store-quota")
	})
	t.Run("secret key removed", func(t *testing.T) {
		s, err := c.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
		must(t, err)
		delete(s.Data, charts.SecretKeyAuthSalt)
		_, err = c.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
		must(t, err)
		healed("a removed Secret key", "Secret/store-credentials")
		if len(credentials(t, e, name)[charts.SecretKeyAuthSalt]) == 0 {
			t.Error("the auth salt was not refilled")
		}
	})
	t.Run("extra allow-all policy of urumi's", func(t *testing.T) {
		_, err := c.NetworkingV1().NetworkPolicies(ns).Create(ctx, allowAllPolicy("urumi-allow-all",
			map[string]string{"app.kubernetes.io/managed-by": "urumi", "urumi.io/store": name}), metav1.CreateOptions{})
		must(t, err)
		healed("an extra allow-all policy", "NetworkPolicy/urumi-allow-all")
	})
	t.Run("deployment scaled to 0", func(t *testing.T) {
		scale(ctx, t, e, ns, "wordpress", 0)
		healed("a Deployment scaled to 0", "Deployment/wordpress")
	})
	t.Run("release object edited", func(t *testing.T) {
		// (Making the chart's Service a NodePort is refused by the
		// store's quota: services.nodeports is 0.)
		_, err := c.CoreV1().Services(ns).Patch(ctx, "wordpress", types.MergePatchType,
			[]byte(`{"spec":{"selector":{"app.kubernetes.io/component":"mariadb"}}}`), metav1.PatchOptions{})
		must(t, err)
		healed("the chart's Service pointed at MariaDB", "Service/wordpress")
		svc, err := c.CoreV1().Services(ns).Get(ctx, "wordpress", metav1.GetOptions{})
		must(t, err)
		if got := svc.Spec.Selector[charts.LabelComponent]; got != charts.ComponentWordPress {
			t.Errorf("the chart's Service selects %q after the repair", got)
		}
	})

	t.Run("what a person made", func(t *testing.T) {
		_, err := c.NetworkingV1().NetworkPolicies(ns).Create(ctx, allowAllPolicy("someone-elses", nil), metav1.CreateOptions{})
		must(t, err)
		waitFor(ctx, t, "the store DEGRADED naming the person's policy", func() (bool, error) {
			st, _ := e.getStore(name)
			return st.Status == store.StatusDegraded && strings.Contains(st.Error, "someone-elses"), nil
		})
		// The repair (if any ran) left it: urumi deletes only what it made.
		waitFor(ctx, t, "no job in flight", func() (bool, error) {
			_, err := db.ActiveJob(ctx, name)
			return err != nil, nil
		})
		if _, err := c.NetworkingV1().NetworkPolicies(ns).Get(ctx, "someone-elses", metav1.GetOptions{}); err != nil {
			t.Errorf("serve touched a policy urumi did not make: %v", err)
		}
		if st, _ := e.getStore(name); st.Status != store.StatusDegraded {
			t.Errorf("with a person's allow-all policy in place the store is %s (%q), want DEGRADED", st.Status, st.Error)
		}
		// The person removes it: the store goes back to READY by itself.
		must(t, c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "someone-elses", metav1.DeleteOptions{}))
		waitFor(ctx, t, "the store READY once the person's policy is gone", func() (bool, error) {
			st, _ := e.getStore(name)
			return st.Status == store.StatusReady, nil
		})
		if !slices.ContainsFunc(driftAudit(ctx, t, db, name), func(a store.AuditEntry) bool {
			return a.Action == "drift" && a.Outcome == "resolved"
		}) {
			t.Error("no audit entry says the drift was resolved")
		}
	})

	t.Run("orphans", func(t *testing.T) {
		ghost := "store-ghost-drift"
		_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ghost,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "urumi", "urumi.io/store": "ghost-drift"}}}, metav1.CreateOptions{})
		must(t, err)
		t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), ghost, metav1.DeleteOptions{}) })
		waitFor(ctx, t, "serve to report the orphan namespace", func() (bool, error) {
			return strings.Contains(serveOut.String(), "Namespace/"+ghost), nil
		})
	})

	// Metrics: what was found and repaired, by kind.
	metrics := serveMetrics(t, serveOut.String())
	for _, want := range []string{
		`urumi_drift_found_total{kind="network-policy"}`,
		`urumi_drift_found_total{kind="quota"}`,
		`urumi_drift_repaired_total{kind="network-policy"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	must(t, serve.Process.Signal(syscall.SIGTERM))
	_, _ = serve.Process.Wait()

	// A READY record whose namespace is gone (as if someone deleted it),
	// found by the next serve when it starts.
	lost, job, err := db.CreateStore(ctx, store.Store{Name: "lost-drift", Owner: "tester", Plan: "medium", Namespace: "store-lost-drift"}, "tester")
	must(t, err)
	must(t, db.CancelJob(ctx, job.ID))
	lost.Status = store.StatusReady
	must(t, db.UpdateStore(ctx, lost))

	t.Run("report only", func(t *testing.T) {
		_, out := e.start("serve", "--addr", "127.0.0.1:0", "--workers", "2", "--drift", "report")
		waitFor(ctx, t, "the reporting reconciler to start", func() (bool, error) {
			return strings.Contains(out.String(), "drift reconciler watching"), nil
		})
		must(t, c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "default-deny", metav1.DeleteOptions{}))
		waitFor(ctx, t, "the store DEGRADED", func() (bool, error) {
			st, _ := e.getStore(name)
			return st.Status == store.StatusDegraded && strings.Contains(st.Error, "NetworkPolicy/default-deny"), nil
		})
		// More drift while DEGRADED: the reason grows to name it.
		setQuota(ctx, t, e, ns, corev1.ResourceServicesNodePorts, "1")
		waitFor(ctx, t, "a NodePort Service", func() (bool, error) {
			_, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "open"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{charts.LabelComponent: charts.ComponentMariaDB},
					Ports: []corev1.ServicePort{{Port: 3306}}},
			}, metav1.CreateOptions{})
			return err == nil, nil
		})
		waitFor(ctx, t, "the reason to name the NodePort Service", func() (bool, error) {
			st, _ := e.getStore(name)
			return st.Status == store.StatusDegraded && strings.Contains(st.Error, "Service/open") &&
				strings.Contains(st.Error, "NetworkPolicy/default-deny"), nil
		})
		time.Sleep(5 * time.Second) // long enough for a repair to have started, were one queued
		if _, err := c.NetworkingV1().NetworkPolicies(ns).Get(ctx, "default-deny", metav1.GetOptions{}); err == nil {
			t.Error("--drift=report put the policy back")
		}
		if job, err := db.ActiveJob(ctx, name); err == nil {
			t.Errorf("--drift=report queued job %d (%s)", job.ID, job.Kind)
		}
		if st, _ := e.getStore(name); st.Status != store.StatusDegraded {
			t.Errorf("--drift=report: the store is %s, want DEGRADED", st.Status)
		}
		entries := driftAudit(ctx, t, db, name)
		if last := entries[len(entries)-1]; last.Action != "drift" || !strings.Contains(last.Detail, "reported only") {
			t.Errorf("last audit entry %+v, want the drift reported only", last)
		}
		must(t, c.CoreV1().Services(ns).Delete(ctx, "open", metav1.DeleteOptions{}))
		e.ok("store", "repair", name)
		if st, _ := e.getStore(name); st.Status != store.StatusReady {
			t.Errorf("after a person's repair: %s (%q)", st.Status, st.Error)
		}

		waitFor(ctx, t, "the orphan record DEGRADED", func() (bool, error) {
			st, _ := e.getStore("lost-drift")
			return st.Status == store.StatusDegraded && strings.Contains(st.Error, "store forget lost-drift"), nil
		})
		if !strings.Contains(out.String(), "Namespace/store-lost-drift") {
			t.Errorf("serve did not log the orphan record:\n%s", out)
		}
		if r := e.run("store", "forget", name); r.code == 0 || !strings.Contains(r.stderr, "still exists") {
			t.Errorf("forget of a store whose namespace exists: %s", r)
		}
		e.ok("store", "forget", "lost-drift")
		if _, ok := e.getStore("lost-drift"); ok {
			t.Error("the forgotten store is still listed")
		}
	})
	e.ok("audit", "verify")
}

func allowAllPolicy(name string, labels map[string]string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{}}},
	}
}

// serveMetrics reads /metrics of the serve whose log is out.
func serveMetrics(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, "msg=listening addr=")
	if i < 0 {
		t.Fatalf("serve did not say where it listens:\n%s", out)
	}
	addr := strings.Fields(out[i+len("msg=listening addr="):])[0]
	return httpGet(t, fmt.Sprintf("http://%s/metrics", addr))
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}
