package provision

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels and annotations the boundary policy reads besides urumi's own.
const (
	labelPodSecurityEnforce        = "pod-security.kubernetes.io/enforce"
	labelPodSecurityEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	annotationHelmReleaseNamespace = "meta.helm.sh/release-namespace"
)

// storeNamespaceRE is what Namespace makes of a valid store name.
const storeNamespaceRE = `^store-[a-z]([-a-z0-9]*[a-z0-9])?$`

// BoundaryPolicy is the ValidatingAdmissionPolicy, and its binding, that
// make the API server itself refuse urumi's identity (subject: the user,
// group or service account urumi runs as, which RBAC's ClusterRole of
// Rules is bound to) every write outside the namespaces of its stores,
// whatever urumi's own checks missed:
//
//   - namespaced objects only in namespaces named store-<name> and labelled
//     app.kubernetes.io/managed-by=urumi and urumi.io/store=<name>;
//   - no cluster-scoped object but such namespaces, created with those
//     labels and the restricted Pod Security level, never relaxed; no
//     change to, or deletion of, a namespace urumi does not manage;
//   - ClusterIP Services only, without external IPs;
//   - Ingresses only for the store's own host, <name>.<baseDomain>, with no
//     default backend and no ingress-nginx annotation that reaches beyond
//     the store (configuration snippets, server-alias, auth-url, another
//     namespace's Secret); Gateway API HTTPRoutes likewise only for that
//     host, attached to Gateways, with backends in their own namespace;
//   - the chart's kinds only as part of the Helm release of the namespace
//     they are in, so one store's release cannot write into another's;
//   - Opaque Secrets and Helm's release records only (a service account
//     token Secret would mint credentials);
//   - no PersistentVolumeClaim naming a volume (another store's data).
//
// Requests of anyone else (the namespace controller deleting a store's
// objects, the garbage collector, cluster admins) are not matched.
func BoundaryPolicy(name string, subject rbacv1.Subject, baseDomain string) (admissionv1.ValidatingAdmissionPolicy, admissionv1.ValidatingAdmissionPolicyBinding, error) {
	var (
		policy  admissionv1.ValidatingAdmissionPolicy
		binding admissionv1.ValidatingAdmissionPolicyBinding
	)
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return policy, binding, errorf(ErrInvalid, "policy name %q is invalid: %s", name, strings.Join(errs, "; "))
	}
	identity, err := identityCondition(subject)
	if err != nil {
		return policy, binding, err
	}
	domain := strings.TrimPrefix(baseDomain, ".")
	if errs := validation.IsDNS1123Subdomain(domain); len(errs) > 0 {
		return policy, binding, errorf(ErrInvalid, "base domain %q is not a DNS name: set base-domain to the domain stores are served under (%s)", baseDomain, strings.Join(errs, "; "))
	}

	meta := metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelManagedBy: ManagedBy}}
	fail := admissionv1.Fail
	all := []string{"*"}
	writes := []admissionv1.OperationType{admissionv1.Create, admissionv1.Update, admissionv1.Delete}
	policy = admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: meta,
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{
				ResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: writes,
					Rule:       admissionv1.Rule{APIGroups: all, APIVersions: all, Resources: []string{"*/*"}},
				}}},
				// Access reviews (the preflight's) are questions, not writes.
				ExcludeResourceRules: []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.OperationAll},
					Rule:       admissionv1.Rule{APIGroups: []string{"authorization.k8s.io", "authentication.k8s.io"}, APIVersions: all, Resources: all},
				}}},
			},
			MatchConditions: []admissionv1.MatchCondition{{Name: "urumi-identity", Expression: identity}},
			Variables:       boundaryVariables(domain),
			Validations:     boundaryValidations(),
		},
	}
	binding = admissionv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: meta,
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
		},
	}
	return policy, binding, nil
}

