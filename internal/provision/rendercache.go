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
// It holds two generations of at most docCacheGeneration parts each: a
// part found in the older one moves to the newer, and when the newer is
// full the older is dropped, so that the parts every install renders stay
// and those of one store alone go.
type docCache struct {
	mu        sync.Mutex
	cur, prev map[string][]readDoc
}

const docCacheGeneration = 32

func (c *docCache) get(part []byte) ([]readDoc, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if docs, ok := c.cur[string(part)]; ok {
		return docs, true
	}
	docs, ok := c.prev[string(part)]
	if ok {
		c.putLocked(string(part), docs)
	}
	return docs, ok
}

func (c *docCache) put(part []byte, docs []readDoc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(string(part), docs)
}

func (c *docCache) putLocked(part string, docs []readDoc) {
	if c.cur == nil || len(c.cur) >= docCacheGeneration {
		c.prev, c.cur = c.cur, make(map[string][]readDoc, docCacheGeneration)
	}
	c.cur[part] = docs
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
