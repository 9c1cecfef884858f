package provision

import (
	"errors"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

func TestBoundaryPolicyIdentity(t *testing.T) {
	user := func(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.UserKind, Name: n} }
	for _, tc := range []struct {
		subject rbacv1.Subject
		want    string // the match condition, or the error
		ok      bool
	}{
		{user("ci-bot"), `request.userInfo.username == "ci-bot"`, true},
		{rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "urumi-operators"}, `"urumi-operators" in request.userInfo.?groups.orValue([])`, true},
		{rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "urumi-system", Name: "urumi"}, `request.userInfo.username == "system:serviceaccount:urumi-system:urumi"`, true},
		// A hostile name cannot end the literal and add a condition.
		{user(`x" || true || "`), `request.userInfo.username == "x\" || true || \""`, true},
		{user("a\\\nb\x00é😀"), `request.userInfo.username == "a\\\u000ab\u0000\u00e9\U0001f600"`, true},
		{user(""), "is invalid", false},
		{user("bad\xff"), "is invalid", false},
		{user("system:kube-controller-manager"), "one of Kubernetes' own", false},
		{rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "system:authenticated"}, "one of Kubernetes' own", false},
		{rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "Urumi", Name: "urumi"}, "namespace \"Urumi\" is invalid", false},
		{rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "urumi", Name: "a:b"}, "name \"a:b\" is invalid", false},
		{rbacv1.Subject{Kind: "Robot", Name: "r2"}, "not a user, a group or a service account", false},
	} {
		policy, binding, err := BoundaryPolicy("urumi", tc.subject, "example.com")
		if !tc.ok {
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("subject %+v: got %v, want an invalid-request error with %q", tc.subject, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("subject %+v: %v", tc.subject, err)
			continue
		}
		mc := policy.Spec.MatchConditions
		if len(mc) != 1 || mc[0].Expression != tc.want {
			t.Errorf("subject %+v: match conditions %+v, want %s", tc.subject, mc, tc.want)
		}
		if binding.Spec.PolicyName != policy.Name {
			t.Errorf("binding names policy %q, not %q", binding.Spec.PolicyName, policy.Name)
		}
	}
}

func TestBoundaryPolicyShape(t *testing.T) {
	policy, binding, err := BoundaryPolicy("urumi-prod", rbacv1.Subject{Kind: rbacv1.UserKind, Name: "urumi"}, ".shops.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if policy.Kind != "ValidatingAdmissionPolicy" || policy.APIVersion != "admissionregistration.k8s.io/v1" || policy.Name != "urumi-prod" ||
		binding.Kind != "ValidatingAdmissionPolicyBinding" || binding.APIVersion != "admissionregistration.k8s.io/v1" || binding.Name != "urumi-prod" {
		t.Errorf("type or name: %+v / %+v", policy.TypeMeta, binding.TypeMeta)
	}
	if policy.Labels[LabelManagedBy] != ManagedBy {
		t.Errorf("labels %v", policy.Labels)
	}
	spec := policy.Spec
	if spec.FailurePolicy == nil || *spec.FailurePolicy != admissionv1.Fail {
		t.Errorf("failure policy %v, want Fail: a policy that cannot be evaluated must refuse", spec.FailurePolicy)
	}
	if got := binding.Spec.ValidationActions; len(got) != 1 || got[0] != admissionv1.Deny {
		t.Errorf("validation actions %v, want [Deny]", got)
	}
	if binding.Spec.MatchResources != nil || binding.Spec.ParamRef != nil {
		t.Errorf("the binding should apply cluster-wide, without parameters: %+v", binding.Spec)
	}
	// Every write, every resource and subresource, except access reviews.
	rules := spec.MatchConstraints.ResourceRules
	if len(rules) != 1 || strings.Join(rules[0].Resources, ",") != "*/*" || strings.Join(rules[0].APIGroups, ",") != "*" ||
		len(rules[0].Operations) != 3 || rules[0].Scope != nil {
		t.Errorf("resource rules %+v", rules)
	}
	ex := spec.MatchConstraints.ExcludeResourceRules
	if len(ex) != 1 || strings.Join(ex[0].APIGroups, ",") != "authorization.k8s.io,authentication.k8s.io" {
		t.Errorf("exclusions %+v", ex)
	}
	vars := map[string]string{}
	for _, v := range spec.Variables {
		vars[v.Name] = v.Expression
	}
	if !strings.HasSuffix(vars["storeHost"], `+ ".shops.example.com"`) {
		t.Errorf("store host %s should end in the base domain, its leading dot trimmed", vars["storeHost"])
	}
	for _, v := range spec.Validations {
		if v.Expression == "" || v.MessageExpression == "" {
			t.Errorf("validation %+v: every rule needs a message saying what is refused", v)
		}
	}
	for _, want := range []string{`"restricted"`, `"ClusterIP"`, `"meta.helm.sh/release-namespace"`, `"urumi.io/store"`, `"app.kubernetes.io/managed-by"`} {
		found := false
		for _, v := range spec.Validations {
			found = found || strings.Contains(v.Expression, want)
		}
		if !found {
			t.Errorf("no validation checks %s", want)
		}
	}

	for _, tc := range []struct{ name, domain, want string }{
		{"Urumi", "example.com", "policy name"},
		{"urumi", "", "base domain"},
		{"urumi", "shops_example.com", "base domain"},
	} {
		if _, _, err := BoundaryPolicy(tc.name, rbacv1.Subject{Kind: rbacv1.UserKind, Name: "u"}, tc.domain); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("name %q, domain %q: %v, want an error about the %s", tc.name, tc.domain, err, tc.want)
		}
	}
}
