package provision

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/postrenderer"

	"github.com/urumi/urumi/charts"
)

// Settings are the cluster-wide choices every store gets.
type Settings struct {
	BaseDomain       string
	IngressClass     string
	IngressNamespace string
	TLSIssuer        string
	// Route is how stores are reached: RouteIngress (also when empty), an
	// Ingress of IngressClass, or RouteGateway, a Gateway API HTTPRoute
	// attached to Gateway.
	Route   string
	Gateway GatewayRef
	// Timeout bounds one provisioning or deletion run.
	Timeout time.Duration
	// Backup is where store backups go; backups are off without a URL.
	Backup BackupRepository
}

// Kube talks to the cluster: typed and dynamic clients, and Helm
// configurations that share one discovery cache.
type Kube struct {
	Client   kubernetes.Interface
	Dynamic  dynamic.Interface
	Settings Settings
	Log      *slog.Logger

	// RenderHook, when set, is Helm's post-renderer: it runs on the
	// rendered manifests before urumi's render check. Tests use it to
	// stand for a chart that emits what it should not.
	RenderHook postrenderer.PostRenderer
	// Chart, when set, is the store chart to install and upgrade to in
	// place of the one built into urumi. Tests set it to an older chart
	// to make stores that an upgrade then brings forward.
	Chart *chart.Chart
	// SkipRenderCheck turns the render check off. Only tests set it, to show
	// that the cluster itself refuses what the check would have caught.
	SkipRenderCheck bool

	config *rest.Config
	// watches is Client without compression, for the reconciler's
	// informers; nil: Client. The informers of the kinds its cache keeps
	// packed make their own clients on watchConfig and watchHTTP (the
	// same connection), which decode into packed objects (wirepack.go);
	// nil: they are informers of watches (or Client), and pack what they
	// decode.
	watches     kubernetes.Interface
	watchConfig *rest.Config
	watchHTTP   *http.Client
	// helmREST is config for Helm's clients (cacheread.go).
	helmREST  *rest.Config
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper

	// waitCache, while serve's drift reconciler runs, is its informers:
	// Helm's waits read them instead of watching (cachewait.go).
	waitCache atomic.Pointer[driftCache]

	chartOnce sync.Once
	chart     *chart.Chart
	chartErr  error
	// schema is the embedded store chart's values schema, read once
	// (valuesSchema).
	schemaOnce sync.Once
	schema     *valuesSchema
	schemaErr  error
	// psa is the render check's Pod Security evaluator, made once
	// (podSecurity).
	psaOnce sync.Once
	psa     psapolicy.Evaluator
	psaErr  error
	caps    capabilities

	// records encodes the release records Helm writes (records.go).
	records recordEncoder
	// schemas holds the values schemas of the charts installed, compiled.
	schemas schemaCache
	// renderedDocs keeps what the render check read of the documents
	// the installs rendered (docCache).
	renderedDocs docCache
	// builtDocs keeps the objects Helm's client built of them.
	builtDocs builtDocs
}

// NewKube builds clients for config.
func NewKube(config *rest.Config, settings Settings, log *slog.Logger) (*Kube, error) {
	config = rest.CopyConfig(config)
	if config.QPS == 0 {
		config.QPS, config.Burst = 50, 100
	}
	// The typed client speaks protobuf, which costs the API server and
	// urumi less to encode and decode than JSON. (The dynamic client and
	// Helm's unstructured objects stay JSON.)
	typed := rest.CopyConfig(config)
	typed.ContentType = runtime.ContentTypeProtobuf
	typed.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	client, err := kubernetes.NewForConfig(typed)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	// The reconciler's watches ask for no compression: serve runs in the
	// cluster, and gzip on every watch stream cost the API server its
	// compression and serve its decompression (about 5 % of serve's CPU at
	// scale) for bytes that cross a cluster network.
	// The informers of the kinds the cache keeps packed decode straight
	// into what it keeps (wirepack.go).
	plain := rest.CopyConfig(typed)
	plain.DisableCompression = true
	// They speak HTTP/1.1, a connection each, where the rest of urumi
	// shares one HTTP/2 connection: every watch event then reaches its
	// decoder straight from the socket, instead of through HTTP/2's read
	// loop, its buffers and a goroutine handoff, and its window updates
	// written back (the HTTP/2 read loop was 12.8 % of serve's CPU while
	// 200 stores were made, and 9 % fewer samples without it). HTTP/2
	// pinged an idle connection to find a dead one; TCP keepalives,
	// answered by the kernel, find a peer gone without a word (a node
	// lost, a partition) after 15 s of silence and three probes 5 s apart.
	plain.TLSClientConfig.NextProtos = []string{"http/1.1"}
	if plain.Dial == nil {
		keepAlive := net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}
		plain.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAliveConfig: keepAlive}).DialContext
	}
	watchHTTP, err := rest.HTTPClientFor(plain)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	watches, err := kubernetes.NewForConfigAndClient(plain, watchHTTP)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	cached := memory.NewMemCacheClient(dc)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Kube{
		Client: client, Dynamic: dyn, Settings: settings, Log: log,
		config: config, watches: watches, watchConfig: plain, watchHTTP: watchHTTP, discovery: cached,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(cached),
	}
	if k.helmREST, err = helmRESTConfig(config, k); err != nil {
		return nil, err
	}
	return k, nil
}

