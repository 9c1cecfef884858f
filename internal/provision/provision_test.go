package provision

import (
	"errors"
	"strings"
	"testing"

	"github.com/urumi/urumi/charts"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"shop", true}, {"my-shop-1", true}, {"abc", true}, {strings.Repeat("a", 40), true},
		{"ab", false}, {strings.Repeat("a", 41), false}, {"Shop_1", false}, {"1shop", false},
		{"shop-", false}, {"-shop", false}, {"sh op", false}, {"shöp", false}, {"", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalid) || strings.HasPrefix(err.Error(), "invalid request")) {
			t.Errorf("ValidateName(%q): %v should be ErrInvalid with a plain message", tc.name, err)
		}
	}
}

func TestReservedNames(t *testing.T) {
	s := &Service{Settings: Settings{BaseDomain: "example.com", IngressClass: "nginx"}}
	for _, name := range []string{"www", "api", "admin", "mail", "webmail"} {
		req := CreateRequest{Name: name}
		if err := s.ValidateCreate(Caller{Name: "ops", Admin: true}, &req); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("create %s: %v, want reserved", name, err)
		}
		// An existing store of that name stays reachable.
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%s): %v", name, err)
		}
	}
	req := CreateRequest{Name: "www1"}
	if err := s.ValidateCreate(Caller{Name: "ops", Admin: true}, &req); err != nil {
		t.Errorf("www1: %v", err)
	}
}

func TestPlans(t *testing.T) {
	medium, err := Plans{}.Get("medium")
	if err != nil {
		t.Fatal(err)
	}
	// The seeds' namespace quota.
	if medium.Quota.CPU != "4" || medium.Quota.Memory != "4Gi" {
		t.Errorf("medium quota %+v", medium.Quota)
	}
	for _, p := range BuiltinPlans() {
		hard := p.quotaHard()
		// Containers together must fit the quota they live in: WordPress,
		// MariaDB, the setup Job and one run of the cron job.
		if p.Cron == (Resources{}) {
			t.Errorf("plan %s sizes no cron job", p.Name)
		}
		var cpu, mem int64
		for _, r := range []Resources{p.WordPress, p.MariaDB, p.Setup, p.Cron} {
			v := r.values()["limits"].(map[string]any)
			cpu += mustQuantity(t, v["cpu"].(string)).MilliValue()
			mem += mustQuantity(t, v["memory"].(string)).Value()
		}
		if q := hard["limits.cpu"]; cpu > q.MilliValue() {
			t.Errorf("plan %s: containers' cpu limits %dm exceed the quota %s", p.Name, cpu, q.String())
		}
		if q := hard["limits.memory"]; mem > q.Value() {
			t.Errorf("plan %s: containers' memory limits exceed the quota %s", p.Name, q.String())
		}
	}
	if _, err := (Plans{}).Get("huge"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "small, medium, large") {
		t.Errorf("unknown plan: %v", err)
	}
}

func TestChartValues(t *testing.T) {
	plan, _ := Plans{}.Get("small")
	vals, err := chartValues("shop", plan, Options{BaseDomain: "example.com", IngressClass: "traefik", Set: []string{"resources.wordpress.limits.cpu=3", "woocommerce.version=9.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if vals["host"] != "shop.example.com" || vals["credentialsSecret"] != credentialsName {
		t.Errorf("values: %v", vals)
	}
	if got := vals["resources"].(map[string]any)["wordpress"].(map[string]any)["limits"].(map[string]any)["cpu"]; got != int64(3) && got != "3" {
		t.Errorf("override not applied: %v", got)
	}
	if got := vals["ingress"].(map[string]any)["className"]; got != "traefik" {
		t.Errorf("ingress class %v", got)
	}
	for _, bad := range []string{"credentialsSecret=mine", "host=evil.example", "no-equals-sign"} {
		if _, err := chartValues("shop", plan, Options{Set: []string{bad}}); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrForbidden) {
			t.Errorf("set %s: %v, want refused", bad, err)
		}
	}
}

func TestNetworkPolicies(t *testing.T) {
	pols, err := networkPolicies("shop", "alice", "ingress-nginx", Egress{PublicHTTPS: true, MailRelay: "203.0.113.10:587"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, p := range pols {
		byName[p.Name] = i
		if p.Namespace != "store-shop" || p.Labels[LabelManagedBy] != ManagedBy {
			t.Errorf("policy %s: namespace %s labels %v", p.Name, p.Namespace, p.Labels)
		}
	}
	deny := pols[byName["default-deny"]].Spec
	if len(deny.PolicyTypes) != 2 || len(deny.Ingress)+len(deny.Egress) != 0 || len(deny.PodSelector.MatchLabels) != 0 {
		t.Errorf("default deny: %+v", deny)
	}
	in := pols[byName["allow-ingress-to-wordpress"]].Spec
	if in.PodSelector.MatchLabels[charts.LabelComponent] != charts.ComponentWordPress || in.Ingress[0].Ports[0].Port.IntValue() != charts.WordPressPort {
		t.Errorf("ingress to wordpress: %+v", in)
	}
	// The setup Job may not reach anything inside the cluster over HTTPS.
	eg := pols[byName["allow-setup-https-egress"]].Spec.Egress[0]
	for _, cidr := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} {
		found := false
		for _, e := range eg.To[0].IPBlock.Except {
			found = found || e == cidr
		}
		if !found {
			t.Errorf("setup egress does not exclude %s", cidr)
		}
	}
}

func TestRandomString(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 200 {
		s, err := randomString(32)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 32 || seen[s] {
			t.Fatalf("bad or repeated password %q", s)
		}
		seen[s] = true
		for _, r := range s {
			if !strings.ContainsRune(alphabet, r) {
				t.Fatalf("character %q outside the alphabet", r)
			}
			counts[r]++
		}
	}
	// 6400 draws over 62 symbols: each appears about 103 times.
	for _, r := range alphabet {
		if counts[r] < 50 || counts[r] > 170 {
			t.Errorf("character %q drawn %d times: not uniform", r, counts[r])
		}
	}
}

func TestLabelSafe(t *testing.T) {
	for in, want := range map[string]string{
		"alice": "alice", "alice@example.com": "alice_example.com", "-x-": "x", strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := labelSafe(in); got != want {
			t.Errorf("labelSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func mustQuantity(t *testing.T, s string) *resource.Quantity {
	t.Helper()
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Fatal(err)
	}
	return &q
}
