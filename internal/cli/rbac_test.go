package cli

import (
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/urumi/urumi/internal/provision"
)

func TestRBACUsage(t *testing.T) {
	r := newRunner(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rbac"}, "at least one of the flags"},
		{[]string{"rbac", "--user", "a", "--group", "b"}, "none of the others can be"},
		{[]string{"rbac", "--service-account", "urumi"}, "give it as NAMESPACE/NAME"},
		{[]string{"rbac", "--service-account", "urumi-system/a/b"}, "give it as NAMESPACE/NAME"},
		{[]string{"rbac", "--service-account", "Urumi/urumi"}, `service account namespace "Urumi" is invalid`},
		{[]string{"rbac", "--group", "system:authenticated"}, "one of Kubernetes' own"},
		{[]string{"rbac", "--user", "u", "--name", "Not_A_Name"}, `policy name "Not_A_Name" is invalid`},
		{[]string{"rbac", "--user", "u", "--base-domain", "shops example"}, "is not a DNS name"},
	} {
		out, errOut, code := r.run(tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("urumi %s: exit %d, stdout %q, stderr %q; want exit 2, nothing printed and %q", strings.Join(tc.args, " "), code, out, errOut, tc.want)
		}
	}
}

// TestRBACGolden: `urumi rbac` prints the ClusterRole of exactly
// provision.Rules, its binding, and the boundary policy and its binding for
// the same subject and the configured base domain, as four YAML documents
// that decode strictly into the API's types.
func TestRBACGolden(t *testing.T) {
	r := newRunner(t)
	r.env["URUMI_BASE_DOMAIN"] = "shops.example.com"
	out, errOut, code := r.run("rbac", "--service-account", "urumi-system/urumi")
	if code != 0 {
		t.Fatalf("rbac: exit %d: %s", code, errOut)
	}
	checkGolden(t, "rbac.golden", out)

	docs := strings.Split(out, "---\n")
	if len(docs) != 4 {
		t.Fatalf("urumi rbac printed %d documents, want 4", len(docs))
	}
	var (
		role          rbacv1.ClusterRole
		binding       rbacv1.ClusterRoleBinding
		policy        admissionv1.ValidatingAdmissionPolicy
		policyBinding admissionv1.ValidatingAdmissionPolicyBinding
	)
	for i, obj := range []any{&role, &binding, &policy, &policyBinding} {
		if err := yaml.UnmarshalStrict([]byte(docs[i]), obj); err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
	}
	sa := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "urumi-system", Name: "urumi"}
	wantPolicy, wantPolicyBinding, err := provision.BoundaryPolicy("urumi", sa, "shops.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if role.Kind != "ClusterRole" || !reflect.DeepEqual(role.Rules, provision.Rules()) {
		t.Errorf("ClusterRole %+v, want the rules of provision.Rules", role)
	}
	if binding.Kind != "ClusterRoleBinding" || binding.RoleRef.Name != "urumi" || !reflect.DeepEqual(binding.Subjects, []rbacv1.Subject{sa}) {
		t.Errorf("ClusterRoleBinding %+v", binding)
	}
	if !reflect.DeepEqual(policy, wantPolicy) || !reflect.DeepEqual(policyBinding, wantPolicyBinding) {
		t.Errorf("the policy printed is not provision.BoundaryPolicy's for the same subject and base domain:\n%+v\n%+v", policy, policyBinding)
	}
}

func TestRBACFlags(t *testing.T) {
	runParseCases(t, newRBACCommand, []parseCase[*rbacOptions]{
		{args: []string{"rbac", "--service-account", "urumi-system/urumi", "--base-domain", "shops.example.com"}, check: func(t *testing.T, o *rbacOptions) {
			if o.Subject.Kind != rbacv1.ServiceAccountKind || o.Subject.Namespace != "urumi-system" || o.Subject.Name != "urumi" ||
				o.BaseDomain != "shops.example.com" || o.name != "urumi" {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"rbac", "--group", "ops", "--name", "urumi-ci"}, env: map[string]string{"URUMI_BASE_DOMAIN": "env.example"}, check: func(t *testing.T, o *rbacOptions) {
			if o.Subject.Kind != rbacv1.GroupKind || o.Subject.Name != "ops" || o.name != "urumi-ci" || o.BaseDomain != "env.example" {
				t.Errorf("%+v", o)
			}
		}},
		{args: []string{"rbac", "--service-account", "urumi"}, wantErr: "NAMESPACE/NAME"},
	})
}
