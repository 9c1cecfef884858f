package backup

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/netpol"
)

func testSpec(op Operation) JobSpec {
	s := JobSpec{
		Operation: op,
		Store:     "shop",
		Namespace: "store-shop",
		BackupID:  "20261201-0930-ab12",
		Repository: Repository{
			URL:            "rest:https://backup.example.com:8000/shop",
			Secret:         "urumi-backup-repository",
			CACertKey:      "ca.crt",
			CredentialKeys: []string{"RESTIC_REST_USERNAME", "RESTIC_REST_PASSWORD"},
			Endpoints:      []Endpoint{{CIDR: netip.MustParsePrefix("192.0.2.10/32"), Port: 8000}},
		},
		Images:            DefaultImages(),
		CredentialsSecret: "store-credentials",
		Labels:            map[string]string{"urumi.io/store": "shop"},
	}
	switch op {
	case OpRestore:
		s.BackupStore, s.OldURL, s.NewURL = "old-shop", "https://old-shop.example.com", "https://shop.example.com"
	case OpForget:
		s.BackupID, s.Retention = "", Retention{Last: 3, Daily: 7}
	}
	return s
}

// The Jobs' pods pass the restricted Pod Security profile, as the API
// server's admission judges it, at the latest version.
func TestJobsPassRestrictedPodSecurity(t *testing.T) {
	psa, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, op := range Operations() {
		t.Run(string(op), func(t *testing.T) {
			job, err := Job(testSpec(op))
			if err != nil {
				t.Fatal(err)
			}
			tpl := job.Spec.Template
			for _, r := range psa.EvaluatePod(lv, &tpl.ObjectMeta, &tpl.Spec) {
				if !r.Allowed {
					t.Errorf("restricted profile forbids the %s pod: %s (%s)", op, r.ForbiddenReason, r.ForbiddenDetail)
				}
			}
			// The same checker refuses a pod that breaks the profile, so
			// the loop above can fail.
			bad := tpl.DeepCopy()
			root := int64(0)
			bad.Spec.SecurityContext.RunAsUser = &root
			bad.Spec.Containers[0].SecurityContext.Capabilities = nil
			refused := false
			for _, r := range psa.EvaluatePod(lv, &bad.ObjectMeta, &bad.Spec) {
				refused = refused || !r.Allowed
			}
			if !refused {
				t.Fatal("the restricted profile allowed a pod running as root with every capability")
			}
		})
	}
}

