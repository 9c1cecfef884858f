package provision

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/store"
)

const testAdminPassword = "OldAdminPassw0rdOldAdminPassw0rd"

// credentialsKube is a fake cluster holding store name's credentials
// Secret and a deployed release of the embedded chart with values vals.
func credentialsKube(t *testing.T, names []string, owner string, vals map[string]any) (*Kube, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset()
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		ns := Namespace(name)
		data := map[string][]byte{}
		for _, k := range charts.SecretKeys() {
			data[k] = []byte("secret-" + k)
		}
		data[charts.SecretKeyWordPressAdminPassword] = []byte(testAdminPassword)
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: credentialsName, Namespace: ns, Labels: storeLabels(name, owner)}, Data: data}
		if _, err := client.CoreV1().Secrets(ns).Create(context.Background(), sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		d := driver.NewSecrets(client.CoreV1().Secrets(ns))
		for v, status := range map[int]rcommon.Status{1: rcommon.StatusSuperseded, 2: rcommon.StatusDeployed} {
			cfg := vals
			if status != rcommon.StatusDeployed {
				cfg = map[string]any{"admin": map[string]any{"user": "olduser"}}
			}
			rel := &release.Release{Name: releaseName, Namespace: ns, Version: v, Chart: ch, Config: cfg, Info: &release.Info{Status: status}}
			if err := d.Create("sh.helm.release.v1.store.v"+string(rune('0'+v)), rel); err != nil {
				t.Fatal(err)
			}
		}
	}
	return &Kube{Client: client, Log: slog.New(slog.DiscardHandler)}, client
}

func adminPassword(t *testing.T, client *fake.Clientset, name string) string {
	t.Helper()
	sec, err := client.CoreV1().Secrets(Namespace(name)).Get(context.Background(), credentialsName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(sec.Data[charts.SecretKeyWordPressAdminPassword])
}

func auditOf(t *testing.T, s *Service, action string) []store.AuditEntry {
	t.Helper()
	all, err := s.DB.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// TestCredentialsRead: the owner and an admin read the administrator's
// login, each read audited without the password; another owner's store is
// not found, and nothing is written for it.
func TestCredentialsRead(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		readyStore(t, s, "shop", "alice")
		readyStore(t, s, "bobshop", "bob")
		k, _ := credentialsKube(t, []string{"shop"}, "alice", map[string]any{"admin": map[string]any{"user": "shopadmin"}})

		got, err := s.Credentials(ctx, callerAlice, k, "shop")
		if err != nil {
			t.Fatal(err)
		}
		want := Credentials{Store: "shop", Username: "shopadmin", Password: testAdminPassword, URL: got.URL}
		if got != want || !strings.Contains(got.URL, "shop") {
			t.Fatalf("credentials = %+v, want %+v with the store's URL", got, want)
		}
		if _, err := s.Credentials(ctx, callerAdmin, k, "shop"); err != nil {
			t.Fatalf("admin: %v", err)
		}
		if _, err := s.Credentials(ctx, callerBob, k, "shop"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("bob reading alice's store: %v, want not found", err)
		}
		if _, err := s.Credentials(ctx, callerAlice, k, "nosuch"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing store: %v, want not found", err)
		}
		// bob's own store has no Secret on this cluster: a clear conflict.
		if _, err := s.Credentials(ctx, callerBob, k, "bobshop"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "credentials Secret") {
			t.Fatalf("no secret: %v", err)
		}
		entries := auditOf(t, s, ActionCredentialsRead)
		if len(entries) != 2 || entries[0].Actor != "alice" || entries[1].Actor != "root" || entries[0].Store != "shop" ||
			entries[0].Outcome != "succeeded" || entries[0].Detail != "user shopadmin" {
			t.Fatalf("audit entries: %+v", entries)
		}
		all, _ := s.DB.ListAudit(ctx, store.AuditFilter{})
		b, _ := json.Marshal(all)
		if strings.Contains(string(b), testAdminPassword) {
			t.Fatal("the password is in the audit log")
		}
	})
}

