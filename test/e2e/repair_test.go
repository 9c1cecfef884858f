package e2e

import (
	"context"
	"slices"
	"strings"
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

// TestStoreRepair makes drift of each kind on one store, in three rounds
// (what the namespace steps bring back, what a re-applied release brings
// back, and what urumi did not make), and checks that `store check` names
// each, that `store repair` makes check pass where urumi may act, and
// that what a person made is reported and left in place, the store
// DEGRADED with the reason.
func TestStoreRepair(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storeDSN(t))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	name := "mended"
	ns := "store-" + name
	c := e.client
	e.ok("store", "create", name)
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
	names := func(rep provision.CheckReport, r result, want map[string]string) {
		t.Helper()
		if r.code != exitCheckFailed {
			t.Errorf("check: want exit %d: %s", exitCheckFailed, r)
		}
		for kind, object := range want {
			if _, ok := failedFinding(rep, kind, object); !ok {
				t.Errorf("no failed %s finding for %q: %s", kind, object, r.stdout)
			}
		}
	}
	repairs := func() int {
		entries, err := e.openDB().ListAudit(ctx, store.AuditFilter{Store: name})
		must(t, err)
		n := 0
		for _, a := range entries {
			if a.Action == "repair" && a.Outcome != "requested" {
				n++
			}
		}
		return n
	}
	passes("on a fresh store")
	allowAll := func(name string, labels map[string]string) {
		t.Helper()
		_, err := c.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{}}},
		}, metav1.CreateOptions{})
		must(t, err)
	}

	t.Run("namespace objects", func(t *testing.T) {
		before := credentials(t, e, name)
		must(t, c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "default-deny", metav1.DeleteOptions{}))
		setQuota(ctx, t, e, ns, corev1.ResourceLimitsCPU, "64")
		s, err := c.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
		must(t, err)
		delete(s.Data, charts.SecretKeyAuthSalt)
		_, err = c.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
		must(t, err)
		// An allow-all policy labelled as urumi's: urumi's to delete.
		allowAll("urumi-allow-all", map[string]string{"app.kubernetes.io/managed-by": "urumi", "urumi.io/store": name})
		rep, r := e.check(name)
		names(rep, r, map[string]string{
			provision.FindingNetworkPolicy: "NetworkPolicy/default-deny",
			provision.FindingQuota:         "ResourceQuota/store-quota",
			provision.FindingCredentials:   "Secret/store-credentials",
			provision.FindingExtraPolicy:   "NetworkPolicy/urumi-allow-all",
			provision.FindingIsolation:     "",
		})
		e.ok("store", "repair", name)
		passes("after the repair")
		after := credentials(t, e, name)
		if len(after[charts.SecretKeyAuthSalt]) == 0 {
			t.Error("the auth salt was not refilled")
		}
		for _, key := range []string{charts.SecretKeyMariaDBPassword, charts.SecretKeyMariaDBRootPassword} {
			if string(after[key]) != string(before[key]) {
				t.Errorf("repair changed %s", key)
			}
		}
		if _, err := c.NetworkingV1().NetworkPolicies(ns).Get(ctx, "urumi-allow-all", metav1.GetOptions{}); err == nil {
			t.Error("urumi's extra allow-all policy is still there")
		}
		if st, _ := e.getStore(name); st.Status != store.StatusReady {
			t.Errorf("store after repair is %s (%s), want READY", st.Status, st.Error)
		}
	})

	t.Run("release objects", func(t *testing.T) {
		st, _ := e.getStore(name)
		scale(ctx, t, e, ns, "wordpress", 0)
		_, err := c.CoreV1().Services(ns).Patch(ctx, "wordpress", types.MergePatchType,
			[]byte(`{"spec":{"selector":{"app.kubernetes.io/component":"mariadb"}}}`), metav1.PatchOptions{})
		must(t, err)
		rep, r := e.check(name)
		names(rep, r, map[string]string{
			provision.FindingWorkload:      "Deployment/wordpress",
			provision.FindingReleaseObject: "Service/wordpress",
		})
		e.ok("store", "repair", name)
		passes("after re-applying the release")
		after, _ := e.getStore(name)
		if after.Status != store.StatusReady || after.Release.Revision <= st.Release.Revision {
			t.Errorf("after the repair: %s on revision %d, want READY on a revision after %d", after.Status, after.Release.Revision, st.Release.Revision)
		}
	})

	t.Run("not urumi's", func(t *testing.T) {
		allowAll("someone-elses", nil)
		setQuota(ctx, t, e, ns, corev1.ResourceServicesNodePorts, "1")
		waitFor(ctx, t, "a NodePort Service", func() (bool, error) {
			_, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "open"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{charts.LabelComponent: charts.ComponentMariaDB},
					Ports: []corev1.ServicePort{{Port: 3306}}},
			}, metav1.CreateOptions{})
			return err == nil, err
		})
		rep, r := e.check(name)
		names(rep, r, map[string]string{
			provision.FindingExtraPolicy:    "NetworkPolicy/someone-elses",
			provision.FindingExposedService: "Service/open",
		})
		e.ok("store", "repair", name)
		st, _ := e.getStore(name)
		if st.Status != store.StatusDegraded || !strings.Contains(st.Error, "someone-elses") || !strings.Contains(st.Error, "Service/open") {
			t.Errorf("after repairing what urumi did not make: %s (%q), want DEGRADED naming both", st.Status, st.Error)
		}
		if _, err := c.NetworkingV1().NetworkPolicies(ns).Get(ctx, "someone-elses", metav1.GetOptions{}); err != nil {
			t.Errorf("repair touched a policy urumi did not make: %v", err)
		}
		if _, err := c.CoreV1().Services(ns).Get(ctx, "open", metav1.GetOptions{}); err != nil {
			t.Errorf("repair touched a Service urumi did not make: %v", err)
		}
		rep, r = e.check(name)
		if _, ok := failedFinding(rep, provision.FindingQuota, ""); ok {
			t.Errorf("repair left the quota loosened: %s", r.stdout)
		}
		// A person removes them; the next repair finds the store clean.
		must(t, c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "someone-elses", metav1.DeleteOptions{}))
		must(t, c.CoreV1().Services(ns).Delete(ctx, "open", metav1.DeleteOptions{}))
		e.ok("store", "repair", name)
		if st, _ := e.getStore(name); st.Status != store.StatusReady {
			t.Errorf("after the person's cleanup and a repair: %s (%q), want READY", st.Status, st.Error)
		}
	})

	if n := repairs(); n < 4 {
		t.Errorf("%d repairs audited, want 4", n)
	}
	entries, err := e.openDB().ListAudit(ctx, store.AuditFilter{Store: name})
	must(t, err)
	if !slices.ContainsFunc(entries, func(a store.AuditEntry) bool {
		return a.Action == "repair" && a.Outcome == "incomplete" && strings.Contains(a.Detail, "left for a person")
	}) {
		t.Error("no audit entry says what the repair left for a person")
	}
}
