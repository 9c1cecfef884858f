// Package netpol evaluates Kubernetes networking/v1 NetworkPolicies: given
// the policies of a cluster (or of the namespaces one cares about), the pods
// at both ends of a connection and the connection's protocol and port, it
// tells whether the policies allow it.
//
// It follows the NetworkPolicy API's semantics, as Kubernetes' own network
// policy e2e suite (test/e2e/network/netpol) checks them:
//
//   - a policy selects the pods of its own namespace that its podSelector
//     matches (an empty selector selects them all);
//   - a pod no policy of a direction selects is open in that direction;
//     once selected, only what some rule of some selecting policy allows
//     passes (rules and policies are OR'd);
//   - a connection needs both the source's egress and the destination's
//     ingress to allow it;
//   - a rule with no peers matches every peer, one with no ports every port;
//   - a peer's podSelector alone means pods of the policy's namespace, its
//     namespaceSelector alone every pod of the matching namespaces, both
//     together the matching pods of the matching namespaces; an ipBlock
//     matches addresses in its CIDR and in none of its excepts, and is the
//     only kind of peer an address outside the cluster's pods can match;
//   - a port's protocol defaults to TCP; no port number means every port of
//     the protocol; endPort makes a range; a named port is the destination
//     pod's container port of that name and protocol;
//   - policyTypes, when empty, is Ingress, plus Egress when the policy has
//     egress rules.
//
// What the API leaves to network plugins (host-network pods, traffic to a
// node, a Service's virtual IP before translation) is outside it: callers
// give the addresses traffic really goes to.
package netpol

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Namespace is a namespace as policies see it. Kubernetes labels every
// namespace kubernetes.io/metadata.name=NAME; callers building a namespace
// by hand should include that label, as Labels is matched as given.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Pod is a pod as policies see it.
type Pod struct {
	Namespace Namespace
	Name      string
	Labels    map[string]string
	// IP is the pod's address, matched by ipBlock peers; the zero value
	// matches none.
	IP netip.Addr
	// Ports are its containers' ports, for named ports.
	Ports []corev1.ContainerPort
}

// Peer is one end of a connection: a pod, or, when Pod is nil, an address
// that is no pod's (outside the cluster, a node, the API server).
type Peer struct {
	Pod *Pod
	IP  netip.Addr
}

// String names the peer: "NAMESPACE/POD" or its address.
func (p Peer) String() string {
	if p.Pod != nil {
		return p.Pod.Namespace.Name + "/" + p.Pod.Name
	}
	return p.IP.String()
}

func (p Peer) addr() netip.Addr {
	if p.Pod != nil {
		return p.Pod.IP
	}
	return p.IP
}

// Traffic is one connection to ask about.
type Traffic struct {
	From, To Peer
	// Protocol is TCP when empty.
	Protocol corev1.Protocol
	Port     int32
}

// Verdict is the answer for one connection: Allowed when both the source's
// egress and the destination's ingress allow it. Each direction says which
// policies isolate its pod and which of them allow the connection, so a
// person can see why.
type Verdict struct {
	Allowed bool
	Egress  Direction
	Ingress Direction
}

// Direction is one side's answer. A pod no policy selects for the direction
// is not Isolated and is Allowed; so is an address that is no pod's, which
// policies do not judge (Pod is false).
type Direction struct {
	Allowed  bool
	Pod      bool
	Isolated bool
	// SelectedBy names the policies ("NAMESPACE/NAME") selecting the pod for
	// the direction, AllowedBy those of them with a rule that matches.
	SelectedBy []string
	AllowedBy  []string
}

// Evaluator answers for a fixed set of policies. Build it with New.
type Evaluator struct {
	policies []policy
}

type policy struct {
	name      string
	namespace string
	selector  labels.Selector
	ingress   bool
	egress    bool
	inRules   []rule
	outRules  []rule
}

type rule struct {
	peers []peer // nil: every peer
	ports []port // nil: every port
}

type peer struct {
	pods       labels.Selector // nil: any pod (of the namespaces below)
	namespaces labels.Selector // nil: the policy's own namespace
	block      *block
}

type block struct {
	cidr   netip.Prefix
	except []netip.Prefix
}

type port struct {
	protocol corev1.Protocol
	all      bool
	from, to int32
	name     string
}

