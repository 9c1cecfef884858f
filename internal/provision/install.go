package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/resource"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
)

// Helm's ownership marks on every object of a release, the chart file
// it takes a release's notes from, and the descriptions it gives an
// install's revision.
const (
	helmManagedBy                  = "Helm"
	annotationHelmReleaseName      = "meta.helm.sh/release-name"
	notesFile                      = "NOTES.txt"
	installDescription             = "Install complete"
	pendingInstallDescription      = "Initial install underway"
	installFailedDescriptionFormat = "Release %q failed: %s"
)

// installSpec is one first install of the store's release.
type installSpec struct {
	cfg       *action.Configuration
	gate      *renderGate
	chart     *chart.Chart
	vals      map[string]any
	namespace string
	timeout   time.Duration
	// skipSchema: the values are known to pass the chart's schema.
	skipSchema bool
	waitOpts   []kube.WaitOption
}

// installRelease is Helm's install of the store chart, run by urumi from
// Helm's own parts: its values, its template engine, its release records
// and its Kubernetes client, as action.Install runs them for a release
// with no hooks, no CRDs and no subcharts (what the store chart is, and
// what the render check lets through). The one difference is who reads
// the rendered documents: action.Install parses each to sort them by kind
// (releaseutil.SortManifests, a YAML parse of every document, 6 % of
// serve's CPU at 200 stores), and the render check then parses each again.
// Here the check's own read sorts them (in Helm's install order) and the
// release records its re-encoding, as the gate makes Helm's install do.
//
// The release it makes is Helm's in every way the Helm CLI and the SDK
// read it: the same record, labels, status and descriptions, the objects
// marked as Helm marks them, applied server-side. Unlike action.Install it
// does not go on in the background when ctx ends: the wait ends with ctx,
// and the revision is recorded failed.
//
// The templates render without access to the cluster (Helm's lookup
// function finds nothing): the store chart reads nothing from it.
func (k *Kube) installRelease(ctx context.Context, s installSpec) (*release.Release, error) {
	if s.gate == nil {
		return nil, errors.New("install without a render check")
	}
	ch := s.chart
	if err := chartutil.ProcessDependencies(ch, s.vals); err != nil {
		return nil, fmt.Errorf("chart dependencies processing failed: %w", err)
	}
	caps := s.cfg.Capabilities
	if v := ch.Metadata.KubeVersion; v != "" && !chartutil.IsCompatibleRange(v, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", v, caps.KubeVersion.Version)
	}
	opts := common.ReleaseOptions{Name: releaseName, Namespace: s.namespace, Revision: 1, IsInstall: true}
	values, err := util.ToRenderValuesWithSchemaValidation(ch, s.vals, opts, caps, s.skipSchema)
	if err != nil {
		return nil, err
	}
	ts := s.cfg.Now()
	rel := &release.Release{
		Name:        releaseName,
		Namespace:   s.namespace,
		Chart:       ch,
		Config:      s.vals,
		Info:        &release.Info{FirstDeployed: ts, LastDeployed: ts, Status: rcommon.StatusUnknown},
		Version:     1,
		Labels:      map[string]string{LabelManagedBy: ManagedBy},
		ApplyMethod: string(release.ApplyMethodServerSideApply),
	}

	files, err := engine.Engine{}.RenderWithContext(ctx, ch, values)
	if err != nil {
		return nil, err
	}
	var stream string
	rel.Info.Notes, stream = joinRendered(ch.Name(), files)
	if k.RenderHook != nil {
		out, err := k.RenderHook.Run(bytes.NewBufferString(stream))
		if err != nil {
			return nil, fmt.Errorf("error while running post render on files: %w", err)
		}
		stream = out.String()
	}
	checked, err := s.gate.manifest(stream)
	if err != nil {
		return nil, err
	}
	rel.Manifest = checked.yaml
	rel.SetStatus(rcommon.StatusPendingInstall, pendingInstallDescription)

	resources, err := s.cfg.KubeClient.Build(strings.NewReader(rel.Manifest), false)
	if err != nil {
		return nil, fmt.Errorf("unable to build kubernetes objects from release manifest: %w", err)
	}
	if err := resources.Visit(markHelmOwned(releaseName, s.namespace)); err != nil {
		return nil, err
	}
	adopted, err := k.existingOwned(resources, releaseName, s.namespace)
	if err != nil {
		return nil, fmt.Errorf("unable to continue with install: %w", err)
	}
	if err := s.cfg.Releases.Create(rel); err != nil {
		return rel, err
	}
	if err := k.applyAndWait(s, adopted, resources); err != nil {
		rel.SetStatus(rcommon.StatusFailed, fmt.Sprintf(installFailedDescriptionFormat, releaseName, err.Error()))
		if uerr := s.cfg.Releases.Update(rel); uerr != nil {
			k.Log.Warn("record the failed install", "namespace", s.namespace, "error", uerr)
		}
		return rel, err
	}
	rel.SetStatus(rcommon.StatusDeployed, installDescription)
	// A store that runs but whose record still says pending-install is
	// taken over by the job's next run (recoverPending), which upgrades
	// it to the same chart and values.
	if err := s.cfg.Releases.Update(rel); err != nil {
		return rel, fmt.Errorf("record the installed release: %w", err)
	}
	return rel, nil
}

