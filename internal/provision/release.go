package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/kube"
	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"

	"github.com/urumi/urumi/internal/store"
)

// maxHistory is how many revisions of a store's release Helm keeps.
const maxHistory = 10

// newUpgrade is a Helm upgrade of the store's release as urumi runs every
// one: waiting with the watcher for every resource, the setup Job included,
// and passing the rendered manifests through urumi's render check.
func (k *Kube) newUpgrade(ctx context.Context, cfg *action.Configuration, namespace string, timeout time.Duration) *action.Upgrade {
	up := action.NewUpgrade(cfg)
	up.Namespace = namespace
	up.WaitStrategy, up.WaitForJobs, up.Timeout = kube.StatusWatcherStrategy, true, timeout
	up.WaitOptions = []kube.WaitOption{kube.WithWaitContext(ctx), kube.WithKStatusReaders(newObjectStatusReader(k.mapper))}
	up.MaxHistory = maxHistory
	up.Labels = map[string]string{LabelManagedBy: ManagedBy}
	// The store's objects are urumi's: what others changed in the fields
	// the chart sets is taken back (stores made before urumi named its
	// field manager belong to the binary's name, "kubectl-urumi" say).
	up.ForceConflicts = true
	up.DisableOpenAPIValidation = true // as for install
	up.PostRenderer = k.RenderHook     // a test's only: the check is in cfg
	up.PostRenderStrategy = action.PostRenderStrategyCombined
	return up
}

// changeResult is how a Helm upgrade or rollback of a store ended.
type changeResult struct {
	// Release is the release as it stands afterwards: the new revision on
	// success, the revision rolled back to after a failure, or the failed
	// revision when even the rollback failed.
	Release *release.Release
	// RolledBack says a failed change was undone: the store runs a
	// deployed revision of what it ran before.
	RolledBack bool
	// Reason is why the change failed, as the cluster explains it.
	Reason string
}

// helmUpgrade upgrades the store's release to the store chart with vals.
// The upgrade waits up to timeout for every resource; when it fails, Helm's
// rollback-on-failure returns the release to its last deployed revision,
// waiting up to timeout again. Before the upgrade's wait runs out, the
// cluster's explanation of what is not ready is taken, so that the failure
// can say which object failed and why once the rollback has healed it.
func (k *Kube) helmUpgrade(ctx context.Context, namespace string, route storeRoute, vals map[string]any, timeout time.Duration) (changeResult, error) {
	ch, err := k.storeChart()
	if err != nil {
		return changeResult{}, err
	}
	cfg, err := k.helmConfig(ctx, namespace, &route)
	if err != nil {
		return changeResult{}, err
	}
	last, err := k.recoverPending(cfg, namespace)
	if err != nil {
		return changeResult{}, err
	}
	if last == nil {
		return changeResult{}, fmt.Errorf("the store has no Helm release to upgrade: retry the store to install it")
	}
	if vals, err = k.valuesFor(ch, vals); err != nil {
		return changeResult{}, err
	}
	up := k.newUpgrade(ctx, cfg, namespace, timeout)
	up.SkipSchemaValidation = k.schemas.passes(ch, vals)
	up.RollbackOnFailure = true
	diagnosis := k.diagnoseBefore(ctx, namespace, timeout)
	r, upErr := up.RunWithContext(ctx, releaseName, ch, vals)
	if upErr == nil {
		rel, err := asRelease(r)
		return changeResult{Release: rel}, err
	}
	return k.afterFailure(ctx, cfg, namespace, last.Version, fmt.Errorf("helm upgrade: %w", describeAPIError(upErr)), diagnosis)
}

