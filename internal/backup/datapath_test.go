package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The data path for real, outside the cluster: the scripts the Jobs run,
// run by dash and bash against the MariaDB server at 127.0.0.1:3306 and a
// restic repository (a local path, and the same over HTTP through
// rclone's restic REST server). A WooCommerce-shaped database and a
// directory of uploads are backed up, damaged, restored and compared row
// for row and byte for byte; restored into another database with the site
// URL rewritten; verified, good and corrupted; and pruned to a retention.
//
// restic comes from hack/tool.sh restic (or URUMI_RESTIC). Without restic,
// MariaDB or its client the test skips, except under CI=true, where
// .ci/run provides them and their absence fails it.

const mariaDBAddr = "127.0.0.1:3306"

// unavailable skips, or fails under CI, where everything must be there.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI must provide it: .ci/run installs restic and starts MariaDB)", msg)
	}
	t.Skipf("%s: skipping the backup data-path test", msg)
}

// resticPath finds restic: URUMI_RESTIC, else the build hack/tool.sh
// caches for the version hack/tools.env pins.
func resticPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("URUMI_RESTIC"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			unavailable(t, "URUMI_RESTIC names no restic binary: %v", err)
		}
		return p
	}
	env, err := os.ReadFile(filepath.Join("..", "..", "hack", "tools.env"))
	if err != nil {
		t.Fatalf("read the pinned tool versions: %v", err)
	}
	version := ""
	for line := range strings.Lines(string(env)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "RESTIC_VERSION="); ok {
			version = v
		}
	}
	if version == "" {
		t.Fatal("hack/tools.env pins no RESTIC_VERSION")
	}
	cache := os.Getenv("URUMI_CACHE_DIR")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "urumi")
	}
	p := filepath.Join(cache, "tools", "restic", version, "restic")
	if _, err := os.Stat(p); err != nil {
		unavailable(t, "restic %s is not built (run hack/tool.sh restic, or set URUMI_RESTIC)", version)
	}
	return p
}

type dataPath struct {
	// asJob runs the scripts and restic as the Job's user, www-data, when
	// the test runs as root: what only root may do is not tested then.
	asJob   *syscall.Credential
	restic  string
	dbUser  string
	pwFile  string // the MariaDB user's password
	repoPW  string // the repository password's file
	secrets []string
	tmp     string
}

