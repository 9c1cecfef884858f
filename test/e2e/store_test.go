package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/store"
)

func decodeStore(t *testing.T, r result) store.Store {
	t.Helper()
	var s store.Store
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("decode store JSON: %v\n%s", err, r)
	}
	return s
}

// TestStoreLifecycle creates a store, checks everything it is on the
// cluster, refuses a duplicate, deletes it and checks it is all gone.
func TestStoreLifecycle(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b.dsn(t))
			ctx := context.Background()
			name := "life-" + b.name
			ns := "store-" + name

			r := e.ok("store", "create", name, "-o", "json")
			s := decodeStore(t, r)
			if s.Status != store.StatusReady || s.URL != "http://"+name+".localhost" || s.Namespace != ns || s.Owner != "tester" || s.Plan != "medium" {
				t.Fatalf("created store: %+v", s)
			}
			var phases []string
			for _, p := range s.Phases {
				phases = append(phases, p.Name)
			}
			if want := []string{"namespace", "quota", "network-policies", "credentials", "helm-install"}; !slices.Equal(phases, want) {
				t.Fatalf("phases %v, want %v", phases, want)
			}
			if !strings.Contains(r.stderr, "helm-install") || strings.Contains(r.stdout, "helm-install  ") {
				t.Fatalf("progress belongs on stderr, data on stdout:\n%s", r)
			}

			// The namespace and its guard rails.
			n, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			must(t, err)
			for k, v := range map[string]string{
				"app.kubernetes.io/managed-by": "urumi", "urumi.io/store": name,
				"pod-security.kubernetes.io/enforce": "restricted",
			} {
				if n.Labels[k] != v {
					t.Errorf("namespace label %s=%q, want %q", k, n.Labels[k], v)
				}
			}
			q, err := e.client.CoreV1().ResourceQuotas(ns).Get(ctx, "store-quota", metav1.GetOptions{})
			must(t, err)
			if q.Spec.Hard.Name(corev1.ResourceLimitsCPU, "").String() != "4" || q.Spec.Hard.Name(corev1.ResourceLimitsMemory, "").String() != "4Gi" {
				t.Errorf("medium plan quota: %v", q.Spec.Hard)
			}
			_, err = e.client.CoreV1().LimitRanges(ns).Get(ctx, "store-limits", metav1.GetOptions{})
			must(t, err)
			checkPolicies(t, e, ns)

			// Credentials: generated, complete, only in the Secret.
			sec, err := e.client.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
			must(t, err)
			for _, k := range charts.SecretKeys() {
				if len(sec.Data[k]) < 32 {
					t.Errorf("secret key %s has %d bytes", k, len(sec.Data[k]))
				}
			}

			// The chart's workloads are up and labelled.
			d, err := e.client.AppsV1().Deployments(ns).Get(ctx, "wordpress", metav1.GetOptions{})
			must(t, err)
			if d.Status.AvailableReplicas != 1 {
				t.Errorf("wordpress available replicas %d", d.Status.AvailableReplicas)
			}
			ss, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, "mariadb", metav1.GetOptions{})
			must(t, err)
			if ss.Status.ReadyReplicas != 1 {
				t.Errorf("mariadb ready replicas %d", ss.Status.ReadyReplicas)
			}
			svc, err := e.client.CoreV1().Services(ns).Get(ctx, "mariadb", metav1.GetOptions{})
			must(t, err)
			if svc.Spec.Type != corev1.ServiceTypeClusterIP {
				t.Errorf("mariadb service type %s", svc.Spec.Type)
			}
			ing, err := e.client.NetworkingV1().Ingresses(ns).Get(ctx, "wordpress", metav1.GetOptions{})
			must(t, err)
			if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || ing.Spec.Rules[0].Host != name+".localhost" {
				t.Errorf("ingress: %+v", ing.Spec)
			}
			pvcs, err := e.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
			must(t, err)
			if len(pvcs.Items) != 2 {
				t.Errorf("%d claims, want 2 (wordpress, mariadb)", len(pvcs.Items))
			}
			for _, p := range pvcs.Items {
				if p.Status.Phase != corev1.ClaimBound {
					t.Errorf("claim %s is %s", p.Name, p.Status.Phase)
				}
			}
			jobs, err := e.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: charts.LabelComponent + "=" + charts.ComponentSetup})
			must(t, err)
			if len(jobs.Items) != 1 || jobs.Items[0].Status.Succeeded != 1 {
				t.Errorf("setup job: %d jobs", len(jobs.Items))
			}
			// WP-Cron runs from a CronJob, one run at a time.
			cj, err := e.client.BatchV1().CronJobs(ns).Get(ctx, "wordpress-cron", metav1.GetOptions{})
			must(t, err)
			if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || cj.Spec.JobTemplate.Spec.Template.Labels[charts.LabelComponent] != charts.ComponentCron {
				t.Errorf("cron job: %+v", cj.Spec)
			}

			// A second create of the name fails cleanly and changes nothing.
			dup := e.run("store", "create", name)
			if dup.code != 4 || !strings.Contains(dup.stderr, "already exists") {
				t.Fatalf("duplicate create: %s", dup)
			}
			if got := e.ok("quota", "get", "-o", "json").stdout; !strings.Contains(got, `"used": 1`) {
				t.Fatalf("quota after create: %s", got)
			}

			// list shows it; delete removes everything and frees the quota.
			if got := e.ok("store", "list").stdout; !strings.Contains(got, name) || !strings.Contains(got, "READY") {
				t.Fatalf("store list: %s", got)
			}
			e.ok("store", "delete", name)
			_, err = e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Fatalf("namespace after delete: %v", err)
			}
			if _, found := e.getStore(name); found {
				t.Fatal("store still listed after delete")
			}
			if got := e.ok("quota", "get", "-o", "json").stdout; !strings.Contains(got, `"used": 0`) {
				t.Fatalf("quota after delete: %s", got)
			}
			var entries []store.AuditEntry
			must(t, json.Unmarshal([]byte(e.ok("audit", "--store", name, "-o", "json").stdout), &entries))
			var got []string
			for _, a := range entries {
				got = append(got, a.Action+":"+a.Outcome)
			}
			want := []string{"create:requested", "create:succeeded", "create:denied", "delete:requested", "delete:succeeded"}
			if !slices.Equal(got, want) {
				t.Fatalf("audit of %s: %v, want %v", name, got, want)
			}
			e.ok("audit", "verify")
			// The name is free again.
			e.ok("store", "create", name, "--plan", "small")
			e.ok("store", "delete", name)
		})
	}
}

