package charts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The store chart's scripts, run for real with the shells on this machine
// against stand-ins for wp-cli and php (testdata/wp-stub) that keep a
// WordPress' state in files: what each script changes, in which order, and
// that a second run changes nothing.

// stubWordPress is one WordPress as the stub wp sees it.
type stubWordPress struct {
	installed   bool
	core        string // core release on the volume
	filesDB     int    // the database version the files need
	db          int    // the database version in the database (installed stores)
	wc          string // installed WooCommerce release, "" for none
	wcActive    bool
	wcDB        string // woocommerce_db_version, "" for none
	admin       bool   // the administrator exists
	url         string // home and siteurl
	updateDB    int    // the database version `wp core update` brings; 0: filesDB+1
	imageFile   bool   // the setup Job's first container wrote the image's release
	image       string // what it wrote
	wantVersion string // woocommerce.version
}

// scriptRun is one script run against a stub WordPress.
type scriptRun struct {
	t      *testing.T
	shell  string
	root   string // WP_ROOT: the WordPress volume
	state  string // the stub's state
	env    []string
	calls  []string
	stdin  []string
	output string
}

const (
	testStoreURL      = "http://shop.stores.example.com"
	testAdminPassword = "Pw0rdFromTheSecret4f9c2e"
)

// shells are the POSIX shells the scripts are run with: the system's sh
// (dash on Debian) and bash, whichever are installed. The images run
// BusyBox ash; the scripts use POSIX sh only.
func shells(t *testing.T) []string {
	t.Helper()
	var found []string
	for _, name := range []string{"sh", "dash", "bash"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			real = path
		}
		if !slices.ContainsFunc(found, func(f string) bool { r, _ := filepath.EvalSymlinks(f); return r == real }) {
			found = append(found, path)
		}
	}
	if len(found) == 0 {
		t.Skip("no POSIX shell in PATH")
	}
	return found
}

// newRun lays out the stub WordPress w: its volume and the stub's state.
func newRun(t *testing.T, shell string, w stubWordPress) *scriptRun {
	t.Helper()
	dir := t.TempDir()
	r := &scriptRun{t: t, shell: shell, root: filepath.Join(dir, "html"), state: filepath.Join(dir, "state")}
	for _, d := range []string{filepath.Join(r.root, "wp-includes"), r.state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(r.root, "wp-includes", "version.php"),
		fmt.Sprintf("<?php\n$wp_version = '%s';\n$wp_db_version = %d;\n", w.core, w.filesDB))
	write(filepath.Join(r.root, "wp-config.php"), "<?php\n// the wordpress image's wp-config-docker.php\n")
	option := func(name, value string) { write(filepath.Join(r.state, "option."+name), value+"\n") }
	if w.installed {
		write(filepath.Join(r.state, "installed"), "")
		option("db_version", fmt.Sprint(w.db))
		url := w.url
		if url == "" {
			url = testStoreURL
		}
		option("home", url)
		option("siteurl", url)
	}
	if w.wc != "" {
		write(filepath.Join(r.state, "wc-version"), w.wc+"\n")
	}
	if w.wcActive {
		write(filepath.Join(r.state, "wc-active"), "")
	}
	if w.wcDB != "" {
		option("woocommerce_db_version", w.wcDB)
	}
	if w.admin {
		write(filepath.Join(r.state, "user.admin"), "")
	}
	if w.updateDB != 0 {
		write(filepath.Join(r.state, "update-db-version"), fmt.Sprint(w.updateDB))
	}
	imageFile := filepath.Join(dir, "wordpress-version")
	if w.imageFile {
		write(imageFile, w.image)
	}
	stubs, err := filepath.Abs(filepath.Join("testdata", "wp-stub"))
	if err != nil {
		t.Fatal(err)
	}
	r.env = []string{
		"PATH=" + stubs + string(os.PathListSeparator) + os.Getenv("PATH"),
		"LC_ALL=C",
		"STUB_STATE=" + r.state,
		"STUB_WP_ROOT=" + r.root,
		"WP_ROOT=" + r.root,
		"WAIT_SECONDS=10",
		"STORE_URL=" + testStoreURL,
		"STORE_TITLE=Shop of Things",
		"ADMIN_USER=admin",
		"ADMIN_EMAIL=admin@shop.stores.example.com",
		"WP_ADMIN_PASSWORD=" + testAdminPassword,
		"WOOCOMMERCE_VERSION=" + w.wantVersion,
		"IMAGE_WORDPRESS_VERSION_FILE=" + imageFile,
		"WORDPRESS_DB_HOST=mariadb:3306",
	}
	return r
}

