package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/urumi/urumi/internal/store"
)

// startBrowser starts Debian's headless Chromium for t. Without it the
// test skips, except under CI=true, where .ci/run installs it and its
// absence is a failure. Uncaught exceptions and console errors (a script,
// style or image the page's Content-Security-Policy blocks is one) are
// collected; confirm() dialogs are accepted.
func startBrowser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found: .ci/run installs Debian's chromium package")
		}
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	profile, err := os.MkdirTemp("", "urumi-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx)
		cancel()
		cancelAlloc()
		_ = os.RemoveAll(profile)
	})
	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			go func() { _ = chromedp.Run(ctx, page.HandleJavaScriptDialog(true)) }()
		case *runtime.EventExceptionThrown:
			mu.Lock()
			problems = append(problems, "exception: "+e.ExceptionDetails.Error())
			mu.Unlock()
		case *cdplog.EventEntryAdded:
			// The API's 4xx answers are logged as network errors; the
			// test provokes some on purpose.
			if e.Entry.Level == cdplog.LevelError && e.Entry.Source != cdplog.SourceNetwork {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("console (%s): %s", e.Entry.Source, e.Entry.Text))
				mu.Unlock()
			}
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(problems)
	}
}

// browse runs browser actions, failing the test with what was being done.
func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var html string
		_ = chromedp.Run(ctx, chromedp.OuterHTML("main", &html, chromedp.ByQuery))
		t.Fatalf("%s: %v\npage: %s", what, err, html)
	}
}

// shot saves the page as NAME.png in $URUMI_SCREENSHOTS, when it is set.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("URUMI_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	browse(t, ctx, "screenshot "+name, chromedp.Sleep(300*time.Millisecond), chromedp.FullScreenshot(&png, 100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func hashView(hash, view string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Evaluate(fmt.Sprintf(`location.hash = %q`, hash), nil),
		chromedp.WaitVisible("#view-"+view, chromedp.ByID),
	}
}