// applyAndWait applies the release's objects, server-side, taking over
// those of them that exist already as the release's (adopted), and waits
// for all of them, Jobs included, to be ready.
func (k *Kube) applyAndWait(s installSpec, adopted, resources kube.ResourceList) error {
	kc := s.cfg.KubeClient
	var err error
	if len(adopted) == 0 {
		_, err = kc.Create(resources, kube.ClientCreateOptionServerSideApply(true, false))
	} else {
		_, err = kc.Update(adopted, resources,
			kube.ClientUpdateOptionForceReplace(false),
			kube.ClientUpdateOptionServerSideApply(true, false),
			kube.ClientUpdateOptionThreeWayMergeForUnstructured(false),
			kube.ClientUpdateOptionUpgradeClientSideFieldManager(true))
	}
	if err != nil {
		return err
	}
	wo, ok := kc.(kube.InterfaceWaitOptions)
	if !ok {
		return fmt.Errorf("helm kube client %T takes no wait options", kc)
	}
	waiter, err := wo.GetWaiterWithOptions(kube.StatusWatcherStrategy, s.waitOpts...)
	if err != nil {
		return fmt.Errorf("failed to get waiter: %w", err)
	}
	return waiter.WaitWithJobs(resources, s.timeout)
}

// joinRendered is what Helm makes of a chart's rendered templates before
// it sorts them: the top chart's notes, and every document of every
// template (but NOTES.txt and partials, by path, each file's documents in
// order) under a "# Source:" line naming its template, as one stream.
func joinRendered(chartName string, files map[string]string) (notes, stream string) {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		content := files[p]
		if strings.HasSuffix(p, notesFile) {
			if p == path.Join(chartName, "templates", notesFile) {
				notes = content
			}
			continue
		}
		if strings.HasPrefix(path.Base(p), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		for _, doc := range splitManifests(content) {
			b.WriteString("---\n# Source: ")
			b.WriteString(p)
			b.WriteByte('\n')
			b.WriteString(doc)
			b.WriteByte('\n')
		}
	}
	return notes, b.String()
}