func newDataPath(t *testing.T) *dataPath {
	t.Helper()
	restic := resticPath(t)
	for _, tool := range []string{"mariadb", "mariadb-dump", "dash", "bash", "tar", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s is not installed", tool)
		}
	}
	c, err := net.DialTimeout("tcp", mariaDBAddr, 2*time.Second)
	if err != nil {
		unavailable(t, "MariaDB is not running on %s", mariaDBAddr)
	}
	c.Close()
	d := &dataPath{restic: restic}
	if os.Geteuid() == 0 {
		d.asJob = &syscall.Credential{Uid: storeUID, Gid: storeUID}
	}
	// Not t.TempDir(): its parents are root's alone, which www-data could
	// not walk through.
	tmp, err := os.MkdirTemp("", "urumi-backup-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	d.tmp = tmp
	// The binary copied beside the test's files, as the Job's init
	// container copies it, where www-data can run it.
	bin, err := os.ReadFile(restic)
	if err != nil {
		t.Fatal(err)
	}
	d.restic = filepath.Join(tmp, "restic")
	if err := os.WriteFile(d.restic, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	d.own(t, tmp)
	// A user of its own with a password full of what an option file and a
	// shell treat specially: the scripts must carry it through untouched.
	d.dbUser = "urumi_bt_" + randomHex(t, 4)
	dbPassword := "p\"w\\ #;'$(x)`y` " + randomHex(t, 8)
	repoPassword := "r\"e\\po " + randomHex(t, 8)
	d.secrets = []string{dbPassword, repoPassword}
	d.pwFile = filepath.Join(d.tmp, "db-password")
	d.repoPW = filepath.Join(d.tmp, "repository-password")
	if err := os.WriteFile(d.pwFile, []byte(dbPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.repoPW, []byte(repoPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	d.own(t, d.pwFile)
	d.own(t, d.repoPW)
	lit := sqlString(dbPassword)
	pattern := strings.ReplaceAll(d.dbUser, "_", `\_`) + "%"
	d.root(t, fmt.Sprintf("CREATE USER '%[1]s'@'127.0.0.1' IDENTIFIED BY %[2]s; CREATE USER '%[1]s'@'localhost' IDENTIFIED BY %[2]s;"+
		"GRANT ALL ON `%[3]s`.* TO '%[1]s'@'127.0.0.1'; GRANT ALL ON `%[3]s`.* TO '%[1]s'@'localhost'", d.dbUser, lit, pattern))
	t.Cleanup(func() {
		dbs := d.root(t, fmt.Sprintf("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '%s'", pattern))
		for db := range strings.FieldsSeq(dbs) {
			d.root(t, "DROP DATABASE `"+db+"`")
		}
		d.root(t, fmt.Sprintf("DROP USER '%[1]s'@'127.0.0.1', '%[1]s'@'localhost'", d.dbUser))
	})
	return d
}

// own gives path, and what is under it, to the Job's user.
func (d *dataPath) own(t *testing.T, path string) {
	t.Helper()
	if d.asJob == nil {
		return
	}
	err := filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Name() == "lost+found" {
			return fs.SkipDir // root's, as on a real volume
		}
		return os.Lchown(p, int(d.asJob.Uid), int(d.asJob.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dir makes a directory of the Job's user.
func (d *dataPath) dir(t *testing.T, name string) string {
	t.Helper()
	p, err := os.MkdirTemp(d.tmp, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	d.own(t, p)
	return p
}

// restic runs restic on the repository as the scripts do.
func (d *dataPath) resticCmd(repo repository, args ...string) *exec.Cmd {
	cmd := exec.Command(d.restic, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.tmp, "TMPDIR=" + d.tmp,
		"RESTIC_REPOSITORY=" + repo.url, "RESTIC_PASSWORD_FILE=" + d.repoPW, "RESTIC_CACHE_DIR=" + filepath.Join(d.tmp, "cache")}
	for k, v := range repo.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: d.asJob}
	return cmd
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// root runs SQL as MariaDB's root and returns its batch output.
func (d *dataPath) root(t *testing.T, query string) string {
	t.Helper()
	cmd := exec.Command("mariadb", "--protocol=tcp", "-h127.0.0.1", "-P3306", "-uroot", "--batch", "--skip-column-names", "--default-character-set=utf8mb4")
	cmd.Stdin = strings.NewReader(query)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mariadb: %v: %s", err, stderr.String())
	}
	return out.String()
}

// run runs an operation's script as its Job does (sh -c SCRIPT), with the
// given shell, only the environment the Job would give it, and vars.
func (d *dataPath) run(t *testing.T, shell string, op Operation, repo repository, vars map[string]string) (Result, string, error) {
	t.Helper()
	script, err := Script(op)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell, "-c", script, "urumi-"+string(op))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: d.asJob}
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + d.tmp,
		"TMPDIR=" + d.tmp,
		"RESTIC=" + d.restic,
		"RESTIC_REPOSITORY=" + repo.url,
		"RESTIC_PASSWORD_FILE=" + d.repoPW,
		"RESTIC_CACHE_DIR=" + filepath.Join(d.tmp, "cache"),
		"DB_HOST=127.0.0.1",
		"DB_PORT=3306",
		"DB_USER=" + d.dbUser,
		"DB_PASSWORD_FILE=" + d.pwFile,
	}
	for k, v := range repo.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	all := stdout.String() + stderr.String()
	for _, s := range d.secrets {
		if strings.Contains(all, s) {
			t.Fatalf("%s printed a password", op)
		}
	}
	if err != nil {
		return Result{}, all, fmt.Errorf("%s under %s: %w\n%s", op, shell, err, all)
	}
	r, err := ParseResult(op, stdout.Bytes())
	if err != nil {
		return Result{}, all, fmt.Errorf("%w:\n%s", err, all)
	}
	return r, all, nil
}

func (d *dataPath) mustRun(t *testing.T, shell string, op Operation, repo repository, vars map[string]string) Result {
	t.Helper()
	r, _ := d.mustRunOut(t, shell, op, repo, vars)
	return r
}

// mustRunOut is mustRun that also returns what the script printed.
func (d *dataPath) mustRunOut(t *testing.T, shell string, op Operation, repo repository, vars map[string]string) (Result, string) {
	t.Helper()
	r, out, err := d.run(t, shell, op, repo, vars)
	if err != nil {
		t.Fatal(err)
	}
	return r, out
}

type repository struct {
	url string
	env map[string]string
	dir string // where its files lie, to corrupt them
}

// The seeded rows: orders, their meta, 30 download permissions and log
// entries, and 5 options.
const (
	orders = 300
	rows   = 2*orders + 30 + 5
)

// seed makes a WooCommerce-shaped database: HPOS orders (wp_wc_orders'
// columns, with unicode, NULLs and a binary blob), order meta, and
// wp_options with the site URL and a serialized value.
func (d *dataPath) seed(t *testing.T, db string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci; USE `%s`;\n", db, db)
	b.WriteString(`CREATE TABLE wp_wc_orders (
  id bigint(20) unsigned NOT NULL,
  status varchar(20) DEFAULT NULL,
  currency varchar(10) DEFAULT NULL,
  type varchar(20) DEFAULT NULL,
  tax_amount decimal(26,8) DEFAULT NULL,
  total_amount decimal(26,8) DEFAULT NULL,
  customer_id bigint(20) unsigned DEFAULT NULL,
  billing_email varchar(320) DEFAULT NULL,
  date_created_gmt datetime DEFAULT NULL,
  date_updated_gmt datetime DEFAULT NULL,
  parent_order_id bigint(20) unsigned DEFAULT NULL,
  payment_method varchar(100) DEFAULT NULL,
  payment_method_title text DEFAULT NULL,
  transaction_id varchar(100) DEFAULT NULL,
  ip_address varchar(100) DEFAULT NULL,
  user_agent text DEFAULT NULL,
  customer_note text DEFAULT NULL,
  receipt longblob DEFAULT NULL,
  PRIMARY KEY (id),
  KEY status (status),
  KEY customer_id_billing_email (customer_id, billing_email(171))
) ENGINE=InnoDB;
CREATE TABLE wp_wc_orders_meta (
  id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  order_id bigint(20) unsigned DEFAULT NULL,
  meta_key varchar(255) DEFAULT NULL,
  meta_value text DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;
CREATE TABLE wp_options (
  option_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  option_name varchar(191) NOT NULL DEFAULT '',
  option_value longtext NOT NULL,
  autoload varchar(20) NOT NULL DEFAULT 'yes',
  PRIMARY KEY (option_id),
  UNIQUE KEY option_name (option_name)
) ENGINE=InnoDB;
CREATE TABLE wp_woocommerce_downloadable_product_permissions (
  permission_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  download_id varchar(36) NOT NULL,
  product_id bigint(20) unsigned NOT NULL,
  order_id bigint(20) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (permission_id)
) ENGINE=InnoDB;
CREATE TABLE wp_wc_download_log (
  download_log_id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  timestamp datetime NOT NULL,
  permission_id bigint(20) unsigned NOT NULL,
  user_ip_address varchar(100) DEFAULT '',
  PRIMARY KEY (download_log_id),
  KEY permission_id (permission_id),
  CONSTRAINT fk_wp_wc_download_log_permission_id FOREIGN KEY (permission_id)
    REFERENCES wp_woocommerce_downloadable_product_permissions (permission_id) ON DELETE CASCADE
) ENGINE=InnoDB;
INSERT INTO wp_woocommerce_downloadable_product_permissions (download_id, product_id, order_id)
  SELECT UUID(), seq, seq * 3 FROM seq_1_to_10;
INSERT INTO wp_wc_download_log (timestamp, permission_id, user_ip_address)
  SELECT '2026-11-30 12:00:00' + INTERVAL seq MINUTE, 1 + seq % 10, '2001:db8::1' FROM seq_1_to_20;
INSERT INTO wp_options (option_name, option_value) VALUES
  ('siteurl', 'https://old-shop.example.com'), ('home', 'https://old-shop.example.com'),
  ('blogname', 'Zoë''s Bäckerei — 日本語 🍰'),
  ('woocommerce_currency', 'EUR'),
  ('widget_text', 'a:1:{i:2;a:1:{s:4:"text";s:37:"Visit https://old-shop.example.com/ !";}}');
`)
	rng := mathrand.New(mathrand.NewPCG(17, 42))
	notes := []string{"Bitte klingeln – 2. Stock", "配達は午前中に", "🚀 fast please", "it's \"urgent\"\\n", "tab\there", "line\nbreak", ""}
	statuses := []string{"wc-completed", "wc-processing", "wc-on-hold", "wc-refunded"}
	for i := 1; i <= orders; i++ {
		blob := make([]byte, rng.IntN(300))
		for j := range blob {
			blob[j] = byte(rng.IntN(256))
		}
		null := func(every int, v string) string {
			if i%every == 0 {
				return "NULL"
			}
			return v
		}
		receipt := "NULL"
		if i%5 != 0 {
			receipt = "X'" + hex.EncodeToString(blob) + "'"
			if len(blob) == 0 {
				receipt = "''"
			}
		}
		fmt.Fprintf(&b, "INSERT INTO wp_wc_orders VALUES (%d, '%s', 'EUR', 'shop_order', %d.%02d, %d.%02d, %s, %s, '2026-%02d-%02d 10:%02d:00', %s, NULL, 'stripe', 'Kreditkarte (Stripe)', %s, '203.0.113.%d', 'Mozilla/5.0', %s, %s);\n",
			i, statuses[i%len(statuses)], i%50, i%100, 10+i, i%100, null(11, strconv.Itoa(1000+i%40)),
			null(7, sqlString(fmt.Sprintf("kunde%d+ümlaut@example.com", i))), 1+i%12, 1+i%28, i%60,
			null(3, "NOW()"), null(4, sqlString(fmt.Sprintf("ch_%x", rng.Uint64()))), i%250,
			null(6, sqlString(notes[i%len(notes)])), receipt)
		fmt.Fprintf(&b, "INSERT INTO wp_wc_orders_meta (order_id, meta_key, meta_value) VALUES (%d, '_billing_address_index', %s);\n",
			i, sqlString(fmt.Sprintf("Straße %d München 日本 %d", i, rng.IntN(1e6))))
	}
	d.root(t, b.String())
}

// snapshotDB is everything of a database the restore must bring back: each
// table's definition, its rows in key order (batch mode escapes tabs, line
// breaks, backslashes and NULs, so the text is exact), and its checksum.
func (d *dataPath) snapshotDB(t *testing.T, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for table := range strings.FieldsSeq(d.root(t, fmt.Sprintf("SELECT table_name FROM information_schema.tables WHERE table_schema = '%s' ORDER BY table_name", db))) {
		q := fmt.Sprintf("SHOW CREATE TABLE `%s`.`%s`", db, table)
		out[table+" definition"] = d.root(t, q)
		out[table+" rows"] = d.root(t, fmt.Sprintf("SELECT * FROM `%s`.`%s` ORDER BY 1", db, table))
		out[table+" checksum"] = strings.TrimPrefix(d.root(t, fmt.Sprintf("CHECKSUM TABLE `%s`.`%s`", db, table)), db+".")
	}
	return out
}

func compareDB(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: %s is missing", what, k)
		} else if g != w {
			t.Errorf("%s: %s differs:\n got %.400q\nwant %.400q", what, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s should not be there", what, k)
		}
	}
}

// seedFiles makes a WordPress volume's uploads: nested directories, binary
// files, names with spaces and unicode, an empty file and a symlink.
func seedFiles(t *testing.T, dir string) {
	t.Helper()
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	binary := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	files := map[string][]byte{
		"wp-config.php": []byte("<?php\n// config\n"),
		"wp-content/uploads/2026/11/product-1.jpg":         binary(300_000),
		"wp-content/uploads/2026/11/product-1-150x150.jpg": binary(9_000),
		"wp-content/uploads/2026/12/invoice 42 – Zoë.pdf":  binary(70_000),
		"wp-content/uploads/2026/12/empty.txt":             nil,
		"wp-content/uploads/woocommerce_uploads/.htaccess": []byte("deny from all\n"),
		"wp-content/uploads/wc-logs/fatal-errors.log":      []byte("line 1\r\nline 2\x00\n"),
		"wp-content/plugins/woocommerce/readme.txt":        bytes.Repeat([]byte("WooCommerce\n"), 2000),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("2026/11/product-1.jpg", filepath.Join(dir, "wp-content/uploads/latest.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "wp-content/upgrade"), 0o755); err != nil {
		t.Fatal(err)
	}
	// An ext4 volume's lost+found: neither backed up nor deleted.
	if err := os.Mkdir(filepath.Join(dir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lost+found", "#1234"), []byte("fsck"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tree is every entry under dir: kind, mode and content or link target.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "symlink " + target
			return err
		case e.IsDir():
			out[rel] = fmt.Sprintf("dir %v", info.Mode().Perm())
		default:
			data, err := os.ReadFile(p)
			out[rel] = fmt.Sprintf("file %v %q", info.Mode().Perm(), data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compareTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: %s is missing", what, k)
		} else if g != w {
			t.Errorf("%s: %s differs (%d bytes of description, want %d)", what, k, len(g), len(w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s should not be there", what, k)
		}
	}
}

// rcloneRepository serves dir over HTTPS with rclone's restic REST server,
// with a certificate of a private CA restic trusts through RESTIC_CACERT
// (as the Jobs do), and a user and password restic reads from its
// environment.
func (d *dataPath) rcloneRepository(t *testing.T, dir string) repository {
	rclone, err := exec.LookPath("rclone")
	if err != nil {
		unavailable(t, "rclone is not installed (apt-get install rclone), so the repository cannot be served over HTTP")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	user, pass := "urumi", "rest "+randomHex(t, 8)
	d.secrets = append(d.secrets, pass)
	ctx, cancel := context.WithCancel(context.Background())
	certFile, keyFile := d.certificate(t)
	cmd := exec.CommandContext(ctx, rclone, "serve", "restic", "--addr", addr, "--user", user, "--pass", pass,
		"--cert", certFile, "--key", keyFile, dir)
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+filepath.Join(d.tmp, "rclone.conf"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rclone serve restic did not listen on %s: %s", addr, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return repository{
		url: "rest:https://" + addr + "/",
		env: map[string]string{"RESTIC_REST_USERNAME": user, "RESTIC_REST_PASSWORD": pass, "RESTIC_CACERT": certFile},
		dir: dir,
	}
}

// certificate makes a self-signed certificate for 127.0.0.1, its own CA.
func (d *dataPath) certificate(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "urumi backup test repository"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(d.tmp, "repository.crt"), filepath.Join(t.TempDir(), "repository.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestDataPath(t *testing.T) {
	d := newDataPath(t)
	t.Run("local repository, dash", func(t *testing.T) {
		dir := filepath.Join(d.dir(t, "repo"), "repo")
		d.scenario(t, "dash", repository{url: dir, dir: dir}, "l", true)
	})
	t.Run("REST repository, bash", func(t *testing.T) {
		dir := t.TempDir()
		// Over HTTP what depends on the transport: backing up, restoring,
		// reading back, pruning, and finding damage.
		d.scenario(t, "bash", d.rcloneRepository(t, dir), "r", false)
	})
}

func (d *dataPath) scenario(t *testing.T, shell string, repo repository, tag string, full bool) {
	// logic runs a part that tests the scripts' logic rather than the
	// repository's transport: once, with the local repository.
	logic := func(name string, f func(t *testing.T)) {
		if full {
			t.Run(name, f)
		}
	}
	db := d.dbUser + "_" + tag
	wp := d.dir(t, "wordpress")
	d.seed(t, db)
	seedFiles(t, wp)
	d.own(t, wp)
	wantDB, wantFiles := d.snapshotDB(t, db), tree(t, wp)
	if !strings.Contains(wantDB["wp_wc_orders rows"], "NULL") || !strings.Contains(wantDB["wp_wc_orders rows"], "配達") {
		t.Fatal("the seeded orders hold no NULLs or no unicode")
	}
	store := "shop-" + tag
	vars := func(id string, extra ...string) map[string]string {
		v := map[string]string{"STORE": store, "BACKUP_STORE": store, "BACKUP_ID": id, "DB_NAME": db, "WP_DIR": wp}
		for i := 0; i+1 < len(extra); i += 2 {
			v[extra[i]] = extra[i+1]
		}
		return v
	}

	b1 := d.mustRun(t, shell, OpBackup, repo, vars("b1"))
	if b1.DBSnapshot == "" || b1.FilesSnapshot == "" || b1.Tables != 5 || b1.Files != 8 || b1.Size < 380_000 {
		t.Fatalf("backup result %+v: want two snapshots, 5 tables, 8 files, at least 380 kB", b1)
	}

	logic("a failed dump leaves no snapshot", func(t *testing.T) {
		// mariadb-dump fails on a view whose table is gone, after the
		// tables were counted: restic must keep no snapshot of it.
		d.root(t, fmt.Sprintf("USE `%s`; CREATE TABLE gone (id int); CREATE VIEW broken AS SELECT id FROM gone; DROP TABLE gone;", db))
		_, out, err := d.run(t, shell, OpBackup, repo, vars("failed"))
		d.root(t, fmt.Sprintf("DROP VIEW `%s`.broken", db))
		if err == nil {
			t.Fatalf("a backup whose dump failed succeeded:\n%s", out)
		}
		if !strings.Contains(out, "dumping database") || !strings.Contains(out, "failed") {
			t.Errorf("the backup did not fail in the dump:\n%s", out)
		}
		if got := d.backups(t, repo, store); !slices.Equal(got, []string{"b1", "b1"}) {
			t.Errorf("snapshots after a failed backup: %v, want b1's only", got)
		}
	})

	// Damage: rows deleted, changed and added, a column added, a table
	// dropped and one made; files deleted, changed in place and added.
	d.root(t, fmt.Sprintf("USE `%s`; DELETE FROM wp_wc_orders WHERE id %% 3 = 0; UPDATE wp_wc_orders SET total_amount = 0, customer_note = 'x' WHERE id %% 5 = 1;"+
		"INSERT INTO wp_wc_orders (id, status) VALUES (9999, 'wc-pending'); ALTER TABLE wp_wc_orders ADD COLUMN junk int;"+
		"DROP TABLE wp_options; CREATE TABLE wp_junk (id int primary key);"+
		"DELETE FROM wp_woocommerce_downloadable_product_permissions WHERE permission_id > 5;", db))
	if err := os.Remove(filepath.Join(wp, "wp-content/uploads/2026/12/invoice 42 – Zoë.pdf")); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(wp, "wp-content/uploads/2026/11/product-1.jpg"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("damaged"), 1000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(wp, "wp-content/uploads/shell.php"), []byte("<?php evil();"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wp, "lost+found", "#5678"), []byte("fsck again"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantFiles["lost+found/#5678"] = fmt.Sprintf("file %v %q", fs.FileMode(0o600), "fsck again")
	if got := d.snapshotDB(t, db); got["wp_wc_orders rows"] == wantDB["wp_wc_orders rows"] {
		t.Fatal("the damage changed no rows")
	}

	t.Run("restore in place", func(t *testing.T) {
		r := d.mustRun(t, shell, OpRestore, repo, vars("b1"))
		if r.Tables != 5 || r.Rows != rows {
			t.Errorf("restore result %+v: want 5 tables, %d rows", r, rows)
		}
		compareDB(t, "restored database", d.snapshotDB(t, db), wantDB)
		compareTree(t, "restored files", tree(t, wp), wantFiles)
		if left := d.root(t, "SHOW DATABASES LIKE '"+db+"\\_\\_urumi%'"); left != "" {
			t.Errorf("the restore left its scratch database: %s", left)
		}
	})

	// Into another store, with the old URL given, and found by the script
	// in the backup's home option (what urumi does: the backed-up store
	// may be gone).
	for _, given := range []bool{true, false} {
		logic(fmt.Sprintf("restore into another store (old URL given: %v)", given), func(t *testing.T) {
			newDB, newWP := fmt.Sprintf("%s_new%v", db, given), d.dir(t, "new-wordpress")
			env := map[string]string{
				"STORE": "staging-" + tag, "BACKUP_STORE": store, "BACKUP_ID": "b1", "DB_NAME": newDB, "WP_DIR": newWP,
				"NEW_URL": "https://staging.example.com",
			}
			if given {
				env["OLD_URL"] = "https://old-shop.example.com"
			}
			r, out := d.mustRunOut(t, shell, OpRestore, repo, env)
			if !strings.Contains(out, "rewriting the site URL https://old-shop.example.com to https://staging.example.com") {
				t.Errorf("the restore did not say which URL it rewrote:\n%s", out)
			}
			defer d.root(t, "DROP DATABASE IF EXISTS `"+newDB+"`")
			if r.Tables != 5 || r.Rows != rows {
				t.Errorf("restore result %+v: want 5 tables, %d rows", r, rows)
			}
			got := d.snapshotDB(t, newDB)
			want := map[string]string{}
			for k, v := range wantDB {
				want[k] = v
			}
			want["wp_options rows"] = strings.ReplaceAll(wantDB["wp_options rows"], "https://old-shop.example.com\tyes", "https://staging.example.com\tyes")
			if want["wp_options rows"] == wantDB["wp_options rows"] {
				t.Fatal("the expected options name no old URL")
			}
			delete(want, "wp_options checksum")
			delete(got, "wp_options checksum")
			compareDB(t, "database restored into another store", got, want)
			// Only siteurl and home: the serialized widget keeps its link for
			// wp-cli's search-replace.
			if !strings.Contains(got["wp_options rows"], `s:37:"Visit https://old-shop.example.com/ !"`) {
				t.Error("the URL rewrite touched a serialized option")
			}
			wantNew := map[string]string{}
			for k, v := range wantFiles {
				if !strings.HasPrefix(k, "lost+found") {
					wantNew[k] = v
				}
			}
			compareTree(t, "files restored into another store", tree(t, newWP), wantNew)
			compareDB(t, "the backed-up store's database", d.snapshotDB(t, db), wantDB)
		})
	}

	logic("restore refuses a hostile home option", func(t *testing.T) {
		// The store's owner writes home: read back as the old URL, it
		// reaches SQL only once checked. Backed up as another store, so
		// that this store's backups stay as they are.
		evil := "evil-" + tag
		d.root(t, fmt.Sprintf("UPDATE `%s`.wp_options SET option_value = 'https://x.example.com'', option_value = ''pwned' WHERE option_name = 'home'", db))
		defer d.root(t, fmt.Sprintf("UPDATE `%s`.wp_options SET option_value = 'https://old-shop.example.com' WHERE option_name = 'home'", db))
		d.mustRun(t, shell, OpBackup, repo, map[string]string{"STORE": evil, "BACKUP_ID": "bh", "DB_NAME": db, "WP_DIR": wp})
		newDB, newWP := db+"_evil", d.dir(t, "evil-wordpress")
		_, out, err := d.run(t, shell, OpRestore, repo, map[string]string{
			"STORE": "staging-" + tag, "BACKUP_STORE": evil, "BACKUP_ID": "bh", "DB_NAME": newDB, "WP_DIR": newWP,
			"NEW_URL": "https://staging.example.com",
		})
		defer d.root(t, "DROP DATABASE IF EXISTS `"+newDB+"`")
		if err == nil || !strings.Contains(out, "OLD_URL is invalid") {
			t.Fatalf("restore of a backup whose home is hostile: %v\n%s", err, out)
		}
		if got := d.root(t, "SHOW DATABASES LIKE '"+newDB+"%'"); got != "" {
			t.Errorf("the refused restore left databases: %s", got)
		}
		if got := strings.TrimSpace(d.root(t, fmt.Sprintf("SELECT COUNT(*) FROM `%s`.wp_options WHERE option_value = 'pwned'", db))); got != "0" {
			t.Errorf("the hostile home option reached SQL: %s", got)
		}
	})

	logic("restore refuses a URL that is not the backup's", func(t *testing.T) {
		before := d.snapshotDB(t, db)
		_, out, err := d.run(t, shell, OpRestore, repo, vars("b1", "OLD_URL", "https://other.example.com", "NEW_URL", "https://new.example.com"))
		if err == nil || !strings.Contains(out, "not touched") {
			t.Fatalf("restore with a wrong old URL: %v\n%s", err, out)
		}
		compareDB(t, "database after a refused restore", d.snapshotDB(t, db), before)
	})

	t.Run("verify", func(t *testing.T) {
		resultFile := filepath.Join(d.dir(t, "result"), "termination-log")
		r := d.mustRun(t, shell, OpVerify, repo, vars("b1", "VERIFY_READ_DATA_SUBSET", "100%", "RESULT_FILE", resultFile))
		message, err := os.ReadFile(resultFile)
		if err != nil {
			t.Fatal(err)
		}
		if fromFile, err := ParseResult(OpVerify, message); err != nil || fromFile != r {
			t.Errorf("the result file holds %+v (%v), stdout %+v", fromFile, err, r)
		}
		if r.Tables != 5 || r.Rows != rows || r.Files != 8 {
			t.Errorf("verify result %+v: want 5 tables, %d rows, 8 regular files", r, rows)
		}
		if left := d.root(t, "SHOW DATABASES LIKE '"+db+"\\_\\_urumi%'"); left != "" {
			t.Errorf("verify left its scratch database: %s", left)
		}
		if _, out, err := d.run(t, shell, OpVerify, repo, vars("no-such-backup")); err == nil || !strings.Contains(out, "no db snapshot") {
			t.Errorf("verify of a backup that does not exist: %v\n%s", err, out)
		}
	})

	t.Run("forget keeps the last backups and drops incomplete ones", func(t *testing.T) {
		d.mustRun(t, shell, OpBackup, repo, vars("b2"))
		d.root(t, fmt.Sprintf("UPDATE `%s`.wp_wc_orders SET status = 'wc-completed'", db))
		d.mustRun(t, shell, OpBackup, repo, vars("b3"))
		// An interrupted run: a database snapshot without its files.
		interrupted := d.resticCmd(repo, "backup", "--host", store, "--tag", "urumi,store="+store+",backup=b4,part=db", "--stdin-filename", "db.sql", "--stdin")
		interrupted.Stdin = strings.NewReader("-- half\n")
		if out, err := interrupted.CombinedOutput(); err != nil {
			t.Fatalf("restic backup: %v\n%s", err, out)
		}
		if got := d.backups(t, repo, store); !slices.Equal(got, []string{"b1", "b1", "b2", "b2", "b3", "b3", "b4"}) {
			t.Fatalf("snapshots before forget: %v", got)
		}
		r := d.mustRun(t, shell, OpForget, repo, map[string]string{"STORE": store, "KEEP_LAST": "2"})
		if r.Kept != 2 || r.Removed != 2 {
			t.Errorf("forget result %+v: want 2 kept, 2 removed", r)
		}
		if got := d.backups(t, repo, store); !slices.Equal(got, []string{"b2", "b2", "b3", "b3"}) {
			t.Errorf("snapshots after forget: %v, want b2 and b3 whole", got)
		}
		// What was kept still restores.
		d.mustRun(t, shell, OpVerify, repo, vars("b3"))
	})

	t.Run("delete removes one backup", func(t *testing.T) {
		r := d.mustRun(t, shell, OpDelete, repo, map[string]string{"BACKUP_STORE": store, "BACKUP_ID": "b2"})
		if r.Removed != 1 {
			t.Errorf("delete result %+v: want 1 backup removed", r)
		}
		if got := d.backups(t, repo, store); !slices.Equal(got, []string{"b3", "b3"}) {
			t.Errorf("snapshots after deleting b2: %v, want b3's", got)
		}
		// Run again, as after an interruption: nothing left to do.
		if r := d.mustRun(t, shell, OpDelete, repo, map[string]string{"BACKUP_STORE": store, "BACKUP_ID": "b2"}); r.Removed != 0 {
			t.Errorf("deleting b2 again: %+v", r)
		}
	})

	t.Run("verify fails on a corrupted repository", func(t *testing.T) {
		packs := 0
		err := filepath.WalkDir(filepath.Join(repo.dir, "data"), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			info, err := f.Stat()
			if err != nil {
				return err
			}
			// Flip bytes in the middle of the pack: its blobs no longer
			// authenticate.
			buf := make([]byte, 16)
			off := info.Size() / 2
			if _, err := f.ReadAt(buf, off); err != nil {
				return err
			}
			for i := range buf {
				buf[i] ^= 0xff
			}
			packs++
			_, err = f.WriteAt(buf, off)
			return err
		})
		if err != nil || packs == 0 {
			t.Fatalf("corrupting %d packs: %v", packs, err)
		}
		_, out, err := d.run(t, shell, OpVerify, repo, vars("b3"))
		if err == nil {
			t.Fatalf("verify passed a corrupted repository:\n%s", out)
		}
		if !strings.Contains(out, "damaged") {
			t.Errorf("verify failed without saying the backup is damaged:\n%s", out)
		}
		if left := d.root(t, "SHOW DATABASES LIKE '"+db+"\\_\\_urumi%'"); left != "" {
			t.Errorf("a failed verify left its scratch database: %s", left)
		}
	})
}

// backups lists the backup tag of each of the store's snapshots, sorted.
func (d *dataPath) backups(t *testing.T, repo repository, store string) []string {
	t.Helper()
	cmd := d.resticCmd(repo, "snapshots", "--json", "--tag", "store="+store)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic snapshots: %v", err)
	}
	var snaps []struct{ Tags []string }
	if err := json.NewDecoder(bufio.NewReader(bytes.NewReader(out))).Decode(&snaps); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range snaps {
		for _, tag := range s.Tags {
			if id, ok := strings.CutPrefix(tag, "backup="); ok {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}
