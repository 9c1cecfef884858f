package provision

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/provision/hostiletest"
)

// chartValues are a store's chart values as the runner gives them to
// Helm (Kube.chartValues, on a Kube of its own).
func chartValues(name string, plan Plan, o Options) (map[string]any, error) {
	return (&Kube{}).chartValues(name, plan, o)
}

func TestCheckOverridesRefusesHostileEntries(t *testing.T) {
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Plans{}.Get("small")
	if err != nil {
		t.Fatal(err)
	}
	owner, admin := Caller{Name: "alice"}, Caller{Name: "ops", Admin: true}
	opts := func(set []string) Options {
		return Options{BaseDomain: "example.com", IngressClass: "nginx", Set: set}
	}
	for _, tc := range hostiletest.Overrides() {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := checkOverrides(nil, ch, owner, "shop", plan, opts(tc.Set))
			if err == nil {
				t.Fatalf("a store owner's %q was accepted", tc.Set)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrForbidden) {
				t.Fatalf("owner: %v is neither invalid nor forbidden", err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("the message carries a line break: %q", err)
			}
			_, err = checkOverrides(nil, ch, admin, "shop", plan, opts(tc.Set))
			if tc.AdminOK && err != nil {
				t.Errorf("an admin may set %q: %v", tc.Set, err)
			}
			if !tc.AdminOK && err == nil {
				t.Errorf("an admin's %q was accepted", tc.Set)
			}
		})
	}
}

func TestCheckOverridesOwnerValues(t *testing.T) {
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := Plans{}.Get("small")
	owner := Caller{Name: "alice"}
	ok := []string{
		"woocommerce.version=10.1.2",
		"site.title=Alice's Shop, \"the best\" — since 2026",
		"admin.email=alice@example.com",
		"resources.wordpress.limits.cpu=1",
		"resources.wordpress.requests.memory=300Mi",
	}
	vals, err := checkOverrides(nil, ch, owner, "shop", plan, Options{BaseDomain: "example.com", IngressClass: "nginx", Set: ok})
	if err != nil {
		t.Fatalf("a store owner's allowed values: %v", err)
	}
	if got := vals["site"].(map[string]any)["title"]; got != "Alice's Shop, \"the best\" — since 2026" {
		t.Errorf("title %q", got)
	}
	// A comma is part of the value, never a second entry.
	vals, err = checkOverrides(nil, ch, owner, "shop", plan, Options{BaseDomain: "example.com", IngressClass: "nginx", Set: []string{"site.title=a,host=evil.example"}})
	if err != nil || vals["host"] != "shop.example.com" || vals["site"].(map[string]any)["title"] != "a,host=evil.example" {
		t.Errorf("comma in a value: %v %v", vals, err)
	}
	_, err = checkOverrides(nil, ch, owner, "shop", plan, Options{BaseDomain: "example.com", IngressClass: "nginx", Set: []string{"ingress.className=other"}})
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "ingress.className") || !strings.Contains(err.Error(), "woocommerce.version") {
		t.Errorf("ingress.className by an owner: %v, want forbidden naming the key and what may be set", err)
	}
	// A bound of the plan: at most the plan's CPU for one container.
	_, err = checkOverrides(nil, ch, owner, "shop", plan, Options{BaseDomain: "example.com", Set: []string{"resources.wordpress.limits.cpu=3"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "at most 2") {
		t.Errorf("cpu above the plan's bound: %v", err)
	}
	// Within the bound, but the containers together exceed the quota.
	_, err = checkOverrides(nil, ch, owner, "shop", plan, Options{BaseDomain: "example.com", Set: []string{"resources.wordpress.limits.cpu=2"}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "add up to") {
		t.Errorf("containers beyond the quota: %v", err)
	}
	// A plan that gives owners nothing.
	plan.OwnerValues = nil
	_, err = checkOverrides(nil, ch, owner, "shop", plan, Options{BaseDomain: "example.com", Set: []string{"site.title=x"}})
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "they may set none") {
		t.Errorf("a plan without owner values: %v", err)
	}
}

func TestParseOverride(t *testing.T) {
	o, err := parseOverride(`ingress.annotations.nginx\.ingress\.kubernetes\.io/proxy-body-size=10m`)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.path) != 3 || o.path[2] != "nginx.ingress.kubernetes.io/proxy-body-size" || o.raw != "10m" {
		t.Errorf("parsed %+v", o)
	}
	if o.key() != `ingress.annotations.nginx\.ingress\.kubernetes\.io/proxy-body-size` {
		t.Errorf("key %q", o.key())
	}
	o, err = parseOverride("site.title=a=b,c")
	if err != nil || o.raw != "a=b,c" {
		t.Errorf("value with '=' and ',': %+v %v", o, err)
	}
}