// identityCondition is the CEL condition that a request comes from subject.
// Built-in users and groups (system:...) are refused: they are Kubernetes'
// own components, which the policy would stop from doing their work.
func identityCondition(s rbacv1.Subject) (string, error) {
	switch s.Kind {
	case rbacv1.UserKind, rbacv1.GroupKind:
		what := strings.ToLower(s.Kind)
		if s.Name == "" || !utf8.ValidString(s.Name) {
			return "", errorf(ErrInvalid, "%s name %q is invalid: give the name the cluster authenticates", what, s.Name)
		}
		if strings.HasPrefix(s.Name, "system:") {
			return "", errorf(ErrInvalid, "%s %q is one of Kubernetes' own: urumi needs an identity of its own (for a service account, use the service account form NAMESPACE/NAME)", what, s.Name)
		}
		if s.Kind == rbacv1.UserKind {
			return "request.userInfo.username == " + celString(s.Name), nil
		}
		return celString(s.Name) + " in request.userInfo.?groups.orValue([])", nil
	case rbacv1.ServiceAccountKind:
		if errs := validation.IsDNS1123Label(s.Namespace); len(errs) > 0 {
			return "", errorf(ErrInvalid, "service account namespace %q is invalid: %s", s.Namespace, strings.Join(errs, "; "))
		}
		if errs := validation.IsDNS1123Subdomain(s.Name); len(errs) > 0 {
			return "", errorf(ErrInvalid, "service account name %q is invalid: %s", s.Name, strings.Join(errs, "; "))
		}
		return "request.userInfo.username == " + celString("system:serviceaccount:"+s.Namespace+":"+s.Name), nil
	}
	return "", errorf(ErrInvalid, "subject kind %q is not a user, a group or a service account", s.Kind)
}

// celString quotes s as a CEL string literal. Only printable ASCII other
// than the quote and the backslash is written as is; everything else is a
// \u or \U escape, so no name can end the literal or change the expression.
func celString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// label is the CEL for a label of obj, "" when absent.
func label(obj, key string) string {
	return obj + ".metadata.?labels[?" + strconv.Quote(key) + `].orValue("")`
}

// The chart's kinds, as group/resource: urumi writes them only through the
// store's Helm release.
var chartResources = []string{
	"/configmaps", "/services", "/persistentvolumeclaims",
	"apps/deployments", "apps/statefulsets", "batch/jobs", "batch/cronjobs", "networking.k8s.io/ingresses",
	"gateway.networking.k8s.io/httproutes",
}

func boundaryVariables(domain string) []admissionv1.Variable {
	quoted := make([]string, len(chartResources))
	for i, r := range chartResources {
		quoted[i] = strconv.Quote(r)
	}
	is := func(group, resource string) string {
		return fmt.Sprintf("variables.group == %q && request.resource.resource == %q", group, resource)
	}
	return []admissionv1.Variable{
		// Fields of the request that are absent, not empty, when unset:
		// the namespace of a cluster-scoped object, the name of one
		// whose name the server generates.
		{Name: "requestNamespace", Expression: `request.?namespace.orValue("")`},
		{Name: "requestName", Expression: `request.?name.orValue("")`},
		{Name: "subResource", Expression: `request.?subResource.orValue("")`},
		{Name: "group", Expression: `request.resource.?group.orValue("")`},
		{Name: "isNamespace", Expression: is("", "namespaces")},
		{Name: "isService", Expression: is("", "services")},
		{Name: "isSecret", Expression: is("", "secrets")},
		{Name: "isClaim", Expression: is("", "persistentvolumeclaims")},
		{Name: "isStatefulSet", Expression: is("apps", "statefulsets")},
		{Name: "isIngress", Expression: is("networking.k8s.io", "ingresses")},
		{Name: "isHTTPRoute", Expression: is("gateway.networking.k8s.io", "httproutes")},
		{Name: "isChartKind", Expression: `variables.group + "/" + request.resource.resource in [` + strings.Join(quoted, ", ") + `]`},
		// What the request is, for messages: "Deployment web (create)".
		{Name: "what", Expression: `request.kind.kind + (variables.subResource != "" ? "/" + variables.subResource : "") + (variables.requestName != "" ? " " + variables.requestName : "") + " (" + request.operation.lowerAscii() + ")"`},
		// A namespaced request's namespace is one of urumi's stores.
		{Name: "inStore", Expression: `variables.requestNamespace.matches('` + storeNamespaceRE + `') && namespaceObject != null && ` +
			label("namespaceObject", LabelManagedBy) + ` == "` + ManagedBy + `" && ` +
			label("namespaceObject", LabelStore) + ` == variables.requestNamespace.substring(6)`},
		// The one host a store's Ingress may serve.
		{Name: "storeHost", Expression: `(namespaceObject == null ? "" : ` + label("namespaceObject", LabelStore) + `) + ` + strconv.Quote("."+domain)},
		// The namespace a Namespace request writes, and the store it is for.
		{Name: "namespaceName", Expression: `object != null ? object.metadata.name : oldObject.metadata.name`},
		{Name: "namespaceStore", Expression: `variables.namespaceName.startsWith("store-") ? variables.namespaceName.substring(6) : ""`},
		// ingress-nginx annotations that reach beyond the store: snippets
		// of server configuration, another host (server-alias), a request
		// to any URL (auth-url), a Secret of another namespace (ns/name).
		{Name: "reachingAnnotations", Expression: `variables.isIngress && object != null ? object.metadata.?annotations.orValue({}).filter(k, ` +
			`k.endsWith("-snippet") || k.endsWith("-snippets") || k == "nginx.ingress.kubernetes.io/server-alias" || k == "nginx.ingress.kubernetes.io/auth-url" || ` +
			`(k.startsWith("nginx.ingress.kubernetes.io/") && k.contains("secret") && object.metadata.annotations[k].contains("/"))) : []`},
	}
}