// run runs script (a file of the chart) and returns the calls it made to
// wp, which are also kept for the next run's comparison.
func (r *scriptRun) run(script string) []string {
	r.t.Helper()
	_ = os.Remove(filepath.Join(r.state, "calls"))
	cmd := exec.Command(r.shell, scriptPath(r.t, script))
	cmd.Env = r.env
	cmd.Dir = r.root
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	r.output = string(out)
	if err != nil {
		r.t.Fatalf("%s %s: %v\n%s", filepath.Base(r.shell), script, err, out)
	}
	r.calls = r.readLines("calls")
	r.stdin = r.readLines("stdin")
	return r.calls
}

// scriptPath is the absolute path of one of the chart's scripts (they run
// in the WordPress volume's directory).
func scriptPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("store", "files", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *scriptRun) readLines(name string) []string {
	b, err := os.ReadFile(filepath.Join(r.state, name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// changes are the calls that change the store, in order; the rest only ask.
func changes(calls []string) []string {
	var out []string
	for _, c := range calls {
		for _, verb := range []string{"core install", "core update", "rewrite ", "option update", "plugin install", "plugin activate", "wc update", "user create", "cron event run"} {
			if strings.HasPrefix(c, verb) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// current is a store as the chart's defaults leave it after setup.
func current() stubWordPress {
	return stubWordPress{
		installed: true, core: "7.1.2", filesDB: 60421, db: 60421,
		wc: "10.1.2", wcActive: true, wcDB: "10.1.2", admin: true,
		imageFile: true, image: "7.1.2", wantVersion: "10.1.2",
	}
}

func TestSetupScript(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(*stubWordPress)
		want  []string // the changes, in order; each a prefix of the call
	}{
		{
			name: "fresh install, latest WooCommerce",
			store: func(w *stubWordPress) {
				*w = stubWordPress{core: "7.1.2", filesDB: 60421, imageFile: true, image: "7.1.2"}
			},
			want: []string{
				"core install --url=" + testStoreURL + " --title=Shop of Things --admin_user=admin --admin_email=admin@shop.stores.example.com --skip-email --prompt=admin_password",
				"rewrite structure /%postname%/",
				"plugin install woocommerce",
				"plugin activate woocommerce",
			},
		},
		{
			name: "fresh install, pinned WooCommerce",
			store: func(w *stubWordPress) {
				*w = stubWordPress{core: "7.1.2", filesDB: 60421, imageFile: true, image: "7.1.2", wantVersion: "10.1.2"}
			},
			want: []string{"core install ", "rewrite structure", "plugin install woocommerce --version=10.1.2", "plugin activate woocommerce"},
		},
		{
			name:  "same versions",
			store: func(*stubWordPress) {},
			want:  nil,
		},
		{
			name:  "same versions, WooCommerce unpinned",
			store: func(w *stubWordPress) { w.wantVersion = "" },
			want:  nil,
		},
		{
			name:  "older core",
			store: func(w *stubWordPress) { w.core, w.filesDB, w.db, w.updateDB = "7.0.1", 59800, 59800, 60421 },
			want:  []string{"core update --version=7.1.2", "core update-db"},
		},
		{
			name:  "older core, no database change",
			store: func(w *stubWordPress) { w.core, w.updateDB = "7.1.1", 60421 },
			want:  []string{"core update --version=7.1.2"},
		},
		{
			name:  "core newer than the image's (updated from the dashboard)",
			store: func(w *stubWordPress) { w.core = "7.2.0" },
			want:  nil,
		},
		{
			name:  "image says no release",
			store: func(w *stubWordPress) { w.core, w.imageFile = "7.0.1", false },
			want:  nil,
		},
		{
			name:  "image says something else than a release",
			store: func(w *stubWordPress) { w.core, w.image = "7.0.1", "7.1.2 --path=/etc" },
			want:  nil,
		},
		{
			name:  "core updated, database not (a killed run)",
			store: func(w *stubWordPress) { w.db = 59800 },
			want:  []string{"core update-db"},
		},
		{
			name:  "different WooCommerce version",
			store: func(w *stubWordPress) { w.wc, w.wcDB = "10.0.4", "10.0.4" },
			want:  []string{"plugin install woocommerce --version=10.1.2 --force", "wc update"},
		},
		{
			name:  "WooCommerce updated, its database not (a killed run)",
			store: func(w *stubWordPress) { w.wcDB = "10.0.4" },
			want:  []string{"wc update"},
		},
		{
			name: "older core and different WooCommerce: core first",
			store: func(w *stubWordPress) {
				w.core, w.filesDB, w.db, w.updateDB = "7.0.1", 59800, 59800, 60421
				w.wc, w.wcDB, w.wcActive = "10.0.4", "10.0.4", false
			},
			want: []string{"core update --version=7.1.2", "core update-db", "plugin install woocommerce --version=10.1.2 --force", "plugin activate woocommerce", "wc update"},
		},
		{
			name:  "administrator deleted",
			store: func(w *stubWordPress) { w.admin = false },
			want:  []string{"user create admin admin@shop.stores.example.com --role=administrator --prompt=user_pass"},
		},
		{
			name:  "host changed",
			store: func(w *stubWordPress) { w.url = "http://old.stores.example.com" },
			want:  []string{"option update home " + testStoreURL, "option update siteurl " + testStoreURL},
		},
	} {
		for _, shell := range shells(t) {
			t.Run(tc.name+"/"+filepath.Base(shell), func(t *testing.T) {
				w := current()
				tc.store(&w)
				r := newRun(t, shell, w)
				got := changes(r.run("setup.sh"))
				if len(got) != len(tc.want) {
					t.Fatalf("changes:\n  %s\nwant:\n  %s\noutput:\n%s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "), r.output)
				}
				for i := range got {
					if !strings.HasPrefix(got[i], tc.want[i]) {
						t.Fatalf("change %d is %q, want %q; all:\n  %s\noutput:\n%s", i+1, got[i], tc.want[i], strings.Join(got, "\n  "), r.output)
					}
				}
				checkNoCredentials(t, r)
				// Idempotent: run again on what it left, nothing changes.
				if again := changes(r.run("setup.sh")); len(again) > 0 {
					t.Errorf("second run changed the store again:\n  %s\noutput:\n%s", strings.Join(again, "\n  "), r.output)
				}
			})
		}
	}
}

// checkNoCredentials: the admin password reached wp-cli on stdin, for its
// --prompt, and never as an argument or in the script's output.
func checkNoCredentials(t *testing.T, r *scriptRun) {
	t.Helper()
	for _, c := range r.calls {
		if strings.Contains(c, testAdminPassword) {
			t.Errorf("the admin password is an argument of wp %s", c)
		}
	}
	if strings.Contains(r.output, testAdminPassword) {
		t.Errorf("the script printed the admin password:\n%s", r.output)
	}
	for _, c := range r.calls {
		if !strings.Contains(c, "--prompt=") {
			continue
		}
		verb := strings.Join(strings.Fields(c)[:2], " ")
		if !slices.Contains(r.stdin, verb+": "+testAdminPassword) {
			t.Errorf("wp %s did not read the admin password on stdin (stdin: %q)", c, r.stdin)
		}
	}
}

// TestSetupScriptVersionOrder: core is updated exactly when the image's
// release is newer than the installed one, as PHP's version_compare orders
// them.
func TestSetupScriptVersionOrder(t *testing.T) {
	shell := shells(t)[0]
	for _, tc := range []struct {
		image, installed string
		update           bool
	}{
		{"7.1.2", "7.1.1", true},
		{"7.1.2", "7.1.2", false},
		{"7.1.1", "7.1.2", false},
		{"7.1", "7.1.0", false},
		{"7.1.0", "7.1", false},
		{"7.1.1", "7.1", true},
		{"7.10", "7.9.9", true},
		{"7.9.9", "7.10", false},
		{"8.0", "7.9.9", true},
		{"6.9.4", "7.0", false},
		{"7.1.2", "7.1.2-RC1", true},
		{"7.1.2-RC1", "7.1.2", false},
		{"7.1.2-RC1", "7.1.2-beta3", true},
		{"7.1.2-beta3", "7.1.2-RC1", false},
		{"7.1.2-RC10", "7.1.2-RC2", true},
		{"7.1.2-RC2", "7.1.2-RC10", false},
		{"7.1.2-beta1", "7.1.2-alpha-60000", true},
		{"7.1.2-alpha-60000", "7.1.1", true},
		{"7.1.2", "7.1.2-src", true},
		{"7.1.2-dev", "7.1.2-src", true},
		{"7.1.2-src", "7.1.2-dev", false},
		// Not releases: left alone.
		{"latest", "7.1.1", false},
		{"7.1.2;reboot", "7.1.1", false},
		{"7..2", "7.1.1", false},
		{"7.1.", "7.1.1", false},
		{"-7.1.2", "7.1.1", false},
		{"7.1.2", "trunk", false},
	} {
		t.Run(tc.image+" over "+tc.installed, func(t *testing.T) {
			w := current()
			w.image, w.core = tc.image, tc.installed
			r := newRun(t, shell, w)
			r.run("setup.sh")
			want := "core update --version=" + tc.image
			if got := slices.Contains(r.calls, want); got != tc.update {
				t.Errorf("%q called: %v, want %v; output:\n%s", want, got, tc.update, r.output)
			}
		})
	}
}

// TestSetupScriptWaitsForTheDatabase: a database that never answers fails
// the run, after WAIT_SECONDS, before anything is changed.
func TestSetupScriptWaitsForTheDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 5s")
	}
	w := current()
	w.core = "7.0.1"
	r := newRun(t, shells(t)[0], w)
	r.env = append(r.env, "STUB_DB_READY=1", "WAIT_SECONDS=5")
	cmd := exec.Command(r.shell, scriptPath(t, "setup.sh"))
	cmd.Env, cmd.Dir = r.env, r.root
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("setup succeeded without a database:\n%s", out)
	}
	if !strings.Contains(string(out), "database not ready after 5s") {
		t.Errorf("output does not say the database was not ready:\n%s", out)
	}
	if calls := changes(r.readLines("calls")); len(calls) > 0 {
		t.Errorf("changed the store without a database: %q", calls)
	}
}

func TestCronScript(t *testing.T) {
	for _, shell := range shells(t) {
		t.Run(filepath.Base(shell), func(t *testing.T) {
			r := newRun(t, shell, current())
			r.env = append(r.env, "CONTAINER_MEMORY_MIB=256")
			if got := changes(r.run("cron.sh")); !slices.Equal(got, []string{"cron event run --due-now"}) {
				t.Errorf("cron on an installed store: %q, want the due events run; output:\n%s", got, r.output)
			}
			if php := r.readLines("php"); len(php) == 0 || php[0] != "memory_limit=192M" {
				t.Errorf("php settings %q, want memory_limit=192M (three quarters of the container's 256Mi)", php)
			}

			fresh := newRun(t, shell, stubWordPress{core: "7.1.2", filesDB: 60421})
			if got := fresh.run("cron.sh"); !slices.Equal(got, []string{"core is-installed"}) {
				t.Errorf("cron before setup: calls %q, want only the check that WordPress is installed", got)
			}
			if !strings.Contains(fresh.output, "nothing to run") {
				t.Errorf("cron before setup does not say why it did nothing:\n%s", fresh.output)
			}
		})
	}
}