func TestNewPlans(t *testing.T) {
	custom := BuiltinPlans()[0]
	custom.Name, custom.Description = "tiny", "A tiny shop."
	custom.Egress = Egress{}
	ps, err := NewPlans([]Plan{custom}, "")
	if err != nil {
		t.Fatal(err)
	}
	if ps.Default() != "tiny" || len(ps.All()) != 1 {
		t.Errorf("catalogue %v default %s", ps.Names(), ps.Default())
	}
	if _, err := ps.Get("medium"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "tiny") {
		t.Errorf("a built-in plan is gone once the operator defines theirs: %v", err)
	}
	bad := func(mut func(*Plan)) error {
		p := BuiltinPlans()[1]
		mut(&p)
		_, err := NewPlans([]Plan{p}, "")
		return err
	}
	for name, mut := range map[string]func(*Plan){
		"bad name":          func(p *Plan) { p.Name = "Big Shop" },
		"bad quantity":      func(p *Plan) { p.Quota.CPU = "lots" },
		"does not fit":      func(p *Plan) { p.WordPress.LimitCPU = "4" },
		"storage too large": func(p *Plan) { p.WordPressStorage = "100Gi" },
		"relay":             func(p *Plan) { p.Egress.MailRelay = "mail.example.com" },
		"owner host":        func(p *Plan) { p.OwnerValues = []ValueRule{{Key: "host"}} },
		"owner bad key":     func(p *Plan) { p.OwnerValues = []ValueRule{{Key: "a[0]"}} },
		"too few pods":      func(p *Plan) { p.Quota.Pods = 1 },
		"no pod for cron":   func(p *Plan) { p.Quota.Pods = 3 },
		"cron too large":    func(p *Plan) { p.Cron.LimitMemory = "1Gi" },
		"cron bad quantity": func(p *Plan) { p.Cron.LimitCPU = "x" },
		// The chart's default cron job counts in a plan that sizes none.
		"full without cron": func(p *Plan) { p.Cron, p.Quota.Memory = Resources{}, "3584Mi" },
	} {
		if err := bad(mut); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewPlans(nil, "nosuch"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown default: %v", err)
	}
	if _, err := NewPlans([]Plan{custom, custom}, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("a plan twice: %v", err)
	}
}

func TestEgressPolicies(t *testing.T) {
	none, err := networkPolicies("shop", "alice", "ingress-nginx", Egress{})
	if err != nil {
		t.Fatal(err)
	}
	relay, err := networkPolicies("shop", "alice", "ingress-nginx", Egress{PublicHTTPS: true, MailRelay: "10.1.2.3:587"})
	if err != nil {
		t.Fatal(err)
	}
	find := func(ps []*networkingv1.NetworkPolicy, name string) *networkingv1.NetworkPolicy {
		for _, p := range ps {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("no policy %s", name)
		return nil
	}
	if eg := find(none, "allow-wordpress-egress").Spec.Egress; len(eg) != 0 {
		t.Errorf("a plan without egress allows %+v", eg)
	}
	eg := find(relay, "allow-wordpress-egress").Spec.Egress
	if len(eg) != 2 {
		t.Fatalf("egress rules %+v", eg)
	}
	https := eg[0]
	if https.Ports[0].Port.IntValue() != 443 || len(https.To) != 2 {
		t.Errorf("public HTTPS rule %+v", https)
	}
	for _, peer := range https.To {
		if peer.IPBlock == nil || len(peer.IPBlock.Except) == 0 {
			t.Errorf("public HTTPS reaches private ranges: %+v", peer)
		}
	}
	for _, cidr := range []string{"10.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8"} {
		found := false
		for _, e := range https.To[0].IPBlock.Except {
			found = found || e == cidr
		}
		if !found {
			t.Errorf("public HTTPS does not exclude %s", cidr)
		}
	}
	if r := eg[1]; r.To[0].IPBlock.CIDR != "10.1.2.3/32" || r.Ports[0].Port.IntValue() != 587 {
		t.Errorf("mail relay rule %+v", r)
	}
}

func TestWithoutAddresses(t *testing.T) {
	in := `helm install: Post "https://10.96.0.1:443/apis/apps/v1/namespaces/store-x/deployments": dial tcp 10.96.0.1:443: i/o timeout; [fd00::1]:6443 refused; 0/3 nodes are available`
	out := withoutAddresses(in)
	for _, leak := range []string{"10.96.0.1", "https://", "fd00::1"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q still names %s", out, leak)
		}
	}
	if !strings.Contains(out, "i/o timeout") || !strings.Contains(out, "0/3 nodes are available") {
		t.Errorf("the reason itself was lost: %q", out)
	}
}

// TestCronFitsQuota: one run of the cron job counts against the plan's
// quota beside WordPress, MariaDB and the setup Job, unless the cron job is
// turned off; a plan that sizes no cron job gets the chart's default.
func TestCronFitsQuota(t *testing.T) {
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	// The default is the chart's.
	def := DefaultCronResources().values()
	chartCron := ch.Values["resources"].(map[string]any)["cron"].(map[string]any)
	for _, kind := range []string{"requests", "limits"} {
		for _, r := range []string{"cpu", "memory"} {
			want := resource.MustParse(fmt.Sprint(chartCron[kind].(map[string]any)[r]))
			got := resource.MustParse(def[kind].(map[string]any)[r].(string))
			if got.Cmp(want) != 0 {
				t.Errorf("DefaultCronResources %s.%s = %s, the chart's resources.cron says %s", kind, r, got.String(), want.String())
			}
		}
	}

	// A plan of 2 CPU and 2Gi filled by the others but for the cron job.
	p := Plan{
		Name: "snug", Quota: PlanQuota{CPU: "2", Memory: "2Gi", Storage: "10Gi", Pods: 10, Claims: 4},
		WordPress:        Resources{"250m", "256Mi", "1", "768Mi"},
		MariaDB:          Resources{"100m", "256Mi", "500m", "768Mi"},
		Setup:            Resources{"50m", "128Mi", "250m", "256Mi"},
		WordPressStorage: "2Gi", MariaDBStorage: "2Gi",
	}
	if err := p.check(); err != nil {
		t.Fatalf("plan with room for the default cron job: %v", err)
	}
	vals := p.ChartValues()
	if got := vals["resources"].(map[string]any)["cron"]; got == nil {
		t.Error("a plan without cron resources gives the chart none: the chart's default would not be what the plan counted")
	}
	p.Cron = Resources{"50m", "128Mi", "250m", "257Mi"}
	err = p.check()
	if err == nil || !strings.Contains(err.Error(), "cron 257Mi") || !strings.Contains(err.Error(), "memory limits add up to") {
		t.Errorf("plan whose cron job does not fit: %v, want the memory sum with cron named", err)
	}

	// Over the chart's values: the cron job counts unless it is off.
	full := func(set ...string) map[string]any {
		t.Helper()
		p.Cron = Resources{}
		vals, err := chartValues("shop", p, Options{BaseDomain: "example.com", Set: set})
		if err != nil {
			t.Fatal(err)
		}
		return vals
	}
	if err := fitsQuota(p.Quota, full("resources.wordpress.limits.memory=1Gi")); err == nil {
		t.Error("WordPress raised into the cron job's room fits the quota")
	}
	if err := fitsQuota(p.Quota, full("resources.wordpress.limits.memory=1Gi", "cron.enabled=false")); err != nil {
		t.Errorf("with the cron job off, its room is WordPress': %v", err)
	}
	if err := fitsQuota(p.Quota, full("resources.cron.limits.cpu=500m")); err == nil || !strings.Contains(err.Error(), "cpu limits") {
		t.Errorf("cron raised beyond the quota: %v", err)
	}
}
