package provision

import (
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/resource"

	"helm.sh/helm/v4/pkg/kube"
)

// builtDocs keeps the objects Helm's client built of the checked
// documents of the installs and upgrades, by the documents' JSON: most of
// a store's documents are the same for every store of its plan (see
// docCache), and Helm's Build decoded each of them into an object again
// for every store, with a REST mapping and client for it (3 % of serve's
// CPU while a fleet was made). A document built before is now a copy of
// the object built then.
//
// What Build makes of a document depends on nothing but the document and
// the namespace it is built for, which it gives the objects that name
// none: a kept object is kept without a namespace and given the one it is
// built for. (A document that names a namespace is the same document only
// for stores of that namespace, for the render check refuses it in any
// other.)
type builtDocs struct {
	mu   sync.Mutex
	gens generations[string, builtDoc]
}

// builtDoc is one document as Helm's client built it.
type builtDoc struct {
	// obj is the object, without the namespace it was built for if the
	// document named none; never changed, only copied.
	obj      *unstructured.Unstructured
	named    bool // the document named its namespace
	mapping  *meta.RESTMapping
	client   resource.RESTClient
	source   string
	resource string // info.ResourceVersion
}

const builtDocsGeneration = 32

// build is what kc.Build makes of docs, checked documents, in namespace:
// the objects of those built before are copies; the others are built by
// kc in one call, and kept.
func (b *builtDocs) build(kc *kube.Client, namespace string, docs []manifestDoc) (kube.ResourceList, error) {
	out := make(kube.ResourceList, len(docs))
	var missing []int
	b.mu.Lock()
	for i, d := range docs {
		if bd, ok := b.gens.get(d.json, builtDocsGeneration); ok {
			out[i] = bd.info(namespace)
		} else {
			missing = append(missing, i)
		}
	}
	b.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	var stream strings.Builder
	for _, i := range missing {
		stream.WriteString(docs[i].json)
		stream.WriteByte('\n')
	}
	built, err := kc.Build(strings.NewReader(stream.String()), false)
	if err != nil {
		return nil, err
	}
	if len(built) != len(missing) {
		// Not one object a document (a List): built as a whole, kept not.
		var all strings.Builder
		for _, d := range docs {
			all.WriteString(d.json)
			all.WriteByte('\n')
		}
		return kc.Build(strings.NewReader(all.String()), false)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for j, i := range missing {
		info := built[j]
		out[i] = info
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		bd := builtDoc{obj: u.DeepCopy(), mapping: info.Mapping, client: info.Client, source: info.Source, resource: info.ResourceVersion}
		bd.named = info.Namespace != namespace
		if !bd.named {
			bd.obj.SetNamespace("")
		}
		b.gens.put(docs[i].json, bd, builtDocsGeneration)
	}
	return out, nil
}

// info is the object built again, in namespace.
func (d builtDoc) info(namespace string) *resource.Info {
	obj := d.obj.DeepCopy()
	ns := obj.GetNamespace()
	if !d.named && d.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns = namespace
		obj.SetNamespace(ns)
	}
	return &resource.Info{Client: d.client, Mapping: d.mapping, Namespace: ns, Name: obj.GetName(),
		Source: d.source, Object: obj, ResourceVersion: d.resource}
}
