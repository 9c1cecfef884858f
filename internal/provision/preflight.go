package provision

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// permission is one thing urumi does on the cluster.
type permission struct {
	verb, group, resource string
}

// What provisioning and deletion do: namespaces and their guard rails, the
// credentials Secret, and what the chart holds (Helm keeps its release
// records in Secrets).
var permissions = []permission{
	{"create", "", "namespaces"}, {"delete", "", "namespaces"}, {"patch", "", "namespaces"},
	{"create", "", "resourcequotas"}, {"create", "", "limitranges"},
	{"create", "networking.k8s.io", "networkpolicies"},
	{"create", "", "secrets"}, {"get", "", "secrets"}, {"update", "", "secrets"},
	{"create", "", "configmaps"}, {"create", "", "services"}, {"create", "", "persistentvolumeclaims"},
	{"create", "apps", "deployments"}, {"create", "apps", "statefulsets"},
	{"create", "batch", "jobs"}, {"create", "networking.k8s.io", "ingresses"},
	{"list", "", "pods"}, {"list", "", "events"},
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
	var missing []string
	for i, p := range permissions {
		if errs[i] != nil {
			return fmt.Errorf("check permissions: %w", describeAPIError(errs[i]))
		}
		if !allowed[i] {
			r := p.resource
			if p.group != "" {
				r += "." + p.group
			}
			missing = append(missing, p.verb+" "+r)
		}
	}
	if len(missing) > 0 {
		return errorf(ErrForbidden, "the kubeconfig's user may not %s: grant them (a ClusterRole bound to that user) or use another --context", strings.Join(missing, ", "))
	}
	return nil
}