func checkPolicies(t *testing.T, e *env, ns string) {
	t.Helper()
	pols, err := e.client.NetworkingV1().NetworkPolicies(ns).List(context.Background(), metav1.ListOptions{})
	must(t, err)
	byName := map[string]networkingv1.NetworkPolicy{}
	for _, p := range pols.Items {
		byName[p.Name] = p
	}
	deny, ok := byName["default-deny"]
	if !ok || len(deny.Spec.PodSelector.MatchLabels)+len(deny.Spec.PodSelector.MatchExpressions) != 0 ||
		len(deny.Spec.Ingress)+len(deny.Spec.Egress) != 0 || len(deny.Spec.PolicyTypes) != 2 {
		t.Fatalf("default-deny policy: %+v", deny.Spec)
	}
	in, ok := byName["allow-ingress-to-wordpress"]
	if !ok || in.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "ingress-nginx" ||
		in.Spec.Ingress[0].Ports[0].Port.IntValue() != charts.WordPressPort {
		t.Fatalf("ingress policy: %+v", in.Spec)
	}
	for _, n := range []string{"allow-dns", "allow-mariadb-from-wordpress", "allow-wordpress-to-mariadb", "allow-setup-https-egress"} {
		if _, ok := byName[n]; !ok {
			t.Errorf("policy %s missing", n)
		}
	}
	// The setup Job and, on the default plans, WordPress (payment
	// gateways, shipping and tax APIs) reach public HTTPS and nothing in
	// private, shared, link-local or loopback ranges, IPv4 or IPv6.
	for _, n := range []string{"allow-setup-https-egress", "allow-wordpress-egress"} {
		p, ok := byName[n]
		if !ok || len(p.Spec.Egress) != 1 {
			t.Errorf("policy %s: %+v", n, p.Spec)
			continue
		}
		egress := p.Spec.Egress[0]
		if len(egress.To) != 2 || egress.Ports[0].Port.IntValue() != 443 {
			t.Errorf("%s: %+v", n, egress)
			continue
		}
		v4, v6 := egress.To[0].IPBlock, egress.To[1].IPBlock
		if v4 == nil || v4.CIDR != "0.0.0.0/0" || v6 == nil || v6.CIDR != "::/0" {
			t.Errorf("%s peers: %+v", n, egress.To)
			continue
		}
		for _, cidr := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"} {
			if !slices.Contains(v4.Except, cidr) {
				t.Errorf("%s reaches %s", n, cidr)
			}
		}
		for _, cidr := range []string{"fc00::/7", "fe80::/10", "::1/128"} {
			if !slices.Contains(v6.Except, cidr) {
				t.Errorf("%s reaches %s", n, cidr)
			}
		}
	}
	// WordPress' egress is also the cron job's, which runs WordPress' code.
	sel := byName["allow-wordpress-egress"].Spec.PodSelector
	if len(sel.MatchLabels) != 0 || len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != charts.LabelComponent ||
		sel.MatchExpressions[0].Operator != metav1.LabelSelectorOpIn ||
		!slices.Equal(sel.MatchExpressions[0].Values, []string{charts.ComponentWordPress, charts.ComponentCron}) {
		t.Errorf("WordPress egress selects %+v, want WordPress and the cron job", sel)
	}
}