// TestPasswordReset: a reset writes a new random password to the Secret,
// opens MariaDB to the reset pod, creates a Job that reads the password
// from the Secret (never a literal), supersedes an earlier reset's Job,
// and is audited without the password. It is refused for another owner,
// for a store not READY and while a job runs on it; a Job the cluster
// refuses leaves the old password in the Secret.
func TestPasswordReset(t *testing.T) {
	onBothDBs(t, func(t *testing.T, s *Service) {
		ctx := context.Background()
		readyStore(t, s, "shop", "alice")
		k, client := credentialsKube(t, []string{"shop"}, "alice", map[string]any{
			"images": map[string]any{"cli": map[string]any{"repository": "mirror.example/wordpress", "tag": "cli-9.9.9"}},
		})

		if _, err := s.ResetPassword(ctx, callerBob, k, "shop"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("bob resetting alice's store: %v, want not found", err)
		}
		if adminPassword(t, client, "shop") != testAdminPassword {
			t.Fatal("a refused reset changed the Secret")
		}

		res, err := s.ResetPassword(ctx, callerAlice, k, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if res.Store != "shop" || res.Username != "admin" || len(res.Password) != 32 || res.Password == testAdminPassword ||
			!strings.HasPrefix(res.Job, passwordResetPrefix) {
			t.Fatalf("reset = %+v", res)
		}
		if got := adminPassword(t, client, "shop"); got != res.Password {
			t.Fatalf("the Secret holds %q, the reset returned %q", got, res.Password)
		}
		job, err := client.BatchV1().Jobs("store-shop").Get(ctx, res.Job, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("reset job: %v", err)
		}
		raw, _ := json.Marshal(job)
		if strings.Contains(string(raw), res.Password) || strings.Contains(string(raw), testAdminPassword) {
			t.Fatal("the Job carries the password")
		}
		ctr := job.Spec.Template.Spec.Containers[0]
		if ctr.Image != "mirror.example/wordpress:cli-9.9.9" {
			t.Errorf("image %q, want the release's wp-cli image", ctr.Image)
		}
		found := false
		for _, e := range ctr.Env {
			if e.Name == "WP_ADMIN_PASSWORD" {
				found = e.Value == "" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
					e.ValueFrom.SecretKeyRef.Name == credentialsName && e.ValueFrom.SecretKeyRef.Key == charts.SecretKeyWordPressAdminPassword
			}
		}
		if !found {
			t.Errorf("WP_ADMIN_PASSWORD is not read from the Secret: %+v", ctr.Env)
		}
		if !isPasswordResetJob(job) || job.Labels[LabelStore] != "shop" || job.Spec.Template.Labels[charts.LabelComponent] != ComponentPasswordReset {
			t.Errorf("labels %v / %v", job.Labels, job.Spec.Template.Labels)
		}
		for _, p := range []string{PolicyPasswordResetEgress, PolicyMariaDBFromPasswordReset} {
			if _, err := client.NetworkingV1().NetworkPolicies("store-shop").Get(ctx, p, metav1.GetOptions{}); err != nil {
				t.Errorf("policy %s: %v", p, err)
			}
		}

		// A second reset supersedes the first's Job.
		again, err := s.ResetPassword(ctx, callerAdmin, k, "shop")
		if err != nil {
			t.Fatal(err)
		}
		jobs, _ := client.BatchV1().Jobs("store-shop").List(ctx, metav1.ListOptions{})
		if len(jobs.Items) != 1 || jobs.Items[0].Name != again.Job || again.Password == res.Password {
			t.Fatalf("after a second reset: %d jobs, %+v", len(jobs.Items), again)
		}
		entries := auditOf(t, s, ActionCredentialsReset)
		if len(entries) != 2 || entries[0].Actor != "alice" || entries[1].Actor != "root" ||
			entries[0].Detail != "user admin; job "+res.Job {
			t.Fatalf("audit entries: %+v", entries)
		}

		// The cluster refuses the Job: the Secret keeps the password
		// WordPress has, and the failure is audited.
		client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("admission webhook denied the request")
		})
		if _, err := s.ResetPassword(ctx, callerAlice, k, "shop"); err == nil || !strings.Contains(err.Error(), "denied") {
			t.Fatalf("refused job: %v", err)
		}
		if got := adminPassword(t, client, "shop"); got != again.Password {
			t.Fatal("a failed reset left a new password in the Secret")
		}
		entries = auditOf(t, s, ActionCredentialsReset)
		if last := entries[len(entries)-1]; last.Outcome != "failed" {
			t.Fatalf("failed reset audited as %+v", last)
		}
		all, _ := s.DB.ListAudit(ctx, store.AuditFilter{})
		b, _ := json.Marshal(all)
		for _, pw := range []string{testAdminPassword, res.Password, again.Password} {
			if strings.Contains(string(b), pw) {
				t.Fatal("a password is in the audit log")
			}
		}

		// Not READY, or a job in flight: refused with what to do.
		st, _ := s.DB.GetStore(ctx, "shop")
		st.Status, st.Options = store.StatusProvisioning, nil
		if err := s.DB.UpdateStore(ctx, st); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResetPassword(ctx, callerAlice, k, "shop"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "once it is READY") {
			t.Fatalf("provisioning store: %v", err)
		}
		st.Status = store.StatusReady
		if err := s.DB.UpdateStore(ctx, st); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB.EnqueueJob(ctx, "shop", store.JobRepair, "root", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResetPassword(ctx, callerAlice, k, "shop"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "in flight") {
			t.Fatalf("job in flight: %v", err)
		}
	})
}

