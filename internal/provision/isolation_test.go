package provision

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/urumi/urumi/internal/backup"
)

// livePolicies are the store's policies as urumi makes them, as values,
// as a List returns them.
func livePolicies(t *testing.T, egress Egress) []networkingv1.NetworkPolicy {
	t.Helper()
	ps, err := networkPolicies("shop", "alice", "ingress-nginx", egress)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]networkingv1.NetworkPolicy, 0, len(ps))
	for _, p := range ps {
		out = append(out, *p)
	}
	return out
}

func isolationTable(t *testing.T, egress Egress) IsolationTable {
	t.Helper()
	table, err := StoreIsolationTable("shop", "ingress-nginx", egress)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// TestIsolationTableWants holds the table itself to the tenant boundary:
// exactly these connections are wanted open, every other one closed.
func TestIsolationTableWants(t *testing.T) {
	ingress := peerIngress + " (ingress-nginx)"
	base := []string{
		ingress + " -> WordPress TCP 8080",
		"WordPress -> MariaDB TCP 3306",
		"setup Job -> MariaDB TCP 3306",
		"cron job -> MariaDB TCP 3306",
		"setup Job -> " + peerInternet + " TCP 443",
		"setup Job -> " + peerInternet6 + " TCP 443",
	}
	for _, p := range []string{"WordPress", "MariaDB", "setup Job", "cron job"} {
		base = append(base, p+" -> "+peerDNS+" TCP 53", p+" -> "+peerDNS+" UDP 53")
	}
	https := []string{
		"WordPress -> " + peerInternet + " TCP 443", "WordPress -> " + peerInternet6 + " TCP 443",
		"cron job -> " + peerInternet + " TCP 443", "cron job -> " + peerInternet6 + " TCP 443",
	}
	cases := map[string]struct {
		egress Egress
		want   []string
	}{
		"no egress":    {Egress{}, base},
		"public HTTPS": {Egress{PublicHTTPS: true}, append(slices.Clone(base), https...)},
		// A public relay is on the public internet the setup Job may reach
		// on 443; a private one is not.
		"public mail relay": {Egress{MailRelay: "203.0.113.10:587"}, append(slices.Clone(base),
			"WordPress -> mail relay 203.0.113.10:587 TCP 587", "cron job -> mail relay 203.0.113.10:587 TCP 587",
			"setup Job -> mail relay 203.0.113.10:587 TCP 443")},
		"public mail relay and public HTTPS": {Egress{PublicHTTPS: true, MailRelay: "203.0.113.10:587"}, append(slices.Clone(base), append(slices.Clone(https),
			"WordPress -> mail relay 203.0.113.10:587 TCP 587", "cron job -> mail relay 203.0.113.10:587 TCP 587",
			"WordPress -> mail relay 203.0.113.10:587 TCP 443", "cron job -> mail relay 203.0.113.10:587 TCP 443",
			"setup Job -> mail relay 203.0.113.10:587 TCP 443")...)},
		"private mail relay": {Egress{PublicHTTPS: true, MailRelay: "10.1.2.3:587"}, append(slices.Clone(base), append(slices.Clone(https),
			"WordPress -> mail relay 10.1.2.3:587 TCP 587", "cron job -> mail relay 10.1.2.3:587 TCP 587")...)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			table := isolationTable(t, c.egress)
			var got []string
			for _, tc := range table.Cases {
				if tc.Allowed {
					got = append(got, tc.From+" -> "+tc.To+" "+portName(tc.Protocol, tc.Port))
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(c.want))
			if !slices.Equal(got, want) {
				t.Errorf("wanted open:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(table.Cases) < 400 {
				t.Errorf("table has %d cases; every pair with one end in the store on every probed port is more", len(table.Cases))
			}
		})
	}
}

func TestCheckIsolation(t *testing.T) {
	tcp := corev1.ProtocolTCP
	allowAllIngress := networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: Namespace("shop")},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
		},
	}
	mysql := intstr.FromString("mysql")
	anyNamespaceToMariaDB := networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: Namespace("shop")},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/component": "mariadb"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: &mysql, Protocol: &tcp}},
			}},
		},
	}
	elsewhere := allowAllIngress
	elsewhere.Namespace = "store-another"
	without := func(ps []networkingv1.NetworkPolicy, name string) []networkingv1.NetworkPolicy {
		return slices.DeleteFunc(ps, func(p networkingv1.NetworkPolicy) bool { return p.Name == name })
	}
	https := Egress{PublicHTTPS: true}
	cases := []struct {
		name     string
		policies []networkingv1.NetworkPolicy
		table    Egress
		// want are violations that must be among those found, as
		// IsolationViolation.String says them; none means the check passes.
		want []string
	}{
		{name: "fresh store, public HTTPS", policies: livePolicies(t, https), table: https},
		{name: "fresh store, no egress", policies: livePolicies(t, Egress{}), table: Egress{}},
		{name: "fresh store, mail relay", policies: livePolicies(t, Egress{MailRelay: "203.0.113.0/28:587"}), table: Egress{MailRelay: "203.0.113.0/28:587"}},
		{name: "fresh store, private mail relay", policies: livePolicies(t, Egress{PublicHTTPS: true, MailRelay: "10.1.2.3:587"}), table: Egress{PublicHTTPS: true, MailRelay: "10.1.2.3:587"}},
		{name: "a policy in another namespace changes nothing here", policies: append(livePolicies(t, https), elsewhere), table: https},
		{
			name:     "allow-all ingress added",
			policies: append(livePolicies(t, https), allowAllIngress),
			table:    https,
			want: []string{
				"a pod in default can reach WordPress on TCP 8080, which must be denied",
				"another store's WordPress can reach MariaDB on TCP 3306, which must be denied",
				"public internet 93.184.216.34 can reach MariaDB on TCP 3306, which must be denied",
				"ingress controller (ingress-nginx) can reach MariaDB on TCP 3306, which must be denied",
			},
		},
		{
			name:     "MariaDB opened to every namespace on its named port",
			policies: append(livePolicies(t, https), anyNamespaceToMariaDB),
			table:    https,
			want: []string{
				"another store's WordPress can reach MariaDB on TCP 3306, which must be denied",
				"cluster DNS (kube-system) can reach MariaDB on TCP 3306, which must be denied",
			},
		},
		{
			name:     "default-deny deleted",
			policies: without(livePolicies(t, https), "default-deny"),
			table:    https,
			want: []string{
				// allow-dns still isolates every pod's egress, and each
				// long-running pod has an ingress policy of its own: what
				// opens is the setup and cron jobs' ingress.
				"a pod in default can reach setup Job on TCP 22, which must be denied",
				"another store's WordPress can reach setup Job on TCP 80, which must be denied",
				"public internet 93.184.216.34 can reach setup Job on TCP 443, which must be denied",
				"a pod in default can reach cron job on TCP 22, which must be denied",
				"another store's WordPress can reach cron job on TCP 80, which must be denied",
			},
		},
		{
			name:     "plan without egress: WordPress has no public HTTPS",
			policies: livePolicies(t, Egress{}),
			table:    https,
			want: []string{
				"WordPress cannot reach public internet 93.184.216.34 on TCP 443, which the store needs",
			},
		},
		{
			name:     "plan with egress against a table without: WordPress reaches out",
			policies: livePolicies(t, https),
			table:    Egress{},
			want: []string{
				"WordPress can reach public internet 93.184.216.34 on TCP 443, which must be denied",
			},
		},
		{
			name:     "MariaDB ingress policy deleted: WordPress loses its database",
			policies: without(livePolicies(t, https), "allow-mariadb-from-wordpress"),
			table:    https,
			want: []string{
				"WordPress cannot reach MariaDB on TCP 3306, which the store needs",
				"setup Job cannot reach MariaDB on TCP 3306, which the store needs",
				"cron job cannot reach MariaDB on TCP 3306, which the store needs",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := CheckIsolation(c.policies, isolationTable(t, c.table))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range r.Violations {
				got = append(got, v.String())
			}
			var out strings.Builder
			if err := r.Format(&out); err != nil {
				t.Fatal(err)
			}
			if len(c.want) == 0 {
				if !r.OK() {
					t.Errorf("violations on a store as urumi makes it:\n%s", out.String())
				}
				if strings.Contains(out.String(), "FAIL") {
					t.Errorf("table shows FAIL on a passing check:\n%s", out.String())
				}
				return
			}
			if r.OK() {
				t.Fatalf("check passed; want violations %q", c.want)
			}
			for _, w := range c.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Errorf("missing violation %q among:\n%s", w, strings.Join(got, "\n"))
				}
			}
			for _, v := range r.Violations {
				cells := tableCells(out.String(), v.From, v.To)
				if len(cells) != 5 || cells[4] != "FAIL" || slices.Contains(strings.Split(cells[2], ", "), portName(v.Protocol, v.Port)) != v.Allowed || slices.Contains(strings.Split(cells[3], ", "), portName(v.Protocol, v.Port)) == v.Allowed {
					t.Fatalf("table for a person shows %q for violation %q:\n%s", cells, v, out.String())
				}
			}
		})
	}
}

