package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/kube"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	rel "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/urumi/urumi/charts"
)

// gatedKube is Helm's printing client with the gate where helmClient has
// it: Build builds only what the check passed. It keeps what it was asked
// to build.
type gatedKube struct {
	*kubefake.PrintingKubeClient
	gate  *renderGate
	built []string
}

func (g *gatedKube) Build(r io.Reader, validate bool) (kube.ResourceList, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	m, err := g.gate.manifest(string(b))
	if err != nil {
		return nil, err
	}
	g.built = append(g.built, m.yaml)
	return g.PrintingKubeClient.Build(strings.NewReader(m.build()), validate)
}

// gatedRecords is a release store that passes every revision through the
// gate as it is stored, as fastRecords does.
type gatedRecords struct {
	driver.Driver
	gate *renderGate
}

func (d gatedRecords) Create(key string, r rel.Releaser) error {
	rl, err := asRelease(r)
	if err != nil {
		return err
	}
	if err := d.gate.release(rl); err != nil {
		return err
	}
	return d.Driver.Create(key, rl)
}

func (d gatedRecords) Update(key string, r rel.Releaser) error {
	rl, err := asRelease(r)
	if err != nil {
		return err
	}
	if err := d.gate.release(rl); err != nil {
		return err
	}
	return d.Driver.Update(key, rl)
}

// gatedConfig is a Helm configuration as helmConfig makes one, offline:
// records in memory, objects printed, both behind a gate for the test
// store.
func gatedConfig(t *testing.T, route storeRoute) (*action.Configuration, *gatedKube, *renderGate) {
	t.Helper()
	gate := newRenderGate(renderCheckFor(testNamespace, route), nil)
	mem := driver.NewMemory()
	mem.SetNamespace(testNamespace)
	kc := &gatedKube{PrintingKubeClient: &kubefake.PrintingKubeClient{Out: io.Discard}, gate: gate}
	cfg := &action.Configuration{
		Releases:     storage.Init(gatedRecords{Driver: mem, gate: gate}),
		KubeClient:   kc,
		Capabilities: common.DefaultCapabilities,
	}
	return cfg, kc, gate
}

// TestInstallReleaseAsHelmInstalls is installRelease against Helm's own
// install action, for the same chart and values, each behind the render
// gate: the stored release (manifest, notes, labels, status, description,
// values, apply method) and what each asked its client to build are the
// same, for an Ingress store, a Gateway one and one with the cron off.
func TestInstallReleaseAsHelmInstalls(t *testing.T) {
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	gw := testGateway
	for _, tc := range []struct {
		name string
		o    Options
		over map[string]any
	}{
		{"ingress", Options{BaseDomain: testBaseDomain, IngressClass: "nginx"}, nil},
		{"gateway", Options{BaseDomain: testBaseDomain, IngressClass: "nginx", Route: RouteGateway, Gateway: &gw}, nil},
		{"cron off", Options{BaseDomain: testBaseDomain, IngressClass: "nginx"}, map[string]any{"cron": map[string]any{"enabled": false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := chartValues(testStoreName, BuiltinPlans()[0], tc.o)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.over {
				vals[k] = v
			}
			route := routeOf(testStoreName, tc.o)

			helmCfg, helmKube, _ := gatedConfig(t, route)
			in := action.NewInstall(helmCfg)
			in.ReleaseName, in.Namespace = releaseName, testNamespace
			in.WaitStrategy, in.WaitForJobs, in.Timeout = kube.StatusWatcherStrategy, true, time.Minute
			in.Labels = map[string]string{LabelManagedBy: ManagedBy}
			in.DisableOpenAPIValidation = true
			if _, err := in.RunWithContext(context.Background(), ch, vals); err != nil {
				t.Fatalf("helm's install: %v", err)
			}
			want, err := helmCfg.Releases.Last(releaseName)
			if err != nil {
				t.Fatal(err)
			}

			cfg, kc, gate := gatedConfig(t, route)
			k := &Kube{Log: slog.New(slog.DiscardHandler)}
			got, err := k.installRelease(context.Background(), installSpec{cfg: cfg, gate: gate, chart: ch, vals: vals,
				namespace: testNamespace, timeout: time.Minute})
			if err != nil {
				t.Fatalf("installRelease: %v", err)
			}
			stored, err := cfg.Releases.Last(releaseName)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(stored, got) {
				t.Error("installRelease returned another release than it stored")
			}
			w, err := asRelease(want)
			if err != nil {
				t.Fatal(err)
			}
			if got.Manifest != w.Manifest {
				g, h := strings.Split(got.Manifest, "\n"), strings.Split(w.Manifest, "\n")
				i := 0
				for i < len(g) && i < len(h) && g[i] == h[i] {
					i++
				}
				t.Errorf("manifest differs from Helm's from line %d: %q, Helm's %q", i+1, strings.Join(g[i:min(i+3, len(g))], "\n"), strings.Join(h[i:min(i+3, len(h))], "\n"))
			}
			if !strings.Contains(got.Manifest, "# Source: ") || strings.Count(got.Manifest, "\n---\n")+1 < 8 {
				t.Errorf("the manifest has fewer documents than the chart renders:\n%s", got.Manifest)
			}
			for _, c := range []struct {
				what      string
				got, want any
			}{
				{"notes", got.Info.Notes, w.Info.Notes},
				{"status", got.Info.Status, rcommon.StatusDeployed},
				{"status", got.Info.Status, w.Info.Status},
				{"description", got.Info.Description, w.Info.Description},
				{"labels", got.Labels, w.Labels},
				{"values", got.Config, w.Config},
				{"apply method", got.ApplyMethod, w.ApplyMethod},
				{"version", got.Version, w.Version},
				{"name", got.Name, w.Name},
				{"namespace", got.Namespace, w.Namespace},
				{"chart", got.Chart.Metadata.Version, w.Chart.Metadata.Version},
				{"hooks", len(got.Hooks), 0},
			} {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %#v, Helm's install: %#v", c.what, c.got, c.want)
				}
			}
			if !slices.Equal(kc.built, helmKube.built) {
				t.Errorf("built %d manifests, Helm's install %d, or other ones", len(kc.built), len(helmKube.built))
			}
			if got.Info.Notes == "" {
				t.Error("no notes: NOTES.txt was not rendered into the release")
			}
		})
	}
}

