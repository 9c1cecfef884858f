package provision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	kjson "sigs.k8s.io/json"

	rel "helm.sh/helm/v4/pkg/release"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"

	"github.com/urumi/urumi/charts"
)

// renderCheckFor is the render check of the store in namespace, reached
// at route.
func renderCheckFor(namespace string, route storeRoute) renderCheck {
	return renderCheck{namespace: namespace, host: route.host, gateway: route.gateway}
}

// renderGate puts urumi's render check between Helm and the cluster in the
// actions that render the chart (install, upgrade). Helm turns every
// manifest it applies into objects through its kube client's Build (the
// release's manifest and each hook's), and stores every new revision
// (Create) before it applies anything of it. The gate checks each manifest
// there: Build builds only the check's re-encoding of it, and the revision
// is stored with that re-encoding, so that the record says exactly what
// was applied. A manifest read back from the store's own release records
// (the revision an upgrade replaces, the one a failed upgrade's rollback
// returns to) was checked when it was stored and passes as it is, as it
// always did: the check is of a new render. Uninstalls and rollbacks,
// which render nothing, have no gate.
type renderGate struct {
	check renderCheck
	mu    sync.Mutex
	// known maps a manifest to what Build and the record get: its
	// re-encoding, or itself (without documents) when it was read from a
	// record. Each action sees a handful.
	known map[string]checkedManifest
	// rendered, if set, is told every re-encoding stored in a record, for
	// the reconciler's cache (see renderedDocs).
	rendered *renderedDocs
}

func newRenderGate(check renderCheck, rendered *renderedDocs) *renderGate {
	return &renderGate{check: check, known: map[string]checkedManifest{}, rendered: rendered}
}

// manifest is what Helm may apply of m: the check's re-encoding of m, or
// an error saying what the check refused.
func (g *renderGate) manifest(m string) (checkedManifest, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if out, ok := g.known[m]; ok {
		return out, nil
	}
	c, err := g.check.check([]byte(m))
	if err != nil {
		return checkedManifest{}, renderRefusal{err}
	}
	// The re-encoding reads back as what was checked (TestBlockYAML), so
	// a record of it passes as it is.
	g.known[m], g.known[c.yaml] = c, c
	return c, nil
}

// renderRefusal is the render check's refusal of a manifest, as the gate
// returns it through Helm.
type renderRefusal struct{ error }

func (r renderRefusal) Unwrap() error { return r.error }

// trust records a manifest read from the store's release records.
func (g *renderGate) trust(m string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.known[m]; !ok {
		g.known[m] = checkedManifest{yaml: m}
	}
}

// release checks a revision about to be stored: its manifest and its
// hooks' (the store chart ships no hooks: the check refuses them) become
// their re-encodings.
func (g *renderGate) release(r *release.Release) error {
	m, err := g.manifest(r.Manifest)
	if err != nil {
		return err
	}
	r.Manifest = m.yaml
	for _, h := range r.Hooks {
		hm, err := g.manifest(h.Manifest)
		if err != nil {
			return err
		}
		h.Manifest = hm.yaml
	}
	return nil
}

// stored tells the cache (if any) the documents of a revision Helm is
// storing, by the record's data: once it is no longer pending, its
// record is cached with them (see renderedDocs).
func (g *renderGate) stored(r *release.Release, data []byte) {
	if g.rendered == nil || r.Info.Status.IsPending() {
		return
	}
	g.mu.Lock()
	m, ok := g.known[r.Manifest]
	g.mu.Unlock()
	if ok && m.docs != nil {
		g.rendered.put(data, m.docs)
	}
}

// trustRelease records the manifests of a revision read from a record.
func (g *renderGate) trustRelease(r rel.Releaser) {
	rl, err := asRelease(r)
	if err != nil || rl == nil {
		return
	}
	g.trust(rl.Manifest)
	for _, h := range rl.Hooks {
		g.trust(h.Manifest)
	}
}