// New compiles the policies. It fails on what the API server refuses (a
// selector or CIDR that does not parse, a peer naming nothing, an endPort
// without a numeric port or below it), naming the policy, since a live
// policy cannot be so and one that is was not read from a cluster.
func New(policies []networkingv1.NetworkPolicy) (*Evaluator, error) {
	e := &Evaluator{}
	for i := range policies {
		p, err := compile(&policies[i])
		if err != nil {
			return nil, fmt.Errorf("NetworkPolicy %s/%s cannot be evaluated: %w; check it with kubectl describe", policies[i].Namespace, policies[i].Name, err)
		}
		e.policies = append(e.policies, p)
	}
	return e, nil
}

func compile(np *networkingv1.NetworkPolicy) (policy, error) {
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		return policy{}, fmt.Errorf("podSelector: %w", err)
	}
	p := policy{name: np.Namespace + "/" + np.Name, namespace: np.Namespace, selector: sel}
	if len(np.Spec.PolicyTypes) == 0 {
		p.ingress = true
		p.egress = len(np.Spec.Egress) > 0
	}
	for _, t := range np.Spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			p.ingress = true
		case networkingv1.PolicyTypeEgress:
			p.egress = true
		default:
			return policy{}, fmt.Errorf("policyTypes has %q, not Ingress or Egress", t)
		}
	}
	for i, r := range np.Spec.Ingress {
		c, err := compileRule(r.From, r.Ports)
		if err != nil {
			return policy{}, fmt.Errorf("ingress rule %d: %w", i+1, err)
		}
		p.inRules = append(p.inRules, c)
	}
	for i, r := range np.Spec.Egress {
		c, err := compileRule(r.To, r.Ports)
		if err != nil {
			return policy{}, fmt.Errorf("egress rule %d: %w", i+1, err)
		}
		p.outRules = append(p.outRules, c)
	}
	return p, nil
}

func compileRule(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) (rule, error) {
	var r rule
	for i, np := range peers {
		var c peer
		switch {
		case np.IPBlock != nil:
			if np.PodSelector != nil || np.NamespaceSelector != nil {
				return rule{}, fmt.Errorf("peer %d has an ipBlock beside a selector", i+1)
			}
			b, err := compileBlock(np.IPBlock)
			if err != nil {
				return rule{}, fmt.Errorf("peer %d: %w", i+1, err)
			}
			c.block = b
		case np.PodSelector == nil && np.NamespaceSelector == nil:
			return rule{}, fmt.Errorf("peer %d names no pods, namespaces or addresses", i+1)
		default:
			if np.PodSelector != nil {
				s, err := metav1.LabelSelectorAsSelector(np.PodSelector)
				if err != nil {
					return rule{}, fmt.Errorf("peer %d podSelector: %w", i+1, err)
				}
				c.pods = s
			}
			if np.NamespaceSelector != nil {
				s, err := metav1.LabelSelectorAsSelector(np.NamespaceSelector)
				if err != nil {
					return rule{}, fmt.Errorf("peer %d namespaceSelector: %w", i+1, err)
				}
				c.namespaces = s
			}
		}
		r.peers = append(r.peers, c)
	}
	for i, np := range ports {
		c := port{protocol: corev1.ProtocolTCP}
		if np.Protocol != nil {
			c.protocol = *np.Protocol
		}
		switch {
		case np.Port == nil:
			if np.EndPort != nil {
				return rule{}, fmt.Errorf("port %d has an endPort without a port", i+1)
			}
			c.all = true
		case np.Port.Type == intstr.String:
			if np.EndPort != nil {
				return rule{}, fmt.Errorf("port %d has an endPort beside the named port %q", i+1, np.Port.StrVal)
			}
			c.name = np.Port.StrVal
		default:
			c.from, c.to = np.Port.IntVal, np.Port.IntVal
			if np.EndPort != nil {
				if *np.EndPort < c.from {
					return rule{}, fmt.Errorf("port %d has endPort %d below its port %d", i+1, *np.EndPort, c.from)
				}
				c.to = *np.EndPort
			}
		}
		r.ports = append(r.ports, c)
	}
	return r, nil
}

func compileBlock(b *networkingv1.IPBlock) (*block, error) {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return nil, fmt.Errorf("ipBlock cidr %q: %w", b.CIDR, err)
	}
	c := &block{cidr: cidr.Masked()}
	for _, e := range b.Except {
		x, err := netip.ParsePrefix(e)
		if err != nil {
			return nil, fmt.Errorf("ipBlock except %q: %w", e, err)
		}
		c.except = append(c.except, x.Masked())
	}
	return c, nil
}

