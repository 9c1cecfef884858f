package provision

import (
	"bytes"
	"sync"
)

// docCache keeps what the render check read of the parts of the streams
// it checked (readDoc: the parse, the strict decode, the checks that hold
// in any store, the re-encoding), by their exact text. The stores of one
// plan render most of their documents alike (the ConfigMaps with the
// setup script, the Services, the claim, the StatefulSet, the CronJob):
// only the documents that name the store's host differ. Reading each
// document once per chart and plan instead of once per store saved most
// of the render check's CPU while a fleet was made. What depends on the
// store (its namespace, its routes) is checked on every install
// (renderCheck.reasons).
//
// It holds two generations of at most docCacheGeneration parts each
// (generations), so that the parts every install renders stay and those
// of one store alone go.
type docCache struct {
	mu   sync.Mutex
	gens generations[string, []readDoc]
}

const docCacheGeneration = 32

func (c *docCache) get(part []byte) ([]readDoc, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The maps indexed here, not through gens.get, whose string key
	// would be a copy of the part (a few KB) for every lookup.
	if docs, ok := c.gens.cur[string(part)]; ok {
		return docs, true
	}
	docs, ok := c.gens.prev[string(part)]
	if ok {
		c.gens.put(string(part), docs, docCacheGeneration)
	}
	return docs, ok
}

func (c *docCache) put(part []byte, docs []readDoc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gens.put(string(part), docs, docCacheGeneration)
}

// generations is a cache of two generations: an entry found in the older
// moves to the newer, and when the newer holds size entries the older is
// dropped. What is used again within two generations stays; the rest
// goes. Its user locks it.
type generations[K comparable, V any] struct {
	cur, prev map[K]V
}

func (g *generations[K, V]) get(k K, size int) (V, bool) {
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	v, ok := g.prev[k]
	if ok {
		g.put(k, v, size)
	}
	return v, ok
}

func (g *generations[K, V]) put(k K, v V, size int) {
	if g.cur == nil || len(g.cur) >= size {
		g.prev, g.cur = g.cur, make(map[K]V, size)
	}
	g.cur[k] = v
}

// streamParts cuts a stream of YAML documents before each line that is
// "---" alone (as Helm joins a chart's templates). Such a line starts a
// document wherever it stands in YAML, so each part reads as it does
// within the stream; a part that does not read alone (a directive cut
// from its document) makes the check read the whole stream again. The
// check passes on only what it read, so a cut cannot make it pass what
// it did not check.
func streamParts(in []byte) [][]byte {
	var parts [][]byte
	start := 0
	for i := 0; i < len(in); {
		end := bytes.IndexByte(in[i:], '\n')
		if end < 0 {
			end = len(in)
		} else {
			end += i
		}
		line := in[i:end]
		if i > start && bytes.Equal(bytes.TrimSuffix(line, []byte("\r")), []byte("---")) {
			parts = append(parts, in[start:i])
			start = i
		}
		i = end + 1
	}
	if start < len(in) {
		parts = append(parts, in[start:])
	}
	return parts
}
