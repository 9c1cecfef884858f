package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/simcluster"
	"github.com/urumi/urumi/internal/store"
)

// decodeRevisions reads `urumi store history -o json`.
func decodeRevisions(t *testing.T, r result) []store.Revision {
	t.Helper()
	var revs []store.Revision
	if err := json.Unmarshal([]byte(r.stdout), &revs); err != nil {
		t.Fatalf("decode history %q: %v", r.stdout, err)
	}
	return revs
}

// wordpressImage is the image of the store's WordPress Deployment.
func wordpressImage(t *testing.T, e *env, name string) string {
	t.Helper()
	deps, err := e.client.AppsV1().Deployments("store-"+name).List(context.Background(), metav1.ListOptions{})
	must(t, err)
	for _, d := range deps.Items {
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "wordpress" {
				return c.Image
			}
		}
	}
	t.Fatalf("store %s has no wordpress container", name)
	return ""
}

func credentials(t *testing.T, e *env, name string) map[string][]byte {
	t.Helper()
	sec, err := e.client.CoreV1().Secrets("store-"+name).Get(context.Background(), "store-credentials", metav1.GetOptions{})
	must(t, err)
	return sec.Data
}

// pendingReleases lists the store's Helm release records left pending.
func pendingReleases(t *testing.T, e *env, name string) []string {
	t.Helper()
	secs, err := e.client.CoreV1().Secrets("store-"+name).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
	must(t, err)
	var pending []string
	for _, s := range secs.Items {
		if strings.HasPrefix(s.Labels["status"], "pending") {
			pending = append(pending, s.Name+"="+s.Labels["status"])
		}
	}
	return pending
}

// TestUpgradeAndRollback: an upgrade that changes the WordPress image ends
// READY on revision 2 with the credentials untouched; one that cannot
// become ready rolls back by itself, saying why; history lists every
// revision and rollback to revision 1 restores its values.
func TestUpgradeAndRollback(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b.dsn(t))
			e.writeConfig(oversizedPlans)
			ctx := context.Background()
			name := "up-" + b.name
			first := decodeStore(t, e.ok("store", "create", name, "-o", "json"))
			if first.Release.Revision != 1 || first.Release.Versions.Chart == "" || first.Release.Versions.WordPress == "" ||
				first.Release.LastChange == nil || first.Release.LastChange.Kind != store.JobCreate {
				t.Fatalf("created store's release: %+v", first.Release)
			}
			if first.Release.UpgradeAvailable != "" {
				t.Errorf("a store made by this urumi has an upgrade available: %q", first.Release.UpgradeAvailable)
			}
			oldImage := wordpressImage(t, e, name)
			secret := credentials(t, e, name)

			// A new image tag.
			const tag = "7.1.3-php8.3-apache"
			r := e.ok("store", "upgrade", name, "--set", "images.wordpress.tag="+tag, "-o", "json")
			up := decodeStore(t, r)
			if up.Status != store.StatusReady || up.Release.Revision != 2 || up.Release.Versions.WordPress != tag ||
				up.Release.LastChange.Outcome != store.ChangeSucceeded || up.Release.LastChange.From != 1 || up.Release.LastChange.To != 2 {
				t.Fatalf("upgraded store: %+v", up)
			}
			if got := wordpressImage(t, e, name); got != "docker.io/library/wordpress:"+tag {
				t.Errorf("wordpress image after the upgrade = %q", got)
			}
			if !maps.EqualFunc(credentials(t, e, name), secret, slices.Equal) {
				t.Error("the upgrade changed the credentials Secret")
			}
			if !strings.Contains(r.stderr, "helm-upgrade") {
				t.Errorf("the upgrade's progress should show its phases:\n%s", r.stderr)
			}

			// An upgrade that cannot become ready: a plan whose WordPress
			// no node can hold. It rolls back within its timeout.
			start := time.Now()
			r = e.run("store", "upgrade", name, "--plan", "oversized", "--timeout", "40s")
			took := time.Since(start)
			if r.code != 1 || !strings.Contains(r.stderr, "rolled back") {
				t.Fatalf("impossible upgrade: want exit 1 and a rollback, got %s", r)
			}
			if took > 2*time.Minute {
				t.Errorf("the failed upgrade took %s, well beyond its 40s timeout", took)
			}
			back, _ := e.getStore(name)
			lc := back.Release.LastChange
			if back.Status != store.StatusReady || back.Plan != "medium" || back.Release.Versions.WordPress != tag ||
				lc == nil || lc.Outcome != store.ChangeRolledBack || lc.From != 2 || back.Release.Revision != 4 {
				t.Fatalf("after the failed upgrade: status %s plan %s release %+v last change %+v", back.Status, back.Plan, back.Release, lc)
			}
			if !strings.Contains(lc.Reason, "wordpress") || !strings.Contains(strings.ToLower(lc.Reason), "cpu") {
				t.Errorf("the reason should name the object and why: %q", lc.Reason)
			}
			if got := wordpressImage(t, e, name); got != "docker.io/library/wordpress:"+tag {
				t.Errorf("wordpress image after the rollback = %q, want revision 2's", got)
			}
			q, err := e.client.CoreV1().ResourceQuotas("store-"+name).Get(ctx, "store-quota", metav1.GetOptions{})
			must(t, err)
			if got := q.Spec.Hard[corev1.ResourceLimitsCPU]; got.Cmp(resource.MustParse("4")) != 0 {
				t.Errorf("quota after the rollback: %s CPU, want the medium plan's 4", got.String())
			}
			db := e.openDB()
			entries, err := db.ListAudit(ctx, store.AuditFilter{Store: name})
			must(t, err)
			var failed *store.AuditEntry
			for i, a := range entries {
				if a.Action == "upgrade" && a.Outcome == "failed" {
					failed = &entries[i]
				}
			}
			if failed == nil || !strings.Contains(failed.Detail, "rolled back") || !strings.Contains(failed.Detail, "wordpress") {
				t.Errorf("the audit log should say why the upgrade failed and that it was rolled back: %+v", failed)
			}

			// History: every revision, with who and what.
			revs := decodeRevisions(t, e.ok("store", "history", name, "-o", "json"))
			var got []string
			for _, rv := range revs {
				got = append(got, rv.Status+"/"+string(rv.Kind)+"/"+rv.Actor)
			}
			want := []string{"superseded/create/tester", "superseded/upgrade/tester", "failed/upgrade/tester", "deployed/upgrade/tester"}
			if !slices.Equal(got, want) {
				t.Fatalf("history %q, want %q", got, want)
			}
			if revs[0].Versions.WordPress == tag || revs[1].Versions.WordPress != tag {
				t.Errorf("history versions: %+v", revs)
			}

			// Roll back to revision 1: its image and values.
			rb := decodeStore(t, e.ok("store", "rollback", name, "--revision", "1", "-o", "json"))
			if rb.Status != store.StatusReady || rb.Release.Revision != 5 || rb.Release.LastChange.Kind != store.JobRollback ||
				rb.Release.Versions.WordPress != first.Release.Versions.WordPress {
				t.Fatalf("rolled back store: %+v", rb)
			}
			if got := wordpressImage(t, e, name); got != oldImage {
				t.Errorf("wordpress image after rollback to 1 = %q, want %q", got, oldImage)
			}
			if !maps.EqualFunc(credentials(t, e, name), secret, slices.Equal) {
				t.Error("the rollback changed the credentials Secret")
			}
			if r := e.run("store", "rollback", name, "--revision", "9"); r.code != 2 {
				t.Errorf("rollback to a revision the store never had: want exit 2, got %s", r)
			}
			e.ok("store", "delete", name)
		})
	}
}