// renderCheck refuses rendered manifests that urumi did not mean: objects
// outside the store's namespace, kinds the store chart does not ship
// (cluster-scoped ones included), Helm hooks, pods that leave the
// restricted Pod Security profile or reach for the node, the scheduler or
// service account tokens, Services reachable from outside the cluster,
// Ingresses for another host or backend, HTTPRoutes for another host,
// backend or Gateway, and claims bound to existing volumes.
//
// It is the last check before the API server, behind the values schema and
// the quoting in the templates, so it assumes nothing about its input: it
// parses every document strictly and passes on only its own re-encoding of
// what it checked, so that no document, key or YAML subtlety it did not see
// can reach the cluster.
type renderCheck struct {
	namespace, host string
	// gateway is the one Gateway an HTTPRoute may attach to; nil: none may.
	gateway *GatewayRef
	// psa evaluates the Pod Security checks; nil: the check makes its own
	// (the Kube's is made once, see Kube.podSecurity).
	psa psapolicy.Evaluator
	// docs, if set, keeps what the check read of the documents it saw
	// (the Kube's, shared by its installs; see docCache).
	docs *docCache
}

// The error lists at most maxRefused objects, with at most maxReasons
// reasons each.
const (
	maxRefused = 5
	maxReasons = 3
)

// Run is the check as a Helm post-renderer (the offline tests render
// through it).
func (c renderCheck) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	out, err := c.check(in.Bytes())
	if err != nil {
		return nil, err
	}
	return bytes.NewBufferString(out.yaml), nil
}

// checkedManifest is the check's re-encoding of a manifest, and the JSON
// of each of its documents, as manifestDocs converts the re-encoding; a
// manifest read from a record is kept as it is, without documents.
type checkedManifest struct {
	yaml string
	docs []manifestDoc
}

// build is what Helm's Build reads of the manifest: its checked documents
// as a stream of JSON (Helm then converts no YAML), or a manifest read
// from a record as it is.
func (m checkedManifest) build() string {
	if m.docs == nil {
		return m.yaml
	}
	n := 0
	for _, d := range m.docs {
		n += len(d.json) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for _, d := range m.docs {
		b.WriteString(d.json)
		b.WriteByte('\n')
	}
	return b.String()
}

// check checks a stream of rendered documents and returns its own
// re-encoding of them, each document under the "# Source:" line Helm gave
// it, if any, in the order Helm applies a release's objects (installOrder).
func (c renderCheck) check(in []byte) (checkedManifest, error) {
	psa := c.psa
	if psa == nil {
		var err error
		if psa, err = newPodSecurity(); err != nil {
			return checkedManifest{}, err
		}
	}
	docs, err := c.read(psa, in)
	if err != nil {
		return checkedManifest{}, err
	}
	installOrder(docs)
	out := new(bytes.Buffer)
	var refused []string
	checked := make([]manifestDoc, 0, len(docs))
	for i, doc := range docs {
		if reasons := c.reasons(doc); len(reasons) > 0 {
			refused = append(refused, doc.what+" "+joinSome(reasons, ", ", maxReasons, "reasons"))
		}
		out.WriteString("---\n")
		start := out.Len()
		if doc.source != "" {
			out.WriteString("# Source: " + doc.source + "\n")
		}
		out.Write(doc.yaml)
		// The document's key, as manifestDocs reads it: its first line
		// (the YAML reader leaves the stream's first separator on the
		// first document).
		if i == 0 {
			start = 0
		}
		key, _, _ := bytes.Cut(out.Bytes()[start:], []byte("\n"))
		checked = append(checked, manifestDoc{key: string(key), json: string(doc.json)})
	}
	if len(refused) > 0 {
		return checkedManifest{}, fmt.Errorf("the store's chart rendered objects urumi does not allow, so nothing was applied (check the store's overrides): %s",
			joinSome(refused, "; ", maxRefused, "objects"))
	}
	return checkedManifest{yaml: out.String(), docs: checked}, nil
}

// installOrder sorts documents as Helm sorts those of a release
// (releaseutil.SortManifests): by kind, in releaseutil.InstallOrder, kinds
// it does not list last, by kind name; each kind's documents keep their
// order. A stream Helm sorted keeps its order.
func installOrder(docs []readDoc) {
	rank := func(kind string) int {
		if i := slices.Index(releaseutil.InstallOrder, kind); i >= 0 {
			return i
		}
		return len(releaseutil.InstallOrder)
	}
	slices.SortStableFunc(docs, func(a, b readDoc) int {
		ra, rb := rank(a.kind), rank(b.kind)
		if ra == len(releaseutil.InstallOrder) && rb == ra {
			return strings.Compare(a.kind, b.kind)
		}
		return ra - rb
	})
}

// read is what the check makes of each document of a stream in any store
// (readDocuments), with the parts of the stream read before taken from
// the check's cache, when it has one.
func (c renderCheck) read(psa psapolicy.Evaluator, in []byte) ([]readDoc, error) {
	if c.docs == nil {
		return readDocuments(psa, in)
	}
	var all []readDoc
	for _, part := range streamParts(in) {
		docs, ok := c.docs.get(part)
		if !ok {
			var err error
			if docs, err = readDocuments(psa, part); err != nil {
				// The whole stream, read again, says which of its
				// documents is wrong.
				return readDocuments(psa, in)
			}
			c.docs.put(part, docs)
		}
		all = append(all, docs...)
	}
	return all, nil
}

// readDocuments parses a stream of rendered documents, decodes each
// strictly into its API type, and finds what refuses it in any store
// (readDocument).
func readDocuments(psa psapolicy.Evaluator, in []byte) ([]readDoc, error) {
	docs, err := splitDocuments(in)
	if err != nil {
		return nil, fmt.Errorf("store chart rendered manifests urumi cannot read, so nothing was applied: %w", err)
	}
	read := make([]readDoc, 0, len(docs))
	for i, doc := range docs {
		d, err := readDocument(psa, doc)
		if err != nil {
			return nil, fmt.Errorf("store chart rendered document %d, which is not a Kubernetes object urumi can read, so nothing was applied: %w", i+1, err)
		}
		var b bytes.Buffer
		if err := blockYAML(&b, doc.json); err != nil {
			return nil, fmt.Errorf("re-encode rendered document %d: %w", i+1, err)
		}
		d.yaml = b.Bytes()
		read = append(read, d)
	}
	return read, nil
}

// newPodSecurity is an evaluator of the Pod Security checks, safe for
// concurrent use.
func newPodSecurity() (psapolicy.Evaluator, error) {
	psa, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("load the Pod Security checks: %w", err)
	}
	return psa, nil
}