// TestIsolationFormat shows the table a person reads on a passing store,
// and that a failure names the offending peer and port on its row.
func TestIsolationFormat(t *testing.T) {
	table := isolationTable(t, Egress{PublicHTTPS: true})
	r, err := CheckIsolation(livePolicies(t, Egress{PublicHTTPS: true}), table)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := r.Format(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"FROM", "ingress controller (ingress-nginx)  WordPress",
		"Every other pair is denied on TCP 22, TCP 53, UDP 53, TCP 80, TCP 443, TCP 3306, TCP 8080.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if row := tableRow(out.String(), "ingress controller", " WordPress "); !strings.HasSuffix(strings.Join(strings.Fields(row), " "), "WordPress TCP 8080 TCP 8080") {
		t.Errorf("row for the ingress controller -> WordPress = %q, want TCP 8080 wanted and live:\n%s", row, out.String())
	}
	t.Logf("\n%s", out.String())

	extra := networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-all", Namespace: Namespace("shop")},
		Spec:       networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{}}},
	}
	r, err = CheckIsolation(append(livePolicies(t, Egress{PublicHTTPS: true}), extra), table)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := r.Format(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("with an allow-all ingress policy:\n%s", out.String())
	row := tableRow(out.String(), "a pod in default", " WordPress ")
	if line := tableRow(out.String(), "FAIL: ingress controller (ingress-nginx) can reach WordPress on TCP 22, which must be denied:", ""); !strings.Contains(line, "ingress allowed by store-shop/allow-all") {
		t.Errorf("violations do not name the allowing policy:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "more violations, each a FAIL row above.") {
		t.Errorf("violations beyond the first ten are not summed up:\n%s", out.String())
	}
	if !strings.Contains(row, "nothing") || !strings.Contains(row, "TCP 8080") || !strings.HasSuffix(strings.TrimSpace(row), "FAIL") {
		t.Errorf("row for a pod in default -> WordPress = %q, want nothing wanted, TCP 8080 live, FAIL:\n%s", row, out.String())
	}
}

func TestCheckIsolationRefusesUnknownPeer(t *testing.T) {
	table := isolationTable(t, Egress{})
	table.Cases = append(table.Cases, IsolationCase{From: "nobody", To: "WordPress", Protocol: corev1.ProtocolTCP, Port: 8080})
	if _, err := CheckIsolation(livePolicies(t, Egress{}), table); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("CheckIsolation with an unknown peer = %v, want an error naming it", err)
	}
}

