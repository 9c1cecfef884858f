package provision

import (
	"bytes"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

var testGateway = GatewayRef{Name: "public", Namespace: "gateways", SectionName: "https"}

func httpRoute(mutate func(*gwapiv1.HTTPRoute)) any {
	r := &gwapiv1.HTTPRoute{
		TypeMeta:   typeMeta("gateway.networking.k8s.io/v1", "HTTPRoute"),
		ObjectMeta: metav1.ObjectMeta{Name: "wordpress"},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{
				Group: ptr.To(gwapiv1.Group(gwapiv1.GroupName)), Kind: ptr.To(gwapiv1.Kind("Gateway")),
				Name: "public", Namespace: ptr.To(gwapiv1.Namespace("gateways")), SectionName: ptr.To(gwapiv1.SectionName("https")),
			}}},
			Hostnames: []gwapiv1.Hostname{testHost},
			Rules: []gwapiv1.HTTPRouteRule{{
				Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchPathPrefix), Value: ptr.To("/")}}},
				BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{
					Name: "wordpress", Port: ptr.To(gwapiv1.PortNumber(80)),
				}}}},
			}},
		},
	}
	mutate(r)
	return r
}

// TestRenderCheckHTTPRoute: a store routed through a Gateway may have an
// HTTPRoute for its own host, attached to urumi's Gateway, to its own
// wordpress Service; nothing else.
func TestRenderCheckHTTPRoute(t *testing.T) {
	parent := func(mutate func(*gwapiv1.ParentReference)) func(*gwapiv1.HTTPRoute) {
		return func(r *gwapiv1.HTTPRoute) { mutate(&r.Spec.ParentRefs[0]) }
	}
	backend := func(mutate func(*gwapiv1.HTTPBackendRef)) func(*gwapiv1.HTTPRoute) {
		return func(r *gwapiv1.HTTPRoute) { mutate(&r.Spec.Rules[0].BackendRefs[0]) }
	}
	for _, tc := range []struct {
		name    string
		gateway *GatewayRef
		mutate  func(*gwapiv1.HTTPRoute)
		want    string // "" passes
	}{
		{"valid", &testGateway, func(*gwapiv1.HTTPRoute) {}, ""},
		{"defaults for group and kind", &testGateway, parent(func(p *gwapiv1.ParentReference) { p.Group, p.Kind = nil, nil }), ""},
		{"any listener when none is configured", &GatewayRef{Name: "public", Namespace: "gateways"}, func(*gwapiv1.HTTPRoute) {}, ""},

		{"store not routed through a gateway", nil, func(*gwapiv1.HTTPRoute) {}, "not routed through a Gateway"},
		{"foreign host name", &testGateway, func(r *gwapiv1.HTTPRoute) { r.Spec.Hostnames = append(r.Spec.Hostnames, "bank.example.com") },
			`routes host "bank.example.com"`},
		{"wildcard host name", &testGateway, func(r *gwapiv1.HTTPRoute) { r.Spec.Hostnames = []gwapiv1.Hostname{"*." + testBaseDomain} },
			`routes host "*.stores.example.com"`},
		{"no host name", &testGateway, func(r *gwapiv1.HTTPRoute) { r.Spec.Hostnames = nil }, "every host of the Gateway's listener"},
		{"another gateway", &testGateway, parent(func(p *gwapiv1.ParentReference) { p.Name = "internal" }), "attaches to Gateway gateways/internal"},
		{"gateway of another namespace", &testGateway, parent(func(p *gwapiv1.ParentReference) { p.Namespace = ptr.To(gwapiv1.Namespace("kube-system")) }),
			"attaches to Gateway kube-system/public"},
		{"gateway in its own namespace", &testGateway, parent(func(p *gwapiv1.ParentReference) { p.Namespace = nil }), "attaches to Gateway store-shop/public"},
		{"another listener", &testGateway, parent(func(p *gwapiv1.ParentReference) { p.SectionName = ptr.To(gwapiv1.SectionName("admin")) }),
			`attaches to listener "admin"`},
		{"a service as parent", &testGateway, parent(func(p *gwapiv1.ParentReference) {
			p.Group, p.Kind = ptr.To(gwapiv1.Group("")), ptr.To(gwapiv1.Kind("Service"))
		}),
			"attaches to a Service"},
		{"two parents, one foreign", &testGateway, func(r *gwapiv1.HTTPRoute) {
			r.Spec.ParentRefs = append(r.Spec.ParentRefs, gwapiv1.ParentReference{Name: "other", Namespace: ptr.To(gwapiv1.Namespace("gateways"))})
		}, "attaches to Gateway gateways/other"},
		{"no parent", &testGateway, func(r *gwapiv1.HTTPRoute) { r.Spec.ParentRefs = nil }, "attaches to no Gateway"},
		{"another service", &testGateway, backend(func(b *gwapiv1.HTTPBackendRef) { b.Name = "mariadb" }), `routes to Service "mariadb"`},
		{"another namespace's service", &testGateway, backend(func(b *gwapiv1.HTTPBackendRef) { b.Namespace = ptr.To(gwapiv1.Namespace("store-other")) }),
			`routes to namespace "store-other"`},
		{"a backend that is not a service", &testGateway, backend(func(b *gwapiv1.HTTPBackendRef) {
			b.Group, b.Kind = ptr.To(gwapiv1.Group("example.com")), ptr.To(gwapiv1.Kind("Bucket"))
		}), "not a Service"},
		{"request mirror", &testGateway, func(r *gwapiv1.HTTPRoute) {
			r.Spec.Rules[0].Filters = []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterRequestMirror, RequestMirror: &gwapiv1.HTTPRequestMirrorFilter{
				BackendRef: gwapiv1.BackendObjectReference{Name: "collector", Namespace: ptr.To(gwapiv1.Namespace("default"))},
			}}}
		}, "RequestMirror filter"},
		{"redirect to another host", &testGateway, backend(func(b *gwapiv1.HTTPBackendRef) {
			b.Filters = []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwapiv1.HTTPRequestRedirectFilter{
				Hostname: ptr.To(gwapiv1.PreciseHostname("phish.example.com")),
			}}}
		}), `redirects to host "phish.example.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := toYAML(t, httpRoute(tc.mutate))
			_, err := renderCheck{namespace: testNamespace, host: testHost, gateway: tc.gateway}.Run(bytes.NewBufferString(doc))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("passed, want a refusal mentioning %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestRenderCheckPassesGatewayChart: the store chart as urumi renders it
// for a store routed through a Gateway has an HTTPRoute and no Ingress, and
// passes the render check of that Gateway but not of another.
func TestRenderCheckPassesGatewayChart(t *testing.T) {
	gw := testGateway
	o := Options{BaseDomain: testBaseDomain, IngressClass: "nginx", Route: RouteGateway, Gateway: &gw}
	vals, err := chartValues(testStoreName, BuiltinPlans()[0], o)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := renderStore(t, vals, checkedRender(&Kube{}, testNamespace, routeOf(testStoreName, o)))
	if err != nil {
		t.Fatalf("render check refused the chart: %v", err)
	}
	kinds := map[string]int{}
	for _, obj := range appliedObjects(t, manifest) {
		kinds[obj.GetKind()]++
	}
	if kinds["HTTPRoute"] != 1 || kinds["Ingress"] != 0 {
		t.Errorf("rendered kinds %v: want one HTTPRoute and no Ingress", kinds)
	}
	other := o
	other.Gateway = &GatewayRef{Name: "internal", Namespace: "gateways"}
	if _, err := renderStore(t, vals, checkedRender(&Kube{}, testNamespace, routeOf(testStoreName, other))); err == nil ||
		!strings.Contains(err.Error(), "only the Gateway gateways/internal is allowed") {
		t.Errorf("chart for another Gateway: %v", err)
	}
	// A store owner or admin cannot point the route elsewhere.
	o.Set = []string{"gateway.name=internal"}
	if _, err := chartValues(testStoreName, BuiltinPlans()[0], o); err == nil || !strings.Contains(err.Error(), "gateway is set by urumi") {
		t.Errorf("override of gateway.name: %v", err)
	}
}

func TestRouteSettings(t *testing.T) {
	for _, tc := range []struct {
		s    Settings
		want string
	}{
		{Settings{}, ""},
		{Settings{Route: RouteIngress}, ""},
		{Settings{Route: RouteGateway, Gateway: testGateway}, ""},
		{Settings{Route: RouteGateway, Gateway: GatewayRef{Name: "public", Namespace: "gateways"}}, ""},
		{Settings{Route: "istio"}, `route setting "istio" is invalid`},
		{Settings{Route: RouteGateway, Gateway: GatewayRef{Namespace: "gateways"}}, "gateway-name"},
		{Settings{Route: RouteGateway, Gateway: GatewayRef{Name: "public"}}, "gateway-namespace"},
		{Settings{Route: RouteGateway, Gateway: GatewayRef{Name: "public", Namespace: "gateways", SectionName: "Bad Name"}}, "gateway-section"},
	} {
		err := tc.s.checkRoute()
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
	k := &Kube{Settings: Settings{IngressNamespace: "ingress-nginx"}}
	gw := testGateway
	if ns := k.routerNamespace(Options{}); ns != "ingress-nginx" {
		t.Errorf("ingress store admits %s", ns)
	}
	if ns := k.routerNamespace(Options{Route: RouteGateway, Gateway: &gw}); ns != "gateways" {
		t.Errorf("gateway store admits %s", ns)
	}
}
