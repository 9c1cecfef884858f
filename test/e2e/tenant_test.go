package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/provision/hostiletest"
	"github.com/urumi/urumi/internal/store"
)

// tinyPlan is an operator's plan: small, no public egress, one mail relay.
const tinyPlan = `default-plan: tiny
plans:
  - name: tiny
    description: A tiny shop that only sends mail.
    quota: {cpu: "1", memory: 1Gi, storage: 4Gi, pods: 6, persistentVolumeClaims: 2}
    wordpress: {requestCpu: 100m, requestMemory: 128Mi, limitCpu: 500m, limitMemory: 384Mi}
    mariadb: {requestCpu: 100m, requestMemory: 128Mi, limitCpu: 250m, limitMemory: 384Mi}
    setup: {requestCpu: 50m, requestMemory: 64Mi, limitCpu: 125m, limitMemory: 128Mi}
    cron: {requestCpu: 50m, requestMemory: 64Mi, limitCpu: 125m, limitMemory: 128Mi}
    wordpressStorage: 1Gi
    mariadbStorage: 1Gi
    egress: {publicHTTPS: false, mailRelay: "203.0.113.10:587"}
    ownerValues:
      - key: site.title
        maxLength: 80
`

// oversizedPlans has a plan whose WordPress asks for more CPU than any
// node has: it passes urumi's checks (it fits its own quota), and its
// pods can never be scheduled.
const oversizedPlans = `default-plan: medium
plans:
  - name: medium
    description: A busy shop.
    quota: {cpu: "4", memory: 4Gi, storage: 20Gi, pods: 15, persistentVolumeClaims: 4}
    wordpress: {requestCpu: 500m, requestMemory: 512Mi, limitCpu: "2", limitMemory: 1536Mi}
    mariadb: {requestCpu: 250m, requestMemory: 512Mi, limitCpu: "1", limitMemory: 1536Mi}
    setup: {requestCpu: 100m, requestMemory: 128Mi, limitCpu: 500m, limitMemory: 512Mi}
    wordpressStorage: 5Gi
    mariadbStorage: 5Gi
    egress: {publicHTTPS: true}
  - name: oversized
    description: More than a node can hold.
    quota: {cpu: "100", memory: 4Gi, storage: 20Gi, pods: 15, persistentVolumeClaims: 4}
    wordpress: {requestCpu: "80", requestMemory: 512Mi, limitCpu: "80", limitMemory: 1536Mi}
    mariadb: {requestCpu: 250m, requestMemory: 512Mi, limitCpu: "1", limitMemory: 1536Mi}
    setup: {requestCpu: 100m, requestMemory: 128Mi, limitCpu: 500m, limitMemory: 512Mi}
    wordpressStorage: 5Gi
    mariadbStorage: 5Gi
    egress: {publicHTTPS: true}
`

func (e *env) writeConfig(text string) {
	e.t.Helper()
	dir := filepath.Join(e.home, ".config", "urumi")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// TestOperatorPlan: a plan from the config file is listed, is the default,
// and provisions a store with its quota and its egress.
func TestOperatorPlan(t *testing.T) {
	e := newEnv(t, storeDSN(t))
	e.writeConfig(tinyPlan)
	ctx := context.Background()

	var plans []provision.Plan
	if err := json.Unmarshal([]byte(e.ok("plan", "list", "-o", "json").stdout), &plans); err != nil {
		t.Fatal(err)
	}
	if len(plans) != 1 || plans[0].Name != "tiny" || plans[0].Egress.PublicHTTPS || plans[0].Egress.MailRelay != "203.0.113.10:587" {
		t.Fatalf("plans %+v", plans)
	}

	s := decodeStore(t, e.ok("store", "create", "tiny-shop", "-o", "json"))
	if s.Status != store.StatusReady || s.Plan != "tiny" {
		t.Fatalf("store %+v", s)
	}
	ns := "store-tiny-shop"
	q, err := e.client.CoreV1().ResourceQuotas(ns).Get(ctx, "store-quota", metav1.GetOptions{})
	must(t, err)
	if cpu, mem := q.Spec.Hard[corev1.ResourceLimitsCPU], q.Spec.Hard[corev1.ResourceLimitsMemory]; cpu.String() != "1" || mem.String() != "1Gi" {
		t.Errorf("quota %v", q.Spec.Hard)
	}
	// The plan sizes the cron job too.
	cj, err := e.client.BatchV1().CronJobs(ns).Get(ctx, "wordpress-cron", metav1.GetOptions{})
	must(t, err)
	if lim := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Resources.Limits; lim.Cpu().String() != "125m" || lim.Memory().String() != "128Mi" {
		t.Errorf("cron job limits %v, want the plan's 125m and 128Mi", lim)
	}
	p, err := e.client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "allow-wordpress-egress", metav1.GetOptions{})
	must(t, err)
	if eg := p.Spec.Egress; len(eg) != 1 || eg[0].To[0].IPBlock == nil || eg[0].To[0].IPBlock.CIDR != "203.0.113.10/32" || eg[0].Ports[0].Port.IntValue() != 587 {
		t.Errorf("WordPress egress of a plan with only a mail relay: %+v", eg)
	}

	// The CLI acts as an admin, who is not bound by the plan's owner
	// values but is by the chart's values schema.
	r := e.run("store", "create", "tiny-two", "--set", "site.title="+strings.Repeat("x", 201))
	if r.code != 2 {
		t.Errorf("a title beyond the schema: %s", r)
	}
	e.ok("store", "delete", "tiny-shop")
}

// TestHostileCLI: the shared hostile table through the CLI, which acts as
// an admin: every entry an admin may not set exits 2 with a message, and
// nothing is stored and no namespace is made. A bad owner is refused too.
func TestHostileCLI(t *testing.T) {
	e := newEnv(t, storeDSN(t))
	ctx := context.Background()
	for _, tc := range hostiletest.Overrides() {
		if tc.AdminOK || strings.Contains(strings.Join(tc.Set, ""), "\x00") {
			continue // an admin may; a NUL cannot be passed in an argument
		}
		args := []string{"store", "create", "hostile-cli", "--plan", "small"} // the table is written for small
		for _, s := range tc.Set {
			args = append(args, "--set", s)
		}
		r := e.run(args...)
		if r.code != 2 || strings.TrimSpace(r.stderr) == "" {
			t.Errorf("%s: %s, want exit 2 with a message", tc.Name, r)
		}
	}
	for _, args := range [][]string{
		{"store", "create", "hostile-cli", "--owner", "al\nice"},
		{"store", "create", "hostile-cli", "--owner", "a b"},
		{"store", "create", "www"},
	} {
		if r := e.run(args...); r.code != 2 {
			t.Errorf("%q: %s, want exit 2", args, r)
		}
	}
	if r := e.ok("store", "list", "-A", "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("stores after hostile requests: %s", r.stdout)
	}
	if _, err := e.client.CoreV1().Namespaces().Get(ctx, "store-hostile-cli", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace of a refused store: %v", err)
	}
}

// storeDSN is a SQLite database of the test's own.
func storeDSN(t *testing.T) string {
	return filepath.Join(t.TempDir(), "urumi.db")
}
