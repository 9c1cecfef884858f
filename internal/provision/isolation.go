package provision

import (
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/urumi/urumi/charts"
	"github.com/urumi/urumi/internal/backup"
	"github.com/urumi/urumi/internal/netpol"
)

// The isolation self-test: a truth table of who may reach a store's pods
// and what they may reach, evaluated against the NetworkPolicies live in
// its namespace (urumi's and any others) by package netpol.

// IsolationPeer is one row or column of the truth table: a pod as the
// chart or the cluster labels it, or an address outside the pods.
type IsolationPeer struct {
	// Name is what a person reads: "WordPress", "another store's MariaDB".
	Name string
	Peer netpol.Peer
	// InStore marks the store's own pods, whose policies are under test.
	InStore bool
}

// IsolationCase is one question of the table: may From reach To on
// Protocol/Port, and the answer urumi wants.
type IsolationCase struct {
	From, To string
	Protocol corev1.Protocol
	Port     int32
	Allowed  bool
}

// IsolationTable is what urumi wants of one store's network: the peers
// and, for every pair with one end in the store, each probed port.
type IsolationTable struct {
	Store string
	Peers []IsolationPeer
	Cases []IsolationCase
}

// IsolationViolation is a case the live policies answer otherwise than
// the table: a connection allowed that must be denied, or the reverse.
type IsolationViolation struct {
	IsolationCase
	// Why is the evaluator's account of the live answer: the policies that
	// isolate each end and those that allow the connection.
	Why string
}

// String says the violation in a person's words.
func (v IsolationViolation) String() string {
	if v.Allowed {
		return fmt.Sprintf("%s cannot reach %s on %s, which the store needs: %s", v.From, v.To, portName(v.Protocol, v.Port), v.Why)
	}
	return fmt.Sprintf("%s can reach %s on %s, which must be denied: %s", v.From, v.To, portName(v.Protocol, v.Port), v.Why)
}

// IsolationResult is the self-test's outcome: the table, the live answer
// to each of its cases (Live[i] for Table.Cases[i]) and the violations.
type IsolationResult struct {
	Table      IsolationTable
	Live       []bool
	Violations []IsolationViolation
}

// OK is true when the live policies answer every case as the table does.
func (r IsolationResult) OK() bool { return len(r.Violations) == 0 }

// Peer names of the store's truth table.
const (
	peerIngress        = "ingress controller"
	peerWordPress      = "WordPress"
	peerMariaDB        = "MariaDB"
	peerSetup          = "setup Job"
	peerCron           = "cron job"
	peerOtherWordPress = "another store's WordPress"
	peerOtherMariaDB   = "another store's MariaDB"
	peerDefault        = "a pod in default"
	peerDNS            = "cluster DNS (kube-system)"
	peerInternet       = "public internet 93.184.216.34"
	peerInternet6      = "public internet 2606:4700:4700::1111"
	peerPrivate        = "private address 10.0.0.1"
	peerMetadata       = "cloud metadata 169.254.169.254"
	peerAPIServer      = "API server 10.96.0.1"
	peerRelay          = "mail relay"
	peerPasswordReset  = "password reset Job"
)

// StoreIsolationTable is the truth table for a store whose ingress
// controller runs in ingressNamespace and whose plan allows egress. Its
// peers are the store's pods labelled as the chart labels them, another
// store's, a pod in default, the cluster DNS, the ingress controller, and
// addresses outside the pods (public IPv4 and IPv6, private, cloud
// metadata, the API server's ClusterIP, the plan's mail relay). It wants:
// the ingress controller reaches WordPress on its port and nothing else;
// WordPress, the setup Job and the cron job reach MariaDB on its port, and
// nothing else does; nothing reaches the setup or cron pods; other stores
// and other namespaces reach nothing; every store pod may ask the cluster's
// DNS; WordPress and the cron job (which runs WordPress' scheduled events)
// reach public HTTPS when the plan allows it, and the mail relay when it
// names one; the setup Job reaches public HTTPS; nothing in the store
// reaches private, link-local or metadata addresses, or the API server.
func StoreIsolationTable(name, ingressNamespace string, egress Egress) (IsolationTable, error) {
	return storeIsolationTable(name, ingressNamespace, egress, nil)
}

