package provision

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Options are the non-secret settings a store is created with and keeps,
// stored with the store so that every later run renders the same values.
type Options struct {
	BaseDomain   string `json:"baseDomain"`
	IngressClass string `json:"ingressClass"`
	TLSIssuer    string `json:"tlsIssuer,omitempty"`
	// Route and Gateway are how the store is reached: empty (stores made
	// before routes could be chosen) is RouteIngress.
	Route   string      `json:"route,omitempty"`
	Gateway *GatewayRef `json:"gateway,omitempty"`
	// Plan is the store's plan as it was when the store was created: an
	// operator who changes or removes a plan later does not resize or
	// break the stores that have it.
	Plan *Plan `json:"plan,omitempty"`
	// Set are chart value overrides, "key=value" each, applied over the
	// plan's values. They were checked when the request arrived.
	Set []string `json:"set,omitempty"`
}

func decodeOptions(b []byte) (Options, error) {
	var o Options
	if len(b) == 0 {
		return o, nil
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("decode store options: %w", err)
	}
	return o, nil
}

func encodeOptions(o Options) ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode store options: %w", err)
	}
	return b, nil
}

// Limits on set entries, so that a request can neither make urumi build
// huge values nor hide anything in them.
const (
	MaxOverrides        = 32
	MaxOverrideLen      = 1024
	maxOverrideDepth    = 6
	maxOverrideKeyLen   = 253
	overrideKeyExample  = "woocommerce.version=10.1.2"
	overrideKeyAdvisory = "use key=value with a chart value's dotted name, like " + overrideKeyExample
)

// Keys urumi owns: overriding them would move the store or expose its
// credentials, so nobody may set them.
func ownedKeys() []string { return []string{"host", "credentialsSecret", "gateway"} }

// override is one parsed set entry: a path into the chart values and the
// value as written.
type override struct {
	entry string
	path  []string
	raw   string
}

func (o override) key() string {
	parts := make([]string, len(o.path))
	for i, p := range o.path {
		parts[i] = strings.ReplaceAll(p, ".", `\.`)
	}
	return strings.Join(parts, ".")
}

// parseOverride reads "key=value". The key is a dotted path; a '.' inside
// one segment (an annotation key) is written '\.'. Unlike Helm's --set
// there are no lists, indexes, braces or comma-separated entries: the
// value is everything after the first '=', literally.
func parseOverride(entry string) (override, error) {
	bad := func(why string) (override, error) {
		return override{}, errorf(ErrInvalid, "value override %q is invalid: %s", clip(entry), why)
	}
	if len(entry) > MaxOverrideLen {
		return bad(fmt.Sprintf("it is longer than %d bytes", MaxOverrideLen))
	}
	if !utf8.ValidString(entry) {
		return bad("it is not valid UTF-8")
	}
	for _, r := range entry {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return bad("it contains a control character (a line break, tab or similar)")
		}
	}
	key, raw, ok := strings.Cut(entry, "=")
	if !ok {
		return bad(overrideKeyAdvisory)
	}
	if key == "" || len(key) > maxOverrideKeyLen {
		return bad(overrideKeyAdvisory)
	}
	var (
		path []string
		seg  strings.Builder
	)
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key) && key[i+1] == '.':
			seg.WriteByte('.')
			i++
		case c == '.':
			path = append(path, seg.String())
			seg.Reset()
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '/':
			seg.WriteByte(c)
		default:
			return bad(fmt.Sprintf("%q may not appear in a key (lists and indexes cannot be set): %s", c, overrideKeyAdvisory))
		}
	}
	path = append(path, seg.String())
	if len(path) > maxOverrideDepth {
		return bad(fmt.Sprintf("the key is nested deeper than %d levels", maxOverrideDepth))
	}
	for _, p := range path {
		if p == "" {
			return bad("the key has an empty part: " + overrideKeyAdvisory)
		}
	}
	return override{entry: entry, path: path, raw: raw}, nil
}

// clip shortens text quoted back in an error.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:80] + "..."
}