// tableCells are the cells of the formatted table's row from -> to.
func tableCells(table, from, to string) []string {
	gap := regexp.MustCompile(`\s{2,}`)
	for line := range strings.Lines(table) {
		cells := gap.Split(strings.TrimSpace(line), -1)
		if len(cells) >= 2 && cells[0] == from && cells[1] == to {
			return cells
		}
	}
	return nil
}

// tableRow is the line of a formatted table that starts with from and has
// to in it.
func tableRow(table, from, to string) string {
	for line := range strings.Lines(table) {
		if strings.HasPrefix(line, from) && strings.Contains(line, to) {
			return line
		}
	}
	return ""
}

// TestIsolationOtherSettings: the fresh store passes wherever the ingress
// controller runs (k3s runs Traefik in kube-system), and a store named as
// the table's other store still has another store to be kept from.
func TestIsolationOtherSettings(t *testing.T) {
	for _, c := range []struct{ store, ingressNamespace, wantOpen string }{
		{"shop", "kube-system", "cluster DNS (kube-system) -> WordPress TCP 8080"},
		{"shop", "default", "a pod in default -> WordPress TCP 8080"},
		{"another", "ingress-nginx", "ingress controller (ingress-nginx) -> WordPress TCP 8080"},
	} {
		t.Run(c.store+" behind "+c.ingressNamespace, func(t *testing.T) {
			egress := Egress{PublicHTTPS: true}
			ps, err := networkPolicies(c.store, "alice", c.ingressNamespace, egress)
			if err != nil {
				t.Fatal(err)
			}
			var live []networkingv1.NetworkPolicy
			for _, p := range ps {
				live = append(live, *p)
			}
			table, err := StoreIsolationTable(c.store, c.ingressNamespace, egress)
			if err != nil {
				t.Fatal(err)
			}
			r, err := CheckIsolation(live, table)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if err := r.Format(&out); err != nil {
				t.Fatal(err)
			}
			if !r.OK() {
				t.Errorf("violations on a fresh store:\n%s", out.String())
			}
			found, denied := false, false
			for _, tc := range table.Cases {
				if tc.Allowed && tc.From+" -> "+tc.To+" "+portName(tc.Protocol, tc.Port) == c.wantOpen {
					found = true
				}
				if tc.From == peerOtherWordPress && tc.To == peerWordPress && tc.Port == 8080 && !tc.Allowed {
					denied = true
				}
			}
			if !found || !denied {
				t.Errorf("table wants %q open: %v; another store's WordPress denied: %v", c.wantOpen, found, denied)
			}
		})
	}
}

