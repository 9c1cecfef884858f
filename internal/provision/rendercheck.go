package provision

import (
	"bytes"
	"fmt"

	"helm.sh/helm/v4/pkg/postrenderer"
	"sigs.k8s.io/yaml"
)

// postRenderer is what Helm runs on the store chart's rendered manifests
// before anything reaches the API server: the test hook, if any, then
// urumi's render check.
func (k *Kube) postRenderer(namespace, host string) postrenderer.PostRenderer {
	return chain{k.RenderHook, checkIf(!k.SkipRenderCheck, renderCheck{namespace: namespace, host: host})}
}

// chain runs post-renderers in order, skipping nil ones.
type chain []postrenderer.PostRenderer

func (c chain) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	for _, pr := range c {
		if pr == nil {
			continue
		}
		out, err := pr.Run(in)
		if err != nil {
			return nil, err
		}
		in = out
	}
	return in, nil
}

func checkIf(on bool, pr postrenderer.PostRenderer) postrenderer.PostRenderer {
	if !on {
		return nil
	}
	return pr
}

// renderCheck refuses rendered manifests that would place anything outside
// the store's namespace.
type renderCheck struct {
	namespace, host string
}

func (c renderCheck) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	for i, doc := range bytes.Split(in.Bytes(), []byte("\n---")) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("rendered document %d is not valid YAML: %w", i+1, err)
		}
		if obj.Metadata.Namespace != "" && obj.Metadata.Namespace != c.namespace {
			return nil, fmt.Errorf("rendered %s %q is in namespace %q, outside the store's namespace %s: refused", obj.Kind, obj.Metadata.Name, obj.Metadata.Namespace, c.namespace)
		}
	}
	return in, nil
}