// joinSome joins the first limit items and says how many it left out.
func joinSome(items []string, sep string, limit int, noun string) string {
	if len(items) <= limit {
		return strings.Join(items, sep)
	}
	return fmt.Sprintf("%s (and %d more %s)", strings.Join(items[:limit], sep), len(items)-limit, noun)
}

// renderedDoc is one rendered document as JSON, and the chart template
// Helm said it came from ("# Source: ..."), when that is a plain path.
type renderedDoc struct {
	json   []byte
	source string
	// head is the document's top level, as parsed (apiVersion, kind,
	// metadata): checkObject reads what it is from it, instead of
	// parsing the JSON for it again.
	head map[string]any
}

// splitDocuments parses a stream of YAML documents and returns each
// non-empty one as JSON. A document that is not a mapping with string keys,
// or that repeats a key, is an error.
func splitDocuments(b []byte) ([]renderedDoc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []renderedDoc
	for i := 1; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if v == nil {
			continue // empty or comments only
		}
		head, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("document %d is a %T, not an object", i, v)
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		docs = append(docs, renderedDoc{json: j, source: docSource(&n), head: head})
	}
}

// docSource is the path of a document's leading "# Source:" comment (on
// its first key, where the YAML reader puts it), or "".
func docSource(n *yaml.Node) string {
	if len(n.Content) == 0 || len(n.Content[0].Content) == 0 {
		return ""
	}
	line, _, _ := strings.Cut(n.Content[0].Content[0].HeadComment, "\n")
	path, ok := strings.CutPrefix(line, "# Source: ")
	if !ok || !isSourcePath(path) {
		return ""
	}
	return path
}

// isSourcePath says whether a "# Source:" line names what it may: a chart
// file's path, of letters, digits and ._/- only.
func isSourcePath(p string) bool {
	if p == "" || len(p) > 253 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._/-", r)) {
			return false
		}
	}
	return true
}

// newAllowedObject returns an empty object of the API type for apiVersion
// and kind, if the kind is one the store chart ships; all are namespaced.
// The chart may gain a kind only together with this list and its checks.
func newAllowedObject(apiVersion, kind string) (any, bool) {
	switch apiVersion + "/" + kind {
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "v1/PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, true
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "batch/v1/Job":
		return &batchv1.Job{}, true
	case "batch/v1/CronJob":
		return &batchv1.CronJob{}, true
	case "networking.k8s.io/v1/Ingress":
		return &networkingv1.Ingress{}, true
	case "gateway.networking.k8s.io/v1/HTTPRoute":
		return &gwapiv1.HTTPRoute{}, true
	}
	return nil, false
}

