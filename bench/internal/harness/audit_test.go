package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCountAudit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	before := `{"verb":"get","userAgent":"urumi/v0.0.0","user":{"username":"urumi-admin"},"objectRef":{"resource":"namespaces"},"requestURI":"/api/v1/namespaces/a"}` + "\n"
	run := strings.Join([]string{
		`{"verb":"patch","userAgent":"urumi/v0.0.0 (linux/amd64) kubernetes/$Format","user":{"username":"urumi-admin"},"objectRef":{"resource":"networkpolicies"},"requestURI":"/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/x"}`,
		`{"verb":"patch","userAgent":"urumi/v0.0.0 (linux/amd64) kubernetes/$Format","user":{"username":"urumi-admin"},"objectRef":{"resource":"networkpolicies"},"requestURI":"/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/y"}`,
		`{"verb":"update","userAgent":"kube-controller-manager/v1.37.1 (linux/amd64) kubernetes/abc/system:serviceaccount:kube-system:deployment-controller","user":{"username":"system:serviceaccount:kube-system:deployment-controller"},"objectRef":{"resource":"deployments","subresource":"status"},"requestURI":"/apis/apps/v1/namespaces/a/deployments/w/status"}`,
		`{"verb":"get","userAgent":"urumi/v0.0.0","user":{"username":"urumi-admin"},"requestURI":"/apis?timeout=32s"}`,
		`not json: skipped`,
	}, "\n") + "\n"
	if err := os.WriteFile(path, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	from, err := AuditOffset(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(run); err != nil {
		t.Fatal(err)
	}
	f.Close()

	c, err := CountAudit(path, from, "run", 2)
	if err != nil {
		t.Fatal(err)
	}
	if c.Total != 4 {
		t.Errorf("total = %d, want 4 (the line before the offset and the bad line are not counted)", c.Total)
	}
	for k, want := range map[[2]string]int{
		{"urumi", "patch networkpolicies"}:                     2,
		{"deployment-controller", "update deployments/status"}: 1,
		{"urumi", "get /apis"}:                                 1,
	} {
		if got := c.ByReq[k]; got != want {
			t.Errorf("%v = %d, want %d", k, got, want)
		}
	}
	var out bytes.Buffer
	if err := PrintAudit(&out, []AuditCounts{c}, 2); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	for _, want := range []string{"API REQUESTS PER STORE, run: 2.0 in all", "urumi 1.5", "urumi patch networkpolicies 1.0"} {
		if !slices.Contains(lines, want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
