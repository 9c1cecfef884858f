package provision

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// TestNSStoreMatchesIndexer runs random changes through an nsStore and
// through client-go's indexer with the namespace index, and reads both
// alike after each: what a key gives, what a namespace holds, the keys,
// the namespaces.
func TestNSStoreMatchesIndexer(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			ours := newNSStore()
			theirs := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc,
				cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			rv := 0
			object := func() any {
				rv++
				meta := packedMeta{name: fmt.Sprintf("o%d", rng.IntN(6)), resourceVersion: fmt.Sprint(rv)}
				if rng.IntN(5) > 0 { // some cluster-scoped, as Namespaces are
					meta.namespace = fmt.Sprintf("store-%d", rng.IntN(4))
				}
				if rng.IntN(2) == 0 {
					return &packed{packedMeta: meta}
				}
				return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
					Namespace: meta.namespace, Name: meta.name, ResourceVersion: meta.resourceVersion}}
			}
			for step := range 300 {
				switch op := rng.IntN(10); {
				case op < 5:
					o := object()
					noErrs(t, ours.Add(o), theirs.Add(o))
				case op < 8:
					o := object()
					if rng.IntN(2) == 0 {
						key, _ := cache.MetaNamespaceKeyFunc(o)
						o = cache.DeletedFinalStateUnknown{Key: key, Obj: o}
					}
					noErrs(t, ours.Delete(o), theirs.Delete(o))
				case op < 9:
					var list []any
					for range rng.IntN(12) {
						list = append(list, object())
					}
					noErrs(t, ours.Replace(list, fmt.Sprint(rv)), theirs.Replace(list, fmt.Sprint(rv)))
				default:
					o := object()
					noErrs(t, ours.Update(o), theirs.Update(o))
				}
				sameStores(t, step, ours, theirs)
			}
		})
	}
}