// TestKilledMidUpgrade: SIGKILL while Helm is upgrading leaves the release
// pending-upgrade; running the same upgrade again, or retry, recovers it
// and ends READY on the new revision, with one upgrade job and nothing
// doubled.
func TestKilledMidUpgrade(t *testing.T) {
	e := newEnv(t, backends[0].dsn(t))
	ctx := context.Background()
	name := "killed-upgrade"
	ns := "store-" + name
	e.ok("store", "create", name)
	for i, resume := range []string{"upgrade", "retry"} {
		tag := []string{"7.1.3-php8.3-apache", "7.1.4-php8.3-apache"}[i]
		// Pods cannot start while this quota is there: the upgrade's wait
		// holds the release pending until the kill lands.
		block := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "block", Namespace: ns},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}},
		}
		_, err := e.client.CoreV1().ResourceQuotas(ns).Create(ctx, block, metav1.CreateOptions{})
		must(t, err)
		args := []string{"store", "upgrade", name, "--set", "images.wordpress.tag=" + tag}
		cmd, _ := e.start(args...)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		waitFor(wctx, t, "a pending upgrade", func() (bool, error) { return len(pendingReleases(t, e, name)) > 0, nil })
		cancel()
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		_, _ = cmd.Process.Wait()
		if s, _ := e.getStore(name); s.Status != store.StatusUpgrading {
			t.Fatalf("killed upgrade left the store %s", s.Status)
		}
		// The cause is fixed; the upgrade is carried on.
		must(t, e.client.CoreV1().ResourceQuotas(ns).Delete(ctx, "block", metav1.DeleteOptions{}))
		var r result
		if resume == "upgrade" {
			r = e.ok(append(args, "-o", "json")...)
		} else {
			r = e.ok("store", "retry", name, "-o", "json")
		}
		s := decodeStore(t, r)
		if s.Status != store.StatusReady || s.Release.Versions.WordPress != tag || s.Release.LastChange.Outcome != store.ChangeSucceeded {
			t.Fatalf("resumed by %s: %+v", resume, s)
		}
		if p := pendingReleases(t, e, name); len(p) > 0 {
			t.Fatalf("releases left pending: %v", p)
		}
		if got := wordpressImage(t, e, name); got != "docker.io/library/wordpress:"+tag {
			t.Errorf("wordpress image = %q", got)
		}
	}
	deps, _ := e.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	secs, _ := e.client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: "urumi.io/store=" + name})
	if len(deps.Items) != 1 || len(secs.Items) != 1 {
		t.Fatalf("after the resumed upgrades: %d deployments, %d credential secrets; want 1 and 1", len(deps.Items), len(secs.Items))
	}
	jobs, err := e.openDB().ListJobs(ctx, name)
	must(t, err)
	var kinds []string
	for _, j := range jobs {
		kinds = append(kinds, string(j.Kind)+"/"+string(j.State))
	}
	if want := []string{"create/succeeded", "upgrade/succeeded", "upgrade/succeeded"}; !slices.Equal(kinds, want) {
		t.Fatalf("jobs %q, want %q: each upgrade once, resumed", kinds, want)
	}
	revs := decodeRevisions(t, e.ok("store", "history", name, "-o", "json"))
	var statuses []string
	for _, rv := range revs {
		statuses = append(statuses, rv.Status)
	}
	// Each killed revision is marked failed, and the upgrade runs again.
	if want := []string{"superseded", "failed", "superseded", "failed", "deployed"}; !slices.Equal(statuses, want) {
		t.Errorf("history statuses %q, want %q", statuses, want)
	}
	e.ok("store", "delete", name)
}

