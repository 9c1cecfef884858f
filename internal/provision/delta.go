package provision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
	"weak"

	"k8s.io/client-go/tools/cache"
)

// A packed object is kept as a delta against a reference: the encoding
// of the first object of the same kind and role the cache saw (the
// WordPress Deployment, the MariaDB pod, a cron run's Job). Every store is
// the same chart rendered with other names, so its objects encode to
// nearly the same bytes as another store's: what differs is the
// namespace, the uids, the resource versions, the times and the few
// values that name the store. A delta is a list of copies from the
// reference and of the bytes between them: a Deployment's 2.5 KB become a
// few hundred bytes. The encoder is one pass with a hash of the
// reference's windows, and the decoder copies bytes; neither deflates, so
// packing, which every watch event pays, stays cheap.
//
// The delta format: the length of what it decodes to, then operations,
// each a uvarint n<<1|op: op 0 is n bytes that follow; op 1 copies n
// bytes from the offset (a uvarint) that follows, into the reference or,
// past its end, into what the delta decoded so far.

const (
	// deltaWindow is the shortest copy: a copy costs two to four bytes.
	deltaWindow = 6
	// deltaTableBits bounds a reference's index: 4,096 windows, for
	// references of a few kilobytes; deltaSeenBits sizes the index of what
	// an encoding wrote as it is.
	deltaTableBits = 12
	deltaSeenBits  = 10
	// maxDeltaRefs bounds the references kept (the store chart makes
	// about thirty kinds and roles of objects); objects of later keys are
	// kept whole. maxDeltaRef bounds one reference's size.
	maxDeltaRefs = 128
	maxDeltaRef  = 64 << 10
)

// deltaRef is a reference encoding. Once taken it never changes: deltas
// against it must decode. What it holds decides only how small deltas
// are, never what they decode to.
type deltaRef struct {
	text []byte
	// index maps a window's hash (bits bits) to where it last starts in
	// text, plus one (zero: nowhere).
	index []int32
	bits  uint
}

func newDeltaRef(text []byte) *deltaRef {
	r := &deltaRef{text: bytes.Clone(text), bits: 6}
	// About a slot for each window: a pod's reference needs a fraction
	// of what a Deployment's does.
	for r.bits < deltaTableBits && 1<<r.bits < len(text) {
		r.bits++
	}
	r.index = make([]int32, 1<<r.bits)
	for i := 0; i+deltaWindow <= len(r.text); i++ {
		r.index[windowHash(r.text[i:], r.bits)] = int32(i + 1)
	}
	return r
}

// windowHash hashes the deltaWindow bytes at the start of b into bits
// bits.
func windowHash(b []byte, bits uint) uint32 {
	v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40
	return uint32((v * 0x9E3779B97F4A7C15) >> (64 - bits))
}

