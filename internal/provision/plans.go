package provision

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Plan sizes a store and says what its owner may change: the namespace's
// ResourceQuota and LimitRange, the requests, limits and volume sizes the
// chart gets, where the store's WordPress may connect to, and which chart
// values a store owner may set. Plans belong to the operator: they come
// from the config file, or are the built-in three.
type Plan struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Quota caps the whole namespace.
	Quota PlanQuota `json:"quota"`
	// Containers' requests and limits, by chart component.
	WordPress Resources `json:"wordpress"`
	MariaDB   Resources `json:"mariadb"`
	Setup     Resources `json:"setup"`
	// Cron is the container of the job that runs WP-Cron. Unset, it is
	// DefaultCronResources: plans written before the store chart had a
	// cron job have none.
	Cron Resources `json:"cron"`
	// Volume sizes.
	WordPressStorage string `json:"wordpressStorage"`
	MariaDBStorage   string `json:"mariadbStorage"`
	// Egress is where the store's WordPress may connect to.
	Egress Egress `json:"egress"`
	// OwnerValues are the chart values a store owner may set, with bounds.
	// Anything else is an admin's.
	OwnerValues []ValueRule `json:"ownerValues,omitempty"`
	// Backup, when set, backs the plan's stores up on a schedule and
	// keeps the newest few: {"every": "daily", "keep": 7}.
	Backup *BackupSchedule `json:"backup,omitempty"`
}

// PlanQuota is what the namespace's ResourceQuota allows in all.
type PlanQuota struct {
	CPU     string `json:"cpu"`    // limits.cpu; requests.cpu is the same
	Memory  string `json:"memory"` // limits.memory; requests.memory is the same
	Storage string `json:"storage"`
	Pods    int    `json:"pods"`
	Claims  int    `json:"persistentVolumeClaims"`
}

// Resources are one container's requests and limits.
type Resources struct {
	RequestCPU    string `json:"requestCpu"`
	RequestMemory string `json:"requestMemory"`
	LimitCPU      string `json:"limitCpu"`
	LimitMemory   string `json:"limitMemory"`
}

// Egress is what a store's WordPress may reach beyond its own database and
// DNS. Private, shared, link-local and loopback ranges, where a cluster's
// pods, services and API server live, are never among it.
type Egress struct {
	// PublicHTTPS lets WordPress call payment gateways, shipping and tax
	// APIs: TCP 443 anywhere on the public internet.
	PublicHTTPS bool `json:"publicHTTPS"`
	// MailRelay, "ADDRESS:PORT" or "CIDR:PORT", is the one mail relay the
	// stores may send through, wherever the operator runs it.
	MailRelay string `json:"mailRelay,omitempty"`
}

// ValueRule is one chart value a store owner may set, and its bounds. The
// chart's values schema applies as well.
type ValueRule struct {
	// Key is the value's path, as in a set entry: "woocommerce.version".
	Key string `json:"key"`
	// Max bounds a resource quantity ("2", "1Gi").
	Max string `json:"max,omitempty"`
	// MaxLength bounds a string's length in characters.
	MaxLength int `json:"maxLength,omitempty"`
	// OneOf lists the only values allowed.
	OneOf []string `json:"oneOf,omitempty"`
}

