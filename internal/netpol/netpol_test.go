package netpol

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The cases below come from Kubernetes' network policy e2e suite,
// test/e2e/network/netpol/network_policy.go in k8s.io/kubernetes v1.37.1,
// each named by its It(). Its model: namespaces x, y, z labelled
// kubernetes.io/metadata.name; pods a, b, c labelled pod=NAME, serving
// ports 80 and 81 on TCP and UDP, named serve-PORT-PROTOCOL. Each case
// lists the pods it creates, the policies (in x unless said), and per
// probe (port, protocol) the reachability matrix: everything allowed, then
// the e2e's Expect* calls in order.

const nsKey = "kubernetes.io/metadata.name"

var (
	tcp  = corev1.ProtocolTCP
	udp  = corev1.ProtocolUDP
	sctp = corev1.ProtocolSCTP
)

// model builds the pods "ns/pod" with e2e's labels, ports and an address
// each: 10.0.<ns>.<pod> (x=1, y=2, z=3; a=1, b=2, c=3).
func model(t *testing.T, names ...string) []Peer {
	t.Helper()
	var peers []Peer
	for _, n := range names {
		ns, pod, ok := strings.Cut(n, "/")
		if !ok {
			t.Fatalf("pod %q is not NS/POD", n)
		}
		var ports []corev1.ContainerPort
		for _, proto := range []corev1.Protocol{tcp, udp} {
			for _, p := range []int32{80, 81} {
				ports = append(ports, corev1.ContainerPort{Name: fmt.Sprintf("serve-%d-%s", p, strings.ToLower(string(proto))), Protocol: proto, ContainerPort: p})
			}
		}
		peers = append(peers, Peer{Pod: &Pod{
			Namespace: Namespace{Name: ns, Labels: map[string]string{nsKey: ns}},
			Name:      pod,
			Labels:    map[string]string{"pod": pod},
			IP:        podIP(ns, pod),
			Ports:     ports,
		}})
	}
	return peers
}

func podIP(ns, pod string) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 0, ns[0] - 'x' + 1, pod[0] - 'a' + 1})
}

// reach is e2e's Reachability: expected[from][to] over "ns/pod" strings.
type reach map[string]map[string]bool

// sel is e2e's Peer: an empty field matches every namespace or pod.
type sel struct{ ns, pod string }

func (s sel) matches(p string) bool {
	ns, pod, _ := strings.Cut(p, "/")
	return (s.ns == "" || s.ns == ns) && (s.pod == "" || s.pod == pod)
}

type expect struct {
	from, to sel
	allowed  bool
}

func allIngress(to string, v bool) expect {
	ns, pod, _ := strings.Cut(to, "/")
	return expect{to: sel{ns, pod}, allowed: v}
}

func allEgress(from string, v bool) expect {
	ns, pod, _ := strings.Cut(from, "/")
	return expect{from: sel{ns, pod}, allowed: v}
}

func pair(from, to string, v bool) expect {
	fns, fpod, _ := strings.Cut(from, "/")
	tns, tpod, _ := strings.Cut(to, "/")
	return expect{from: sel{fns, fpod}, to: sel{tns, tpod}, allowed: v}
}

type probe struct {
	port   int32
	proto  corev1.Protocol
	expect []expect
}

func np(name string, target map[string]string, mods ...func(*networkingv1.NetworkPolicy)) networkingv1.NetworkPolicy {
	p := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "x"}}
	p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: target}
	for _, m := range mods {
		m(&p)
	}
	return p
}

// ingress and egress are e2e's SetSpecIngressRules and SetSpecEgressRules:
// they add the rules and the policy type.
func ingress(rules ...networkingv1.NetworkPolicyIngressRule) func(*networkingv1.NetworkPolicy) {
	return func(p *networkingv1.NetworkPolicy) {
		if p.Spec.Ingress == nil {
			p.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{}
			p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		}
		p.Spec.Ingress = append(p.Spec.Ingress, rules...)
	}
}

func egress(rules ...networkingv1.NetworkPolicyEgressRule) func(*networkingv1.NetworkPolicy) {
	return func(p *networkingv1.NetworkPolicy) {
		if p.Spec.Egress == nil {
			p.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{}
			p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
		p.Spec.Egress = append(p.Spec.Egress, rules...)
	}
}

func from(peers ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: peers}
}

func to(peers ...networkingv1.NetworkPolicyPeer) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: peers}
}