// storeChart is the chart stores get: Chart when set, otherwise the
// embedded chart, loaded once.
func (k *Kube) storeChart() (*chart.Chart, error) {
	if k.Chart != nil {
		return k.Chart, nil
	}
	k.chartOnce.Do(func() { k.chart, k.chartErr = charts.Store() })
	return k.chart, k.chartErr
}

// chartValues are a store's chart values (buildValues), typed by the
// embedded chart's values schema, read once: loading the chart for it at
// every create and upgrade was 0.9 % of serve's CPU while a fleet of
// stores was made.
func (k *Kube) chartValues(name string, plan Plan, o Options) (map[string]any, error) {
	k.schemaOnce.Do(func() {
		ch, err := charts.Store()
		if err != nil {
			k.schemaErr = err
			return
		}
		k.schema, k.schemaErr = parseValuesSchema(ch.Schema)
	})
	if k.schemaErr != nil {
		return nil, k.schemaErr
	}
	return buildValues(k.schema, name, plan, o)
}

// podSecurity is the render check's Pod Security evaluator, made once:
// making one for each check was 0.4 % of serve's CPU while a fleet of
// stores was made.
func (k *Kube) podSecurity() (psapolicy.Evaluator, error) {
	k.psaOnce.Do(func() { k.psa, k.psaErr = newPodSecurity() })
	return k.psa, k.psaErr
}

// getter is the RESTClientGetter Helm needs, pinned to one namespace and
// sharing the Kube's discovery cache.
type getter struct {
	k         *Kube
	namespace string
}

func (g getter) ToRESTConfig() (*rest.Config, error) { return g.k.restForHelm(), nil }
func (g getter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.k.discovery, nil
}
func (g getter) ToRESTMapper() (meta.RESTMapper, error)        { return g.k.mapper, nil }
func (g getter) ToRawKubeConfigLoader() clientcmd.ClientConfig { return nsConfig(g) }

// restForHelm is a copy of Helm's client config (the plain one for a Kube
// made by hand, as some tests do).
func (k *Kube) restForHelm() *rest.Config {
	if k.helmREST == nil {
		return rest.CopyConfig(k.config)
	}
	return rest.CopyConfig(k.helmREST)
}

// nsConfig is a ClientConfig that only knows its namespace and REST config.
type nsConfig getter

func (c nsConfig) RawConfig() (clientcmdapi.Config, error) { return *clientcmdapi.NewConfig(), nil }
func (c nsConfig) ClientConfig() (*rest.Config, error)     { return c.k.restForHelm(), nil }
func (c nsConfig) Namespace() (string, bool, error)        { return c.namespace, true, nil }
func (c nsConfig) ConfigAccess() clientcmd.ConfigAccess    { return clientcmd.NewDefaultPathOptions() }

// describeAPIError turns the API errors a person can act on into advice.
func describeAPIError(err error) error {
	var refused renderRefusal
	switch {
	case errors.As(err, &refused):
		// The render check says what it refused and that nothing was
		// applied; Helm's wording around it ("unable to build kubernetes
		// objects...") only hides that.
		return refused

	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy"):
		// urumi's boundary policy (BoundaryPolicy), not a missing permission.
		return fmt.Errorf("%w (the cluster's admission policy refused it: urumi may write only inside its stores' namespaces)", err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w (the kubeconfig's user lacks a permission urumi needs: grant what `urumi rbac` prints, or use another --context)", err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w (the kubeconfig's credentials were rejected: refresh them or pick another --context)", err)
	case isUnreachable(err):
		return fmt.Errorf("%w (the cluster is unreachable: check --kubeconfig/--context and that the API server is up)", err)
	}
	return err
}

func isUnreachable(err error) bool {
	if err == nil {
		return false
	}
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no such host") ||
		strings.Contains(s, "i/o timeout") || strings.Contains(s, "dial tcp")
}

// labelSafe makes an owner name usable as a label value.
func labelSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			b[i] = '_'
		}
	}
	s = strings.Trim(string(b), "-_.")
	if len(s) > 63 {
		s = strings.Trim(s[:63], "-_.")
	}
	return s
}