// Allowed answers for one connection.
func (e *Evaluator) Allowed(t Traffic) Verdict {
	if t.Protocol == "" {
		t.Protocol = corev1.ProtocolTCP
	}
	v := Verdict{Egress: Direction{Allowed: true}, Ingress: Direction{Allowed: true}}
	if t.From.Pod != nil {
		v.Egress = e.direction(t.From.Pod, t.To, t, false)
	}
	if t.To.Pod != nil {
		v.Ingress = e.direction(t.To.Pod, t.From, t, true)
	}
	v.Allowed = v.Egress.Allowed && v.Ingress.Allowed
	return v
}

// direction evaluates the policies selecting subject for one direction
// against other, the connection's far end.
func (e *Evaluator) direction(subject *Pod, other Peer, t Traffic, ingress bool) Direction {
	d := Direction{Pod: true}
	// The destination pod, whose container ports name ports: the subject
	// for ingress, the far end for egress (none when it is no pod).
	dest := other.Pod
	if ingress {
		dest = subject
	}
	for _, p := range e.policies {
		if p.namespace != subject.Namespace.Name || !p.selector.Matches(labels.Set(subject.Labels)) {
			continue
		}
		rules := p.outRules
		if ingress {
			if !p.ingress {
				continue
			}
			rules = p.inRules
		} else if !p.egress {
			continue
		}
		d.Isolated = true
		d.SelectedBy = append(d.SelectedBy, p.name)
		for _, r := range rules {
			if r.matches(p.namespace, other, dest, t) {
				d.AllowedBy = append(d.AllowedBy, p.name)
				break
			}
		}
	}
	d.Allowed = !d.Isolated || len(d.AllowedBy) > 0
	return d
}

func (r rule) matches(namespace string, other Peer, dest *Pod, t Traffic) bool {
	return r.matchesPeer(namespace, other) && r.matchesPort(dest, t)
}

func (r rule) matchesPeer(namespace string, other Peer) bool {
	if r.peers == nil {
		return true
	}
	for _, p := range r.peers {
		if p.matches(namespace, other) {
			return true
		}
	}
	return false
}

func (p peer) matches(namespace string, other Peer) bool {
	if p.block != nil {
		return p.block.contains(other.addr())
	}
	if other.Pod == nil {
		return false
	}
	if p.namespaces == nil {
		if other.Pod.Namespace.Name != namespace {
			return false
		}
	} else if !p.namespaces.Matches(labels.Set(other.Pod.Namespace.Labels)) {
		return false
	}
	return p.pods == nil || p.pods.Matches(labels.Set(other.Pod.Labels))
}

func (b *block) contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	if !b.cidr.Contains(a) {
		return false
	}
	for _, x := range b.except {
		if x.Contains(a) {
			return false
		}
	}
	return true
}

func (r rule) matchesPort(dest *Pod, t Traffic) bool {
	if r.ports == nil {
		return true
	}
	for _, p := range r.ports {
		if p.protocol != t.Protocol {
			continue
		}
		switch {
		case p.all:
			return true
		case p.name != "":
			if dest != nil && namedPort(dest, p.name, p.protocol) == t.Port {
				return true
			}
		case p.from <= t.Port && t.Port <= p.to:
			return true
		}
	}
	return false
}

// namedPort is the number of the pod's container port of that name and
// protocol, or -1.
func namedPort(pod *Pod, name string, protocol corev1.Protocol) int32 {
	for _, cp := range pod.Ports {
		proto := cp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		if cp.Name == name && proto == protocol {
			return cp.ContainerPort
		}
	}
	return -1
}

// String says the verdict and why, for a person: "allowed" or "denied",
// and by which direction's policies.
func (v Verdict) String() string {
	if v.Allowed {
		var why []string
		for _, d := range []struct {
			name string
			Direction
		}{{"egress", v.Egress}, {"ingress", v.Ingress}} {
			switch {
			case d.Isolated:
				why = append(why, d.name+" allowed by "+strings.Join(d.AllowedBy, ", "))
			case d.Pod:
				why = append(why, d.name+" not isolated: no policy selects the pod")
			}
		}
		return "allowed (" + strings.Join(why, "; ") + ")"
	}
	var why []string
	if !v.Egress.Allowed {
		why = append(why, "egress isolated by "+strings.Join(v.Egress.SelectedBy, ", "))
	}
	if !v.Ingress.Allowed {
		why = append(why, "ingress isolated by "+strings.Join(v.Ingress.SelectedBy, ", "))
	}
	return "denied (" + strings.Join(why, "; ") + ")"
}
