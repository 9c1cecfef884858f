package provision

import (
	"encoding/json"
	"fmt"
	"maps"

	"helm.sh/helm/v4/pkg/strvals"
)

// Options are the non-secret settings a store is created with and keeps,
// stored with the store so that every later run renders the same values.
type Options struct {
	BaseDomain   string `json:"baseDomain"`
	IngressClass string `json:"ingressClass"`
	TLSIssuer    string `json:"tlsIssuer,omitempty"`
	// Set are Helm-style overrides (key=value, as `helm --set`), applied
	// over the plan's values.
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

// Keys urumi owns; overriding them would break the store or leak a secret.
var reservedKeys = []string{"credentialsSecret", "host"}

// validateSet checks overrides parse and leave urumi's own keys alone.
func validateSet(set []string) error {
	for _, s := range set {
		m, err := strvals.Parse(s)
		if err != nil {
			return errorf(ErrInvalid, "--set %q: %v (use key=value, e.g. resources.wordpress.limits.cpu=2)", s, err)
		}
		for _, k := range reservedKeys {
			if _, ok := m[k]; ok {
				return errorf(ErrInvalid, "--set %q: %s is set by urumi and cannot be overridden", s, k)
			}
		}
	}
	return nil
}

// chartValues are the store chart's values: what urumi decides (host,
// ingress, the credentials Secret's name), the plan's sizes, then the
// overrides. No credential is ever among them.
func chartValues(name string, plan Plan, o Options) (map[string]any, error) {
	vals := plan.ChartValues()
	maps.Copy(vals, map[string]any{
		"credentialsSecret": credentialsName,
		"host":              storeHost(name, o),
		"ingress": map[string]any{
			"className": o.IngressClass,
			"tlsIssuer": o.TLSIssuer,
		},
	})
	for _, s := range o.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, errorf(ErrInvalid, "--set %q: %v", s, err)
		}
	}
	return vals, nil
}

func encodeOptions(o Options) ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode store options: %w", err)
	}
	return b, nil
}