// TestDashboardViews drives every view of the dashboard in Chromium against
// a server with no cluster: stores in each status with phases, a failed
// store's diagnosis, audit entries and the fleet's figures. Values the
// server returns are shown as text, never run (a store's reason holding
// markup stays text); an owner's pages show nothing of another owner's;
// the admin's views filter, page and draw; no console errors.
func TestDashboardViews(t *testing.T) {
	h := newHarness(t, unlimited())
	ctx, problems := startBrowser(t)
	bg := context.Background()
	for _, n := range []string{"shop-ready", "shop-failed", "shop-prov", "shop-drift"} {
		h.createStore("alice", n)
	}
	h.createStore("bob", "bob-shop")
	// Run each of alice's creates as a worker would have.
	t0 := time.Now().Add(-time.Minute).UTC()
	phases := []store.Phase{
		{Name: "namespace", StartedAt: t0, DurationMS: 40},
		{Name: "quota", StartedAt: t0.Add(40 * time.Millisecond), DurationMS: 25},
		{Name: "secret", StartedAt: t0.Add(65 * time.Millisecond), DurationMS: 15},
		{Name: "helm", StartedAt: t0.Add(80 * time.Millisecond), DurationMS: 31000},
		{Name: "setup", StartedAt: t0.Add(31080 * time.Millisecond), DurationMS: 9000},
	}
	hostile := `<img src=x onerror="document.body.dataset.owned=1">`
	for i := 0; i < 4; i++ {
		j, err := h.db.ClaimJob(bg, "w", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := h.db.GetStore(bg, j.Store)
		state, msg := store.JobSucceeded, ""
		switch s.Name {
		case "shop-ready":
			s.Status, s.Phases, s.URL = store.StatusReady, phases, "http://shop-ready.example.test"
		case "shop-drift":
			s.Status, s.Phases, s.URL = store.StatusDegraded, phases, "http://shop-drift.example.test"
			s.Error = "NetworkPolicy/deny-all was deleted " + hostile
		case "shop-failed":
			s.Status, s.Phases = store.StatusFailed, phases[:4]
			s.Error = "helm install timed out: Deployment/wordpress: 0 of 1 ready: pod wordpress-1: ImagePullBackOff"
			state, msg = store.JobFailed, s.Error
		case "shop-prov":
			s.Status, s.Phases = store.StatusProvisioning, phases[:2]
		}
		if err := h.db.UpdateStore(bg, s); err != nil {
			t.Fatal(err)
		}
		if s.Status == store.StatusProvisioning {
			continue
		}
		if err := h.db.FinishJob(bg, j.ID, "w", state, msg); err != nil {
			t.Fatal(err)
		}
		if s.Status == store.StatusReady || s.Status == store.StatusDegraded {
			if err := h.db.SetRelease(bg, s.Name, store.Release{Revision: 1, Versions: store.Versions{Chart: "0.2.0", WordPress: "6.8.1-php8.3-apache", MariaDB: "11.8.2", WooCommerce: "9.9.5"}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Alice, an owner.
	browse(t, ctx, "sign in as alice",
		chromedp.Navigate(h.url+"/"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", h.tokens["alice"], chromedp.ByID),
		chromedp.Click("#signin-form button", chromedp.ByQuery),
		chromedp.WaitVisible(`#store-table tr[data-store="shop-ready"]`, chromedp.ByQuery),
	)
	var listed []string
	var quota, who string
	browse(t, ctx, "alice's stores",
		chromedp.Evaluate(`Array.from(document.querySelectorAll("tr[data-store]")).map((r) => r.dataset.store)`, &listed),
		chromedp.Text("#quota", &quota, chromedp.ByID),
		chromedp.Text("#who", &who, chromedp.ByID))
	if !slices.Equal(listed, []string{"shop-drift", "shop-failed", "shop-prov", "shop-ready"}) || quota != "You have 4 of 5 stores." || who != "alice" {
		t.Errorf("alice's list %v, quota %q, who %q", listed, quota, who)
	}
	shot(t, ctx, "owner-stores")

	var facts, labels, actions []string
	var diagnosis string
	browse(t, ctx, "a READY store's page",
		hashView("#/stores/shop-ready", "store"),
		chromedp.WaitVisible("#timeline g.phase", chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#store-facts dd")).map((e) => e.textContent)`, &facts),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#timeline g.phase .label")).map((e) => e.textContent)`, &labels),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#store-actions button")).map((e) => e.textContent)`, &actions),
		chromedp.WaitVisible("#store-audit tbody tr", chromedp.ByQuery),
	)
	if !slices.Equal(labels, []string{"namespace", "quota", "secret", "helm", "setup"}) {
		t.Errorf("timeline phases %v", labels)
	}
	all := strings.Join(facts, " | ")
	for _, want := range []string{"http://shop-ready.example.test", "medium: A busy shop: up to 4 CPUs", "WordPress 6.8.1-php8.3-apache", "WooCommerce 9.9.5"} {
		if !strings.Contains(all, want) {
			t.Errorf("facts %q lack %q", all, want)
		}
	}
	if !slices.Equal(actions, []string{"Reveal admin password", "Reset admin password", "Delete"}) {
		t.Errorf("a READY store's actions: %v", actions)
	}
	var widths []float64
	browse(t, ctx, "the bars' widths",
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#timeline g.phase rect")).map((r) => r.width.baseVal.value)`, &widths))
	if len(widths) == 5 && (widths[3] < 3*widths[4] || widths[0] > widths[4]) {
		t.Errorf("bars not to scale: %v for 40ms, 25ms, 15ms, 31s, 9s", widths)
	}
	shot(t, ctx, "store-ready")

	// Reveal on a server without the route says so.
	var message string
	browse(t, ctx, "reveal on a server without the route",
		chromedp.Click(`#store-actions button[title^="Show the WordPress"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#message:not(.info)", chromedp.ByQuery),
		chromedp.Text("#message", &message, chromedp.ByID))
	if r := h.do("POST", "/v1/stores/shop-ready/credentials", "alice", map[string]any{}); r.status == http.StatusNotFound {
		if !strings.Contains(message, "cannot hand over store passwords") {
			t.Errorf("reveal without the route: %q", message)
		}
	}

	browse(t, ctx, "a FAILED store's page",
		hashView("#/stores/shop-failed", "store"),
		chromedp.WaitVisible("#diagnosis", chromedp.ByID),
		chromedp.Text("#diagnosis-text", &diagnosis, chromedp.ByID),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#store-actions button")).map((e) => e.textContent)`, &actions))
	if !strings.Contains(diagnosis, "ImagePullBackOff") || !slices.Equal(actions, []string{"Retry", "Delete"}) {
		t.Errorf("FAILED store: diagnosis %q, actions %v", diagnosis, actions)
	}
	shot(t, ctx, "store-failed")

	var status string
	var owned bool
	browse(t, ctx, "a DEGRADED store's page",
		hashView("#/stores/shop-drift", "store"),
		chromedp.WaitVisible("#store-status .status-DEGRADED", chromedp.ByQuery),
		chromedp.Text("#store-status", &status, chromedp.ByID),
		chromedp.Evaluate(`document.body.dataset.owned === "1" || !!document.querySelector("main img")`, &owned))
	if !strings.Contains(status, "NetworkPolicy/deny-all was deleted "+hostile) || owned {
		t.Errorf("DEGRADED store's status %q; markup ran: %v", status, owned)
	}
	shot(t, ctx, "store-degraded")

	browse(t, ctx, "a store still provisioning",
		hashView("#/stores/shop-prov", "store"),
		chromedp.WaitVisible("#store-status .status-PROVISIONING", chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#timeline g.phase .label")).map((e) => e.textContent)`, &labels))
	if !slices.Equal(labels, []string{"namespace", "quota"}) {
		t.Errorf("a provisioning store's phases: %v", labels)
	}
	shot(t, ctx, "store-provisioning")

	browse(t, ctx, "bob's store by its address",
		hashView("#/stores/bob-shop", "store"),
		chromedp.WaitVisible("#message:not(.info)", chromedp.ByQuery),
		chromedp.Text("#message", &message, chromedp.ByID))
	if !strings.Contains(message, "bob-shop") || !strings.Contains(message, "not found") {
		t.Errorf("bob's store for alice: %q", message)
	}
	var actors, auditStores []string
	var verifyHidden bool
	browse(t, ctx, "alice's audit log",
		hashView("#/audit", "audit"),
		chromedp.WaitVisible("#audit-table tbody tr", chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#audit-table tbody td:nth-child(3)")).map((e) => e.textContent)`, &actors),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#audit-table tbody td:nth-child(5)")).map((e) => e.textContent)`, &auditStores),
		chromedp.Evaluate(`document.getElementById("verify").hidden`, &verifyHidden))
	if len(actors) != 4 || slices.ContainsFunc(actors, func(a string) bool { return a != "alice" }) || slices.Contains(auditStores, "bob-shop") || !verifyHidden {
		t.Errorf("alice's audit: actors %v, stores %v, verify hidden %v", actors, auditStores, verifyHidden)
	}
	shot(t, ctx, "owner-audit")
	browse(t, ctx, "an admin's view for an owner is their list",
		hashView("#/metrics", "stores"))

	// The admin.
	browse(t, ctx, "sign out, sign in as the admin",
		chromedp.Click("#signout", chromedp.ByID),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", h.tokens["admin"], chromedp.ByID),
		chromedp.Click("#signin-form button", chromedp.ByQuery),
		chromedp.WaitVisible(`#nav a[data-view="fleet"]`, chromedp.ByQuery))
	var fleet []string
	browse(t, ctx, "the fleet, filtered",
		hashView("#/fleet", "fleet"),
		chromedp.WaitVisible(`#fleet-table tr[data-store="bob-shop"]`, chromedp.ByQuery),
		chromedp.SetValue("#fleet-owner", "alice", chromedp.ByID),
		chromedp.SetValue("#fleet-status", "READY", chromedp.ByID),
		chromedp.Click("#fleet-form button", chromedp.ByQuery),
		chromedp.WaitNotPresent(`#fleet-table tr[data-store="bob-shop"]`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#fleet-table tr[data-store]")).map((r) => r.dataset.store)`, &fleet))
	if !slices.Equal(fleet, []string{"shop-ready"}) {
		t.Errorf("alice's READY stores: %v", fleet)
	}
	shot(t, ctx, "admin-fleet")

	var owners []string
	browse(t, ctx, "owners: raise bob's limit",
		hashView("#/owners", "owners"),
		chromedp.WaitVisible(`tr[data-owner="bob"] input`, chromedp.ByQuery),
		chromedp.SetValue(`tr[data-owner="bob"] input`, "9", chromedp.ByQuery),
		chromedp.Click(`tr[data-owner="bob"] button`, chromedp.ByQuery),
		chromedp.WaitVisible("#message.info", chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-owner="bob"]`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#owners-table tbody td:nth-child(2)")).map((e) => e.textContent)`, &owners))
	if q, _ := h.db.GetQuota(bg, "bob"); q.MaxStores != 9 || !slices.Contains(owners, "1 of 9") || !slices.Contains(owners, "4 of 5") {
		t.Errorf("bob's quota %+v; owners' table %v", q, owners)
	}
	shot(t, ctx, "admin-owners")

	var verify string
	browse(t, ctx, "the audit log, verified",
		hashView("#/audit", "audit"),
		chromedp.WaitVisible("#verify.verify-ok", chromedp.ByQuery),
		chromedp.Text("#verify", &verify, chromedp.ByID),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#audit-table tbody td:nth-child(4)")).map((e) => e.textContent)`, &actions))
	if !strings.Contains(verify, "intact") || !slices.Contains(actions, "quota.set") {
		t.Errorf("verify %q, actions %v", verify, actions)
	}
	shot(t, ctx, "admin-audit")

	var statusRows, phaseRows []string
	var failed string
	browse(t, ctx, "the metrics",
		hashView("#/metrics", "metrics"),
		chromedp.WaitVisible("#chart-phases svg", chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#chart-status g[data-row]")).filter((g) => g.querySelector("rect").width.baseVal.value > 0).map((g) => g.dataset.row)`, &statusRows),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#chart-phases g[data-row]")).map((g) => g.dataset.row)`, &phaseRows),
		chromedp.Text("#m-failed", &failed, chromedp.ByID))
	if !slices.Equal(statusRows, []string{"READY", "DEGRADED", "QUEUED", "PROVISIONING", "FAILED"}) {
		t.Errorf("status bars: %v", statusRows)
	}
	if !slices.Equal(phaseRows, []string{"namespace (3)", "quota (3)", "secret (3)", "helm (3)", "setup (2)"}) || failed != "1" {
		t.Errorf("phase rows %v, failed %q", phaseRows, failed)
	}
	shot(t, ctx, "admin-metrics")

	if p := problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}