func labelsSel(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

func exprSel(key string, op metav1.LabelSelectorOperator, values ...string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func podPeer(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: s}
}

func nsPeer(s *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: s}
}

func bothPeer(ns, pod *metav1.LabelSelector) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{NamespaceSelector: ns, PodSelector: pod}
}

func blockPeer(cidr string, except ...string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}
}

func npPort(p intstr.IntOrString, proto *corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: &p, Protocol: proto}
}

func ruleWith(r networkingv1.NetworkPolicyIngressRule, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyIngressRule {
	r.Ports = ports
	return r
}

func eruleWith(r networkingv1.NetworkPolicyEgressRule, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyEgressRule {
	r.Ports = ports
	return r
}

func tcp80() []probe { return []probe{{port: 80, proto: tcp}} }

type e2eCase struct {
	name     string
	pods     []string
	policies []networkingv1.NetworkPolicy
	probes   []probe
}

func TestE2ESuite(t *testing.T) {
	ab := []string{"x/a", "x/b", "y/a", "y/b"}
	intstr80, intstr81 := intstr.FromInt32(80), intstr.FromInt32(81)
	largeCIDR := "0.0.0.0/4" // e2e's makeLargeCIDRForIP(x/b): x/b's address masked to /4
	cases := []e2eCase{
		{
			name:     "should support a 'default-deny-ingress' policy",
			pods:     ab,
			policies: []networkingv1.NetworkPolicy{np("deny-ingress", nil, ingress())},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{{to: sel{ns: "x"}, allowed: false}}}},
		},
		{
			name:     "should support a 'default-deny-all' policy",
			pods:     []string{"x/a", "x/b", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("deny-all", nil, ingress(), egress())},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{{to: sel{ns: "x"}}, {from: sel{ns: "x"}}}}},
		},
		{
			name:     "should enforce policy to allow traffic from pods within server namespace based on PodSelector",
			pods:     []string{"x/a", "x/b", "x/c", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("x-a-allows-x-b", labelsSel("pod", "a").MatchLabels, ingress(from(podPeer(labelsSel("pod", "b")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allIngress("x/a", false), pair("x/b", "x/a", true)}}},
		},
		{
			name: "should enforce policy to allow ingress traffic for a target",
			pods: []string{"x/a", "x/b", "y/a"},
			policies: []networkingv1.NetworkPolicy{
				np("deny-all", nil, ingress()),
				np("allow-all-to-a", map[string]string{"pod": "a"}, ingress(from(bothPeer(&metav1.LabelSelector{}, &metav1.LabelSelector{})))),
			},
			probes: []probe{{port: 80, proto: tcp, expect: []expect{allIngress("x/a", true), allIngress("x/b", false)}}},
		},
		{
			name:     "should enforce policy to allow ingress traffic from pods in all namespaces",
			pods:     []string{"x/a", "x/b", "y/a", "z/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-from-another-ns", map[string]string{"pod": "a"}, ingress(from(nsPeer(labelsSel()))))},
			probes:   tcp80(),
		},
		{
			name:     "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector",
			pods:     []string{"x/a", "x/b", "y/a", "z/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-client-a-via-ns-selector", map[string]string{"pod": "a"}, ingress(from(nsPeer(labelsSel(nsKey, "y")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{pair("x/", "x/a", false), pair("z/", "x/a", false)}}},
		},
		{
			name:     "should enforce policy based on PodSelector with MatchExpressions",
			pods:     []string{"x/a", "x/b", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("x-a-allows-x-b", map[string]string{"pod": "a"}, ingress(from(podPeer(exprSel("pod", metav1.LabelSelectorOpIn, "b")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allIngress("x/a", false), pair("x/b", "x/a", true)}}},
		},
		{
			name:     "should enforce policy based on NamespaceSelector with MatchExpressions",
			pods:     []string{"x/a", "x/b", "y/a", "z/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-ns-y-match-selector", map[string]string{"pod": "a"}, ingress(from(nsPeer(exprSel(nsKey, metav1.LabelSelectorOpIn, "y")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{pair("x/", "x/a", false), pair("z/", "x/a", false)}}},
		},
		{
			name:     "should enforce policy based on PodSelector or NamespaceSelector",
			pods:     []string{"x/a", "x/b", "x/c", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-ns-y-match-selector", map[string]string{"pod": "a"}, ingress(from(nsPeer(exprSel(nsKey, metav1.LabelSelectorOpNotIn, "x")), podPeer(labelsSel("pod", "b")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{pair("x/a", "x/a", false), pair("x/c", "x/a", false)}}},
		},
		{
			name:     "should enforce policy based on PodSelector and NamespaceSelector",
			pods:     []string{"x/a", "x/b", "y/a", "y/b", "z/b"},
			policies: []networkingv1.NetworkPolicy{np("allow-ns-y-podselector-and-nsselector", map[string]string{"pod": "a"}, ingress(from(bothPeer(exprSel(nsKey, metav1.LabelSelectorOpNotIn, "x"), labelsSel("pod", "b")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allIngress("x/a", false), pair("y/b", "x/a", true), pair("z/b", "x/a", true)}}},
		},
		{
			name:     "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
			pods:     []string{"x/a", "x/b", "y/a", "y/b", "y/c"},
			policies: []networkingv1.NetworkPolicy{np("allow-ns-y-z-pod-b-c", map[string]string{"pod": "a"}, ingress(from(bothPeer(exprSel(nsKey, metav1.LabelSelectorOpNotIn, "x"), exprSel("pod", metav1.LabelSelectorOpIn, "b", "c")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{pair("x/", "x/a", false), pair("y/a", "x/a", false)}}},
		},
		{
			name:     "should enforce policy based on any PodSelectors",
			pods:     []string{"x/a", "x/b", "x/c"},
			policies: []networkingv1.NetworkPolicy{np("allow-ns-x-pod-b-c", map[string]string{"pod": "a"}, ingress(from(podPeer(labelsSel("pod", "b")), podPeer(labelsSel("pod", "c")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allIngress("x/a", false), pair("x/b", "x/a", true), pair("x/c", "x/a", true)}}},
		},
		{
			name:     "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
			pods:     []string{"x/a", "x/b", "y/a", "y/b", "z/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-ns-y-pod-a-via-namespace-pod-selector", map[string]string{"pod": "a"}, ingress(from(bothPeer(labelsSel(nsKey, "y"), labelsSel("pod", "a")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allIngress("x/a", false), pair("y/a", "x/a", true)}}},
		},
		{
			name:     "should enforce policy based on Ports",
			pods:     []string{"x/a", "x/b", "y/a", "y/b", "z/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-client-a-via-ns-selector", map[string]string{"pod": "a"}, ingress(ruleWith(from(nsPeer(labelsSel(nsKey, "y"))), npPort(intstr81, &tcp))))},
			probes: []probe{
				{port: 81, proto: tcp, expect: []expect{pair("x/", "x/a", false), pair("y/", "x/a", true), pair("z/", "x/a", false)}},
				// Not probed by the e2e in this case, but what its next case
				// checks before adding the port-80 policy.
				{port: 80, proto: tcp, expect: []expect{allIngress("x/a", false)}},
			},
		},
		{
			name: "should enforce multiple, stacked policies with overlapping podSelectors",
			pods: []string{"x/a", "x/b", "y/a", "y/b", "z/a"},
			policies: []networkingv1.NetworkPolicy{
				np("allow-client-a-via-ns-selector", map[string]string{"pod": "a"}, ingress(ruleWith(from(nsPeer(labelsSel(nsKey, "y"))), npPort(intstr81, &tcp)))),
				np("allow-client-a-via-ns-selector-80", map[string]string{"pod": "a"}, ingress(ruleWith(from(nsPeer(labelsSel(nsKey, "y"))), npPort(intstr80, &tcp)))),
			},
			probes: []probe{
				{port: 81, proto: tcp, expect: []expect{pair("x/", "x/a", false), pair("y/", "x/a", true), pair("z/", "x/a", false)}},
				{port: 80, proto: tcp, expect: []expect{pair("x/", "x/a", false), pair("y/", "x/a", true), pair("z/", "x/a", false)}},
			},
		},
		{
			name:     "should support allow-all policy",
			pods:     []string{"x/a", "x/b", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-all", nil, ingress(networkingv1.NetworkPolicyIngressRule{}))},
			probes:   []probe{{port: 80, proto: tcp}, {port: 81, proto: tcp}},
		},
		{
			name:     "should allow ingress access on one named port",
			pods:     []string{"x/a", "x/b", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-all", nil, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, npPort(intstr.FromString("serve-81-tcp"), nil))))},
			probes: []probe{
				{port: 81, proto: tcp},
				{port: 80, proto: tcp, expect: []expect{{to: sel{ns: "x"}}}},
			},
		},
		{
			name:     "should allow ingress access from namespace on one named port",
			pods:     []string{"x/a", "x/b", "y/a", "z/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-client-a-via-ns-selector-80", map[string]string{"pod": "a"}, ingress(ruleWith(from(nsPeer(labelsSel(nsKey, "y"))), npPort(intstr.FromString("serve-80-tcp"), &tcp))))},
			probes: []probe{
				{port: 80, proto: tcp, expect: []expect{pair("x/", "x/a", false), pair("z/", "x/a", false)}},
				{port: 81, proto: tcp, expect: []expect{allIngress("x/a", false)}},
			},
		},
		{
			name:     "should allow egress access on one named port",
			pods:     []string{"x/a", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-egress", nil, egress(eruleWith(networkingv1.NetworkPolicyEgressRule{}, npPort(intstr.FromString("serve-80-tcp"), nil))))},
			probes: []probe{
				{port: 80, proto: tcp},
				{port: 81, proto: tcp, expect: []expect{{from: sel{ns: "x"}}}},
			},
		},
		{
			name:     "should not allow all ports if it cannot limit to the requested port",
			pods:     []string{"x/a", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-ingress-on-nonexistent-port", map[string]string{"pod": "a"}, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, npPort(intstr.FromString("no-such-port"), &tcp))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allIngress("x/a", false)}}},
		},
		{
			name:     "should deny ingress from pods on other namespaces",
			pods:     []string{"x/a", "x/b", "y/a", "z/a"},
			policies: []networkingv1.NetworkPolicy{np("deny-empty-policy", nil, ingress(from(podPeer(labelsSel()))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{pair("y/", "x/", false), pair("z/", "x/", false)}}},
		},
		{
			name:     "should deny egress from pods based on PodSelector",
			pods:     []string{"x/a", "x/b", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("deny-egress-pod-a", map[string]string{"pod": "a"}, egress())},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allEgress("x/a", false)}}},
		},
		{
			name:     "should deny egress from all pods in a namespace",
			pods:     []string{"x/a", "x/b", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("deny-egress-ns-x", nil, egress())},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{{from: sel{ns: "x"}}}}},
		},
		{
			name: "should work with Ingress, Egress specified together",
			pods: []string{"x/a", "x/b", "x/c", "y/a"},
			policies: []networkingv1.NetworkPolicy{func() networkingv1.NetworkPolicy {
				p := np("allow-client-a-via-pod-selector", map[string]string{"pod": "a"}, ingress(from(podPeer(labelsSel("pod", "b")))))
				p.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{eruleWith(networkingv1.NetworkPolicyEgressRule{}, npPort(intstr80, nil))}
				p.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}
				return p
			}()},
			probes: []probe{
				{port: 80, proto: tcp, expect: []expect{allIngress("x/a", false), pair("x/b", "x/a", true)}},
				{port: 81, proto: tcp, expect: []expect{allIngress("x/a", false), allEgress("x/a", false), pair("x/b", "x/a", true)}},
			},
		},
		{
			name: "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)",
			pods: []string{"x/a", "y/a", "y/b"},
			policies: []networkingv1.NetworkPolicy{
				np("allow-to-ns-y-pod-a", map[string]string{"pod": "a"}, egress(to(bothPeer(labelsSel(nsKey, "y"), labelsSel("pod", "a"))))),
				func() networkingv1.NetworkPolicy {
					p := np("allow-from-xa-on-ya-match-selector", map[string]string{"pod": "a"}, ingress(from(bothPeer(labelsSel(nsKey, "x"), labelsSel("pod", "a")))))
					p.Namespace = "y"
					return p
				}(),
				func() networkingv1.NetworkPolicy {
					p := np("allow-from-xa-on-yb-match-selector", map[string]string{"pod": "b"}, ingress(from(bothPeer(labelsSel(nsKey, "x"), labelsSel("pod", "a")))))
					p.Namespace = "y"
					return p
				}(),
			},
			probes: []probe{{port: 80, proto: tcp, expect: []expect{
				pair("x/a", "", false), pair("", "y/a", false), pair("x/a", "y/a", true), pair("", "y/b", false),
			}}},
		},
		{
			name:     "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector",
			pods:     []string{"x/a", "y/a", "y/b"},
			policies: []networkingv1.NetworkPolicy{np("allow-to-ns-y-pod-a", map[string]string{"pod": "a"}, egress(to(bothPeer(labelsSel(nsKey, "y"), labelsSel("pod", "a")))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allEgress("x/a", false), pair("x/a", "y/a", true)}}},
		},
		{
			name:     "should enforce ingress policy allowing any port traffic to a server on a specific protocol",
			pods:     []string{"x/a", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-ingress-by-proto", map[string]string{"pod": "a"}, ingress(networkingv1.NetworkPolicyIngressRule{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp}}}))},
			probes: []probe{
				{port: 80, proto: tcp},
				{port: 80, proto: udp, expect: []expect{allIngress("x/a", false)}},
			},
		},
		{
			name:     "should enforce multiple ingress policies with ingress allow-all policy taking precedence",
			pods:     []string{"x/a", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-ingress-port-80", nil, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, npPort(intstr80, nil)))), np("allow-ingress", nil, ingress(networkingv1.NetworkPolicyIngressRule{}))},
			probes:   []probe{{port: 81, proto: tcp}},
		},
		{
			name:     "should enforce multiple ingress policies with ingress allow-all policy taking precedence (before allow-all)",
			pods:     []string{"x/a", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-ingress-port-80", nil, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, npPort(intstr80, nil))))},
			probes:   []probe{{port: 81, proto: tcp, expect: []expect{{to: sel{ns: "x"}}}}},
		},
		{
			name:     "should enforce multiple egress policies with egress allow-all policy taking precedence",
			pods:     []string{"x/a", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-egress-port-80", nil, egress(eruleWith(networkingv1.NetworkPolicyEgressRule{}, npPort(intstr80, nil)))), np("allow-egress", nil, egress(networkingv1.NetworkPolicyEgressRule{}))},
			probes:   []probe{{port: 81, proto: tcp}},
		},
		{
			name:     "should enforce multiple egress policies with egress allow-all policy taking precedence (before allow-all)",
			pods:     []string{"x/a", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-egress-port-80", nil, egress(eruleWith(networkingv1.NetworkPolicyEgressRule{}, npPort(intstr80, nil))))},
			probes:   []probe{{port: 81, proto: tcp, expect: []expect{{from: sel{ns: "x"}}}}},
		},
		{
			name:   "should stop enforcing policies after they are deleted (after deletion)",
			pods:   []string{"x/a", "y/a"},
			probes: tcp80(),
		},
		{
			name:     "should allow egress access to server in CIDR block",
			pods:     []string{"x/a", "y/a", "y/b"},
			policies: []networkingv1.NetworkPolicy{np("allow-client-a-via-cidr-egress-rule", map[string]string{"pod": "a"}, egress(to(blockPeer(podIP("y", "b").String()+"/32"))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allEgress("x/a", false), pair("x/a", "y/b", true)}}},
		},
		{
			name:     "should enforce except clause while egress access to server in CIDR block",
			pods:     []string{"x/a", "x/b", "x/c"},
			policies: []networkingv1.NetworkPolicy{np("allow-client-a-via-cidr-egress-rule", map[string]string{"pod": "a"}, egress(to(blockPeer(largeCIDR, podIP("x", "b").String()+"/32"))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{pair("x/a", "x/b", false)}}},
		},
		{
			name:     "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed (after the update)",
			pods:     []string{"x/a", "x/b", "x/c"},
			policies: []networkingv1.NetworkPolicy{np("allow-client-a-via-cidr-egress-rule", map[string]string{"pod": "a"}, egress(to(blockPeer(podIP("x", "b").String()+"/32"))))},
			probes:   []probe{{port: 80, proto: tcp, expect: []expect{allEgress("x/a", false), pair("x/a", "x/b", true)}}},
		},
		{
			name: "should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector",
			pods: []string{"x/a", "x/b", "y/a"},
			policies: []networkingv1.NetworkPolicy{
				np("allow-egress-for-target", map[string]string{"pod": "a"}, egress(networkingv1.NetworkPolicyEgressRule{})),
				np("deny-ingress-via-label-selector", map[string]string{"pod": "a"}, ingress()),
			},
			probes: []probe{{port: 80, proto: tcp, expect: []expect{allIngress("x/a", false)}}},
		},
		{
			name:     "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP",
			pods:     []string{"x/a", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-only-sctp-ingress-on-port-81", map[string]string{"pod": "a"}, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, npPort(intstr81, &sctp))))},
			probes:   []probe{{port: 81, proto: tcp, expect: []expect{allIngress("x/a", false)}}},
		},
		{
			name:     "should not allow access by TCP when a policy specifies only UDP",
			pods:     []string{"x/a", "y/a"},
			policies: []networkingv1.NetworkPolicy{np("allow-only-udp-ingress-on-port-81", map[string]string{"pod": "a"}, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, npPort(intstr81, &udp))))},
			probes:   []probe{{port: 81, proto: tcp, expect: []expect{allIngress("x/a", false)}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := New(c.policies)
			if err != nil {
				t.Fatal(err)
			}
			peers := model(t, c.pods...)
			for _, pr := range c.probes {
				for _, src := range peers {
					for _, dst := range peers {
						want := true
						for _, x := range pr.expect {
							if x.from.matches(src.String()) && x.to.matches(dst.String()) {
								want = x.allowed
							}
						}
						v := e.Allowed(Traffic{From: src, To: dst, Protocol: pr.proto, Port: pr.port})
						if v.Allowed != want {
							t.Errorf("%s -> %s %s/%d: got %s, want allowed=%v", src, dst, pr.proto, pr.port, v, want)
						}
					}
				}
			}
		})
	}
}

// TestBeyondE2E covers what the e2e suite leaves to the API's reference
// (endPort, policyTypes defaulting, addresses that are no pod's).
func TestBeyondE2E(t *testing.T) {
	peers := model(t, "x/a", "y/a")
	xa, ya := peers[0], peers[1]
	internet := Peer{IP: netip.MustParseAddr("93.184.216.34")}
	v6 := Peer{IP: netip.MustParseAddr("2606:2800:220:1::1")}
	end := int32(8090)
	rangePort := npPort(intstr.FromInt32(8080), nil)
	rangePort.EndPort = &end
	cases := []struct {
		name    string
		policy  networkingv1.NetworkPolicy
		traffic Traffic
		allowed bool
	}{
		{"endPort: first port of the range", np("range", nil, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, rangePort))), Traffic{From: ya, To: xa, Port: 8080}, true},
		{"endPort: last port of the range", np("range", nil, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, rangePort))), Traffic{From: ya, To: xa, Port: 8090}, true},
		{"endPort: past the range", np("range", nil, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, rangePort))), Traffic{From: ya, To: xa, Port: 8091}, false},
		{"endPort: range is TCP only", np("range", nil, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, rangePort))), Traffic{From: ya, To: xa, Port: 8085, Protocol: udp}, false},
		{"policyTypes empty, no egress rules: ingress only", networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "x"}}, Traffic{From: xa, To: ya, Port: 80}, true},
		{"policyTypes empty, no egress rules: ingress isolated", networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "x"}}, Traffic{From: ya, To: xa, Port: 80}, false},
		{"policyTypes empty, egress rules: egress isolated", networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "x"}, Spec: networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{eruleWith(networkingv1.NetworkPolicyEgressRule{}, npPort(intstr.FromInt32(53), &udp))}}}, Traffic{From: xa, To: ya, Port: 80}, false},
		{"egress to an address: a namespaceSelector matching all does not match it", np("e", nil, egress(to(nsPeer(labelsSel())))), Traffic{From: xa, To: internet, Port: 443}, false},
		{"egress to an address: a podSelector matching all does not match it", np("e", nil, egress(to(podPeer(labelsSel())))), Traffic{From: xa, To: internet, Port: 443}, false},
		{"egress to an address: a rule without peers matches it", np("e", nil, egress(eruleWith(networkingv1.NetworkPolicyEgressRule{}, npPort(intstr.FromInt32(443), nil)))), Traffic{From: xa, To: internet, Port: 443}, true},
		{"egress to an address: ipBlock", np("e", nil, egress(to(blockPeer("0.0.0.0/0", "10.0.0.0/8")))), Traffic{From: xa, To: internet, Port: 443}, true},
		{"egress to an address: ipBlock except", np("e", nil, egress(to(blockPeer("0.0.0.0/0", "10.0.0.0/8")))), Traffic{From: xa, To: ya, Port: 443}, false},
		{"egress to an address: an IPv4 block does not match IPv6", np("e", nil, egress(to(blockPeer("0.0.0.0/0")))), Traffic{From: xa, To: v6, Port: 443}, false},
		{"egress to an address: IPv6 block", np("e", nil, egress(to(blockPeer("::/0", "fc00::/7")))), Traffic{From: xa, To: v6, Port: 443}, true},
		{"egress to an address: a named port never matches", np("e", nil, egress(eruleWith(networkingv1.NetworkPolicyEgressRule{}, npPort(intstr.FromString("serve-80-tcp"), nil)))), Traffic{From: xa, To: internet, Port: 80}, false},
		{"ingress from an address: only an ipBlock admits it", np("i", nil, ingress(from(nsPeer(labelsSel())))), Traffic{From: internet, To: xa, Port: 80}, false},
		{"ingress from an address: ipBlock", np("i", nil, ingress(from(blockPeer("93.184.216.0/24")))), Traffic{From: internet, To: xa, Port: 80}, true},
		{"ingress to an address is not the policies' to judge", np("deny", nil, ingress()), Traffic{From: ya, To: internet, Port: 80}, true},
		{"a policy of another namespace selects nothing here", func() networkingv1.NetworkPolicy { p := np("deny", nil, ingress()); p.Namespace = "z"; return p }(), Traffic{From: ya, To: xa, Port: 80}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := New([]networkingv1.NetworkPolicy{c.policy})
			if err != nil {
				t.Fatal(err)
			}
			if v := e.Allowed(c.traffic); v.Allowed != c.allowed {
				t.Errorf("%s -> %s %s/%d: got %s, want allowed=%v", c.traffic.From, c.traffic.To, c.traffic.Protocol, c.traffic.Port, v, c.allowed)
			}
		})
	}
}

// TestNewRefuses: what the API server would refuse is an error naming the
// policy, not a guess.
func TestNewRefuses(t *testing.T) {
	low := int32(10)
	bad := []networkingv1.NetworkPolicy{
		np("bad-selector", nil, func(p *networkingv1.NetworkPolicy) {
			p.Spec.PodSelector = *exprSel("k", "Sometimes", "v")
		}),
		np("bad-cidr", nil, egress(to(blockPeer("300.0.0.0/8")))),
		np("empty-peer", nil, ingress(from(networkingv1.NetworkPolicyPeer{}))),
		np("endport-below", nil, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, func() networkingv1.NetworkPolicyPort {
			p := npPort(intstr.FromInt32(80), nil)
			p.EndPort = &low
			return p
		}()))),
		np("endport-named", nil, ingress(ruleWith(networkingv1.NetworkPolicyIngressRule{}, func() networkingv1.NetworkPolicyPort {
			p := npPort(intstr.FromString("http"), nil)
			p.EndPort = &low
			return p
		}()))),
		np("bad-type", nil, func(p *networkingv1.NetworkPolicy) { p.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"} }),
	}
	for _, p := range bad {
		t.Run(p.Name, func(t *testing.T) {
			_, err := New([]networkingv1.NetworkPolicy{p})
			if err == nil || !strings.Contains(err.Error(), "x/"+p.Name) {
				t.Errorf("New(%s) = %v, want an error naming it", p.Name, err)
			}
		})
	}
}

// TestVerdictString: a person reads which policies decided.
func TestVerdictString(t *testing.T) {
	peers := model(t, "x/a", "y/a")
	xa, ya := peers[0], peers[1]
	e, err := New([]networkingv1.NetworkPolicy{
		np("deny", nil, ingress()),
		np("allow-y", map[string]string{"pod": "a"}, ingress(from(nsPeer(labelsSel(nsKey, "y"))))),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		traffic Traffic
		want    string
	}{
		{Traffic{From: ya, To: xa, Port: 80}, "allowed (egress not isolated: no policy selects the pod; ingress allowed by x/allow-y)"},
		{Traffic{From: xa, To: xa, Port: 80}, "denied (ingress isolated by x/deny, x/allow-y)"},
		{Traffic{From: xa, To: Peer{IP: netip.MustParseAddr("192.0.2.1")}, Port: 80}, "allowed (egress not isolated: no policy selects the pod)"},
	} {
		if got := e.Allowed(c.traffic).String(); got != c.want {
			t.Errorf("%s -> %s: %q, want %q", c.traffic.From, c.traffic.To, got, c.want)
		}
	}
}
