package provision

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Plan sizes a store: the namespace's ResourceQuota and LimitRange, and the
// requests, limits and volume sizes the chart gets.
type Plan struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Quota caps the whole namespace.
	Quota PlanQuota `json:"quota"`
	// Containers' requests and limits, by chart component.
	WordPress Resources `json:"wordpress"`
	MariaDB   Resources `json:"mariadb"`
	Setup     Resources `json:"setup"`
	// Volume sizes.
	WordPressStorage string `json:"wordpressStorage"`
	MariaDBStorage   string `json:"mariadbStorage"`
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

// Plans are the store sizes urumi offers, smallest first.
func Plans() []Plan {
	return []Plan{
		{
			Name:             "small",
			Description:      "a new or quiet shop",
			Quota:            PlanQuota{CPU: "2", Memory: "2Gi", Storage: "10Gi", Pods: 10, Claims: 4},
			WordPress:        Resources{"250m", "256Mi", "1", "768Mi"},
			MariaDB:          Resources{"100m", "256Mi", "500m", "768Mi"},
			Setup:            Resources{"50m", "128Mi", "250m", "256Mi"},
			WordPressStorage: "2Gi", MariaDBStorage: "2Gi",
		},
		{
			Name:             "medium",
			Description:      "a busy shop (the seeds' 4 CPU / 4Gi namespace)",
			Quota:            PlanQuota{CPU: "4", Memory: "4Gi", Storage: "20Gi", Pods: 15, Claims: 4},
			WordPress:        Resources{"500m", "512Mi", "2", "1536Mi"},
			MariaDB:          Resources{"250m", "512Mi", "1", "1536Mi"},
			Setup:            Resources{"100m", "128Mi", "500m", "512Mi"},
			WordPressStorage: "5Gi", MariaDBStorage: "5Gi",
		},
		{
			Name:             "large",
			Description:      "a shop with heavy traffic or a large catalogue",
			Quota:            PlanQuota{CPU: "8", Memory: "8Gi", Storage: "60Gi", Pods: 20, Claims: 4},
			WordPress:        Resources{"1", "1Gi", "4", "3Gi"},
			MariaDB:          Resources{"500m", "1Gi", "2", "3Gi"},
			Setup:            Resources{"100m", "256Mi", "1", "1Gi"},
			WordPressStorage: "20Gi", MariaDBStorage: "20Gi",
		},
	}
}

// DefaultPlan is the plan of a store created without --plan.
const DefaultPlan = "medium"

// PlanByName finds a plan, or says which plans exist.
func PlanByName(name string) (Plan, error) {
	var names []string
	for _, p := range Plans() {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Plan{}, errorf(ErrInvalid, "unknown plan %q: use one of %s (see `urumi plan list`)", name, strings.Join(names, ", "))
}

// PlanNames lists the plans' names.
func PlanNames() []string {
	var names []string
	for _, p := range Plans() {
		names = append(names, p.Name)
	}
	return slices.Clip(names)
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
		"resources": map[string]any{
			"wordpress": p.WordPress.values(),
			"mariadb":   p.MariaDB.values(),
			"setup":     p.Setup.values(),
		},
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
		corev1.ResourceRequestsCPU:              q(p.Quota.CPU),
		corev1.ResourceLimitsCPU:                q(p.Quota.CPU),
		corev1.ResourceRequestsMemory:           q(p.Quota.Memory),
		corev1.ResourceLimitsMemory:             q(p.Quota.Memory),
		corev1.ResourceRequestsStorage:          q(p.Quota.Storage),
		corev1.ResourcePods:                     *resource.NewQuantity(int64(p.Quota.Pods), resource.DecimalSI),
		corev1.ResourcePersistentVolumeClaims:   *resource.NewQuantity(int64(p.Quota.Claims), resource.DecimalSI),
		corev1.ResourceServicesLoadBalancers:    q("0"),
		corev1.ResourceServicesNodePorts:        q("0"),
		"count/ingresses.networking.k8s.io":     q("2"),
		corev1.ResourceName("count/jobs.batch"): q("5"),
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
