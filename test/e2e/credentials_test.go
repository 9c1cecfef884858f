package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/store"
)

// TestCredentialsRevealAndReset: on the simulated cluster, a store's owner
// reveals the administrator's login through the API (the value is the
// Secret's, the answer uncached), another owner gets 404, and a reset puts
// a new password in the Secret and creates the reset Job, which the API
// server admits in the store's namespace and whose pod template the
// namespace's restricted profile admits (a server-side dry run). Both are
// audited with the actor; the CLI does the same with --reveal; store check
// still passes with the reset's Job and policies there. Pods never run on
// the simulated cluster, so the Job's work itself is not seen here.
func TestCredentialsRevealAndReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[0].dsn(t))
	ctx := context.Background()
	const name = "creds-shop"
	ns := "store-" + name
	e.ok("quota", "set", "--owner", "owner-a", "--max-stores", "2")
	e.ok("store", "create", name, "--owner", "owner-a")
	secretPW := func() string {
		t.Helper()
		sec, err := e.client.CoreV1().Secrets(ns).Get(ctx, "store-credentials", metav1.GetOptions{})
		must(t, err)
		return string(sec.Data[charts.SecretKeyWordPressAdminPassword])
	}
	first := secretPW()

	tokA := strings.TrimSpace(e.ok("token", "create", "--owner", "owner-a").stdout)
	tokB := strings.TrimSpace(e.ok("token", "create", "--owner", "owner-b").stdout)
	// The reconciler runs: the reset's Secret change, policies and Job
	// must not count as drift.
	serve, out := e.start("serve", "--addr", "127.0.0.1:0", "--workers", "1", "--drift", "repair")
	var base string
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	waitFor(wctx, t, "urumi serve to listen", func() (bool, error) {
		s := out.String()
		if i := strings.Index(s, "msg=listening addr="); i >= 0 {
			base = "http://" + strings.Fields(s[i+len("msg=listening addr="):])[0]
			return true, nil
		}
		return false, nil
	})
	cancel()
	t.Cleanup(func() { _ = serve.Process.Signal(syscall.SIGTERM) })
	call := func(method, path, token string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
		must(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	resp, body := call("POST", "/v1/stores/"+name+"/credentials", tokA)
	var creds struct{ Store, Username, Password, URL string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &creds) != nil {
		t.Fatalf("reveal: %d %s", resp.StatusCode, body)
	}
	if creds.Password != first || creds.Username != "admin" || creds.Store != name || !strings.Contains(creds.URL, name) {
		t.Fatalf("reveal answered %+v; the Secret holds the password %q", creds, first)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if resp, body := call("POST", "/v1/stores/"+name+"/credentials", tokB); resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), first) {
		t.Fatalf("another owner's reveal: %d %s", resp.StatusCode, body)
	}

	resp, body = call("POST", "/v1/stores/"+name+"/reset-password", tokA)
	var reset struct{ Store, Username, Password, Job string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &reset) != nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reset: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if now := secretPW(); now != reset.Password || now == first {
		t.Fatalf("after the reset the Secret holds %q, the answer %q (was %q)", now, reset.Password, first)
	}
	t.Logf("reset job %s/%s", ns, reset.Job)
	job, err := e.client.BatchV1().Jobs(ns).Get(ctx, reset.Job, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the reset job was not created: %v", err)
	}
	raw, _ := json.Marshal(job)
	if strings.Contains(string(raw), reset.Password) || strings.Contains(string(raw), first) {
		t.Fatal("the reset Job carries a password")
	}
	for _, p := range []string{"password-reset-egress", "mariadb-from-password-reset"} {
		if _, err := e.client.NetworkingV1().NetworkPolicies(ns).Get(ctx, p, metav1.GetOptions{}); err != nil {
			t.Errorf("policy %s: %v", p, err)
		}
	}
	// The namespace enforces the restricted profile on pods: a pod of the
	// Job's template is admitted, and the same without its security
	// settings is not (so the first check can fail).
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "reset-admission", Labels: job.Spec.Template.Labels}, Spec: job.Spec.Template.Spec}
	if _, err := e.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the reset pod is refused in the store's namespace: %v", err)
	}
	pod.Spec.SecurityContext = nil
	pod.Spec.Containers[0].SecurityContext = nil
	if _, err := e.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil {
		t.Error("a pod without the restricted profile's settings is admitted: the check above proves nothing")
	}

	// The reconciler judges a change ½ s after it; give it time to.
	time.Sleep(3 * time.Second)
	if st, _ := e.getStore(name); st.Status != store.StatusReady {
		t.Errorf("after the reset the store is %s: %s\nserve:\n%s", st.Status, st.Error, out)
	}

	// Audited with the actor, never the password.
	resp, body = call("GET", "/v1/audit?store="+name, tokA)
	var entries []store.AuditEntry
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &entries) != nil {
		t.Fatalf("audit: %d %s", resp.StatusCode, body)
	}
	var got []string
	for _, en := range entries {
		if strings.HasPrefix(en.Action, "credentials.") {
			got = append(got, fmt.Sprintf("%s %s %s", en.Actor, en.Action, en.Outcome))
		}
	}
	for _, en := range entries {
		if en.Action == "drift" {
			t.Errorf("the reconciler found drift: %+v", en)
		}
	}
	if strings.Join(got, ",") != "owner-a credentials.read succeeded,owner-a credentials.reset succeeded" {
		t.Errorf("audit entries %v", got)
	}
	if strings.Contains(string(body), reset.Password) || strings.Contains(string(body), first) {
		t.Error("the audit log holds a password")
	}
	must(t, serve.Process.Signal(syscall.SIGTERM))
	_, _ = serve.Process.Wait()

	// The CLI: piped, only with --reveal; a second reset replaces the
	// first's Job.
	if r := e.run("store", "credentials", name); r.code != 2 || !strings.Contains(r.stderr, "--reveal") || strings.Contains(r.stdout+r.stderr, reset.Password) {
		t.Fatalf("piped without --reveal: %s", r)
	}
	var cli struct{ Password, Job string }
	must(t, json.Unmarshal([]byte(e.ok("store", "credentials", name, "--reveal", "-o", "json").stdout), &cli))
	if cli.Password != reset.Password {
		t.Fatalf("store credentials shows %q, the Secret %q", cli.Password, reset.Password)
	}
	r := e.ok("store", "reset-password", name, "--reveal", "-o", "json")
	must(t, json.Unmarshal([]byte(r.stdout), &cli))
	if cli.Password != secretPW() || cli.Password == reset.Password || cli.Job == "" || !strings.Contains(r.stderr, cli.Job) {
		t.Fatalf("store reset-password: %s", r)
	}
	jobs, err := e.client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=password-reset"})
	must(t, err)
	if len(jobs.Items) != 1 || jobs.Items[0].Name != cli.Job {
		t.Errorf("reset jobs after a second reset: %d, want only %s", len(jobs.Items), cli.Job)
	}

	// The reset's Job, its pods and its policies are urumi's: no drift.
	if r := e.run("store", "check", name); r.code != 0 {
		t.Errorf("store check after resets: %s", r)
	}
	e.ok("audit", "verify")
}