// helmRollback returns the store's release to revision (0: the deployed
// revision before the current one), waiting up to timeout. When the
// rollback fails, the release is returned to the revision it ran before,
// as an upgrade's rollback-on-failure does.
func (k *Kube) helmRollback(ctx context.Context, namespace string, revision int, timeout time.Duration) (changeResult, error) {
	// A rollback renders nothing: it applies a revision checked when it
	// was stored.
	cfg, err := k.helmConfig(ctx, namespace, nil)
	if err != nil {
		return changeResult{}, err
	}
	last, err := k.recoverPending(cfg, namespace)
	if err != nil {
		return changeResult{}, err
	}
	if last == nil {
		return changeResult{}, fmt.Errorf("the store has no Helm release to roll back: retry the store to install it")
	}
	history, err := k.history(cfg)
	if err != nil {
		return changeResult{}, err
	}
	current := deployedRevision(history)
	if revision == 0 {
		revision = previousRevision(history, current)
		if revision == 0 {
			return changeResult{}, fmt.Errorf("the store has no earlier deployed revision to roll back to")
		}
	}
	if !slices.ContainsFunc(history, func(r *release.Release) bool { return r.Version == revision }) {
		return changeResult{}, fmt.Errorf("revision %d is not in the store's Helm history (it keeps the last %d): see urumi store history", revision, maxHistory)
	}
	rb := k.newRollback(ctx, cfg, revision, timeout)
	diagnosis := k.diagnoseBefore(ctx, namespace, timeout)
	if rbErr := rb.Run(releaseName); rbErr != nil {
		cause := fmt.Errorf("helm rollback to revision %d: %w", revision, describeAPIError(rbErr))
		if current == 0 || ctx.Err() != nil {
			return changeResult{}, cause
		}
		// Undo: back to what ran before, as rollback-on-failure does.
		back := k.newRollback(ctx, cfg, current, timeout)
		if err := back.Run(releaseName); err != nil {
			return k.afterFailure(ctx, cfg, namespace, 0, fmt.Errorf("%w; returning to revision %d failed too: %w", cause, current, describeAPIError(err)), diagnosis)
		}
		return k.afterFailure(ctx, cfg, namespace, 0, cause, diagnosis)
	}
	rel, err := lastRelease(cfg)
	return changeResult{Release: rel}, err
}

func (k *Kube) newRollback(ctx context.Context, cfg *action.Configuration, revision int, timeout time.Duration) *action.Rollback {
	rb := action.NewRollback(cfg)
	rb.Version = revision
	rb.WaitStrategy, rb.WaitForJobs, rb.Timeout = kube.StatusWatcherStrategy, true, timeout
	rb.WaitOptions = []kube.WaitOption{kube.WithWaitContext(ctx), kube.WithKStatusReaders(newObjectStatusReader(k.mapper))}
	rb.MaxHistory = maxHistory
	rb.ForceConflicts = true // as for upgrades
	return rb
}

// diagnoseBefore takes the cluster's explanation of what is not ready a
// little before a wait of timeout runs out, once; it returns a function
// that gives that explanation, or "" if the wait ended sooner.
func (k *Kube) diagnoseBefore(ctx context.Context, namespace string, timeout time.Duration) func() string {
	margin := min(timeout/10, 5*time.Second)
	result := make(chan string, 1)
	timer := time.AfterFunc(timeout-margin, func() {
		dctx, cancel := context.WithTimeout(ctx, margin)
		defer cancel()
		result <- k.diagnose(dctx, namespace)
	})
	return func() string {
		if timer.Stop() {
			return ""
		}
		select {
		case d := <-result:
			return d
		case <-time.After(10 * time.Second):
			return ""
		}
	}
}

// afterFailure reads where a failed change left the release: rolled back
// when its last revision is deployed (and, when from is not 0, is not the
// revision that failed but a newer one), and why it failed.
func (k *Kube) afterFailure(ctx context.Context, cfg *action.Configuration, namespace string, from int, cause error, diagnosis func() string) (changeResult, error) {
	res := changeResult{Reason: withoutAddresses(cause.Error())}
	if d := diagnosis(); d != "" {
		res.Reason = withoutAddresses(d) + " (" + res.Reason + ")"
	} else if ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if d := k.diagnose(dctx, namespace); d != "" {
			res.Reason = withoutAddresses(d) + " (" + res.Reason + ")"
		}
		cancel()
	}
	rel, err := lastRelease(cfg)
	if err != nil {
		return res, fmt.Errorf("%w; then: %w", cause, err)
	}
	res.Release = rel
	res.RolledBack = rel != nil && rel.Info.Status == rcommon.StatusDeployed && rel.Version > from
	return res, cause
}