// parseOverrides reads every entry of a request, within the limits.
func parseOverrides(set []string) ([]override, error) {
	if len(set) > MaxOverrides {
		return nil, errorf(ErrInvalid, "%d value overrides is too many: at most %d", len(set), MaxOverrides)
	}
	out := make([]override, 0, len(set))
	seen := map[string]bool{}
	for _, s := range set {
		o, err := parseOverride(s)
		if err != nil {
			return nil, err
		}
		if seen[o.key()] {
			return nil, errorf(ErrInvalid, "value %s is set twice: set it once", o.key())
		}
		seen[o.key()] = true
		out = append(out, o)
	}
	return out, nil
}

// valuesSchema is the part of the chart's values schema urumi reads to type
// an override: which paths exist and what type each leaf has.
type valuesSchema struct {
	Type                 any                      `json:"type"`
	Properties           map[string]*valuesSchema `json:"properties"`
	PatternProperties    map[string]*valuesSchema `json:"patternProperties"`
	AdditionalProperties json.RawMessage          `json:"additionalProperties"`
	Ref                  string                   `json:"$ref"`
	Definitions          map[string]*valuesSchema `json:"definitions"`
	Defs                 map[string]*valuesSchema `json:"$defs"`
}

func parseValuesSchema(b []byte) (*valuesSchema, error) {
	var s valuesSchema
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read the store chart's values schema: %w", err)
	}
	return &s, nil
}

func (root *valuesSchema) resolve(s *valuesSchema) *valuesSchema {
	for range 8 {
		if s == nil || s.Ref == "" {
			return s
		}
		name, ok := strings.CutPrefix(s.Ref, "#/definitions/")
		if ok {
			s = root.Definitions[name]
			continue
		}
		if name, ok = strings.CutPrefix(s.Ref, "#/$defs/"); ok {
			s = root.Defs[name]
			continue
		}
		return nil
	}
	return nil
}

// lookup finds the schema of a path, or nil when the chart has no such value.
func (root *valuesSchema) lookup(path []string) *valuesSchema {
	s := root.resolve(root)
	for _, p := range path {
		if s == nil {
			return nil
		}
		next := s.Properties[p]
		if next == nil {
			for _, ps := range s.PatternProperties {
				next = ps
				break
			}
		}
		if next == nil && len(s.AdditionalProperties) > 0 && s.AdditionalProperties[0] == '{' {
			var ap valuesSchema
			if json.Unmarshal(s.AdditionalProperties, &ap) == nil {
				next = &ap
			}
		}
		s = root.resolve(next)
	}
	return s
}

