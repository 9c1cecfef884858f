package provision

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The comparison behind `store check`: is what urumi (or its chart) set
// still what the live object has? The live object carries much more than
// was set (defaults, status, fields other controllers add), so the
// comparison is of a subset: every field the wanted object sets must be
// in the live one with an equal value; fields only the live object has are
// the server's. Values are compared as the API means them, not as they
// were spelt: quantities by amount ("1000m" is "1"), numbers whatever
// their Go type (a manifest's YAML decodes 80 as a float64, the live
// object's JSON as an int64), a number spelt as a string as that number.

// fieldDiff is one field whose live value is not what was wanted.
type fieldDiff struct {
	Path string // "spec.replicas", "spec.template.spec.containers[0].image"
	Want any    // nil: the live object lacks something (Got says what)
	Got  any    // nil: the field is missing from the live object
}

// String says the difference without values when hide is set (a Secret's
// data, anything a value of which must not be printed).
func (d fieldDiff) describe(hide bool) string {
	switch {
	case d.Got == nil:
		return d.Path + " is missing"
	case hide:
		return d.Path + " differs"
	}
	return fmt.Sprintf("%s is %s, want %s", d.Path, short(d.Got), short(d.Want))
}

// short renders a value for a message, cut to a readable length.
func short(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = strconv.Quote(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// subsetDiff lists the fields of want whose value live does not have.
// Maps compare key by key (keys only live has are ignored), lists element
// by element and must have the same length: a container, port or rule
// added or removed is a change, not a default. A field wanted null sets
// nothing; an empty value wanted (an empty map, list or string) is
// satisfied by a missing field, as the API server drops empty optional
// fields, and an empty map by any map (annotations the server adds).
func subsetDiff(path string, want, live any) []fieldDiff {
	if want == nil {
		return nil // nothing set: whatever the server or others put there
	}
	if isEmpty(want) && (live == nil || isEmpty(live)) {
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok && live == nil && len(w) == 0 {
			return nil
		}
		if !ok {
			return []fieldDiff{{Path: path, Want: want, Got: live}}
		}
		var diffs []fieldDiff
		for _, k := range sortedAnyKeys(w) {
			lv, present := l[k]
			if !present {
				if isEmpty(w[k]) {
					continue
				}
				diffs = append(diffs, fieldDiff{Path: join(path, k), Want: w[k]})
				continue
			}
			diffs = append(diffs, subsetDiff(join(path, k), w[k], lv)...)
		}
		return diffs
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return []fieldDiff{{Path: path, Want: want, Got: live}}
		}
		var diffs []fieldDiff
		for i := range w {
			diffs = append(diffs, subsetDiff(fmt.Sprintf("%s[%d]", path, i), w[i], l[i])...)
		}
		return diffs
	}
	if live == nil {
		return []fieldDiff{{Path: path, Want: want}}
	}
	if !scalarEqual(want, live) {
		return []fieldDiff{{Path: path, Want: want, Got: live}}
	}
	return nil
}

// equalDiff is subsetDiff both ways: the fields of want that live lacks or
// has otherwise, and the fields live has that want does not set (for
// objects urumi builds whole, such as its NetworkPolicies, where a field
// added is a change).
func equalDiff(path string, want, live any) []fieldDiff {
	diffs := subsetDiff(path, want, live)
	for _, d := range subsetDiff(path, live, want) {
		if d.Got == nil { // set live, not wanted
			diffs = append(diffs, fieldDiff{Path: d.Path, Got: d.Want, Want: nil})
		}
	}
	return diffs
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	}
	return false
}

// scalarEqual compares two leaves as the API means them.
func scalarEqual(a, b any) bool {
	if a == b {
		return true
	}
	if fa, ok := number(a); ok {
		if fb, ok := number(b); ok {
			return fa == fb || math.Abs(fa-fb) <= 1e-9*math.Max(math.Abs(fa), math.Abs(fb))
		}
	}
	if qa, ok := quantity(asQuantityText(a)); ok {
		if qb, ok := quantity(asQuantityText(b)); ok {
			return qa.Cmp(qb) == 0
		}
	}
	return false
}

// asQuantityText spells a number as a quantity would be ("cpu: 0.5" in a
// manifest is "500m" live); anything else is returned as it is.
func asQuantityText(v any) any {
	if _, isString := v.(string); isString {
		return v
	}
	if f, ok := number(v); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return v
}

// number is a JSON or YAML number, or a string that spells one (an
// int-or-string field given as "80").
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && strings.TrimSpace(x) != ""
	}
	return 0, false
}

// quantity is a resource quantity spelt as a string with a suffix the
// API knows ("500m", "1Gi", "2e3").
func quantity(v any) (resource.Quantity, bool) {
	s, ok := v.(string)
	if !ok || s == "" {
		return resource.Quantity{}, false
	}
	q, err := resource.ParseQuantity(s)
	return q, err == nil
}