// encode is src as a delta against r.
func (r *deltaRef) encode(src []byte) []byte {
	out := make([]byte, 0, 64+len(src)/4)
	out = binary.AppendUvarint(out, uint64(len(src)))
	// seen indexes src's bytes written as they are, for later copies of
	// them: a store's name comes back several times in an object.
	var seen [1 << deltaSeenBits]int32
	lit := 0  // where the bytes not yet written start
	next := 0 // where in the reference the last copy ended
	for i := 0; i+deltaWindow <= len(src); {
		window := src[i : i+deltaWindow]
		from, self := -1, false
		// The objects line up: after a copy and a few different bytes
		// (a uid for a uid), the reference most often goes on where the
		// same number of its bytes were skipped.
		if e := next + (i - lit); e+deltaWindow <= len(r.text) && bytes.Equal(window, r.text[e:e+deltaWindow]) {
			from = e
		} else if p := int(r.index[windowHash(window, r.bits)]) - 1; p >= 0 && bytes.Equal(window, r.text[p:p+deltaWindow]) {
			from = p
		} else if p := int(seen[windowHash(window, deltaSeenBits)]) - 1; p >= 0 && p+deltaWindow <= i && bytes.Equal(window, src[p:p+deltaWindow]) {
			from, self = p, true
		}
		if from < 0 {
			seen[windowHash(window, deltaSeenBits)] = int32(i + 1)
			i++
			continue
		}
		// What is copied from: the reference, or src before the copy.
		text, end := r.text, len(r.text)
		if self {
			text, end = src, i
		}
		start, n := i, deltaWindow
		for start+n < len(src) && from+n < end && src[start+n] == text[from+n] {
			n++
		}
		// Back into the bytes not yet written (a copy of src must end
		// before it starts).
		for start > lit && from > 0 && src[start-1] == text[from-1] && (!self || from+n < start) {
			start, from, n = start-1, from-1, n+1
		}
		out = appendLiteral(out, src[lit:start])
		out = binary.AppendUvarint(out, uint64(n)<<1|1)
		if self {
			out = binary.AppendUvarint(out, uint64(len(r.text)+from))
		} else {
			out = binary.AppendUvarint(out, uint64(from))
			next = from + n
		}
		i, lit = start+n, start+n
	}
	return appendLiteral(out, src[lit:])
}

func appendLiteral(out, b []byte) []byte {
	if len(b) == 0 {
		return out
	}
	out = binary.AppendUvarint(out, uint64(len(b))<<1)
	return append(out, b...)
}

var errDelta = errors.New("malformed delta")

// decode is what delta, made by encode, decodes to.
func (r *deltaRef) decode(delta []byte) ([]byte, error) {
	// An object is at most a few megabytes (etcd's limit): a delta that
	// says more is not one of ours.
	size, k := binary.Uvarint(delta)
	if k <= 0 || size > 16<<20 {
		return nil, errDelta
	}
	out := make([]byte, 0, min(size, 1<<20))
	for delta = delta[k:]; len(delta) > 0; {
		op, k := binary.Uvarint(delta)
		if k <= 0 {
			return nil, errDelta
		}
		delta = delta[k:]
		n := op >> 1
		if n > size-uint64(len(out)) {
			return nil, errDelta
		}
		if op&1 == 0 {
			if n > uint64(len(delta)) {
				return nil, errDelta
			}
			out, delta = append(out, delta[:n]...), delta[n:]
			continue
		}
		from, k := binary.Uvarint(delta)
		if k <= 0 {
			return nil, errDelta
		}
		delta = delta[k:]
		text := r.text
		if from >= uint64(len(r.text)) {
			text, from = out, from-uint64(len(r.text))
		}
		if from > uint64(len(text)) || n > uint64(len(text))-from {
			return nil, errDelta
		}
		out = append(out, text[from:from+n]...)
	}
	if uint64(len(out)) != size {
		return nil, errDelta
	}
	return out, nil
}

// references holds values taken once by key and never changed after (a
// delta's or a deflated part's reference: what was kept against one must
// read back), at most max of them.
type references[T any] struct {
	mu  sync.RWMutex
	m   map[string]*T
	max int
}

func newReferences[T any](max int) references[T] {
	return references[T]{m: map[string]*T{}, max: max}
}