func TestJobManifest(t *testing.T) {
	for _, op := range Operations() {
		t.Run(string(op), func(t *testing.T) {
			s := testSpec(op)
			job, err := Job(s)
			if err != nil {
				t.Fatal(err)
			}
			pod := job.Spec.Template.Spec
			if job.Namespace != "store-shop" || job.Spec.Template.Labels[charts.LabelComponent] != ComponentBackup ||
				job.Spec.Template.Labels["urumi.io/store"] != "shop" || job.Labels[LabelOperation] != string(op) {
				t.Errorf("job %s/%s labels %v, pod labels %v", job.Namespace, job.Name, job.Labels, job.Spec.Template.Labels)
			}
			if *job.Spec.BackoffLimit != 0 || *pod.AutomountServiceAccountToken || pod.RestartPolicy != corev1.RestartPolicyNever {
				t.Error("a backup job must not retry by itself, mount a token or restart")
			}
			c := pod.Containers[0]
			if c.Image != DefaultImages().MariaDB || pod.InitContainers[0].Image != DefaultImages().Restic {
				t.Errorf("images %s, %s", c.Image, pod.InitContainers[0].Image)
			}
			script, _ := Script(op)
			if len(c.Command) != 4 || c.Command[0] != "sh" || c.Command[2] != script {
				t.Errorf("the container does not run the %s script with sh -c: %q", op, c.Command[:2])
			}
			for _, ctr := range append(pod.InitContainers, pod.Containers...) {
				if sc := ctr.SecurityContext; sc == nil || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("container %s has a writable root file system", ctr.Name)
				}
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			// Credentials come from Secrets only: files, or secretKeyRef.
			for _, k := range s.Repository.CredentialKeys {
				if e := env[k]; e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != s.Repository.Secret {
					t.Errorf("credential %s is not read from the repository Secret: %+v", k, e)
				}
			}
			for _, e := range c.Env {
				if strings.Contains(strings.ToUpper(e.Name), "PASSWORD") && !strings.HasSuffix(e.Name, "_FILE") && e.ValueFrom == nil {
					t.Errorf("%s has a literal value", e.Name)
				}
			}
			if env["RESULT_FILE"].Value != c.TerminationMessagePath || c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
				t.Errorf("the result goes to %q, the termination message is %q (%s)", env["RESULT_FILE"].Value, c.TerminationMessagePath, c.TerminationMessagePolicy)
			}
			if env["RESTIC_PASSWORD_FILE"].Value == "" || env["RESTIC_CACERT"].Value != "/run/secrets/urumi-repository/ca.pem" {
				t.Errorf("restic gets no password file or CA bundle: %v %v", env["RESTIC_PASSWORD_FILE"], env["RESTIC_CACERT"])
			}
			mounts := map[string]corev1.VolumeMount{}
			for _, m := range c.VolumeMounts {
				mounts[m.Name] = m
			}
			wp, hasWP := mounts["wordpress"]
			switch op {
			case OpBackup:
				if !hasWP || !wp.ReadOnly || pod.Affinity == nil {
					t.Errorf("backup mounts the WordPress volume %+v (want read-only) with affinity %v", wp, pod.Affinity)
				}
			case OpRestore:
				if !hasWP || wp.ReadOnly {
					t.Errorf("restore mounts the WordPress volume %+v (want read-write)", wp)
				}
				if env["OLD_URL"].Value != s.OldURL || env["NEW_URL"].Value != s.NewURL || env["BACKUP_STORE"].Value != "old-shop" {
					t.Error("restore into another store does not get the old store and URLs")
				}
			default:
				if hasWP {
					t.Errorf("%s mounts the WordPress volume", op)
				}
			}
			if op == OpDelete {
				if _, ok := mounts["mariadb"]; ok || env["BACKUP_ID"].Value != s.BackupID {
					t.Error("delete mounts the database password it does not need, or gets no backup ID")
				}
			} else if op == OpForget {
				if env["KEEP_LAST"].Value != "3" || env["KEEP_DAILY"].Value != "7" || env["KEEP_WEEKLY"].Name != "" {
					t.Errorf("forget's retention: %v %v %v", env["KEEP_LAST"], env["KEEP_DAILY"], env["KEEP_WEEKLY"])
				}
				if _, ok := mounts["mariadb"]; ok {
					t.Error("forget mounts the database password it does not need")
				}
			} else if mounts["mariadb"].MountPath == "" || env["DB_PASSWORD_FILE"].Value == "" {
				t.Errorf("%s does not get the database password file", op)
			}
		})
	}
}

func TestJobSpecRefused(t *testing.T) {
	for name, edit := range map[string]func(*JobSpec){
		"unknown operation":     func(s *JobSpec) { s.Operation = "copy" },
		"store name":            func(s *JobSpec) { s.Store = "Shop_1" },
		"backup ID":             func(s *JobSpec) { s.BackupID = "a b" },
		"backup ID shell":       func(s *JobSpec) { s.BackupID = "x$(id)" },
		"no repository":         func(s *JobSpec) { s.Repository.URL = "" },
		"password in the URL":   func(s *JobSpec) { s.Repository.URL = "rest:https://user:secret@backup.example.com/" },
		"no repository secret":  func(s *JobSpec) { s.Repository.Secret = "" },
		"no endpoint":           func(s *JobSpec) { s.Repository.Endpoints = nil },
		"credential key":        func(s *JobSpec) { s.Repository.CredentialKeys = []string{"DB_PASSWORD_FILE"} },
		"no credentials secret": func(s *JobSpec) { s.CredentialsSecret = "" },
		"half a rewrite":        func(s *JobSpec) { s.OldURL = "https://a.example.com" },
		"URL in SQL": func(s *JobSpec) {
			s.OldURL, s.NewURL = "https://a.example.com'; DROP TABLE x; --", "https://b.example.com"
		},
		"no images": func(s *JobSpec) { s.Images = Images{} },
	} {
		s := testSpec(OpBackup)
		edit(&s)
		if _, err := Job(s); err == nil {
			t.Errorf("%s: a spec with it was accepted", name)
		}
	}
	s := testSpec(OpForget)
	s.Retention = Retention{}
	if _, err := Job(s); err == nil {
		t.Error("forget without a retention was accepted")
	}
}

func TestParseEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.10:8000":     "192.0.2.10:8000",
		"10.20.0.0/16:9000":   "10.20.0.0/16:9000",
		"[2001:db8::1]:443":   "[2001:db8::1]:443",
		"[2001:db8::/64]:443": "[2001:db8::/64]:443",
		"public:443":          "public:443",
	} {
		e, err := ParseEndpoint(in)
		if err != nil || e.String() != want {
			t.Errorf("ParseEndpoint(%q) = %v, %v; want %s", in, e, err, want)
		}
	}
	for _, in := range []string{"backup.example.com:443", "192.0.2.10", "192.0.2.10:0", "2001:db8::1:443", "0.0.0.0/0:443", "10.0.0.1/8:443", "[::/0]:443"} {
		if e, err := ParseEndpoint(in); err == nil {
			t.Errorf("ParseEndpoint(%q) = %v, want an error", in, e)
		}
	}
}

// With the store's default deny, backup pods reach DNS, the store's
// MariaDB and the repository, and nothing else; nothing else in the store
// gains a way to the repository.
func TestNetworkPolicies(t *testing.T) {
	repo, err := ParseEndpoint("192.0.2.10:8000")
	if err != nil {
		t.Fatal(err)
	}
	made, err := NetworkPolicies("store-shop", map[string]string{"urumi.io/store": "shop"}, []Endpoint{repo})
	if err != nil {
		t.Fatal(err)
	}
	deny := networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny", Namespace: "store-shop"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{
			networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress,
		}},
	}
	policies := []networkingv1.NetworkPolicy{deny}
	for _, p := range made {
		policies = append(policies, *p)
	}
	e, err := netpol.New(policies)
	if err != nil {
		t.Fatal(err)
	}
	storeNS := netpol.Namespace{Name: "store-shop", Labels: map[string]string{"kubernetes.io/metadata.name": "store-shop"}}
	otherNS := netpol.Namespace{Name: "store-other", Labels: map[string]string{"kubernetes.io/metadata.name": "store-other"}}
	kubeSystem := netpol.Namespace{Name: "kube-system", Labels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}}
	pod := func(ns netpol.Namespace, component, ip string) netpol.Peer {
		return netpol.Peer{Pod: &netpol.Pod{Namespace: ns, Name: component, Labels: map[string]string{charts.LabelComponent: component}, IP: netip.MustParseAddr(ip)}}
	}
	backup := pod(storeNS, ComponentBackup, "10.244.1.20")
	wordpress := pod(storeNS, charts.ComponentWordPress, "10.244.1.10")
	mariadb := pod(storeNS, charts.ComponentMariaDB, "10.244.1.11")
	otherMariaDB := pod(otherNS, charts.ComponentMariaDB, "10.244.3.11")
	otherBackup := pod(otherNS, ComponentBackup, "10.244.3.20")
	dns := pod(kubeSystem, "coredns", "10.244.0.10")
	ip := func(a string) netpol.Peer { return netpol.Peer{IP: netip.MustParseAddr(a)} }
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	for _, c := range []struct {
		name     string
		from, to netpol.Peer
		proto    corev1.Protocol
		port     int32
		want     bool
	}{
		{"backup to repository", backup, ip("192.0.2.10"), tcp, 8000, true},
		{"backup to MariaDB", backup, mariadb, tcp, 3306, true},
		{"backup to DNS", backup, dns, udp, 53, true},
		{"backup to repository, other port", backup, ip("192.0.2.10"), tcp, 22, false},
		{"backup to another address", backup, ip("192.0.2.11"), tcp, 8000, false},
		{"backup to the API server", backup, ip("10.96.0.1"), tcp, 443, false},
		{"backup to cloud metadata", backup, ip("169.254.169.254"), tcp, 80, false},
		{"backup to another store's MariaDB", backup, otherMariaDB, tcp, 3306, false},
		{"backup to WordPress", backup, wordpress, tcp, 8080, false},
		{"WordPress to repository", wordpress, ip("192.0.2.10"), tcp, 8000, false},
		{"another store's backup to MariaDB", otherBackup, mariadb, tcp, 3306, false},
		{"WordPress to backup", wordpress, backup, tcp, 8000, false},
	} {
		v := e.Allowed(netpol.Traffic{From: c.from, To: c.to, Protocol: c.proto, Port: c.port})
		if v.Allowed != c.want {
			t.Errorf("%s on %s %d: allowed %v, want %v (%s)", c.name, c.proto, c.port, v.Allowed, c.want, v)
		}
	}
	if _, err := NetworkPolicies("store-shop", nil, nil); err == nil {
		t.Error("policies without a repository endpoint were made")
	}
}

