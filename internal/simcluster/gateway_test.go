package simcluster

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGatewayCRDsMatchModule: the embedded CRDs are the standard channel's
// of the gateway-api version go.mod requires, unchanged.
func TestGatewayCRDsMatchModule(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}} {{.Version}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("go list sigs.k8s.io/gateway-api: %v", err)
	}
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if dir == "" {
		t.Skip("the gateway-api module is not downloaded: go mod download sigs.k8s.io/gateway-api")
	}
	readme, err := os.ReadFile(filepath.Join("crds", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "**"+version+"**") {
		t.Errorf("crds/README.md does not name version %s", version)
	}
	entries, err := gatewayCRDs.ReadDir("crds")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		n++
		got, _ := gatewayCRDs.ReadFile("crds/" + e.Name())
		want, err := os.ReadFile(filepath.Join(dir, "config", "crd", "standard", e.Name()))
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("crds/%s differs from gateway-api %s's standard channel: copy it again", e.Name(), version)
		}
	}
	if n != 4 {
		t.Errorf("%d CRDs embedded, want Gateway, GatewayClass, HTTPRoute and ReferenceGrant", n)
	}
}