// TestBackupIsolation: with the backup policies beside the store's, the
// backup Job reaches the repository on its port, the store's MariaDB and
// DNS, and nothing else; nothing else of the store reaches the repository;
// and the store's own table still holds.
func TestBackupIsolation(t *testing.T) {
	for _, c := range []struct {
		name      string
		endpoints []string
		egress    Egress
	}{
		{"REST server", []string{"192.0.2.10:8000"}, Egress{}},
		{"S3 in a private range, public HTTPS", []string{"10.20.0.0/16:9000"}, Egress{PublicHTTPS: true}},
		{"public S3", []string{"public:443"}, Egress{PublicHTTPS: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var eps []backup.Endpoint
			for _, s := range c.endpoints {
				e, err := backup.ParseEndpoint(s)
				if err != nil {
					t.Fatal(err)
				}
				eps = append(eps, e)
			}
			store := livePolicies(t, c.egress)
			made, err := backup.NetworkPolicies(Namespace("shop"), storeLabels("shop", "alice"), eps)
			if err != nil {
				t.Fatal(err)
			}
			withBackup := slices.Clone(store)
			for _, p := range made {
				withBackup = append(withBackup, *p)
			}
			table, err := StoreBackupIsolationTable("shop", "ingress-nginx", c.egress, eps)
			if err != nil {
				t.Fatal(err)
			}
			wantOpen := 0
			for _, tc := range table.Cases {
				if tc.From == peerBackup && tc.Allowed {
					wantOpen++
				}
				if tc.To == peerBackup && tc.Allowed {
					t.Errorf("the table wants %s to reach the backup Job", tc.From)
				}
			}
			// MariaDB, DNS on UDP and TCP, and the repository (twice when
			// public: IPv4 and IPv6).
			if want := 3 + len(eps); !eps[0].Public && wantOpen != want || eps[0].Public && wantOpen != want+1 {
				t.Errorf("the table wants %d connections from the backup Job open", wantOpen)
			}
			res, err := CheckIsolation(withBackup, table)
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Errorf("violations with the backup policies: %v", res.Violations)
			}
			// Without them, the Job reaches neither MariaDB nor the
			// repository: the check sees it.
			res, err = CheckIsolation(store, table)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() {
				t.Error("the backup table passed without the backup policies")
			}
			// The backup policies open nothing else of the store.
			res, err = CheckIsolation(withBackup, isolationTable(t, c.egress))
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Errorf("the store's table fails with the backup policies: %v", res.Violations)
			}
		})
	}
}