func TestRepositorySecret(t *testing.T) {
	repo := testSpec(OpBackup).Repository
	operator := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "backup-repository", Namespace: "urumi"},
		Data: map[string][]byte{
			"password": []byte("pw"), "RESTIC_REST_USERNAME": []byte("u"), "RESTIC_REST_PASSWORD": []byte("p"),
			"ca.crt": []byte("PEM"), "admin-token": []byte("not for stores"),
		},
	}
	s, err := RepositorySecret(operator, repo, "store-shop", map[string]string{"urumi.io/store": "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != repo.Secret || s.Namespace != "store-shop" || len(s.Data) != 4 || s.Data["admin-token"] != nil || string(s.Data["password"]) != "pw" {
		t.Errorf("copied secret %s/%s with keys %d", s.Namespace, s.Name, len(s.Data))
	}
	delete(operator.Data, "RESTIC_REST_PASSWORD")
	if _, err := RepositorySecret(operator, repo, "store-shop", nil); err == nil || !strings.Contains(err.Error(), "RESTIC_REST_PASSWORD") {
		t.Errorf("a Secret missing a credential was copied: %v", err)
	}
}

func TestParseResult(t *testing.T) {
	out := []byte("urumi: dumping\n{\"operation\":\"backup\",\"store\":\"shop\",\"backup_id\":\"b1\",\"db_snapshot\":\"aa\",\"files_snapshot\":\"bb\",\"tables\":3,\"files\":8,\"size\":12345}\n\n")
	r, err := ParseResult(OpBackup, out)
	if err != nil || r.DBSnapshot != "aa" || r.FilesSnapshot != "bb" || r.Size != 12345 || r.Tables != 3 {
		t.Errorf("ParseResult = %+v, %v", r, err)
	}
	for _, bad := range []string{"", "urumi: error: dumping failed\n", `{"operation":"restore"}`, `{"operation":"backup","db_snapshot":"aa"}`} {
		if r, err := ParseResult(OpBackup, []byte(bad)); err == nil {
			t.Errorf("ParseResult(%q) = %+v, want an error", bad, r)
		}
	}
}

// The scripts check names with the rules the Job builder does.
func TestScriptNameRules(t *testing.T) {
	common, err := scriptFS.ReadFile("scripts/common.sh")
	if err != nil {
		t.Fatal(err)
	}
	for name, re := range map[string]string{"store_re": storeNameRE.String(), "id_re": backupIDRE.String()} {
		want := name + "='" + strings.TrimSuffix(strings.TrimPrefix(re, "^"), "$") + "'"
		if !strings.Contains(string(common), want) {
			t.Errorf("common.sh does not set %s", want)
		}
	}
}