// readDoc is what the check makes of one rendered document whatever the
// store it is for: it depends on the document's text alone, so the
// check's cache may keep it for the next store's identical document.
// Shared so, it is only read.
type readDoc struct {
	json   []byte
	source string
	kind   string
	what   string // its kind and name, for messages
	// namespace is the one the object names, if any.
	namespace string
	// route is the document decoded strictly into its API type, when it
	// is an Ingress or an HTTPRoute: reasons checks its hosts, backends
	// and Gateway for the store. (The cache keeps no other decoded
	// object.)
	route any
	// reasons are those it is refused for in any store; reasons adds
	// those of where it is.
	reasons []string
	yaml    []byte // its re-encoding, block style
}

// readDocument decodes one rendered object strictly into its API type
// and finds the reasons it is refused in any store (its kind, its pods,
// its Service, its claims). An error means the document is not an object
// of an allowed kind that decodes cleanly.
func readDocument(psa psapolicy.Evaluator, doc renderedDoc) (readDoc, error) {
	d := readDoc{json: doc.json, source: doc.source}
	apiVersion, err := headString(doc.head, "apiVersion")
	if err != nil {
		return d, err
	}
	kind, err := headString(doc.head, "kind")
	if err != nil {
		return d, err
	}
	var name string // best effort, for the message
	if m, ok := doc.head["metadata"].(map[string]any); ok {
		name, _ = m["name"].(string)
	}
	d.kind, d.what = kind, fmt.Sprintf("%s %q", kind, name)
	obj, ok := newAllowedObject(apiVersion, kind)
	if !ok {
		d.reasons = []string{fmt.Sprintf("is not a kind the store chart ships (apiVersion %q)", apiVersion)}
		return d, nil
	}
	strict, err := kjson.UnmarshalStrict(doc.json, obj)
	if err != nil {
		return d, fmt.Errorf("%s: %w", d.what, err)
	}
	if len(strict) > 0 {
		return d, fmt.Errorf("%s: %w", d.what, errors.Join(strict...))
	}
	var r refusal
	om := obj.(metav1.Object)
	d.namespace = om.GetNamespace()
	if om.GetName() == "" {
		r.add("has no name")
	}
	checkMeta(&r, "", om.GetLabels(), om.GetAnnotations())
	if len(om.GetOwnerReferences()) > 0 {
		r.add("has owner references")
	}
	if len(om.GetFinalizers()) > 0 {
		r.add("has finalizers")
	}

	switch o := obj.(type) {
	case *appsv1.Deployment:
		checkPod(&r, psa, o.Spec.Template)
	case *appsv1.StatefulSet:
		checkPod(&r, psa, o.Spec.Template)
		for _, t := range o.Spec.VolumeClaimTemplates {
			checkMeta(&r, "volume claim template "+t.Name+": ", t.Labels, t.Annotations)
			checkClaim(&r, "volume claim template "+t.Name, t.Spec)
		}
	case *batchv1.Job:
		checkPod(&r, psa, o.Spec.Template)
	case *batchv1.CronJob:
		jt := o.Spec.JobTemplate
		checkMeta(&r, "job template: ", jt.Labels, jt.Annotations)
		checkPod(&r, psa, jt.Spec.Template)
	case *corev1.Service:
		checkService(&r, o.Spec)
	case *corev1.PersistentVolumeClaim:
		checkClaim(&r, "its spec", o.Spec)
	case *networkingv1.Ingress, *gwapiv1.HTTPRoute:
		d.route = o
	}
	d.reasons = r.reasons
	return d, nil
}

// reasons are all the reasons d is refused in this check's store: its
// namespace, its routes' hosts and backends, and those it has in any
// store.
func (c renderCheck) reasons(d readDoc) []string {
	var r refusal
	if ns := d.namespace; ns != "" && ns != c.namespace {
		r.add("is in namespace %q, outside the store's namespace %s", ns, c.namespace)
	}
	r.reasons = append(r.reasons, d.reasons...)
	switch o := d.route.(type) {
	case *networkingv1.Ingress:
		c.checkIngress(&r, o)
	case *gwapiv1.HTTPRoute:
		c.checkHTTPRoute(&r, o)
	}
	return r.reasons
}

