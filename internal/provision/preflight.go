package provision

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rules are what urumi does on the cluster, as RBAC rules: namespaces and
// their guard rails (created, and patched back to what urumi wants when a
// step runs again), the credentials Secret and Helm's release records,
// what the chart holds (applied, read back and watched until ready, deleted
// on uninstall), and what a failure's diagnosis reads. Preflight checks
// each; a ClusterRole of exactly these lets urumi create and delete stores.
// Every verb is used (an API server audit log of a store created, failed,
// diagnosed, retried and deleted shows each, list being the fallback of
// watch on servers without streaming lists); nothing grants roles,
// bindings, pods, service accounts, tokens or any cluster-scoped kind but
// namespaces.
//
// A ClusterRole grants in every namespace, and RBAC cannot confine it to
// namespaces by label, so BoundaryPolicy, printed with it by `urumi rbac`,
// confines the writes to the stores' namespaces. Reads (Secrets, pods,
// events, the chart's kinds, what `store check` lists) stay cluster-wide: admission does not see
// reads. Confining them needs a RoleBinding per store namespace, made by
// urumi with bind on one ClusterRole only, which the policy would then
// hold to store namespaces and to urumi's own subject.
func Rules() []rbacv1.PolicyRule {
	chart := []string{"get", "list", "watch", "create", "patch", "delete"}
	// list for `store check`, watch for serve's drift reconciler.
	read := []string{"list", "watch"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "create", "patch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"resourcequotas", "limitranges"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps", "services", "persistentvolumeclaims"}, Verbs: chart},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: chart},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: chart},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: chart},
		{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"httproutes"}, Verbs: chart},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"pods", "events"}, Verbs: read},
		// What `store check` reads besides the above, to judge a store
		// (and with --all every store) from one LIST per kind.
		{APIGroups: []string{""}, Resources: []string{"namespaces", "resourcequotas", "limitranges"}, Verbs: read},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: read},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"rolebindings"}, Verbs: read},
	}
}

// permission is one verb on one resource.
type permission struct {
	verb, group, resource string
}

func permissions() []permission {
	var ps []permission
	for _, r := range Rules() {
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				ps = append(ps, permission{v, r.APIGroups[0], res})
			}
		}
	}
	return ps
}

// Preflight checks, before anything is recorded, that the cluster answers
// and that the kubeconfig's user may do what a store needs, so a request
// that cannot succeed fails at once with the fix rather than half-made.
func (k *Kube) Preflight(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := k.Client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw(); err != nil {
		return fmt.Errorf("cluster at %s is unreachable: %w: check --kubeconfig/--context and that the API server is up", k.config.Host, err)
	}
	permissions := permissions()
	allowed := make([]bool, len(permissions))
	errs := make([]error, len(permissions))
	var wg sync.WaitGroup
	for i, p := range permissions {
		wg.Go(func() {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: p.verb, Group: p.group, Resource: p.resource},
			}}
			res, err := k.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			errs[i] = err
			allowed[i] = err == nil && res.Status.Allowed
		})
	}
	wg.Wait()
	// What is missing, by resource: "namespaces (get, create)".
	var resources []string
	missing := map[string][]string{}
	for i, p := range permissions {
		if errs[i] != nil {
			return fmt.Errorf("check permissions: %w", describeAPIError(errs[i]))
		}
		if !allowed[i] {
			r := p.resource
			if p.group != "" {
				r += "." + p.group
			}
			if missing[r] == nil {
				resources = append(resources, r)
			}
			missing[r] = append(missing[r], p.verb)
		}
	}
	if len(resources) > 0 {
		for i, r := range resources {
			resources[i] = fmt.Sprintf("%s (%s)", r, strings.Join(missing[r], ", "))
		}
		return errorf(ErrForbidden, "the kubeconfig's user lacks permissions urumi needs: %s. Grant them with `urumi rbac --user NAME | kubectl apply -f -` (run as a cluster admin), or use another --context",
			strings.Join(resources, "; "))
	}
	return nil
}
