package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"

	"github.com/urumi/urumi/internal/simcluster"
)

// TestChartRBACIsUrumiRBAC renders charts/urumi and runs the urumi binary's
// `urumi rbac` for the same service account, name and base domain: the
// four objects are equal but for the labels the chart adds (its name,
// instance, version and chart; managed-by stays urumi's).
func TestChartRBACIsUrumiRBAC(t *testing.T) {
	root, err := simcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(filepath.Join(root, "charts", "urumi"))
	if err != nil {
		t.Fatal(err)
	}
	bin := urumiBinary(t)
	for _, tc := range []struct {
		namespace, release, values string
		args                       []string
	}{
		{
			namespace: "urumi-system", release: "urumi",
			values: "config: {baseDomain: shops.example.com}\ndatabase: {secretName: db}\nauditKey: {secretName: key}\n",
			args:   []string{"--service-account", "urumi-system/urumi", "--name", "urumi-system-urumi", "--base-domain", "shops.example.com"},
		},
		{
			namespace: "ops", release: "prod",
			values: "config: {baseDomain: .stores.example.org}\ndatabase: {secretName: db}\nauditKey: {secretName: key}\n" +
				"serviceAccount: {name: api}\nrbac: {name: urumi-prod}\n",
			args: []string{"--service-account", "ops/api", "--name", "urumi-prod", "--base-domain", ".stores.example.org"},
		},
	} {
		t.Run(tc.release, func(t *testing.T) {
			vals, err := common.ReadValues([]byte(tc.values))
			if err != nil {
				t.Fatal(err)
			}
			top, err := chartutil.ToRenderValues(ch, vals.AsMap(), common.ReleaseOptions{Name: tc.release, Namespace: tc.namespace, Revision: 1, IsInstall: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := engine.Engine{Strict: true}.RenderWithContext(context.Background(), ch, top)
			if err != nil {
				t.Fatalf("render charts/urumi: %v", err)
			}
			chart := yamlDocs(t, out["urumi/templates/rbac.yaml"])

			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"rbac"}, tc.args...)...)
			cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			printed, err := cmd.Output()
			if err != nil {
				t.Fatalf("urumi rbac %v: %v\n%s", tc.args, err, stderr.String())
			}
			cli := yamlDocs(t, string(printed))

			if len(chart) != 4 || len(cli) != 4 {
				t.Fatalf("chart rendered %d objects, urumi rbac printed %d; want 4 each", len(chart), len(cli))
			}
			for i := range cli {
				want, got := cli[i], chart[i]
				wantLabels := dig(want, "metadata", "labels")
				gotLabels := dig(got, "metadata", "labels")
				for k, v := range wantLabels {
					if gotLabels[k] != v {
						t.Errorf("object %d: label %s = %v, urumi rbac prints %v", i, k, gotLabels[k], v)
					}
				}
				delete(dig(want, "metadata"), "labels")
				delete(dig(got, "metadata"), "labels")
				if !reflect.DeepEqual(got, want) {
					g, _ := yaml.Marshal(got)
					w, _ := yaml.Marshal(want)
					t.Errorf("object %d differs:\nchart:\n%s\nurumi rbac:\n%s", i, g, w)
				}
			}
		})
	}
}

func yamlDocs(t *testing.T, s string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(s)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatal(err)
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
}

func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, _ := m[k].(map[string]any)
		m = next
	}
	return m
}