// TestInstallReleaseRefuses: what the render check refuses, a hook
// included, stops installRelease before any record is stored or anything
// built; a record that exists already is not written over.
func TestInstallReleaseRefuses(t *testing.T) {
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	o := Options{BaseDomain: testBaseDomain, IngressClass: "nginx"}
	vals, err := chartValues(testStoreName, BuiltinPlans()[0], o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"hook", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hooked\n  annotations: {\"helm.sh/hook\": post-install}\ndata: {a: b}\n", "Helm annotation helm.sh/hook"},
		{"other namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: away, namespace: kube-system}\n", `ConfigMap "away" is in namespace "kube-system"`},
		{"cluster kind", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: admin}\n", "is not a kind the store chart ships"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, kc, gate := gatedConfig(t, routeOf(testStoreName, o))
			k := &Kube{Log: slog.New(slog.DiscardHandler), RenderHook: appendDocs(tc.doc)}
			_, err := k.installRelease(context.Background(), installSpec{cfg: cfg, gate: gate, chart: ch, vals: vals,
				namespace: testNamespace, timeout: time.Minute})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want the check's refusal saying %q", err, tc.want)
			}
			if h, _ := cfg.Releases.History(releaseName); len(h) > 0 {
				t.Errorf("a refused install stored %d records", len(h))
			}
			if len(kc.built) > 0 {
				t.Error("a refused install built objects")
			}
		})
	}

	t.Run("record exists", func(t *testing.T) {
		cfg, _, gate := gatedConfig(t, routeOf(testStoreName, o))
		k := &Kube{Log: slog.New(slog.DiscardHandler)}
		spec := installSpec{cfg: cfg, gate: gate, chart: ch, vals: vals, namespace: testNamespace, timeout: time.Minute}
		if _, err := k.installRelease(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
		_, err := k.installRelease(context.Background(), spec)
		if !errors.Is(err, driver.ErrReleaseExists) {
			t.Fatalf("second install: err = %v, want %v", err, driver.ErrReleaseExists)
		}
		h, err := cfg.Releases.History(releaseName)
		if err != nil || len(h) != 1 {
			t.Fatalf("history = %d records, %v; want the first install's", len(h), err)
		}
		if r, _ := asRelease(h[0]); r.Info.Status != rcommon.StatusDeployed {
			t.Errorf("the first install's record is now %s", r.Info.Status)
		}
	})
}

// TestSplitManifests: splitManifests gives releaseutil.SplitManifests'
// documents, in order, with and without its shortcut.
func TestSplitManifests(t *testing.T) {
	for _, in := range []string{
		"", "  \n", "a: 1\n", "\n\n  a: 1\nb: 2\n", "a: 1\n---\nb: 2\n", "---\na: 1\n", "a: 1\n----\nb: 2",
		"a: 1\n---b: 2\n", "a: 1\n  ---\nb: 2\n", "a: \"x---y\"\n", "a: 1\n--- \n\n---\nb: 2\n---", "a: |\n  text\n  ---\n",
		"a: 1 ---\n", "\t---\na: 1",
	} {
		var want []string
		entries := releaseutil.SplitManifests(in)
		for i := range len(entries) {
			want = append(want, entries[fmt.Sprintf("manifest-%d", i)])
		}
		got := splitManifests(in)
		if strings.TrimSpace(in) == "" {
			// joinRendered skips blank templates before it splits.
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("splitManifests(%q) = %q, releaseutil.SplitManifests: %q", in, got, want)
		}
	}
}