// Description of what a plan's stores may reach, for people.
func (e Egress) String() string {
	var parts []string
	if e.PublicHTTPS {
		parts = append(parts, "public HTTPS")
	}
	if e.MailRelay != "" {
		parts = append(parts, "mail relay "+e.MailRelay)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ownerValues are the values every built-in plan lets a store owner set:
// the shop's details, the WooCommerce release, and the two main
// containers' sizes within the plan's quota.
func ownerValues(p Plan) []ValueRule {
	rules := []ValueRule{
		{Key: "woocommerce.version"},
		{Key: "site.title", MaxLength: 200},
		{Key: "admin.email", MaxLength: 254},
	}
	for _, c := range []string{"wordpress", "mariadb"} {
		for _, kind := range []string{"requests", "limits"} {
			rules = append(rules,
				ValueRule{Key: "resources." + c + "." + kind + ".cpu", Max: p.Quota.CPU},
				ValueRule{Key: "resources." + c + "." + kind + ".memory", Max: p.Quota.Memory})
		}
	}
	return rules
}

// BuiltinPlans are the plans of an operator who defines none, smallest
// first.
func BuiltinPlans() []Plan {
	plans := []Plan{
		{
			Name:             "small",
			Description:      "A new or quiet shop: up to 2 CPUs and 2 GiB of memory in all.",
			Quota:            PlanQuota{CPU: "2", Memory: "2Gi", Storage: "10Gi", Pods: 10, Claims: 4},
			WordPress:        Resources{"250m", "256Mi", "1", "768Mi"},
			MariaDB:          Resources{"100m", "256Mi", "500m", "768Mi"},
			Setup:            Resources{"50m", "128Mi", "250m", "256Mi"},
			Cron:             Resources{"50m", "128Mi", "250m", "256Mi"},
			WordPressStorage: "2Gi", MariaDBStorage: "2Gi",
		},
		{
			Name:             "medium",
			Description:      "A busy shop: up to 4 CPUs and 4 GiB of memory in all.",
			Quota:            PlanQuota{CPU: "4", Memory: "4Gi", Storage: "20Gi", Pods: 15, Claims: 4},
			WordPress:        Resources{"500m", "512Mi", "2", "1536Mi"},
			MariaDB:          Resources{"250m", "512Mi", "1", "1536Mi"},
			Setup:            Resources{"100m", "128Mi", "500m", "512Mi"},
			Cron:             Resources{"50m", "128Mi", "250m", "384Mi"},
			WordPressStorage: "5Gi", MariaDBStorage: "5Gi",
		},
		{
			Name:             "large",
			Description:      "A shop with heavy traffic or a large catalogue: up to 8 CPUs and 8 GiB of memory in all.",
			Quota:            PlanQuota{CPU: "8", Memory: "8Gi", Storage: "60Gi", Pods: 20, Claims: 4},
			WordPress:        Resources{"1", "1Gi", "4", "3Gi"},
			MariaDB:          Resources{"500m", "1Gi", "2", "3Gi"},
			Setup:            Resources{"100m", "256Mi", "1", "1Gi"},
			Cron:             Resources{"100m", "256Mi", "500m", "512Mi"},
			WordPressStorage: "20Gi", MariaDBStorage: "20Gi",
		},
	}
	for i := range plans {
		plans[i].Egress = Egress{PublicHTTPS: true}
		plans[i].OwnerValues = ownerValues(plans[i])
	}
	return plans
}

// DefaultCronResources are the cron job container's requests and limits
// in a plan that sets none: the store chart's defaults.
func DefaultCronResources() Resources { return Resources{"50m", "128Mi", "250m", "256Mi"} }

// cron is the cron job container's requests and limits on the plan.
func (p Plan) cron() Resources {
	if p.Cron == (Resources{}) {
		return DefaultCronResources()
	}
	return p.Cron
}

// DefaultPlan is the built-in plan of a store created without one.
const DefaultPlan = "medium"

// Plans is the operator's catalogue of plans and the one a store gets when
// its request names none. The zero Plans is the built-in catalogue.
type Plans struct {
	list []Plan
	def  string
}

// NewPlans checks an operator's plans and returns them as a catalogue;
// with no plans it is the built-in catalogue. def names the default plan;
// empty means "medium" if there is one, else the first.
func NewPlans(plans []Plan, def string) (Plans, error) {
	if len(plans) == 0 {
		plans = BuiltinPlans()
	}
	seen := map[string]bool{}
	for i := range plans {
		p := &plans[i]
		if err := p.check(); err != nil {
			return Plans{}, errorf(ErrInvalid, "plan %q: %w", p.Name, err)
		}
		if seen[p.Name] {
			return Plans{}, errorf(ErrInvalid, "plan %q is defined twice: give each plan its own name", p.Name)
		}
		seen[p.Name] = true
	}
	if def == "" {
		def = plans[0].Name
		if seen[DefaultPlan] {
			def = DefaultPlan
		}
	}
	if !seen[def] {
		return Plans{}, errorf(ErrInvalid, "default plan %q is not one of the plans: use one of %s", def, strings.Join(planNames(plans), ", "))
	}
	return Plans{list: slices.Clone(plans), def: def}, nil
}

// All returns the plans in the operator's order.
func (ps Plans) All() []Plan {
	if len(ps.list) == 0 {
		return BuiltinPlans()
	}
	return slices.Clone(ps.list)
}

// Default is the name of the plan of a store created without one.
func (ps Plans) Default() string {
	if ps.def == "" {
		return DefaultPlan
	}
	return ps.def
}

// Names lists the plans' names.
func (ps Plans) Names() []string { return planNames(ps.All()) }

// Get finds a plan, or says which plans exist.
func (ps Plans) Get(name string) (Plan, error) {
	all := ps.All()
	for _, p := range all {
		if p.Name == name {
			return p, nil
		}
	}
	return Plan{}, errorf(ErrInvalid, "unknown plan %q: use one of %s", name, strings.Join(planNames(all), ", "))
}

func planNames(plans []Plan) []string {
	names := make([]string, 0, len(plans))
	for _, p := range plans {
		names = append(names, p.Name)
	}
	return names
}

// check says what is wrong with an operator's plan: a bad name or size,
// containers that do not fit the quota together, an egress that is not
// allowed, an owner value that is not one.
func (p *Plan) check() error {
	if !nameRE.MatchString(p.Name) || len(p.Name) > 40 {
		return fmt.Errorf("the name is invalid: use up to 40 lowercase letters, digits and '-', starting with a letter")
	}
	if p.Quota.Pods < 4 || p.Quota.Claims < 2 {
		return fmt.Errorf("quota.pods must be at least 4 and quota.persistentVolumeClaims at least 2 (a store runs WordPress, MariaDB, a setup Job and a cron job, with two volumes)")
	}
	quantities := []struct{ field, v string }{
		{"quota.cpu", p.Quota.CPU}, {"quota.memory", p.Quota.Memory}, {"quota.storage", p.Quota.Storage},
		{"wordpressStorage", p.WordPressStorage}, {"mariadbStorage", p.MariaDBStorage},
	}
	for _, c := range []struct {
		name string
		r    Resources
	}{{"wordpress", p.WordPress}, {"mariadb", p.MariaDB}, {"setup", p.Setup}, {"cron", p.cron()}} {
		quantities = append(quantities,
			struct{ field, v string }{c.name + ".requestCpu", c.r.RequestCPU},
			struct{ field, v string }{c.name + ".requestMemory", c.r.RequestMemory},
			struct{ field, v string }{c.name + ".limitCpu", c.r.LimitCPU},
			struct{ field, v string }{c.name + ".limitMemory", c.r.LimitMemory})
	}
	for _, q := range quantities {
		v, err := resource.ParseQuantity(q.v)
		if err != nil || v.Sign() <= 0 {
			return fmt.Errorf("%s %q is not a positive quantity (like 500m, 2, 512Mi, 5Gi)", q.field, q.v)
		}
	}
	if err := fitsQuota(p.Quota, p.ChartValues()); err != nil {
		return err
	}
	if p.Egress.MailRelay != "" {
		if _, _, err := parseRelay(p.Egress.MailRelay); err != nil {
			return err
		}
	}
	for i, r := range p.OwnerValues {
		if err := checkRule(r); err != nil {
			return fmt.Errorf("ownerValues[%d]: %w", i, err)
		}
	}
	if p.Backup != nil {
		if err := p.Backup.check(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	return nil
}

// parseRelay reads a mail relay "ADDRESS:PORT" or "CIDR:PORT".
func parseRelay(s string) (netip.Prefix, int, error) {
	bad := fmt.Errorf("egress.mailRelay %q is invalid: use ADDRESS:PORT or CIDR:PORT, like 203.0.113.10:587", s)
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.Prefix{}, 0, bad
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil || port < 1 || port > 65535 {
		return netip.Prefix{}, 0, bad
	}
	host := strings.Trim(s[:i], "[]")
	if pfx, err := netip.ParsePrefix(host); err == nil {
		return pfx.Masked(), port, nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}, 0, bad
	}
	return netip.PrefixFrom(addr, addr.BitLen()), port, nil
}

// resourceValues is the plan's part of the chart values' resources.
func (p Plan) resourceValues() map[string]any {
	return map[string]any{
		"wordpress": p.WordPress.values(),
		"mariadb":   p.MariaDB.values(),
		"setup":     p.Setup.values(),
		"cron":      p.cron().values(),
	}
}

func (r Resources) values() map[string]any {
	return map[string]any{
		"requests": map[string]any{"cpu": r.RequestCPU, "memory": r.RequestMemory},
		"limits":   map[string]any{"cpu": r.LimitCPU, "memory": r.LimitMemory},
	}
}

// ChartValues is the plan's part of the chart values.
func (p Plan) ChartValues() map[string]any {
	return map[string]any{
		"resources": p.resourceValues(),
		"storage": map[string]any{
			"wordpress": map[string]any{"size": p.WordPressStorage},
			"mariadb":   map[string]any{"size": p.MariaDBStorage},
		},
	}
}

// quotaHard is the namespace ResourceQuota's hard limits.
func (p Plan) quotaHard() corev1.ResourceList {
	q := func(s string) resource.Quantity { return resource.MustParse(s) }
	return corev1.ResourceList{
		corev1.ResourceRequestsCPU:            q(p.Quota.CPU),
		corev1.ResourceLimitsCPU:              q(p.Quota.CPU),
		corev1.ResourceRequestsMemory:         q(p.Quota.Memory),
		corev1.ResourceLimitsMemory:           q(p.Quota.Memory),
		corev1.ResourceRequestsStorage:        q(p.Quota.Storage),
		corev1.ResourcePods:                   *resource.NewQuantity(int64(p.Quota.Pods), resource.DecimalSI),
		corev1.ResourcePersistentVolumeClaims: *resource.NewQuantity(int64(p.Quota.Claims), resource.DecimalSI),
		corev1.ResourceServicesLoadBalancers:  q("0"),
		corev1.ResourceServicesNodePorts:      q("0"),
		"count/ingresses.networking.k8s.io":   q("2"),
		// Setup Jobs of two revisions while an upgrade replaces one, the
		// cron job's running Job and the finished ones it keeps.
		corev1.ResourceName("count/jobs.batch"): q("10"),
	}
}

// limitRange gives containers that set nothing sane defaults, and caps any
// one container and claim at the whole plan.
func (p Plan) limitRange() corev1.LimitRangeSpec {
	q := func(s string) resource.Quantity { return resource.MustParse(s) }
	return corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("512Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("128Mi")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: q(p.Quota.CPU), corev1.ResourceMemory: q(p.Quota.Memory)},
		},
		{
			Type: corev1.LimitTypePersistentVolumeClaim,
			Max:  corev1.ResourceList{corev1.ResourceStorage: q(p.Quota.Storage)},
		},
	}}
}
