package provision

import (
	"slices"
	"strings"
	"testing"
)

// TestRulesStayNarrow guards what urumi's ClusterRole may grant: named
// resources and verbs only, writes only to namespaces and to namespaced
// kinds (which BoundaryPolicy confines to the stores' namespaces), nothing
// that grants, impersonates or runs as anyone else, and every kind the
// policy treats as the chart's among them.
func TestRulesStayNarrow(t *testing.T) {
	namespaced := []string{
		"/resourcequotas", "/limitranges", "networking.k8s.io/networkpolicies", "/secrets",
		"/configmaps", "/services", "/persistentvolumeclaims", "apps/deployments", "apps/statefulsets",
		"batch/jobs", "batch/cronjobs", "networking.k8s.io/ingresses", "gateway.networking.k8s.io/httproutes",
	}
	readOnly := []string{"apps/replicasets", "/pods", "/events", "batch/cronjobs", "rbac.authorization.k8s.io/rolebindings"}
	verbs := []string{"get", "list", "watch", "create", "patch", "update", "delete"}
	granted := map[string]bool{}
	for _, r := range Rules() {
		if len(r.APIGroups) != 1 || len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %+v: one API group per rule, no resource names or URLs (the preflight checks rules so)", r)
		}
		for _, v := range r.Verbs {
			if !slices.Contains(verbs, v) {
				t.Errorf("rule %+v grants %q: urumi needs none of escalate, bind, impersonate, deletecollection or *", r, v)
			}
		}
		for _, res := range r.Resources {
			gr := r.APIGroups[0] + "/" + res
			granted[gr] = true
			writes := slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" })
			switch {
			case gr == "/namespaces", slices.Contains(namespaced, gr):
			case slices.Contains(readOnly, gr):
				if writes {
					t.Errorf("rule %+v writes %s, which urumi only reads", r, gr)
				}
			default:
				t.Errorf("rule %+v grants %s, which is not among what stores need", r, gr)
			}
			if strings.Contains(res, "*") || strings.Contains(res, "/") {
				t.Errorf("rule %+v: no wildcard or subresource", r)
			}
		}
	}
	for _, gr := range chartResources {
		if !granted[gr] {
			t.Errorf("the boundary policy treats %s as the chart's, but urumi's role does not grant it", gr)
		}
	}
}
