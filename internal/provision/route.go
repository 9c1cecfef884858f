package provision

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// How stores are reached from outside the cluster.
const (
	// RouteIngress: an Ingress of the configured IngressClass; the store's
	// NetworkPolicy admits the ingress controller's namespace.
	RouteIngress = "ingress"
	// RouteGateway: a Gateway API HTTPRoute attached to the configured
	// Gateway; the store's NetworkPolicy admits the Gateway's namespace,
	// where its data plane runs.
	RouteGateway = "gateway"
)

// GatewayRef names the Gateway stores' HTTPRoutes attach to, and
// optionally one listener of it. Its TLS, if any, is the listener's.
type GatewayRef struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	SectionName string `json:"sectionName,omitempty"`
}

func (g GatewayRef) String() string {
	s := g.Namespace + "/" + g.Name
	if g.SectionName != "" {
		s += " (listener " + g.SectionName + ")"
	}
	return s
}

// checkRoute says what is wrong with the route settings, if anything.
func (s Settings) checkRoute() error {
	switch s.Route {
	case "", RouteIngress:
		return nil
	case RouteGateway:
	default:
		return errorf(ErrInvalid, "route setting %q is invalid: use ingress or gateway", s.Route)
	}
	g := s.Gateway
	if errs := validation.IsDNS1123Subdomain(g.Name); len(errs) > 0 {
		return errorf(ErrInvalid, "gateway-name %q is invalid with route gateway: name the Gateway stores attach to (%s)", g.Name, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(g.Namespace); len(errs) > 0 {
		return errorf(ErrInvalid, "gateway-namespace %q is invalid with route gateway: name the Gateway's namespace (%s)", g.Namespace, strings.Join(errs, "; "))
	}
	if g.SectionName != "" {
		if errs := validation.IsDNS1123Subdomain(g.SectionName); len(errs) > 0 {
			return errorf(ErrInvalid, "gateway-section %q is invalid: name one of the Gateway's listeners, or none (%s)", g.SectionName, strings.Join(errs, "; "))
		}
	}
	return nil
}

// routerNamespace is the namespace whose pods may reach a store with
// options o: its Gateway's for a store routed through a Gateway, the
// ingress controller's otherwise.
func (k *Kube) routerNamespace(o Options) string {
	if o.Route == RouteGateway && o.Gateway != nil {
		return o.Gateway.Namespace
	}
	return k.Settings.IngressNamespace
}

// storeRoute is what a store's chart may route: its host, and the Gateway
// its HTTPRoute attaches to when it is routed through one.
type storeRoute struct {
	host    string
	gateway *GatewayRef
}

func routeOf(name string, o Options) storeRoute {
	r := storeRoute{host: storeHost(name, o)}
	if o.Route == RouteGateway {
		r.gateway = o.Gateway
	}
	return r
}