// TestUpgradeFromPreviousChart: a store made by the previous chart (0.1.x,
// kept in charts/testdata) upgrades to the chart built into urumi and gains
// the wp-cron CronJob, keeping its data (the same claims), credentials and
// URL.
func TestUpgradeFromPreviousChart(t *testing.T) {
	e := newEnv(t, backends[0].dsn(t))
	ctx := context.Background()
	root, err := simcluster.RepoRoot()
	must(t, err)
	old, err := loader.Load(filepath.Join(root, "charts", "testdata", "store-0.1.0"))
	must(t, err)
	current, err := charts.Store()
	must(t, err)
	if old.Metadata.Version == current.Metadata.Version {
		t.Fatalf("the previous chart's version is the current one's (%s)", old.Metadata.Version)
	}

	// Make the store as an urumi with the previous chart would.
	name := "from-010"
	ns := "store-" + name
	db := e.openDB()
	settings := provision.Settings{BaseDomain: "localhost", IngressClass: "nginx", IngressNamespace: "ingress-nginx", Timeout: 2 * time.Minute}
	svc := &provision.Service{DB: db, Settings: settings}
	_, job, err := svc.Create(ctx, provision.Caller{Name: "tester", Admin: true}, provision.CreateRequest{Name: name})
	must(t, err)
	kube, err := provision.NewKube(e.cl.Config, settings, nil)
	must(t, err)
	kube.Chart = old
	runner := &provision.Runner{DB: db, Kube: kube, Worker: "previous-urumi", Lease: time.Minute, Log: slog.New(slog.DiscardHandler)}
	if _, err := runner.Drive(ctx, job.ID, nil); err != nil {
		t.Fatalf("create with chart %s: %v", old.Metadata.Version, err)
	}
	before, _ := e.getStore(name)
	if before.Status != store.StatusReady || before.Release.Versions.Chart != old.Metadata.Version ||
		before.Release.UpgradeAvailable != current.Metadata.Version {
		t.Fatalf("store made by chart %s: %+v", old.Metadata.Version, before)
	}
	crons, err := e.client.BatchV1().CronJobs(ns).List(ctx, metav1.ListOptions{})
	must(t, err)
	if len(crons.Items) != 0 {
		t.Fatalf("chart %s made %d CronJobs", old.Metadata.Version, len(crons.Items))
	}
	claims := func() map[string]string {
		pvcs, err := e.client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		must(t, err)
		uids := map[string]string{}
		for _, p := range pvcs.Items {
			uids[p.Name] = string(p.UID)
		}
		return uids
	}
	claimsBefore, secret := claims(), credentials(t, e, name)

	after := decodeStore(t, e.ok("store", "upgrade", name, "-o", "json"))
	if after.Status != store.StatusReady || after.Release.Versions.Chart != current.Metadata.Version ||
		after.Release.Revision != 2 || after.Release.UpgradeAvailable != "" || after.URL != before.URL {
		t.Fatalf("upgraded store: %+v", after)
	}
	crons, err = e.client.BatchV1().CronJobs(ns).List(ctx, metav1.ListOptions{})
	must(t, err)
	if len(crons.Items) != 1 {
		t.Fatalf("after the upgrade: %d CronJobs, want the wp-cron one", len(crons.Items))
	}
	if got := claims(); !maps.Equal(got, claimsBefore) {
		t.Errorf("claims changed: %v, were %v", got, claimsBefore)
	}
	if !maps.EqualFunc(credentials(t, e, name), secret, slices.Equal) {
		t.Error("the upgrade changed the credentials Secret")
	}
	e.ok("store", "delete", name)
}
