package provision

import (
	"hash/maphash"
	"strconv"
	"sync"
	"unique"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// releaseObject is what the release check reads of one object of a
// release's manifest, besides comparing it with the live one.
type releaseObject struct {
	gk       schema.GroupKind
	name, ns string // ns: "" for the store's namespace
	replicas int64  // spec.replicas, 1 when not set
}

func releaseObjectOf(o *unstructured.Unstructured) releaseObject {
	replicas := int64(1)
	v, found, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas")
	if f, ok := number(v); found && ok {
		replicas = int64(f)
	}
	return releaseObject{gk: o.GroupVersionKind().GroupKind(), name: o.GetName(), ns: o.GetNamespace(), replicas: replicas}
}

// diffMemo remembers what the release check found comparing each document
// of a release record in the reconciler's cache with its live object: by
// the document's text (and the store's namespace), the object it names,
// the live object's uid and resourceVersion (hashed), and the
// differences. The reconciler judges a store again whenever something in
// its namespace changes (a cron run every minute), and each time it
// decoded the record's documents and converted every live object to
// compare them: most of a judgement's work. When neither the document nor the live object changed since
// (the same resourceVersion is the same object), the comparison finds
// what it found then, and is not made again.
//
// It holds two generations of at most diffMemoGeneration entries, as
// docCache does: the documents of stores judged since the older began
// stay.
//
// It also remembers, for each store whose NetworkPolicies and isolation
// self-test passed, what they were judged from (policyInputs): the same
// policies, unchanged, judged for the same store pass again.
type diffMemo struct {
	seed     maphash.Seed
	mu       sync.Mutex
	gens     generations[uint64, diffMemoEntry]
	policies map[string]policyPass // by namespace
}

// policyPass is a store's policies and isolation self-test passed: from
// inputs (policyInputs), with how many policies urumi wants and how many
// connections the self-test probes.
type policyPass struct {
	inputs          uint64
	policies, cases int
}

// policyInputs is a hash of what judgement.policies reads: the store, its
// owner, the router's namespace and the plan's egress (which make the
// policies urumi wants and the self-test's table), and the live policies,
// each by name, uid and resourceVersion. 0, which is never remembered,
// when a live policy's uid or resourceVersion is unknown.
func (m *diffMemo) policyInputs(ns, store, owner, router string, egress Egress, live []networkingv1.NetworkPolicy) uint64 {
	var h maphash.Hash
	m.hash(&h, ns, store, owner, router, strconv.FormatBool(egress.PublicHTTPS), egress.MailRelay)
	for _, p := range live {
		if p.UID == "" || p.ResourceVersion == "" {
			return 0
		}
		writeFields(&h, p.Name, string(p.UID), p.ResourceVersion)
	}
	return h.Sum64() | 1
}

// policiesPassed is the store's pass, if its policies passed judged from
// these inputs.
func (m *diffMemo) policiesPassed(ns string, inputs uint64) (policyPass, bool) {
	if inputs == 0 {
		return policyPass{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.policies[ns]
	return p, ok && p.inputs == inputs
}

// policiesPass remembers that the store's policies passed, judged from
// inputs; it forgets any pass before.
func (m *diffMemo) policiesPass(ns string, inputs uint64, policies, cases int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.policies == nil || len(m.policies) >= 2*diffMemoGeneration {
		m.policies = map[string]policyPass{} // deleted stores' passes go too
	}
	if inputs == 0 {
		delete(m.policies, ns)
		return
	}
	m.policies[unique.Make(ns).Value()] = policyPass{inputs: inputs, policies: policies, cases: cases}
}

// diffMemoGeneration is a generation's size: a thousand stores' eleven
// documents fit in the two.
const diffMemoGeneration = 8192

// A diffMemoEntry is 24 bytes: a thousand stores' eleven documents cost
// the memo well under a megabyte.
type diffMemoEntry struct {
	// obj is the object the document names, interned: every store's are
	// the same few.
	obj unique.Handle[releaseObject]
	// live is the live object compared: a hash of its uid and
	// resourceVersion (liveID).
	live uint64
	// diffs are what the comparison found: nil, but for drift.
	diffs *[]fieldDiff
}

func newDiffMemoEntry(o releaseObject, live uint64, diffs []fieldDiff) diffMemoEntry {
	e := diffMemoEntry{obj: unique.Make(o), live: live}
	if len(diffs) > 0 {
		e.diffs = &diffs
	}
	return e
}

// differences are what the comparison found.
func (e diffMemoEntry) differences() []fieldDiff {
	if e.diffs == nil {
		return nil
	}
	return *e.diffs
}

func newDiffMemo() *diffMemo { return &diffMemo{seed: maphash.MakeSeed()} }

// key is the memo's key of a document of a record in namespace ns.
func (m *diffMemo) key(ns string, doc []byte) uint64 {
	var h maphash.Hash
	m.hash(&h, ns)
	h.Write(doc)
	return h.Sum64()
}

// hash starts h as the memo's hash, seeded, of fields.
func (m *diffMemo) hash(h *maphash.Hash, fields ...string) {
	h.SetSeed(m.seed)
	writeFields(h, fields...)
}

// writeFields writes each field to h, ended by a zero byte so that no two
// lists of fields write the same bytes.
func writeFields(h *maphash.Hash, fields ...string) {
	for _, f := range fields {
		h.WriteString(f)
		h.WriteByte(0)
	}
}

// get is what the comparison of the document keyed key found, if the live
// object it was compared with is live still, unchanged.
func (m *diffMemo) get(key uint64, live func(releaseObject) metav1.Object) (diffMemoEntry, bool) {
	m.mu.Lock()
	e, ok := m.gens.get(key, diffMemoGeneration)
	m.mu.Unlock()
	if !ok {
		return diffMemoEntry{}, false
	}
	l := live(e.obj.Value())
	if l == nil || e.live == 0 || m.liveID(l.GetUID(), l.GetResourceVersion()) != e.live {
		return diffMemoEntry{}, false
	}
	return e, true
}

// liveID is what the memo keeps of a live object: a hash of its uid and
// resourceVersion (0, which matches nothing, when either is unknown).
func (m *diffMemo) liveID(uid types.UID, rv string) uint64 {
	if uid == "" || rv == "" {
		return 0
	}
	var h maphash.Hash
	m.hash(&h, string(uid), rv)
	return h.Sum64() | 1
}

func (m *diffMemo) put(key uint64, e diffMemoEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gens.put(key, e, diffMemoGeneration)
}