// TestPasswordResetJobRestricted: the reset pod passes the restricted Pod
// Security profile the store namespaces enforce.
func TestPasswordResetJobRestricted(t *testing.T) {
	psa, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	spec, err := resetSpec("shop", "alice", nil)
	if err == nil {
		t.Fatal("a spec without an image was built")
	}
	spec, err = resetSpec("shop", "alice", map[string]any{"images": map[string]any{"cli": map[string]any{"repository": "wordpress", "tag": "cli"}}})
	if err != nil {
		t.Fatal(err)
	}
	tpl := passwordResetJob(spec).Spec.Template
	for _, r := range psa.EvaluatePod(lv, &tpl.ObjectMeta, &tpl.Spec) {
		if !r.Allowed {
			t.Errorf("restricted profile forbids the reset pod: %s (%s)", r.ForbiddenReason, r.ForbiddenDetail)
		}
	}
	bad := tpl.DeepCopy()
	bad.Spec.Containers[0].SecurityContext.Capabilities = nil
	refused := false
	for _, r := range psa.EvaluatePod(lv, &bad.ObjectMeta, &bad.Spec) {
		refused = refused || !r.Allowed
	}
	if !refused {
		t.Fatal("the restricted profile allowed a pod keeping its capabilities")
	}
}

// TestPasswordResetIsolation: with the reset's policies beside urumi's,
// the reset pod reaches MariaDB's port and DNS, nothing else, nothing
// reaches it, and the rest of the table holds; without them it reaches
// only DNS. The evaluation can fail: an allow-all policy breaks it.
func TestPasswordResetIsolation(t *testing.T) {
	for _, egress := range []Egress{{}, {PublicHTTPS: true}} {
		base := livePolicies(t, egress)
		for _, opened := range []bool{false, true} {
			live := base
			if opened {
				for _, p := range passwordResetPolicies("shop", "alice") {
					live = append(live, *p)
				}
			}
			table := withPasswordReset(isolationTable(t, egress), opened)
			res, err := CheckIsolation(live, table)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range res.Violations {
				t.Errorf("egress %+v, opened %v: %s", egress, opened, v)
			}
			var wanted []string
			for _, c := range table.Cases {
				if c.Allowed && (c.From == peerPasswordReset || c.To == peerPasswordReset) {
					wanted = append(wanted, c.From+" -> "+c.To+" "+portName(c.Protocol, c.Port))
				}
			}
			want := 2
			if opened {
				want = 3
			}
			if len(wanted) != want {
				t.Errorf("opened %v: wanted %v", opened, wanted)
			}
		}
	}
	// The reset pod opened to everything is caught.
	live := livePolicies(t, Egress{})
	for _, p := range passwordResetPolicies("shop", "alice") {
		live = append(live, *p)
	}
	live = append(live, networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: "store-shop"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{charts.LabelComponent: ComponentPasswordReset}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
		},
	})
	res, err := CheckIsolation(live, withPasswordReset(isolationTable(t, Egress{}), true))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() {
		t.Fatal("a reset pod allowed everywhere passed the isolation table")
	}
}