func (s *valuesSchema) types() []string {
	switch t := s.Type.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, v := range t {
			if str, ok := v.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}

// typed converts an override's text to the type the schema gives its value.
func (root *valuesSchema) typed(o override) (any, error) {
	s := root.lookup(o.path)
	if s == nil {
		return nil, errorf(ErrInvalid, "%s is not a value of the store chart", o.key())
	}
	types := s.types()
	has := func(t string) bool {
		for _, v := range types {
			if v == t {
				return true
			}
		}
		return false
	}
	switch {
	case has("string"), len(types) == 0 && s.Properties == nil:
		return o.raw, nil
	case has("integer"):
		n, err := strconv.ParseInt(o.raw, 10, 64)
		if err != nil {
			return nil, errorf(ErrInvalid, "%s must be a whole number, not %q", o.key(), clip(o.raw))
		}
		return n, nil
	case has("number"):
		f, err := strconv.ParseFloat(o.raw, 64)
		if err != nil {
			return nil, errorf(ErrInvalid, "%s must be a number, not %q", o.key(), clip(o.raw))
		}
		return f, nil
	case has("boolean"):
		b, err := strconv.ParseBool(o.raw)
		if err != nil {
			return nil, errorf(ErrInvalid, "%s must be true or false, not %q", o.key(), clip(o.raw))
		}
		return b, nil
	}
	return nil, errorf(ErrInvalid, "%s is a group of values: set one of the values inside it", o.key())
}

// setPath puts v at path in vals, making the maps on the way.
func setPath(vals map[string]any, path []string, v any) error {
	m := vals
	for i, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			if _, exists := m[p]; exists {
				return errorf(ErrInvalid, "%s is a single value, not a group", strings.Join(path[:i+1], "."))
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
	return nil
}

// buildValues are the store chart's values: what urumi decides (host,
// ingress, the credentials Secret's name), the plan's sizes, then the
// overrides, each typed as the chart's values schema says. No credential
// is ever among them. Kube.chartValues gives it the embedded chart's
// schema.
func buildValues(schema *valuesSchema, name string, plan Plan, o Options) (map[string]any, error) {
	vals := plan.ChartValues()
	maps.Copy(vals, map[string]any{
		"credentialsSecret": credentialsName,
		"host":              storeHost(name, o),
		"ingress": map[string]any{
			"className": o.IngressClass,
			"tlsIssuer": o.TLSIssuer,
		},
	})
	if o.Route == RouteGateway && o.Gateway != nil {
		vals["ingress"].(map[string]any)["enabled"] = false
		vals["gateway"] = map[string]any{
			"enabled":     true,
			"name":        o.Gateway.Name,
			"namespace":   o.Gateway.Namespace,
			"sectionName": o.Gateway.SectionName,
		}
	}
	overrides, err := parseOverrides(o.Set)
	if err != nil {
		return nil, err
	}
	for _, ov := range overrides {
		for _, k := range ownedKeys() {
			if ov.path[0] == k {
				return nil, errorf(ErrInvalid, "%s is set by urumi for every store and cannot be overridden", k)
			}
		}
		v, err := schema.typed(ov)
		if err != nil {
			return nil, err
		}
		if err := setPath(vals, ov.path, v); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// overridesRule judges a request's overrides: it parses them, lets a store
// owner set only what their plan allows within its bounds and an admin any
// chart value but urumi's own, checks the resulting values against the
// chart's values schema and the plan's quota, and returns the values.
func checkOverrides(sc *schemaCache, ch *chart.Chart, c Caller, name string, plan Plan, o Options) (map[string]any, error) {
	schema, err := parseValuesSchema(ch.Schema)
	if err != nil {
		return nil, err
	}
	overrides, err := parseOverrides(o.Set)
	if err != nil {
		return nil, err
	}
	if !c.Admin {
		for _, ov := range overrides {
			if err := ownerMaySet(plan, ov); err != nil {
				return nil, err
			}
		}
	}
	vals, err := buildValues(schema, name, plan, o)
	if err != nil {
		return nil, err
	}
	full, err := util.CoalesceValues(ch, vals)
	if err != nil {
		return nil, errorf(ErrInvalid, "value overrides do not fit the store chart: %v", err)
	}
	if err := sc.validate(ch.Schema, full); err != nil {
		return nil, errorf(ErrInvalid, "value overrides are not valid for the store chart: %s", schemaMessage(err))
	}
	if err := fitsQuota(plan.Quota, full); err != nil {
		return nil, errorf(ErrInvalid, "value overrides do not fit plan %q: %w", plan.Name, err)
	}
	return vals, nil
}

// lookupValue is the value at path in vals, nil when there is none.
func lookupValue(vals map[string]any, path ...string) any {
	var cur any = vals
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// schemaMessage makes a schema validation error one readable line.
func schemaMessage(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	var out []string
	for _, l := range lines {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "-"))
		if l == "" || strings.HasSuffix(l, ":") && !strings.Contains(l, " ") {
			continue
		}
		out = append(out, l)
	}
	msg := strings.Join(out, "; ")
	if len(msg) > 400 {
		msg = msg[:400] + "..."
	}
	return msg + " (see the chart's values for what each value takes)"
}

// ownerMaySet says whether a store owner may set an override on plan.
func ownerMaySet(plan Plan, ov override) error {
	key := ov.key()
	for _, r := range plan.OwnerValues {
		if r.Key != key {
			continue
		}
		return checkBounds(r, ov.raw)
	}
	var allowed []string
	for _, r := range plan.OwnerValues {
		allowed = append(allowed, r.Key)
	}
	what := "none"
	if len(allowed) > 0 {
		what = strings.Join(allowed, ", ")
	}
	return errorf(ErrForbidden, "%s may not be set by store owners on plan %q: they may set %s (an admin may set more)", key, plan.Name, what)
}

// checkBounds checks a value against a rule's bounds.
func checkBounds(r ValueRule, v string) error {
	if r.MaxLength > 0 && utf8.RuneCountInString(v) > r.MaxLength {
		return errorf(ErrInvalid, "%s may be at most %d characters long", r.Key, r.MaxLength)
	}
	if len(r.OneOf) > 0 {
		ok := false
		for _, o := range r.OneOf {
			ok = ok || o == v
		}
		if !ok {
			return errorf(ErrInvalid, "%s must be one of %s, not %q", r.Key, strings.Join(r.OneOf, ", "), clip(v))
		}
	}
	if r.Max != "" {
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return errorf(ErrInvalid, "%s must be a positive quantity (like 500m, 2, 512Mi), not %q", r.Key, clip(v))
		}
		if q.Cmp(resource.MustParse(r.Max)) > 0 {
			return errorf(ErrInvalid, "%s may be at most %s on this plan, not %s", r.Key, r.Max, v)
		}
	}
	return nil
}

// checkRule checks an operator's owner value rule.
func checkRule(r ValueRule) error {
	o, err := parseOverride(r.Key + "=")
	if err != nil || o.key() != r.Key {
		return fmt.Errorf("key %q is not a chart value's dotted name", r.Key)
	}
	for _, k := range ownedKeys() {
		if o.path[0] == k {
			return fmt.Errorf("%s is set by urumi and cannot be given to store owners", k)
		}
	}
	if r.Max != "" {
		if _, err := resource.ParseQuantity(r.Max); err != nil {
			return fmt.Errorf("max %q of %s is not a quantity", r.Max, r.Key)
		}
	}
	if r.MaxLength < 0 {
		return fmt.Errorf("maxLength of %s must be 0 (no bound) or more", r.Key)
	}
	return nil
}

// fitsQuota checks that the chart's containers fit the plan's namespace
// quota together (WordPress, MariaDB, the setup Job and, unless it is
// turned off, one run of the cron job may all run at once), that each asks
// for no more than its limit, and that the volumes fit the storage quota.
// vals are the chart's values.
func fitsQuota(q PlanQuota, vals map[string]any) error {
	get := func(path ...string) (resource.Quantity, bool, error) {
		cur := lookupValue(vals, path...)
		if cur == nil {
			return resource.Quantity{}, false, nil
		}
		qty, err := resource.ParseQuantity(fmt.Sprint(cur))
		if err != nil {
			return resource.Quantity{}, false, fmt.Errorf("%s %q is not a quantity", strings.Join(path, "."), fmt.Sprint(cur))
		}
		return qty, true, nil
	}
	containers := []string{"wordpress", "mariadb", "setup"}
	if on, set := lookupValue(vals, "cron", "enabled").(bool); on || !set {
		containers = append(containers, "cron")
	}
	for _, r := range []struct{ name, max string }{{"cpu", q.CPU}, {"memory", q.Memory}} {
		var limSum resource.Quantity
		var parts []string
		for _, c := range containers {
			req, hasReq, err := get("resources", c, "requests", r.name)
			if err != nil {
				return err
			}
			lim, hasLim, err := get("resources", c, "limits", r.name)
			if err != nil {
				return err
			}
			if !hasLim {
				return fmt.Errorf("resources.%s.limits.%s must be set: every container needs a limit within the quota", c, r.name)
			}
			if hasReq && req.Cmp(lim) > 0 {
				return fmt.Errorf("resources.%s.requests.%s (%s) is more than its limit (%s)", c, r.name, req.String(), lim.String())
			}
			limSum.Add(lim)
			parts = append(parts, c+" "+lim.String())
		}
		max := resource.MustParse(r.max)
		if limSum.Cmp(max) > 0 {
			return fmt.Errorf("the containers' %s limits add up to %s (%s), more than the plan's %s: lower a limit or raise the quota",
				r.name, limSum.String(), strings.Join(parts, ", "), r.max)
		}
	}
	var storage resource.Quantity
	for _, v := range []string{"wordpress", "mariadb"} {
		size, ok, err := get("storage", v, "size")
		if err != nil {
			return err
		}
		if ok {
			storage.Add(size)
		}
	}
	if storage.Cmp(resource.MustParse(q.Storage)) > 0 {
		return fmt.Errorf("the volumes add up to %s, more than the plan's %s of storage", storage.String(), q.Storage)
	}
	return nil
}