// splitManifests is releaseutil.SplitManifests' documents of a template,
// in order. Its regular expression splits at each "---" that starts the
// text or a line; a template with none (every template of the store
// chart) is one document, found without it: the expression cost more
// than the rest of what joinRendered does.
func splitManifests(content string) []string {
	trimmed := strings.TrimLeftFunc(content, unicode.IsSpace)
	if !strings.HasPrefix(trimmed, "---") && !strings.Contains(trimmed, "\n---") {
		return []string{trimmed}
	}
	entries := releaseutil.SplitManifests(content)
	keys := make([]string, 0, len(entries))
	for key := range entries {
		keys = append(keys, key)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	docs := make([]string, 0, len(keys))
	for _, key := range keys {
		docs = append(docs, entries[key])
	}
	return docs
}

// markHelmOwned marks an object as Helm marks every object of a release
// it applies: managed by Helm, of this release.
func markHelmOwned(name, namespace string) resource.VisitorFunc {
	return func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		m, err := meta.Accessor(info.Object)
		if err != nil {
			return err
		}
		labels := m.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[LabelManagedBy] = helmManagedBy
		m.SetLabels(labels)
		annotations := m.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[annotationHelmReleaseName] = name
		annotations[annotationHelmReleaseNamespace] = namespace
		m.SetAnnotations(annotations)
		return nil
	}
}

// existingOwned is, as Helm's install finds it, what of resources exists
// already: each must be marked as this release's (left by an install that
// stopped before it recorded the release), else the install stops, for
// the release would otherwise take over, and later delete, an object it
// did not make.
func (k *Kube) existingOwned(resources kube.ResourceList, name, namespace string) (kube.ResourceList, error) {
	var owned kube.ResourceList
	err := resources.Visit(func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		m, err := meta.Accessor(info.Object)
		if err != nil {
			return err
		}
		if m.GetGenerateName() != "" {
			if info.Name != "" {
				return errors.New("metadata.name and metadata.generateName cannot both be set")
			}
			return nil
		}
		existing, found, err := k.cachedObject(info)
		if !found && err == nil {
			existing, err = resource.NewHelper(info.Client, info.Mapping).Get(info.Namespace, info.Name)
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		what := fmt.Sprintf("%s %q in namespace %q", info.Mapping.GroupVersionKind.Kind, info.Name, info.Namespace)
		if err != nil {
			return fmt.Errorf("could not get information about the resource %s: %w", what, err)
		}
		if err := helmOwnership(existing, name, namespace); err != nil {
			return fmt.Errorf("%s exists and cannot be imported into the current release: %w", what, err)
		}
		c := *info
		owned.Append(&c)
		return nil
	})
	return owned, err
}

// helmOwnership says why obj is not marked as release name's in
// namespace, or nil.
func helmOwnership(obj any, name, namespace string) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	var wrong []string
	want := func(kind string, have map[string]string, key, value string) {
		switch v, ok := have[key]; {
		case !ok:
			wrong = append(wrong, fmt.Sprintf("missing key %q: must be set to %q", key, value))
		case v != value:
			wrong = append(wrong, fmt.Sprintf("%s validation error: key %q must equal %q: current value is %q", kind, key, value, v))
		}
	}
	want("label", m.GetLabels(), LabelManagedBy, helmManagedBy)
	want("annotation", m.GetAnnotations(), annotationHelmReleaseName, name)
	want("annotation", m.GetAnnotations(), annotationHelmReleaseNamespace, namespace)
	if len(wrong) > 0 {
		return fmt.Errorf("invalid ownership metadata; %s", strings.Join(wrong, "; "))
	}
	return nil
}

// cachedObject is the object info names as serve's reconciler caches it,
// when it caches its kind (found; a NotFound error when it has none of
// that name): the read cacheReads answers Helm's GETs with, without the
// HTTP and JSON between.
func (k *Kube) cachedObject(info *resource.Info) (obj any, found bool, err error) {
	dc := k.waitCache.Load()
	if dc == nil || !strings.HasPrefix(info.Namespace, namespacePrefix) {
		return nil, false, nil
	}
	_, idx := dc.byResource(info.Mapping.Resource)
	if idx == nil {
		return nil, false, nil
	}
	obj, ok, err := idx.GetByKey(info.Namespace + "/" + info.Name)
	if err != nil {
		return nil, false, nil
	}
	if !ok {
		return nil, true, apierrors.NewNotFound(info.Mapping.Resource.GroupResource(), info.Name)
	}
	if obj, err = unpack(obj); err != nil {
		return nil, false, nil
	}
	return obj, true, nil
}