func noErrs(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func sameStores(t *testing.T, step int, ours *nsStore, theirs cache.Indexer) {
	t.Helper()
	sorted := func(s []string) []string { slices.Sort(s); return s }
	if a, b := sorted(ours.ListKeys()), sorted(theirs.ListKeys()); !slices.Equal(a, b) {
		t.Fatalf("step %d: keys %v, want %v", step, a, b)
	}
	if a, b := len(ours.List()), len(theirs.List()); a != b {
		t.Fatalf("step %d: %d objects listed, want %d", step, a, b)
	}
	if a, b := sorted(ours.ListIndexFuncValues(cache.NamespaceIndex)), sorted(theirs.ListIndexFuncValues(cache.NamespaceIndex)); !slices.Equal(a, b) {
		t.Fatalf("step %d: namespaces %v, want %v", step, a, b)
	}
	for _, key := range theirs.ListKeys() {
		a, okA, errA := ours.GetByKey(key)
		b, okB, errB := theirs.GetByKey(key)
		if a != b || okA != okB || errA != nil || errB != nil {
			t.Fatalf("step %d: %s gives %v %v %v, want %v %v %v", step, key, a, okA, errA, b, okB, errB)
		}
	}
	if _, ok, _ := ours.GetByKey("store-0/absent"); ok {
		t.Fatalf("step %d: an absent key found", step)
	}
	for _, ns := range []string{"", "store-0", "store-1", "store-2", "store-3", "store-9"} {
		a, errA := ours.ByIndex(cache.NamespaceIndex, ns)
		b, errB := theirs.ByIndex(cache.NamespaceIndex, ns)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		keys := func(objs []any) []string {
			var out []string
			for _, o := range objs {
				k, _ := cache.MetaNamespaceKeyFunc(o)
				out = append(out, k)
			}
			return sorted(out)
		}
		if !slices.Equal(keys(a), keys(b)) {
			t.Fatalf("step %d: namespace %q holds %v, want %v", step, ns, keys(a), keys(b))
		}
		ka, _ := ours.IndexKeys(cache.NamespaceIndex, ns)
		kb, _ := theirs.IndexKeys(cache.NamespaceIndex, ns)
		if !slices.Equal(sorted(ka), sorted(kb)) {
			t.Fatalf("step %d: namespace %q keys %v, want %v", step, ns, ka, kb)
		}
	}
	var listed []any
	_ = cache.ListAllByNamespace(ours, "store-1", labels.Everything(), func(o any) { listed = append(listed, o) })
	want, _ := theirs.ByIndex(cache.NamespaceIndex, "store-1")
	if len(listed) != len(want) {
		t.Fatalf("step %d: ListAllByNamespace gave %d objects, want %d", step, len(listed), len(want))
	}
}

// TestNSStoreOtherIndexes: the store keeps the namespace index alone, and
// says so when asked for another.
func TestNSStoreOtherIndexes(t *testing.T) {
	s := newNSStore()
	if _, err := s.ByIndex("by-owner", "x"); err == nil {
		t.Error("ByIndex of another index: no error")
	}
	if err := s.AddIndexers(cache.Indexers{"by-owner": cache.MetaNamespaceIndexFunc}); err == nil {
		t.Error("AddIndexers: no error")
	}
	if err := s.Add("not an object"); err == nil {
		t.Error("Add of a string: no error")
	}
}

// recordingHandler records the events it is told, in order.
type recordingHandler struct{ events []string }

func (h *recordingHandler) OnAdd(obj any, initial bool) {
	h.events = append(h.events, fmt.Sprintf("add %s initial=%v", eventKey(obj), initial))
}
func (h *recordingHandler) OnUpdate(old, obj any) {
	h.events = append(h.events, fmt.Sprintf("update %s %s->%s", eventKey(obj), objectVersion(old), objectVersion(obj)))
}
func (h *recordingHandler) OnDelete(obj any) { h.events = append(h.events, "delete "+eventKey(obj)) }

func eventKey(obj any) string {
	k, _ := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	return k
}

// TestFileDeltas: deltas are filed in the store and told to the handler
// as client-go's informers tell them: an add (initial or not), an update
// with the copy it replaced, a delete of a final state unknown; a delta
// type the FIFO never sends is an error.
func TestFileDeltas(t *testing.T) {
	s := newNSStore()
	h := &recordingHandler{}
	obj := func(rv string) *packed {
		return &packed{packedMeta: packedMeta{namespace: "store-a", name: "wordpress", resourceVersion: rv}}
	}
	steps := []struct {
		deltas  cache.Deltas
		initial bool
	}{
		{cache.Deltas{{Type: cache.Replaced, Object: obj("1")}}, true},
		{cache.Deltas{{Type: cache.Updated, Object: obj("2")}, {Type: cache.Sync, Object: obj("3")}}, false},
		{cache.Deltas{{Type: cache.Deleted, Object: cache.DeletedFinalStateUnknown{Key: "store-a/wordpress", Obj: obj("3")}}}, false},
		{cache.Deltas{{Type: cache.Added, Object: obj("4")}}, false},
	}
	for _, st := range steps {
		if err := fileDeltas(s, h, st.deltas, st.initial); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"add store-a/wordpress initial=true",
		"update store-a/wordpress 1->2",
		"update store-a/wordpress 2->3",
		"delete store-a/wordpress",
		"add store-a/wordpress initial=false",
	}
	if !slices.Equal(h.events, want) {
		t.Errorf("events\n%q\nwant\n%q", h.events, want)
	}
	if got, ok, _ := s.GetByKey("store-a/wordpress"); !ok || objectVersion(got) != "4" {
		t.Errorf("the store holds %v, want version 4", got)
	}
	if err := fileDeltas(s, h, cache.Deltas{{Type: cache.ReplacedAll, Object: cache.ReplacedAllInfo{}}}, false); err == nil {
		t.Error("a ReplacedAll delta: no error")
	}
}