// get is the reference for key. When the key is new and there is room,
// take makes it; when take gives nil, there is none and none is kept.
func (r *references[T]) get(key string, take func() *T) *T {
	r.mu.RLock()
	ref, ok := r.m[key]
	r.mu.RUnlock()
	if ok {
		return ref
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref, ok := r.m[key]; ok {
		return ref
	}
	if len(r.m) >= r.max {
		return nil
	}
	if ref = take(); ref != nil {
		r.m[key] = ref
	}
	return ref
}

// deltaRefs are the references of the cache's packed objects, by kind and
// role.
type deltaRefs struct {
	refs references[deltaRef]
}

func newDeltaRefs() *deltaRefs {
	return &deltaRefs{refs: newReferences[deltaRef](maxDeltaRefs)}
}

// reference is the reference for key, taking text as it when the key is
// new and there is room; nil when there is none.
func (d *deltaRefs) reference(key string, text []byte) *deltaRef {
	return d.refs.get(key, func() *deltaRef {
		if len(text) > maxDeltaRef {
			return nil
		}
		return newDeltaRef(text)
	})
}

// delta is raw as kept against the reference for key: the delta and its
// reference, or raw itself and nil when no reference makes it smaller.
func (d *deltaRefs) delta(key string, raw []byte) ([]byte, *deltaRef) {
	if d == nil {
		return raw, nil
	}
	ref := d.reference(key, raw)
	if ref == nil {
		return raw, nil
	}
	delta := ref.encode(raw)
	if len(delta) >= len(raw) {
		return raw, nil
	}
	return bytes.Clone(delta), ref // held for as long as the object is cached: no spare capacity
}

// undelta is what delta kept against ref holds.
func undelta(delta []byte, ref *deltaRef) ([]byte, error) {
	if ref == nil {
		return delta, nil
	}
	raw, err := ref.decode(delta)
	if err != nil {
		return nil, fmt.Errorf("cached object: %w", err)
	}
	return raw, nil
}

// lazyDelay is how long an object a watch sent stays kept whole before it
// is kept as a delta. Many updates of the objects a store is made with
// come within it: a pod's status as it starts, its quota's use with every
// pod, the setup Job's progress. Encoding each of them as a delta, only
// for the next update to replace it, was half of what packing them cost.
// It trades memory for CPU: what changed within it is kept whole. At
// 1,000 stores, whose cron Jobs and pods change all the time, serve's
// peak RSS read 166 MB with 30 s and the replaced versions kept alive by
// the queue (141 MB in the last run before lazy deltas).
const lazyDelay = 15 * time.Second

// lazyDeltas are the objects of one lazy kind (packedKind.lazy) kept
// whole, oldest first, until they have stayed as they are for lazyDelay;
// then they are kept as deltas. It is used only from the informer's own
// loop, the one that files every change in its indexer (packedInformer),
// so that an object it replaces in the indexer cannot have changed in
// between. An object is settled when a later change of the same kind
// comes, so the last few of a kind may stay whole until the next change;
// those in the informer's initial list are settled at once.
type lazyDeltas struct {
	kind  *packedKind
	items []lazyItem
	head  int
}

// lazyItem is an object queued at a time. The queue holds it weakly: an
// object the indexer replaced or dropped is settled by no one, and is
// freed at once instead of lazyDelay later (the cron Jobs and pods of
// 1,000 stores make new versions all the time).
type lazyItem struct {
	p  weak.Pointer[packed]
	at time.Time
}

// add queues obj, if it is an object kept whole.
func (q *lazyDeltas) add(obj any, now time.Time) {
	if p, ok := obj.(*packed); ok && p.ref == nil {
		q.items = append(q.items, lazyItem{p: weak.Make(p), at: now})
	}
}

// settle keeps as deltas, in idx, the queued objects older than
// lazyDelay that idx still holds.
func (q *lazyDeltas) settle(idx cache.Indexer, now time.Time) {
	for q.head < len(q.items) && now.Sub(q.items[q.head].at) >= lazyDelay {
		if p := q.items[q.head].p.Value(); p != nil {
			q.settleOne(idx, p)
		}
		q.items[q.head] = lazyItem{}
		q.head++
	}
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 64 && 2*q.head > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// settleOne keeps p as a delta in idx, if idx still holds it.
func (q *lazyDeltas) settleOne(idx cache.Indexer, p *packed) {
	cur, ok, err := idx.GetByKey(storeKey(p.namespace, p.name))
	if err != nil || !ok || cur != any(p) {
		return // changed since, or gone
	}
	if d := q.kind.asDelta(p); d != nil {
		_ = idx.Update(d)
	}
}