// StoreBackupIsolationTable is StoreIsolationTable with a backup Job's pod
// and the backup repository's endpoints as peers, for a namespace that
// has the backup policies (made by the first backup): the backup Job
// reaches the repository on its port, the store's MariaDB and the cluster
// DNS, and nothing else; nothing else in the store reaches the repository,
// and nothing reaches the backup Job.
func StoreBackupIsolationTable(name, ingressNamespace string, egress Egress, repository []backup.Endpoint) (IsolationTable, error) {
	if len(repository) == 0 {
		return IsolationTable{}, fmt.Errorf("the backup isolation table needs the repository's endpoints")
	}
	return storeIsolationTable(name, ingressNamespace, egress, repository)
}

// Peer name of the backup Job's pod.
const peerBackup = "backup Job"

func storeIsolationTable(name, ingressNamespace string, egress Egress, repository []backup.Endpoint) (IsolationTable, error) {
	ns := Namespace(name)
	other := "another"
	if name == other {
		other = "other"
	}
	namespace := func(n string, extra map[string]string) netpol.Namespace {
		l := map[string]string{"kubernetes.io/metadata.name": n}
		maps.Copy(l, extra)
		return netpol.Namespace{Name: n, Labels: l}
	}
	storeNS := namespace(ns, storeLabels(name, "owner"))
	otherNS := namespace(Namespace(other), storeLabels(other, "owner"))
	chartPod := func(n netpol.Namespace, component string, ip string, ports ...corev1.ContainerPort) netpol.Peer {
		return netpol.Peer{Pod: &netpol.Pod{
			Namespace: n,
			Name:      component,
			Labels: map[string]string{
				charts.LabelInstance:  releaseName,
				charts.LabelPartOf:    charts.PartOfStore,
				charts.LabelManagedBy: "Helm",
				charts.LabelComponent: component,
			},
			IP:    netip.MustParseAddr(ip),
			Ports: ports,
		}}
	}
	http := corev1.ContainerPort{Name: "http", ContainerPort: charts.WordPressPort, Protocol: corev1.ProtocolTCP}
	mysql := corev1.ContainerPort{Name: "mysql", ContainerPort: charts.MariaDBPort, Protocol: corev1.ProtocolTCP}
	pod := func(n netpol.Namespace, podName, ip string, labels map[string]string, ports ...corev1.ContainerPort) netpol.Peer {
		return netpol.Peer{Pod: &netpol.Pod{Namespace: n, Name: podName, Labels: labels, IP: netip.MustParseAddr(ip), Ports: ports}}
	}
	addr := func(a string) netpol.Peer { return netpol.Peer{IP: netip.MustParseAddr(a)} }
	ingressName := peerIngress + " (" + ingressNamespace + ")"
	t := IsolationTable{Store: name, Peers: []IsolationPeer{
		{Name: peerWordPress, Peer: chartPod(storeNS, charts.ComponentWordPress, "10.244.1.10", http), InStore: true},
		{Name: peerMariaDB, Peer: chartPod(storeNS, charts.ComponentMariaDB, "10.244.1.11", mysql), InStore: true},
		{Name: peerSetup, Peer: chartPod(storeNS, charts.ComponentSetup, "10.244.1.12"), InStore: true},
		{Name: peerCron, Peer: chartPod(storeNS, charts.ComponentCron, "10.244.1.13"), InStore: true},
		{Name: ingressName, Peer: pod(namespace(ingressNamespace, nil), "controller", "10.244.2.10",
			map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
			corev1.ContainerPort{Name: "http", ContainerPort: 80}, corev1.ContainerPort{Name: "https", ContainerPort: 443})},
		{Name: peerOtherWordPress, Peer: chartPod(otherNS, charts.ComponentWordPress, "10.244.3.10", http)},
		{Name: peerOtherMariaDB, Peer: chartPod(otherNS, charts.ComponentMariaDB, "10.244.3.11", mysql)},
		{Name: peerDefault, Peer: pod(namespace("default", nil), "client", "10.244.4.10", map[string]string{"app": "client"})},
		{Name: peerDNS, Peer: pod(namespace("kube-system", nil), "coredns", "10.244.0.10", map[string]string{"k8s-app": "kube-dns"},
			corev1.ContainerPort{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, corev1.ContainerPort{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP})},
		{Name: peerInternet, Peer: addr("93.184.216.34")},
		{Name: peerInternet6, Peer: addr("2606:4700:4700::1111")},
		{Name: peerPrivate, Peer: addr("10.0.0.1")},
		{Name: peerMetadata, Peer: addr("169.254.169.254")},
		{Name: peerAPIServer, Peer: addr("10.96.0.1")},
	}}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	type probe struct {
		proto corev1.Protocol
		port  int32
	}
	probes := []probe{{tcp, 22}, {tcp, 53}, {udp, 53}, {tcp, 80}, {tcp, 443}, {tcp, charts.MariaDBPort}, {tcp, charts.WordPressPort}}
	relay := ""
	var relayAddr netip.Addr
	var relayPort int32
	if egress.MailRelay != "" {
		pfx, p, err := parseRelay(egress.MailRelay)
		if err != nil {
			return IsolationTable{}, err
		}
		relay, relayAddr, relayPort = peerRelay+" "+egress.MailRelay, pfx.Addr(), int32(p)
		t.Peers = append(t.Peers, IsolationPeer{Name: relay, Peer: netpol.Peer{IP: relayAddr}})
		if !slices.Contains(probes, probe{tcp, relayPort}) {
			probes = append(probes, probe{tcp, relayPort})
		}
	}
	type conn struct {
		from, to string
		proto    corev1.Protocol
		port     int32
	}
	var backupConns []conn
	inStore := []string{peerWordPress, peerMariaDB, peerSetup, peerCron}
	if len(repository) > 0 {
		t.Peers = append(t.Peers, IsolationPeer{Name: peerBackup, Peer: chartPod(storeNS, backup.ComponentBackup, "10.244.1.20"), InStore: true})
		inStore = append(inStore, peerBackup)
		backupConns = append(backupConns, conn{peerBackup, peerMariaDB, tcp, charts.MariaDBPort})
		for i, e := range repository {
			port := int32(e.Port)
			if !slices.Contains(probes, probe{tcp, port}) {
				probes = append(probes, probe{tcp, port})
			}
			if e.Public {
				// Every public address on the port: the public
				// internet's peers stand for the repository.
				backupConns = append(backupConns, conn{peerBackup, peerInternet, tcp, port}, conn{peerBackup, peerInternet6, tcp, port})
				continue
			}
			if !e.CIDR.IsValid() {
				return IsolationTable{}, fmt.Errorf("repository endpoint %d has no address", i)
			}
			a := e.CIDR.Addr()
			peer := fmt.Sprintf("backup repository %s:%d", a, e.Port)
			if !slices.ContainsFunc(t.Peers, func(p IsolationPeer) bool { return p.Name == peer }) {
				t.Peers = append(t.Peers, IsolationPeer{Name: peer, Peer: netpol.Peer{IP: a}})
			}
			backupConns = append(backupConns, conn{peerBackup, peer, tcp, port})
			// A repository on a public address is on the public
			// internet, which the setup Job (and WordPress, when the
			// plan allows) reaches on HTTPS: its credentials guard it.
			if isPublic(a) {
				backupConns = append(backupConns, conn{peerSetup, peer, tcp, 443})
				if egress.PublicHTTPS {
					backupConns = append(backupConns, conn{peerWordPress, peer, tcp, 443}, conn{peerCron, peer, tcp, 443})
				}
			}
		}
	}
	allowed := map[conn]bool{
		{peerWordPress, peerMariaDB, tcp, charts.MariaDBPort}: true,
		{peerSetup, peerMariaDB, tcp, charts.MariaDBPort}:     true,
		{peerCron, peerMariaDB, tcp, charts.MariaDBPort}:      true,
		{peerSetup, peerInternet, tcp, 443}:                   true,
		{peerSetup, peerInternet6, tcp, 443}:                  true,
	}
	// By namespace, as the policies allow: every pod of the ingress
	// controller's namespace reaches WordPress (where that namespace is
	// kube-system or default, so do the peers there), and every store pod
	// reaches kube-system on DNS's port.
	for _, p := range t.Peers {
		if p.Peer.Pod == nil {
			continue
		}
		if p.Peer.Pod.Namespace.Name == ingressNamespace {
			allowed[conn{p.Name, peerWordPress, tcp, charts.WordPressPort}] = true
		}
		if p.Peer.Pod.Namespace.Name == "kube-system" {
			for _, s := range inStore {
				allowed[conn{s, p.Name, udp, 53}] = true
				allowed[conn{s, p.Name, tcp, 53}] = true
			}
		}
	}
	// The cron job runs WordPress' code, so it reaches what WordPress does.
	for _, wp := range []string{peerWordPress, peerCron} {
		if egress.PublicHTTPS {
			allowed[conn{wp, peerInternet, tcp, 443}] = true
			allowed[conn{wp, peerInternet6, tcp, 443}] = true
		}
		if relay != "" {
			allowed[conn{wp, relay, tcp, relayPort}] = true
			// A relay on the public internet is reached by public HTTPS too.
			if isPublic(relayAddr) && egress.PublicHTTPS {
				allowed[conn{wp, relay, tcp, 443}] = true
			}
		}
	}
	if relay != "" && isPublic(relayAddr) {
		allowed[conn{peerSetup, relay, tcp, 443}] = true
	}
	for _, c := range backupConns {
		allowed[c] = true
	}
	for _, from := range t.Peers {
		for _, to := range t.Peers {
			if from.Name == to.Name || (!from.InStore && !to.InStore) {
				continue
			}
			for _, p := range probes {
				t.Cases = append(t.Cases, IsolationCase{
					From: from.Name, To: to.Name, Protocol: p.proto, Port: p.port,
					Allowed: allowed[conn{from.Name, to.Name, p.proto, p.port}],
				})
			}
		}
	}
	return t, nil
}

// withPasswordReset adds the password reset pod to a store's table: it
// reaches the cluster's DNS, as every store pod does, and MariaDB's port
// when opened (urumi opens it with the first reset's policies), nothing
// else, and nothing reaches it.
func withPasswordReset(t IsolationTable, opened bool) IsolationTable {
	var storeNS netpol.Namespace
	for _, p := range t.Peers {
		if p.Name == peerMariaDB {
			storeNS = p.Peer.Pod.Namespace
		}
	}
	reset := IsolationPeer{Name: peerPasswordReset, InStore: true, Peer: netpol.Peer{Pod: &netpol.Pod{
		Namespace: storeNS,
		Name:      ComponentPasswordReset,
		Labels: map[string]string{
			LabelManagedBy: ManagedBy, LabelStore: t.Store, charts.LabelComponent: ComponentPasswordReset,
		},
		IP: netip.MustParseAddr("10.244.1.14"),
	}}}
	var probes []IsolationCase
	seen := map[IsolationCase]bool{}
	for _, c := range t.Cases {
		p := IsolationCase{Protocol: c.Protocol, Port: c.Port}
		if !seen[p] {
			seen[p] = true
			probes = append(probes, p)
		}
	}
	out := IsolationTable{Store: t.Store, Peers: append(slices.Clone(t.Peers), reset), Cases: slices.Clone(t.Cases)}
	for _, other := range t.Peers {
		for _, p := range probes {
			dns := other.Peer.Pod != nil && other.Peer.Pod.Namespace.Name == "kube-system" && p.Port == 53
			db := opened && other.Name == peerMariaDB && p.Protocol == corev1.ProtocolTCP && p.Port == charts.MariaDBPort
			out.Cases = append(out.Cases,
				IsolationCase{From: peerPasswordReset, To: other.Name, Protocol: p.Protocol, Port: p.Port, Allowed: dns || db},
				IsolationCase{From: other.Name, To: peerPasswordReset, Protocol: p.Protocol, Port: p.Port})
		}
	}
	return out
}

// CheckIsolation evaluates the live policies (give it every NetworkPolicy
// of the store's namespace; policies elsewhere do not change the store's
// side) over the table. It fails only when a policy cannot be evaluated,
// which a policy the API server accepted cannot be.
func CheckIsolation(policies []networkingv1.NetworkPolicy, want IsolationTable) (IsolationResult, error) {
	e, err := netpol.New(policies)
	if err != nil {
		return IsolationResult{}, err
	}
	peers := map[string]netpol.Peer{}
	for _, p := range want.Peers {
		peers[p.Name] = p.Peer
	}
	r := IsolationResult{Table: want, Live: make([]bool, len(want.Cases))}
	for i, c := range want.Cases {
		from, ok1 := peers[c.From]
		to, ok2 := peers[c.To]
		if !ok1 || !ok2 {
			return IsolationResult{}, fmt.Errorf("isolation table case %d names a peer it does not list (%q, %q): build the table with StoreIsolationTable", i+1, c.From, c.To)
		}
		v := e.Allowed(netpol.Traffic{From: from, To: to, Protocol: c.Protocol, Port: c.Port})
		r.Live[i] = v.Allowed
		if v.Allowed != c.Allowed {
			r.Violations = append(r.Violations, IsolationViolation{IsolationCase: c, Why: v.String()})
		}
	}
	return r, nil
}

// Format writes the table for a person: each pair of peers with a
// connection wanted or allowed, the ports urumi wants open and those the
// live policies open, and FAIL where they differ, then the first
// violations with the policies that decided them.
// Pairs not listed are denied on every probed port, as wanted.
func (r IsolationResult) Format(w io.Writer) error {
	type pair struct{ from, to string }
	var order []pair
	want, live := map[pair][]string{}, map[pair][]string{}
	for i, c := range r.Table.Cases {
		p := pair{c.From, c.To}
		if _, seen := want[p]; !seen {
			order = append(order, p)
			want[p], live[p] = nil, nil
		}
		if c.Allowed {
			want[p] = append(want[p], portName(c.Protocol, c.Port))
		}
		if i < len(r.Live) && r.Live[i] {
			live[p] = append(live[p], portName(c.Protocol, c.Port))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "FROM\tTO\tWANTED\tLIVE\t\n")
	list := func(ports []string) string {
		if len(ports) == 0 {
			return "nothing"
		}
		return strings.Join(ports, ", ")
	}
	for _, p := range order {
		if len(want[p]) == 0 && len(live[p]) == 0 {
			continue
		}
		mark := ""
		if !slices.Equal(want[p], live[p]) {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.from, p.to, list(want[p]), list(live[p]), mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var probes []string
	for _, c := range r.Table.Cases {
		if p := portName(c.Protocol, c.Port); !slices.Contains(probes, p) {
			probes = append(probes, p)
		}
	}
	if _, err := fmt.Fprintf(w, "Every other pair is denied on %s.\n", strings.Join(probes, ", ")); err != nil {
		return err
	}
	// The first violations with why; the table above has them all.
	const shown = 10
	for i, v := range r.Violations {
		if i == shown {
			_, err := fmt.Fprintf(w, "... and %d more violations, each a FAIL row above.\n", len(r.Violations)-shown)
			return err
		}
		if _, err := fmt.Fprintf(w, "FAIL: %s\n", v); err != nil {
			return err
		}
	}
	return nil
}

// isPublic tells whether an address is outside the ranges a store's
// public egress excludes (private, shared, link-local, loopback and the
// like): what "public internet" means in its policies.
func isPublic(a netip.Addr) bool {
	a = a.Unmap()
	for _, b := range append(blockedIPv4(), blockedIPv6()...) {
		if netip.MustParsePrefix(b).Contains(a) {
			return false
		}
	}
	return a.IsValid()
}

func portName(p corev1.Protocol, port int32) string {
	if p == "" {
		p = corev1.ProtocolTCP
	}
	return fmt.Sprintf("%s %d", p, port)
}
