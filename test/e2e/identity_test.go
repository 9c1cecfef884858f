package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// inPodScript runs urumi as it runs in a pod: a private mount namespace
// whose /run (so /var/run) is a fresh tmpfs holding only the service
// account's files where client-go's in-cluster config reads them. Nothing
// of the machine's own /run is touched.
const inPodScript = `set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
cp "$SA_DIR"/token "$SA_DIR"/ca.crt "$SA_DIR"/namespace /run/secrets/kubernetes.io/serviceaccount/
exec "$URUMI_BIN" serve
`

// canUnshare says whether this process may make a mount namespace (root,
// with unshare(1)), which the in-pod run needs.
func canUnshare() bool {
	if os.Geteuid() != 0 {
		return false
	}
	return exec.Command("unshare", "--mount", "--propagation", "private", "true").Run() == nil
}

// TestInClusterIdentity: urumi serve with no kubeconfig, only a service
// account's token where a pod has it and the KUBERNETES_SERVICE_* variables,
// runs on that identity. The service account holds what `urumi rbac
// --service-account` prints (the chart's RBAC and admission policy, which
// the charts tests hold equal): enough to provision, upgrade and delete a
// store through the API, and nothing outside store namespaces.
func TestInClusterIdentity(t *testing.T) {
	if !canUnshare() {
		t.Skip("needs root and unshare(1) to give urumi a pod's /var/run/secrets")
	}
	e := newEnv(t, storeDSN(t))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Neither a kubeconfig nor a pod's token: urumi says so, rather than
	// trying client-go's last resort, localhost:8080.
	bare := exec.Command(e.bin, "doctor")
	bare.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.home, "URUMI_DB=" + e.db, "URUMI_AUDIT_KEY=" + e.auditKeyPath()}
	if b, err := bare.CombinedOutput(); err == nil || !strings.Contains(string(b), "no kubeconfig was found") || strings.Contains(string(b), "8080") {
		t.Errorf("urumi doctor with no cluster configured: %v\n%s", err, b)
	}

	const saNS, saName, rbacName = "urumi-identity", "urumi", "urumi-identity"
	_, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: saNS}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { _ = e.client.CoreV1().Namespaces().Delete(context.Background(), saNS, metav1.DeleteOptions{}) })
	_, err = e.client.CoreV1().ServiceAccounts(saNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saName}}, metav1.CreateOptions{})
	must(t, err)
	grantRBAC(t, e, "--service-account", saNS+"/"+saName, "--name", rbacName)
	exp := int64(3600)
	tr, err := e.client.CoreV1().ServiceAccounts(saNS).CreateToken(ctx, saName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	must(t, err)

	saDir := t.TempDir()
	ca := e.cl.Config.CAData
	if len(ca) == 0 {
		ca, err = os.ReadFile(e.cl.Config.CAFile)
		must(t, err)
	}
	for name, data := range map[string][]byte{"token": []byte(tr.Status.Token), "ca.crt": ca, "namespace": []byte(saNS)} {
		must(t, os.WriteFile(filepath.Join(saDir, name), data, 0o600))
	}
	api, err := url.Parse(e.cl.Config.Host)
	must(t, err)
	bootstrap := filepath.Join(saDir, "bootstrap-token")
	admin := provision.FormatToken("1d0000000001", "aWRlbnRpdHktdGVzdC1ib290c3RyYXAtdG9rZW4tc2VjcmV0")
	must(t, os.WriteFile(bootstrap, []byte(admin), 0o600))

	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", inPodScript)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.home, // holds no .kube/config
		"SA_DIR=" + saDir, "URUMI_BIN=" + e.bin,
		"KUBERNETES_SERVICE_HOST=" + api.Hostname(), "KUBERNETES_SERVICE_PORT=" + api.Port(),
		"URUMI_DB=" + e.db, "URUMI_AUDIT_KEY=" + e.auditKeyPath(),
		"URUMI_ADDR=127.0.0.1:0", "URUMI_WORKERS=2", "URUMI_LEASE=3s", "URUMI_TIMEOUT=2m",
		"URUMI_BOOTSTRAP_TOKEN_FILE=" + bootstrap, "URUMI_LOG_FORMAT=json",
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	listening := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	var base string
	waitFor(ctx, t, "urumi serve to listen", func() (bool, error) {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
			return true, nil
		}
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Errorf("urumi serve exited (%v):\n%s", err, out.String())
		default:
			return false, nil
		}
	})
	// The preflight runs before serve listens: on no identity, or one
	// short of a permission, it says so in the log.
	if !strings.Contains(out.String(), "cluster preflight passed") {
		t.Fatalf("the service account's preflight did not pass:\n%s", out.String())
	}
	if strings.Contains(out.String(), admin) {
		t.Errorf("the bootstrap token was logged")
	}

	call := func(method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		must(t, err)
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	waitFor(ctx, t, "/readyz", func() (bool, error) {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})

	const name = "sa-shop"
	if code, b := call("POST", "/v1/stores", map[string]string{"name": name}); code != http.StatusAccepted && code != http.StatusCreated {
		t.Fatalf("create through the API with the bootstrap token: %d %s", code, b)
	}
	waitFor(ctx, t, "the store READY", func() (bool, error) {
		code, b := call("GET", "/v1/stores/"+name, nil)
		var s store.Store
		if code != http.StatusOK || json.Unmarshal(b, &s) != nil {
			return false, fmt.Errorf("get store: %d %s", code, b)
		}
		if s.Status == store.StatusFailed {
			return false, fmt.Errorf("store failed: %s\nserve:\n%s", s.Error, out.String())
		}
		return s.Status == store.StatusReady, nil
	})
	// An upgrade (a new Helm revision with changed values) on that identity.
	if code, b := call("POST", "/v1/stores/"+name+"/upgrade", map[string]any{"set": []string{"resources.wordpress.limits.cpu=750m"}}); code != http.StatusAccepted {
		t.Fatalf("upgrade through the API: %d %s", code, b)
	}
	waitFor(ctx, t, "the upgraded store READY at revision 2", func() (bool, error) {
		code, b := call("GET", "/v1/stores/"+name, nil)
		var s store.Store
		if code != http.StatusOK || json.Unmarshal(b, &s) != nil {
			return false, fmt.Errorf("get store: %d %s", code, b)
		}
		if s.Status == store.StatusFailed || s.Release.LastChange != nil && s.Release.LastChange.Outcome != "" && s.Release.LastChange.Outcome != store.ChangeSucceeded {
			return false, fmt.Errorf("upgrade failed: %s\nserve:\n%s", b, out.String())
		}
		return s.Status == store.StatusReady && s.Release.Revision == 2, nil
	})
	if code, b := call("DELETE", "/v1/stores/"+name, nil); code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("delete through the API: %d %s", code, b)
	}
	waitFor(ctx, t, "the store gone", func() (bool, error) {
		code, _ := call("GET", "/v1/stores/"+name, nil)
		return code == http.StatusNotFound, nil
	})
	if _, err := e.client.CoreV1().Namespaces().Get(ctx, provision.Namespace(name), metav1.GetOptions{}); err == nil {
		waitFor(ctx, t, "the store's namespace to go", func() (bool, error) {
			_, err := e.client.CoreV1().Namespaces().Get(ctx, provision.Namespace(name), metav1.GetOptions{})
			return err != nil, nil
		})
	}

	// What the identity may do, as `kubectl auth can-i --as` would say it,
	// and what the API server then lets it do.
	user := "system:serviceaccount:" + saNS + ":" + saName
	canI := func(verb, group, resource, ns string) bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + saNS, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: ns},
		}}
		res, err := e.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		must(t, err)
		return res.Status.Allowed
	}
	for _, q := range []struct{ verb, group, resource, ns string }{
		{"create", "", "pods", "default"}, {"create", "", "pods", "store-x"}, {"create", "", "serviceaccounts", "store-x"},
		{"create", "", "serviceaccounts/token", "kube-system"}, {"create", "rbac.authorization.k8s.io", "rolebindings", "store-x"},
		{"create", "rbac.authorization.k8s.io", "clusterrolebindings", ""}, {"get", "", "nodes", ""},
		{"create", "", "pods/exec", "store-x"}, {"update", "", "nodes", ""}, {"delete", "admissionregistration.k8s.io", "validatingadmissionpolicies", ""},
		{"impersonate", "", "users", ""}, {"create", "apiextensions.k8s.io", "customresourcedefinitions", ""},
	} {
		if canI(q.verb, q.group, q.resource, q.ns) {
			t.Errorf("the service account may %s %s/%s in %q", q.verb, q.group, q.resource, q.ns)
		}
	}
	// RBAC cannot confine a ClusterRole to namespaces by label, so the
	// chart's kinds are granted everywhere; the admission policy refuses
	// every write of them outside store namespaces.
	saCfg := &rest.Config{Host: e.cl.Config.Host, BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
	sa := kubernetes.NewForConfigOrDie(saCfg)
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for _, ns := range []string{"default", "kube-system", saNS} {
		_, err := sa.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, dry)
		if !denied(err, rbacName, "may write only in its stores' namespaces") {
			t.Errorf("a ConfigMap in %s as the service account: %v", ns, err)
		}
		_, err = sa.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, dry)
		if !denied(err, rbacName, "may write only in its stores' namespaces") {
			t.Errorf("a Secret in %s as the service account: %v", ns, err)
		}
	}
	if _, err := sa.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "not-a-store"}}, dry); !denied(err, rbacName, "only namespaces named store-") {
		t.Errorf("a namespace not a store's as the service account: %v", err)
	}
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
