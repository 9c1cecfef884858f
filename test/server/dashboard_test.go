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

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/urumi/urumi/internal/store"
)

// browser starts Debian's headless Chromium. Without it the test skips,
// except in CI, where .ci/run installs it and its absence is a failure.
// Every uncaught exception and console error (a script or style the page's
// Content-Security-Policy blocks is one) is collected for the test to check,
// and the page's confirm() dialogs are accepted.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found: .ci/run installs Debian's chromium package")
		}
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	// Not t.TempDir: Chromium's helpers may still write to it as the test
	// ends, which would fail its removal.
	profile, err := os.MkdirTemp("", "urumi-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900), // the screenshots' width
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
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
			// The API's own 4xx answers are logged as network errors;
			// the test provokes those on purpose.
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
		return append([]string(nil), problems...)
	}
}

// run runs browser actions, failing the test with what was being done.
func run(t *testing.T, ctx context.Context, timeout time.Duration, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var html string
		_ = chromedp.Run(ctx, chromedp.OuterHTML("main", &html, chromedp.ByQuery))
		t.Fatalf("%s: %v\npage: %s", what, err, html)
	}
}

// TestDashboard: a store owner signs in to the dashboard with their token
// in a real browser, creates a store, watches it reach READY with its
// address, is told clearly when a name is taken, and deletes the store
// until it is gone; a bad token is refused, and nothing on the page breaks
// its Content-Security-Policy.
func TestDashboard(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	ctx, problems := browser(t)
	environ := env(t, c)
	dbPath := filepath.Join(t.TempDir(), "urumi.db")
	tok := token(t, environ, dbPath, "dash-owner", false)
	other := token(t, environ, dbPath, "dash-other", false)
	srv := startServer(t, "dashboard", environ, "--db", dbPath, "--workers", "2", "--timeout", "2m")
	// Another owner's store, which the dashboard must not show.
	must(t, srv.as(t, other).do("POST", "/v1/stores", map[string]any{"name": "dash-hidden", "plan": "small"}), http.StatusAccepted)

	const name = "dash-shop"
	row := fmt.Sprintf(`tr[data-store=%q]`, name)
	var message, link, plans string
	var rows []*cdp.Node

	run(t, ctx, 30*time.Second, "open the dashboard and try a wrong token",
		chromedp.Navigate(srv.url+"/"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", tok[:len(tok)-2]+"xx", chromedp.ByID),
		chromedp.Click("#signin-form button", chromedp.ByQuery),
		chromedp.WaitVisible("#message", chromedp.ByID),
		chromedp.Text("#message", &message, chromedp.ByID),
	)
	if !strings.Contains(message, "not accepted") || !strings.Contains(message, "valid API token") {
		t.Errorf("a wrong token: the page says %q", message)
	}

	run(t, ctx, 30*time.Second, "sign in and create a store",
		chromedp.SendKeys("#token", tok, chromedp.ByID),
		chromedp.Click("#signin-form button", chromedp.ByQuery),
		chromedp.WaitVisible("#create-form", chromedp.ByID),
		chromedp.WaitVisible("#empty", chromedp.ByID),
		chromedp.Text("#plan", &plans, chromedp.ByID),
		chromedp.SendKeys("#name", name, chromedp.ByID),
		chromedp.SetValue("#plan", "small", chromedp.ByID),
		chromedp.Click("#create-form button", chromedp.ByQuery),
		chromedp.WaitVisible(row, chromedp.ByQuery),
	)
	for _, p := range []string{"small", "medium", "large"} {
		if !strings.Contains(plans, p) {
			t.Errorf("plan choices %q lack %s", plans, p)
		}
	}
	run(t, ctx, 2*time.Minute, "watch the store reach READY",
		chromedp.WaitVisible(row+" .status-READY", chromedp.ByQuery),
		chromedp.Text(row+" a[target=_blank]", &link, chromedp.ByQuery),
		chromedp.Nodes("#store-table tbody tr", &rows, chromedp.ByQueryAll),
	)
	if link != "http://"+name+".localhost" {
		t.Errorf("READY store's address: %q", link)
	}
	if len(rows) != 1 {
		t.Errorf("the dashboard shows %d stores, want only the owner's one", len(rows))
	}
	if st, _ := getStore(t, srv.as(t, tok), name); st.Plan != "small" || st.Status != "READY" {
		t.Errorf("the store the dashboard made: %+v", st)
	}

	run(t, ctx, 30*time.Second, "create the same name again",
		chromedp.SendKeys("#name", name, chromedp.ByID),
		chromedp.Click("#create-form button", chromedp.ByQuery),
		chromedp.WaitVisible("#message:not(.info)", chromedp.ByQuery),
		chromedp.Text("#message", &message, chromedp.ByID),
	)
	if !strings.Contains(message, name) || !strings.Contains(message, "already") {
		t.Errorf("a taken name: the page says %q", message)
	}

	run(t, ctx, 2*time.Minute, "delete the store until it is gone",
		chromedp.Click(row+" button:not([title^=Retry])", chromedp.ByQuery),
		chromedp.WaitVisible(row+" .status-DELETING", chromedp.ByQuery),
		chromedp.WaitNotPresent(row, chromedp.ByQuery),
		chromedp.WaitVisible("#empty", chromedp.ByID),
	)
	if _, found := getStore(t, srv.as(t, tok), name); found {
		t.Errorf("%s still exists after the dashboard deleted it", name)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}

// TestDashboardMore: an owner with more stores than a page sees the first
// page and a More button that loads the rest, in name order.
func TestDashboardMore(t *testing.T) {
	t.Parallel()
	c := cluster.Get(t)
	ctx, problems := browser(t)
	environ := env(t, c)
	dbPath := filepath.Join(t.TempDir(), "urumi.db")
	tok := token(t, environ, dbPath, "many-owner", false)
	db := openDB(t, environ, dbPath)
	if _, err := db.SetQuota(context.Background(), "many-owner", 200); err != nil {
		t.Fatal(err)
	}
	const total = 130 // a page of 100, then 30
	for i := range total {
		name := fmt.Sprintf("many-%03d", total-1-i)
		s := store.Store{Name: name, Owner: "many-owner", Plan: "small", Namespace: "store-" + name}
		if _, _, err := db.CreateStore(context.Background(), s, "many-owner"); err != nil {
			t.Fatal(err)
		}
	}
	// No workers: the stores stay QUEUED, which is all the page needs.
	srv := startServer(t, "dashboard-more", environ, "--db", dbPath, "--workers", "0")

	var first, all []string
	var moreHidden bool
	names := func(out *[]string) chromedp.Action {
		return chromedp.Evaluate(`Array.from(document.querySelectorAll("#store-table tbody tr")).map((r) => r.dataset.store)`, out)
	}
	run(t, ctx, 30*time.Second, "sign in: the first page",
		chromedp.Navigate(srv.url+"/"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", tok, chromedp.ByID),
		chromedp.Click("#signin-form button", chromedp.ByQuery),
		chromedp.WaitVisible("#more", chromedp.ByID),
		names(&first),
	)
	run(t, ctx, 30*time.Second, "press More",
		chromedp.Click("#more", chromedp.ByID),
		chromedp.WaitVisible(`tr[data-store="many-129"]`, chromedp.ByQuery),
		chromedp.WaitNotVisible("#more", chromedp.ByID),
		names(&all),
		chromedp.Evaluate(`document.getElementById("more").hidden`, &moreHidden),
	)
	if len(first) != 100 || first[0] != "many-000" || first[99] != "many-099" {
		t.Errorf("first page: %d stores (%v ... %v), want many-000 to many-099", len(first), first[:min(1, len(first))], first[max(0, len(first)-1):])
	}
	if len(all) != total || !slices.IsSorted(all) || !moreHidden {
		t.Errorf("after More: %d stores, sorted %v, More hidden %v; want %d, sorted, hidden", len(all), slices.IsSorted(all), moreHidden, total)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("the page reported problems:\n%s", strings.Join(p, "\n"))
	}
}