// headString is a document's top-level field key, which must be a
// string when it is there ("" when it is not).
func headString(head map[string]any, key string) (string, error) {
	v, ok := head[key]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s is a %T, not a string", key, v)
	}
	return s, nil
}

// refusal collects the reasons one object is refused.
type refusal struct {
	reasons []string
}

func (r *refusal) add(format string, args ...any) {
	r.reasons = append(r.reasons, fmt.Sprintf(format, args...))
}

// helmFilenameAnnotation is the annotation Helm adds to every document it
// hands a post-renderer, to sort them back into files afterwards.
const helmFilenameAnnotation = "postrenderer.helm.sh/postrender-filename"

// checkMeta refuses Helm's own annotations (hooks, resource policies,
// release ownership: the chart ships none) and urumi's labels and
// annotations.
func checkMeta(r *refusal, where string, labels, annotations map[string]string) {
	for _, k := range sortedKeys(annotations) {
		if k == helmFilenameAnnotation {
			continue
		}
		if prefixIn(k, "helm.sh") {
			r.add("%shas Helm annotation %s, which the store chart never sets", where, k)
		}
		if prefixIn(k, "urumi.io") {
			r.add("%shas annotation %s, which only urumi sets", where, k)
		}
	}
	for _, k := range sortedKeys(labels) {
		if prefixIn(k, "urumi.io") {
			r.add("%shas label %s, which only urumi sets", where, k)
		}
	}
}

