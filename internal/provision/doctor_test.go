package provision

import (
	"strings"
	"testing"
)

// TestModuleMinor reads a client-go module version as doctor does: the
// e2e test of doctor holds the real binary's to the API server's.
func TestModuleMinor(t *testing.T) {
	for v, want := range map[string]int{"v0.37.1": 37, "v0.36.0-rc.1": 36, "v1": 0, "": 0, "vx.y": 0} {
		if got := moduleMinor(v); got != want {
			t.Errorf("moduleMinor(%q) = %d, want %d", v, got, want)
		}
	}
}

func TestDoctorFailedNamesKinds(t *testing.T) {
	r := DoctorReport{Findings: []Finding{
		{Kind: DoctorIngressClass, Status: CheckFail},
		{Kind: DoctorStorageClass, Status: CheckPass},
		{Kind: DoctorTLSIssuer, Status: CheckFail},
		{Kind: DoctorNetworkPlugins, Status: CheckInfo},
	}}
	if got := strings.Join(r.Failed(), ","); got != "ingress-class,tls-issuer" {
		t.Fatalf("failed: %s", got)
	}
}
