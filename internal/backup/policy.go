package backup

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/urumi/urumi/charts"
)

// Endpoint is where the backup Jobs may reach the repository: an address
// or range and a port, or every public address on a port (an S3 service
// whose addresses change). NetworkPolicies match addresses, not names: a
// repository named by host must have its addresses listed.
type Endpoint struct {
	// CIDR is the repository's address (a /32 or /128) or range. Unset
	// when Public.
	CIDR netip.Prefix
	// Public is every public address: never a private, shared,
	// link-local, loopback or multicast one, where the cluster lives.
	Public bool
	Port   int
}

// ParseEndpoint reads "192.0.2.10:8000", "10.20.0.0/16:9000",
// "[2001:db8::1]:443", "[2001:db8::/64]:443" or "public:443".
func ParseEndpoint(s string) (Endpoint, error) {
	bad := func(why string) (Endpoint, error) {
		return Endpoint{}, fmt.Errorf("repository endpoint %q is invalid: %s; write ADDRESS:PORT, CIDR:PORT, [IPv6]:PORT or public:PORT", s, why)
	}
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return bad("it has no port")
	}
	host, portText := s[:i], s[i+1:]
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return bad("the port is not a number from 1 to 65535")
	}
	if host == "public" {
		return Endpoint{Public: true, Port: port}, nil
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	} else if strings.Contains(host, ":") {
		return bad("an IPv6 address goes in brackets")
	}
	var pfx netip.Prefix
	if strings.Contains(host, "/") {
		pfx, err = netip.ParsePrefix(host)
		if err != nil {
			return bad("the range is not an address/bits prefix")
		}
		if pfx != pfx.Masked() {
			return bad("the range has bits set past its prefix length")
		}
	} else {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return bad("the host is not an IP address (name the repository's addresses: policies cannot match names)")
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if pfx.Bits() == 0 {
		return bad("a range of every address would let backups reach the cluster; use public:PORT")
	}
	return Endpoint{CIDR: pfx, Port: port}, nil
}

// String is the endpoint as ParseEndpoint reads it.
func (e Endpoint) String() string {
	switch {
	case e.Public:
		return "public:" + strconv.Itoa(e.Port)
	case e.CIDR.Addr().Is6():
		return "[" + e.cidrText() + "]:" + strconv.Itoa(e.Port)
	}
	return e.cidrText() + ":" + strconv.Itoa(e.Port)
}

func (e Endpoint) cidrText() string {
	if e.CIDR.IsSingleIP() {
		return e.CIDR.Addr().String()
	}
	return e.CIDR.String()
}

// Ranges no backup may reach as "public": the ranges a store's public
// egress excludes (internal/provision's blockedIPv4 and blockedIPv6).
func blockedRanges() (v4, v6 []string) {
	return []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8", "0.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"},
		[]string{"fc00::/7", "fe80::/10", "::1/128", "64:ff9b::/96", "ff00::/8"}
}

func (e Endpoint) peers() []networkingv1.NetworkPolicyPeer {
	if e.Public {
		v4, v6 := blockedRanges()
		return []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: v4}},
			{IPBlock: &networkingv1.IPBlock{CIDR: "::/0", Except: v6}},
		}
	}
	return []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: e.CIDR.String()}}}
}

// Names of the policies NetworkPolicies returns.
const (
	PolicyBackupEgress      = "allow-backup-egress"
	PolicyMariaDBFromBackup = "allow-mariadb-from-backup"
)

// NetworkPolicies are what a store's namespace adds to its default-deny
// policies so that its backup Jobs work and nothing else changes: backup
// pods (labelled ComponentBackup) may resolve names, reach the store's
// MariaDB and the repository's endpoints, and nothing else; MariaDB admits
// backup pods on its port. Nothing may reach a backup pod. labels are the
// store's, set on each policy.
func NetworkPolicies(namespace string, labels map[string]string, endpoints []Endpoint) ([]*networkingv1.NetworkPolicy, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("the backup repository has no endpoint: say which address and port the backup jobs may reach")
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p int, proto *corev1.Protocol) networkingv1.NetworkPolicyPort {
		v := intstr.FromInt(p)
		return networkingv1.NetworkPolicyPort{Port: &v, Protocol: proto}
	}
	component := func(c string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{charts.LabelComponent: c}}
	}
	policy := func(n string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: namespace, Labels: labels},
			Spec:       spec,
		}
	}
	egress := []networkingv1.NetworkPolicyEgressRule{
		{
			To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"},
			}}},
			Ports: []networkingv1.NetworkPolicyPort{port(53, &udp), port(53, &tcp)},
		},
		{
			To:    []networkingv1.NetworkPolicyPeer{{PodSelector: component(charts.ComponentMariaDB)}},
			Ports: []networkingv1.NetworkPolicyPort{port(charts.MariaDBPort, &tcp)},
		},
	}
	for _, e := range endpoints {
		if e.Port < 1 || e.Port > 65535 || (!e.Public && !e.CIDR.IsValid()) || (!e.Public && e.CIDR.Bits() == 0) {
			return nil, fmt.Errorf("repository endpoint %s is invalid: give an address or range and a port from 1 to 65535", e)
		}
		egress = append(egress, networkingv1.NetworkPolicyEgressRule{To: e.peers(), Ports: []networkingv1.NetworkPolicyPort{port(e.Port, &tcp)}})
	}
	return []*networkingv1.NetworkPolicy{
		policy(PolicyBackupEgress, networkingv1.NetworkPolicySpec{
			PodSelector: *component(ComponentBackup),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      egress,
		}),
		policy(PolicyMariaDBFromBackup, networkingv1.NetworkPolicySpec{
			PodSelector: *component(charts.ComponentMariaDB),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: component(ComponentBackup)}},
				Ports: []networkingv1.NetworkPolicyPort{port(charts.MariaDBPort, &tcp)},
			}},
		}),
	}, nil
}