// prefixIn reports whether key's prefix is domain or a subdomain of it.
func prefixIn(key, domain string) bool {
	prefix, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	prefix = strings.ToLower(prefix)
	return prefix == domain || strings.HasSuffix(prefix, "."+domain)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkPod refuses a pod template that leaves the restricted Pod Security
// profile, mounts a service account token, or reaches past the store's own
// objects: host names, a chosen node, tolerations, priority or runtime
// classes, Secrets other than the store's credentials, volume types the
// chart does not use.
func checkPod(r *refusal, psa psapolicy.Evaluator, t corev1.PodTemplateSpec) {
	checkMeta(r, "pod template: ", t.Labels, t.Annotations)
	spec := t.Spec
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, res := range psa.EvaluatePod(lv, &t.ObjectMeta, &spec) {
		if !res.Allowed {
			r.add("has a pod the restricted Pod Security profile forbids: %s (%s)", res.ForbiddenReason, res.ForbiddenDetail)
		}
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		r.add("has a pod that mounts a service account token (automountServiceAccountToken must be false)")
	}
	for _, sa := range []string{spec.ServiceAccountName, spec.DeprecatedServiceAccount} {
		if sa != "" && sa != "default" {
			r.add("has a pod running as service account %q", sa)
		}
	}
	if len(spec.HostAliases) > 0 {
		r.add("has a pod with host aliases")
	}
	if spec.NodeName != "" {
		r.add("has a pod bound to node %q", spec.NodeName)
	}
	if len(spec.Tolerations) > 0 {
		r.add("has a pod with tolerations")
	}
	if spec.PriorityClassName != "" || spec.Priority != nil {
		r.add("has a pod with a priority class")
	}
	if spec.RuntimeClassName != nil {
		r.add("has a pod with runtime class %q", *spec.RuntimeClassName)
	}
	// The volume types the store chart's pods use.
	volumeSources := []string{"configMap", "emptyDir", "persistentVolumeClaim"}
	for _, v := range spec.Volumes {
		if src := volumeSource(v.VolumeSource); !slices.Contains(volumeSources, src) {
			r.add("has a pod with a %s volume %q (allowed: %s)", src, v.Name, strings.Join(volumeSources, ", "))
		}
	}
	containers := slices.Concat(spec.InitContainers, spec.Containers)
	for _, ec := range spec.EphemeralContainers {
		containers = append(containers, corev1.Container(ec.EphemeralContainerCommon))
	}
	for _, ctr := range containers {
		if len(ctr.EnvFrom) > 0 {
			r.add("has a container %q importing variables with envFrom", ctr.Name)
		}
		for _, e := range ctr.Env {
			if e.ValueFrom == nil {
				continue
			}
			if ref := e.ValueFrom.SecretKeyRef; ref != nil && ref.Name != credentialsName {
				r.add("has a container %q reading Secret %q, not the store's credentials", ctr.Name, ref.Name)
			}
		}
	}
}

// volumeSource names the type of a volume, as its field in the API.
func volumeSource(vs corev1.VolumeSource) string {
	b, err := json.Marshal(vs)
	if err != nil {
		return "unknown"
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || len(m) != 1 {
		return "unknown"
	}
	for k := range m {
		return k
	}
	return "unknown"
}

// checkService refuses anything but a cluster-internal Service.
func checkService(r *refusal, s corev1.ServiceSpec) {
	if s.Type != "" && s.Type != corev1.ServiceTypeClusterIP {
		r.add("is of type %s; only ClusterIP Services are allowed", s.Type)
	}
	for _, ip := range append([]string{s.ClusterIP}, s.ClusterIPs...) {
		if ip != "" && ip != corev1.ClusterIPNone {
			r.add("asks for cluster IP %q", ip)
		}
	}
	if len(s.ExternalIPs) > 0 {
		r.add("has external IPs")
	}
	if s.ExternalName != "" {
		r.add("points at external name %q", s.ExternalName)
	}
	if s.LoadBalancerIP != "" || len(s.LoadBalancerSourceRanges) > 0 || s.LoadBalancerClass != nil ||
		s.AllocateLoadBalancerNodePorts != nil || s.HealthCheckNodePort != 0 || s.ExternalTrafficPolicy != "" {
		r.add("has load balancer or node port settings")
	}
	for _, p := range s.Ports {
		if p.NodePort != 0 {
			r.add("asks for node port %d", p.NodePort)
		}
	}
}

// checkClaim refuses a claim that would bind or copy an existing volume.
func checkClaim(r *refusal, where string, s corev1.PersistentVolumeClaimSpec) {
	if s.VolumeName != "" {
		r.add("%s: binds existing volume %q", where, s.VolumeName)
	}
	if s.Selector != nil {
		r.add("%s: selects existing volumes", where)
	}
	if s.DataSource != nil || s.DataSourceRef != nil {
		r.add("%s: copies its data from another source", where)
	}
}

// refusedIngressAnnotations are ingress controller annotations that reach
// past the store's own host and backend: extra host names, requests to
// other addresses, references to other namespaces (configuration snippets
// are refused by name, whatever their controller).
func refusedIngressAnnotations() []string {
	return []string{
		"nginx.ingress.kubernetes.io/server-alias",
		"nginx.ingress.kubernetes.io/auth-url",
		"nginx.ingress.kubernetes.io/auth-proxy-set-headers",
		"nginx.ingress.kubernetes.io/auth-tls-secret",
		"nginx.ingress.kubernetes.io/proxy-ssl-secret",
		"nginx.ingress.kubernetes.io/mirror-target",
		"nginx.ingress.kubernetes.io/mirror-host",
		"nginx.ingress.kubernetes.io/default-backend",
		"nginx.ingress.kubernetes.io/global-auth-url",
		"kubernetes.io/ingress.class",
	}
}

// checkIngress refuses an Ingress that serves another host than the
// store's, routes to anything but the chart's wordpress Service, or carries
// annotations that do either by other means.
func (c renderCheck) checkIngress(r *refusal, ing *networkingv1.Ingress) {
	if ing.Spec.DefaultBackend != nil {
		r.add("has a default backend")
	}
	for _, rule := range ing.Spec.Rules {
		if rule.Host != c.host {
			r.add("routes host %q; only the store's host %s is allowed", rule.Host, c.host)
		}
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Resource != nil {
				r.add("routes to a resource backend")
			}
			if s := p.Backend.Service; s != nil && s.Name != charts.ComponentWordPress {
				r.add("routes to Service %q; only %s is allowed", s.Name, charts.ComponentWordPress)
			}
		}
	}
	for _, tls := range ing.Spec.TLS {
		for _, h := range tls.Hosts {
			if h != c.host {
				r.add("has a certificate for host %q; only the store's host %s is allowed", h, c.host)
			}
		}
	}
	refused := refusedIngressAnnotations()
	for _, k := range sortedKeys(ing.Annotations) {
		name := k
		if _, n, ok := strings.Cut(k, "/"); ok {
			name = n
		}
		if slices.Contains(refused, k) || strings.HasSuffix(name, "snippet") || strings.HasSuffix(name, "snippets") {
			r.add("has annotation %s, which reaches past the store's host and backend", k)
		}
		if k == "traefik.ingress.kubernetes.io/router.middlewares" {
			for _, m := range strings.Split(ing.Annotations[k], ",") {
				m = strings.TrimSpace(m)
				if ref, ok := strings.CutSuffix(m, "@kubernetescrd"); ok && !strings.HasPrefix(ref, c.namespace+"-") {
					r.add("uses Traefik middleware %q from another namespace", m)
				}
			}
		}
	}
}

// checkHTTPRoute refuses an HTTPRoute that attaches to anything but the
// store's Gateway, serves another host than the store's (or every host of
// the listener, which a route without host names does), or sends requests
// anywhere but the chart's wordpress Service.
func (c renderCheck) checkHTTPRoute(r *refusal, rt *gwapiv1.HTTPRoute) {
	if c.gateway == nil {
		r.add("is an HTTPRoute, but the store is not routed through a Gateway")
		return
	}
	if len(rt.Spec.ParentRefs) == 0 {
		r.add("attaches to no Gateway")
	}
	for _, p := range rt.Spec.ParentRefs {
		ns := c.namespace
		if p.Namespace != nil {
			ns = string(*p.Namespace)
		}
		group, kind := gwapiv1.GroupName, "Gateway"
		if p.Group != nil {
			group = string(*p.Group)
		}
		if p.Kind != nil {
			kind = string(*p.Kind)
		}
		section := ""
		if p.SectionName != nil {
			section = string(*p.SectionName)
		}
		switch {
		case group != gwapiv1.GroupName || kind != "Gateway":
			r.add("attaches to a %s of group %q; only the Gateway %s is allowed", kind, group, c.gateway)
		case string(p.Name) != c.gateway.Name || ns != c.gateway.Namespace:
			r.add("attaches to Gateway %s/%s; only the Gateway %s is allowed", ns, p.Name, c.gateway)
		case c.gateway.SectionName != "" && section != c.gateway.SectionName:
			r.add("attaches to listener %q of the Gateway; only %q is allowed", section, c.gateway.SectionName)
		case p.Port != nil:
			r.add("attaches to a port of the Gateway; attach to its listener by name")
		}
	}
	if len(rt.Spec.Hostnames) == 0 {
		r.add("names no host name, so it would serve every host of the Gateway's listener; only the store's host %s is allowed", c.host)
	}
	for _, h := range rt.Spec.Hostnames {
		if string(h) != c.host {
			r.add("routes host %q; only the store's host %s is allowed", h, c.host)
		}
	}
	for _, rule := range rt.Spec.Rules {
		c.checkRouteFilters(r, rule.Filters)
		for _, b := range rule.BackendRefs {
			c.checkRouteFilters(r, b.Filters)
			switch {
			case b.Group != nil && *b.Group != "" || b.Kind != nil && *b.Kind != "Service":
				r.add("routes to a backend that is not a Service")
			case b.Namespace != nil && string(*b.Namespace) != c.namespace:
				r.add("routes to namespace %q, outside the store's", *b.Namespace)
			case string(b.Name) != charts.ComponentWordPress:
				r.add("routes to Service %q; only %s is allowed", b.Name, charts.ComponentWordPress)
			}
		}
	}
}

// checkRouteFilters refuses filters that send requests, or copies of them,
// elsewhere than the store (mirrors, external authorization, a
// controller's own extensions) or redirect to another host.
func (c renderCheck) checkRouteFilters(r *refusal, filters []gwapiv1.HTTPRouteFilter) {
	for _, f := range filters {
		switch {
		case f.RequestMirror != nil || f.ExternalAuth != nil || f.ExtensionRef != nil:
			r.add("has a %s filter, which reaches past the store's host and backend", f.Type)
		case f.RequestRedirect != nil && f.RequestRedirect.Hostname != nil && string(*f.RequestRedirect.Hostname) != c.host:
			r.add("redirects to host %q; only the store's host %s is allowed", *f.RequestRedirect.Hostname, c.host)
		}
	}
}
