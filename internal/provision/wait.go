package provision

import (
	"fmt"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/statusreaders"
	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
)

// objectStatusReader computes the status of Deployments, StatefulSets and
// ReplicaSets from the object alone (observed generation, replica counts,
// conditions), as kstatus already does for every other kind. kstatus's own
// readers for these kinds LIST the ReplicaSets and Pods they own on every
// change, only to word their messages: about eight LISTs per store against
// the API server, for text urumi never shows (diagnose.go explains a store
// that does not come up from its events and pods, once, when it fails).
type objectStatusReader struct{ engine.StatusReader }

func newObjectStatusReader(mapper meta.RESTMapper) objectStatusReader {
	return objectStatusReader{statusreaders.NewGenericStatusReader(mapper, status.Compute)}
}

func (objectStatusReader) Supports(gk schema.GroupKind) bool {
	if gk.Group != "apps" {
		return false
	}
	switch gk.Kind {
	case "Deployment", "StatefulSet", "ReplicaSet":
		return true
	}
	return false
}

// capabilitiesTTL is how long the cluster's version and API versions, as
// Helm's templates see them, are reused before discovery runs again.
const capabilitiesTTL = 10 * time.Minute

// capabilities caches what Helm would otherwise learn by discovery on every
// install and upgrade: it invalidates the discovery cache each time and
// fetches the server version and every API group, which cost the API server
// and urumi more than the store's own objects when many stores are created
// at once.
type capabilities struct {
	mu   sync.Mutex
	caps *common.Capabilities
	at   time.Time
}

func (k *Kube) capabilities() (*common.Capabilities, error) {
	c := &k.caps
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caps != nil && time.Since(c.at) < capabilitiesTTL {
		return c.caps, nil
	}
	k.discovery.Invalidate()
	v, err := k.discovery.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("read the cluster's version: %w", describeAPIError(err))
	}
	apis, err := action.GetVersionSet(k.discovery)
	if err != nil {
		return nil, fmt.Errorf("read the cluster's API versions: %w", describeAPIError(err))
	}
	c.caps = &common.Capabilities{
		APIVersions: apis,
		KubeVersion: common.KubeVersion{Version: v.GitVersion, Major: v.Major, Minor: v.Minor},
		HelmVersion: common.DefaultCapabilities.HelmVersion,
	}
	c.at = time.Now()
	return c.caps, nil
}
