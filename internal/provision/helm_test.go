package provision

import (
	"context"
	"errors"
	"io"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	rel "helm.sh/helm/v4/pkg/release"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/urumi/urumi/charts"
)

// An install in a namespace this run made skips the "is the name in use?"
// query, and still cannot write over a record that exists: the create of
// the record refuses it.
func TestFreshDriverStillRefusesAnExistingRelease(t *testing.T) {
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartValues(testStoreName, BuiltinPlans()[0], Options{BaseDomain: testBaseDomain, IngressClass: "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	mem := driver.NewMemory()
	mem.SetNamespace(testNamespace)
	existing := &release.Release{Name: releaseName, Namespace: testNamespace, Version: 1, Chart: ch,
		Info: &release.Info{Status: rcommon.StatusDeployed}}
	if err := mem.Create("sh.helm.release.v1."+releaseName+".v1", existing); err != nil {
		t.Fatal(err)
	}
	counting := &countingDriver{Driver: mem}
	fresh := &freshDriver{Driver: counting}
	cfg := &action.Configuration{
		Releases:     storage.Init(fresh),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: common.DefaultCapabilities,
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = releaseName, testNamespace
	_, err = in.RunWithContext(context.Background(), ch, vals)
	if !errors.Is(err, driver.ErrReleaseExists) {
		t.Fatalf("install over an existing record: err = %v, want %v", err, driver.ErrReleaseExists)
	}
	if counting.queries != 0 {
		t.Errorf("install queried the release records %d times, want 0", counting.queries)
	}
	// Only the first query is skipped.
	if h, err := cfg.Releases.History(releaseName); err != nil || len(h) != 1 {
		t.Errorf("a later history = %d records, %v; want the existing one", len(h), err)
	}
}

type countingDriver struct {
	driver.Driver
	queries int
}

func (d *countingDriver) Query(labels map[string]string) ([]rel.Releaser, error) {
	d.queries++
	return d.Driver.Query(labels)
}
