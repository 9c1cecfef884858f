package provision

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
)

// nsStore is the store of a packed kind's informer (packedInformer): its
// objects by namespace, each namespace's in a slice sorted by name. It is
// the one index the cache reads (namespace), and the objects themselves:
// client-go's indexer keeps every object under its "namespace/name" key in
// one map, and again under its namespace in a set (a map) of keys per
// namespace and kind. At 1,000 stores, 16 kinds, that is 16,000 small maps
// and 29,000 keys, about 8 MB of serve's live heap where this store takes
// about 2. A namespace holds a handful of objects of a kind, so a binary
// search of its slice is as quick as a map.
//
// It is a cache.Indexer with the namespace index alone.
type nsStore struct {
	mu   sync.RWMutex
	byNS map[string][]any // sorted by name; cluster-scoped objects under ""
	rv   string           // the last resource version stored or bookmarked
}

var _ cache.Indexer = (*nsStore)(nil)

func newNSStore() *nsStore { return &nsStore{byNS: map[string][]any{}} }

// errNSStoreIndex: the store keeps only the namespace index.
var errNSStoreIndex = errors.New("the cache keeps only the namespace index")

// objectName is obj's namespace and name.
func objectName(obj any) (ns, name string, err error) {
	switch o := obj.(type) {
	case *packed:
		return o.namespace, o.name, nil
	case cache.DeletedFinalStateUnknown:
		ns, name, err := cache.SplitMetaNamespaceKey(o.Key)
		if err != nil {
			return "", "", fmt.Errorf("cache key %q: %w", o.Key, err)
		}
		return ns, name, nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return "", "", fmt.Errorf("cache an object: %w", err)
	}
	return m.GetNamespace(), m.GetName(), nil
}

// objectVersion is obj's resource version, or "".
func objectVersion(obj any) string {
	if p, ok := obj.(*packed); ok {
		return p.resourceVersion
	}
	if m, err := meta.Accessor(obj); err == nil {
		return m.GetResourceVersion()
	}
	return ""
}

// find is where name is, or would go, in objs (sorted by name).
func find(objs []any, name string) (int, bool) {
	return slices.BinarySearchFunc(objs, name, func(o any, name string) int {
		_, n, _ := objectName(o)
		return strings.Compare(n, name)
	})
}

// put stores obj, named name, in objs (sorted by name), in place of the
// object of that name if there is one.
func put(objs []any, name string, obj any) []any {
	i, ok := find(objs, name)
	if ok {
		objs[i] = obj
		return objs
	}
	return slices.Insert(objs, i, obj)
}

func (s *nsStore) Add(obj any) error { return s.Update(obj) }

func (s *nsStore) Update(obj any) error {
	ns, name, err := objectName(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byNS[ns] = put(s.byNS[ns], name, obj)
	if rv := objectVersion(obj); rv != "" {
		s.rv = rv
	}
	return nil
}

func (s *nsStore) Delete(obj any) error {
	ns, name, err := objectName(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	objs := s.byNS[ns]
	i, ok := find(objs, name)
	if !ok {
		return nil
	}
	if len(objs) == 1 {
		delete(s.byNS, ns)
		return nil
	}
	s.byNS[ns] = slices.Delete(objs, i, i+1)
	return nil
}

func (s *nsStore) List() []any {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []any
	for _, objs := range s.byNS {
		out = append(out, objs...)
	}
	return out
}

func (s *nsStore) ListKeys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for ns, objs := range s.byNS {
		for _, o := range objs {
			_, name, _ := objectName(o)
			out = append(out, storeKey(ns, name))
		}
	}
	return out
}

// storeKey is the key client-go's stores give an object: "namespace/name",
// or the name of a cluster-scoped object.
func storeKey(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func (s *nsStore) Get(obj any) (any, bool, error) {
	ns, name, err := objectName(obj)
	if err != nil {
		return nil, false, err
	}
	o, ok := s.get(ns, name)
	return o, ok, nil
}

func (s *nsStore) GetByKey(key string) (any, bool, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, false, fmt.Errorf("cache key %q: %w", key, err)
	}
	o, ok := s.get(ns, name)
	return o, ok, nil
}

func (s *nsStore) get(ns, name string) (any, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	objs := s.byNS[ns]
	if i, ok := find(objs, name); ok {
		return objs[i], true
	}
	return nil, false
}

// Replace stores objs in place of everything.
func (s *nsStore) Replace(objs []any, rv string) error {
	byNS := map[string][]any{}
	for _, o := range objs {
		ns, name, err := objectName(o)
		if err != nil {
			return err
		}
		byNS[ns] = put(byNS[ns], name, o)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byNS, s.rv = byNS, rv
	return nil
}

func (s *nsStore) Resync() error { return nil }

func (s *nsStore) LastStoreSyncResourceVersion() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rv
}

func (s *nsStore) Bookmark(rv string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv = rv
}

// Index is what ByIndex gives for obj's namespace.
func (s *nsStore) Index(indexName string, obj any) ([]any, error) {
	if indexName != cache.NamespaceIndex {
		return nil, fmt.Errorf("index %q: %w", indexName, errNSStoreIndex)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("index %q: %w", indexName, err)
	}
	return s.ByIndex(indexName, m.GetNamespace())
}

// ByIndex is a copy of namespace ns's objects.
func (s *nsStore) ByIndex(indexName, ns string) ([]any, error) {
	if indexName != cache.NamespaceIndex {
		return nil, fmt.Errorf("index %q: %w", indexName, errNSStoreIndex)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.byNS[ns]), nil
}

func (s *nsStore) IndexKeys(indexName, ns string) ([]string, error) {
	objs, err := s.ByIndex(indexName, ns)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		_, name, _ := objectName(o)
		keys[i] = storeKey(ns, name)
	}
	return keys, nil
}

// ListIndexFuncValues is the namespaces that hold objects ("" for
// cluster-scoped ones, as client-go's namespace index has it).
func (s *nsStore) ListIndexFuncValues(indexName string) []string {
	if indexName != cache.NamespaceIndex {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for ns := range s.byNS {
		out = append(out, ns)
	}
	return out
}

func (s *nsStore) GetIndexers() cache.Indexers {
	return cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
}

func (s *nsStore) AddIndexers(cache.Indexers) error {
	return fmt.Errorf("add indexers: %w", errNSStoreIndex)
}