// history is every revision Helm keeps of the store's release, oldest first.
func (k *Kube) history(cfg *action.Configuration) ([]*release.Release, error) {
	all, err := cfg.Releases.History(releaseName)
	if err != nil {
		return nil, fmt.Errorf("read helm history: %w", describeAPIError(err))
	}
	out := make([]*release.Release, 0, len(all))
	for _, r := range all {
		rel, err := asRelease(r)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	slices.SortFunc(out, func(a, b *release.Release) int { return a.Version - b.Version })
	return out, nil
}

// releaseHistory is the store's Helm history, read from the cluster.
func (k *Kube) releaseHistory(ctx context.Context, namespace string) ([]*release.Release, error) {
	cfg, err := k.helmConfig(ctx, namespace, nil)
	if err != nil {
		return nil, err
	}
	return k.history(cfg)
}

// deployedRevision is the newest deployed revision in history, or 0.
func deployedRevision(history []*release.Release) int {
	for _, r := range slices.Backward(history) {
		if r.Info != nil && r.Info.Status == rcommon.StatusDeployed {
			return r.Version
		}
	}
	return 0
}

// previousRevision is the newest revision before current that was once
// deployed (now superseded), or 0.
func previousRevision(history []*release.Release, current int) int {
	for _, r := range slices.Backward(history) {
		if r.Version < current && r.Info != nil && r.Info.Status == rcommon.StatusSuperseded {
			return r.Version
		}
	}
	return 0
}

// releaseVersions are the chart and application versions a revision runs:
// its chart's version and the image tags and WooCommerce version of its
// values over the chart's defaults.
func releaseVersions(r *release.Release) (store.Versions, error) {
	if r == nil || r.Chart == nil || r.Chart.Metadata == nil {
		return store.Versions{}, nil
	}
	return chartVersions(r.Chart, r.Config)
}

// chartVersions are the versions ch runs with vals.
func chartVersions(ch *chart.Chart, vals map[string]any) (store.Versions, error) {
	all, err := util.CoalesceValues(ch, vals)
	if err != nil {
		return store.Versions{}, fmt.Errorf("read the versions of chart %s: %w", ch.Metadata.Version, err)
	}
	str := func(path ...string) string {
		var v any = map[string]any(all)
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return ""
			}
			v = m[p]
		}
		s, _ := v.(string)
		return s
	}
	image := func(name string) string {
		tag, digest := str("images", name, "tag"), str("images", name, "digest")
		if digest != "" {
			if len(digest) > len("sha256:")+12 {
				digest = digest[:len("sha256:")+12]
			}
			return tag + "@" + digest
		}
		return tag
	}
	woo := str("woocommerce", "version")
	if woo == "" {
		woo = "latest"
	}
	return store.Versions{
		Chart: ch.Metadata.Version, WordPress: image("wordpress"), MariaDB: image("mariadb"),
		WPCLI: image("cli"), WooCommerce: woo,
	}, nil
}

// describeVersions says what a store runs, for audit details and reasons:
// "revision 2: chart 0.2.0, wordpress 7.1.2-php8.3-apache, ...".
func describeVersions(revision int, v store.Versions) string {
	var parts []string
	add := func(name, value string) {
		if value != "" {
			parts = append(parts, name+" "+value)
		}
	}
	add("chart", v.Chart)
	add("wordpress", v.WordPress)
	add("mariadb", v.MariaDB)
	add("wp-cli", v.WPCLI)
	add("woocommerce", v.WooCommerce)
	if revision == 0 {
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("revision %d: %s", revision, strings.Join(parts, ", "))
}

// valuesFor fits vals to the chart being installed. The embedded chart
// takes them as they are. An older chart set in Kube.Chart (tests make
// stores with the previous chart to upgrade them) is given only the values
// its schema declares: urumi's values for components it does not have yet
// (the wp-cron resources of 0.2.0, say) would fail its schema.
func (k *Kube) valuesFor(ch *chart.Chart, vals map[string]any) (map[string]any, error) {
	if k.Chart == nil || len(ch.Schema) == 0 {
		return vals, nil
	}
	var schema map[string]any
	if err := json.Unmarshal(ch.Schema, &schema); err != nil {
		return nil, fmt.Errorf("read the values schema of chart %s: %w", ch.Metadata.Version, err)
	}
	return pruneToSchema(vals, schema), nil
}

// pruneToSchema copies vals without the keys schema's objects forbid
// (additionalProperties false and not among their properties).
func pruneToSchema(vals map[string]any, schema map[string]any) map[string]any {
	props, _ := schema["properties"].(map[string]any)
	closed := schema["additionalProperties"] == false
	out := make(map[string]any, len(vals))
	for key, v := range vals {
		sub, declared := props[key].(map[string]any)
		if !declared && closed {
			continue
		}
		if m, ok := v.(map[string]any); ok && declared {
			v = pruneToSchema(m, sub)
		}
		out[key] = v
	}
	return out
}