func boundaryValidations() []admissionv1.Validation {
	managed := func(obj string) string { return label(obj, LabelManagedBy) + ` == "` + ManagedBy + `"` }
	vs := []admissionv1.Validation{
		{
			Expression:        `variables.isNamespace || variables.requestNamespace == "" || variables.inStore`,
			MessageExpression: `"urumi may write only in its stores' namespaces (named store-<name>, labelled app.kubernetes.io/managed-by=urumi and urumi.io/store=<name>): " + variables.what + " in namespace " + variables.requestNamespace + " refused"`,
		},
		{
			Expression:        `variables.isNamespace || variables.requestNamespace != ""`,
			MessageExpression: `"urumi may write no cluster-scoped object but its stores' namespaces: " + variables.what + " refused"`,
		},
		{
			Expression:        `!variables.isNamespace || variables.subResource == ""`,
			MessageExpression: `"urumi may not write a namespace's " + variables.subResource + ": " + variables.what + " refused"`,
		},
		{
			Expression:        `!variables.isNamespace || variables.namespaceName.matches('` + storeNamespaceRE + `')`,
			MessageExpression: `"urumi may create, change and delete only namespaces named store-<store name>: namespace " + variables.namespaceName + " refused"`,
		},
		{
			Expression:        `!variables.isNamespace || oldObject == null || ` + managed("oldObject"),
			MessageExpression: `"namespace " + variables.namespaceName + " is not managed by urumi (it lacks the label app.kubernetes.io/managed-by=urumi): urumi may not change or delete it"`,
		},
		{
			Expression: `!variables.isNamespace || object == null || (` + managed("object") + ` && ` +
				label("object", LabelStore) + ` == variables.namespaceStore)`,
			MessageExpression: `"namespace " + variables.namespaceName + " must carry the labels app.kubernetes.io/managed-by=urumi and urumi.io/store=" + variables.namespaceStore + ": refused"`,
		},
		{
			Expression: `!variables.isNamespace || object == null || (` + label("object", labelPodSecurityEnforce) + ` == "restricted" && ` +
				`object.metadata.?labels[?"` + labelPodSecurityEnforceVersion + `"].orValue("latest") == "latest")`,
			MessageExpression: `"namespace " + variables.namespaceName + " must enforce the restricted Pod Security level (label pod-security.kubernetes.io/enforce=restricted, at the latest version): urumi may not make a namespace that admits privileged pods"`,
		},
		{
			Expression: `!variables.isService || object == null || ` +
				`(object.spec.?type.orValue("ClusterIP") == "ClusterIP" && size(object.spec.?externalIPs.orValue([])) == 0)`,
			MessageExpression: `"urumi may create only ClusterIP Services without external IPs: Service " + variables.requestName + " of type " + object.spec.?type.orValue("ClusterIP") + " in namespace " + variables.requestNamespace + " refused"`,
		},
		{
			Expression: `!variables.isIngress || object == null || (!object.?spec.?defaultBackend.hasValue() && ` +
				`object.?spec.?rules.orValue([]).all(r, r.?host.orValue("") == variables.storeHost) && ` +
				`object.?spec.?tls.orValue([]).all(t, t.?hosts.orValue([]).all(h, h == variables.storeHost)))`,
			MessageExpression: `"an Ingress in namespace " + variables.requestNamespace + " may serve only the store's host " + variables.storeHost + ", without a default backend: Ingress " + variables.requestName + " refused"`,
		},
		{
			// A route without host names serves every host of its
			// listener; a Service as parent (a mesh route) or a backend in
			// another namespace reaches past the store.
			Expression: `!variables.isHTTPRoute || object == null || (` +
				`size(object.?spec.?hostnames.orValue([])) > 0 && object.spec.hostnames.all(h, h == variables.storeHost) && ` +
				`object.?spec.?parentRefs.orValue([]).all(p, p.?kind.orValue("Gateway") == "Gateway" && p.?group.orValue("gateway.networking.k8s.io") == "gateway.networking.k8s.io") && ` +
				`object.?spec.?rules.orValue([]).all(r, r.?backendRefs.orValue([]).all(b, b.?namespace.orValue(variables.requestNamespace) == variables.requestNamespace)))`,
			MessageExpression: `"an HTTPRoute in namespace " + variables.requestNamespace + " may serve only the store's host " + variables.storeHost + ", attached to Gateways, with backends in its own namespace: HTTPRoute " + variables.requestName + " refused"`,
		},
		{
			Expression:        `size(variables.reachingAnnotations) == 0`,
			MessageExpression: `"Ingress " + variables.requestName + " in namespace " + variables.requestNamespace + " may not carry " + variables.reachingAnnotations.join(", ") + ": they reach beyond the store (server configuration, other hosts, other namespaces' Secrets)"`,
		},
		{
			Expression: `!variables.isChartKind || object == null || ` +
				`object.metadata.?annotations[?"` + annotationHelmReleaseNamespace + `"].orValue("") == variables.requestNamespace`,
			MessageExpression: `"urumi writes " + request.kind.kind + " objects only through the Helm release of the store they belong to: " + variables.what + " in namespace " + variables.requestNamespace + " is not part of that namespace's release, refused"`,
		},
		{
			Expression:        `!variables.isSecret || object == null || object.?type.orValue("Opaque") in ["Opaque", "helm.sh/release.v1"]`,
			MessageExpression: `"urumi may create only Opaque Secrets and Helm's release records: Secret " + variables.requestName + " of type " + object.?type.orValue("Opaque") + " in namespace " + variables.requestNamespace + " refused"`,
		},
		{
			Expression: `!variables.isClaim || object == null || object.?spec.?volumeName.orValue("") == "" || ` +
				`(oldObject != null && oldObject.?spec.?volumeName.orValue("") == object.spec.volumeName)`,
			MessageExpression: `"a PersistentVolumeClaim of urumi's may not name its volume (it could take another store's data): PersistentVolumeClaim " + variables.requestName + " in namespace " + variables.requestNamespace + " refused"`,
		},
		{
			Expression:        `!variables.isStatefulSet || object == null || object.?spec.?volumeClaimTemplates.orValue([]).all(t, t.?spec.?volumeName.orValue("") == "")`,
			MessageExpression: `"a StatefulSet of urumi's may not name the volumes of its claims (they could take another store's data): StatefulSet " + variables.requestName + " in namespace " + variables.requestNamespace + " refused"`,
		},
	}
	// A refusal is a 403, as for a missing permission, not the default 422
	// of an invalid object: the object may be fine, only not urumi's.
	forbidden := metav1.StatusReasonForbidden
	for i := range vs {
		vs[i].Reason = &forbidden
	}
	return vs
}

// AccessObjects are what urumi's identity needs on a cluster, in the order
// `kubectl apply` takes them: the ClusterRole of Rules, its binding to
// subject, and the BoundaryPolicy with its binding. `urumi rbac` prints
// them and urumi's own chart is generated from them.
func AccessObjects(name string, subject rbacv1.Subject, baseDomain string) ([]any, error) {
	policy, policyBinding, err := BoundaryPolicy(name, subject, baseDomain)
	if err != nil {
		return nil, err
	}
	meta := metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelManagedBy: ManagedBy}}
	role := rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: meta,
		Rules:      Rules(),
	}
	binding := rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: meta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{subject},
	}
	return []any{role, binding, policy, policyBinding}, nil
}
