package provision

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
)

// maxKeptStores bounds the stores that the kept pages hold together: at
// about a kilobyte each, decoded and encoded, a few megabytes.
const maxKeptStores = 2000

// pageCache keeps the store list pages read most recently, each with the
// stores' generation it was read at, so that a page asked for again while
// no store has changed (the same generation: one read of one row) is
// answered from memory, not queried, decorated and encoded anew. A page
// is kept under its scope, filters, position and size, all taken after
// the caller's rights were applied, so a caller gets only pages it may
// read. Every replica keeps its own, and each learns of another's writes
// from the generation, which the database moves on in the transaction
// that writes. The zero value is ready to use.
type pageCache struct {
	mu     sync.Mutex
	gen    int64 // the newest generation seen; pages are of it
	pages  map[string]*keptPage
	stores int // the stores the ready pages hold
}

// keptPage is one page in memory. ready is closed once page or err is
// set; the request that reads the page sets them, and others asking for
// the same page meanwhile wait for it instead of querying too.
type keptPage struct {
	ready   chan struct{}
	page    StorePage
	err     error
	waiters int // requests that found it still being read (under pageCache.mu)

	jsonOnce sync.Once
	json     []byte
	jsonErr  error

	asks   atomic.Int32 // Gzipped calls
	gzOnce sync.Once
	gz     []byte
}

// page returns the page kept under key at generation gen, reading it with
// read when there is none (or it is of an older generation).
func (c *pageCache) page(ctx context.Context, key string, gen int64, read func() (StorePage, error)) (StorePage, error) {
	kept, reader := c.lookup(key, gen)
	switch {
	case kept == nil: // a newer generation is kept: this request is late
		return read()
	case reader:
		kept.page, kept.err = read()
		kept.page.kept = kept
		close(kept.ready)
		c.done(key, kept)
	default:
		select {
		case <-kept.ready:
		case <-ctx.Done():
			return StorePage{}, ctx.Err()
		}
	}
	if kept.err != nil {
		// The reader's own failure (its client gone, say) is not this
		// request's: read for itself.
		if !reader {
			return read()
		}
		return StorePage{}, kept.err
	}
	return kept.page, nil
}

// lookup finds the page kept under key at gen, or makes the entry the
// caller then reads (reader true); nil when gen is older than what is
// kept.
func (c *pageCache) lookup(key string, gen int64) (kept *keptPage, reader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen:
		return nil, false
	case gen > c.gen || c.pages == nil:
		c.gen, c.pages, c.stores = gen, map[string]*keptPage{}, 0
	}
	if kept := c.pages[key]; kept != nil {
		select {
		case <-kept.ready:
		default:
			kept.waiters++
		}
		return kept, false
	}
	kept = &keptPage{ready: make(chan struct{})}
	c.pages[key] = kept
	return kept, true
}

// done counts a page just read against maxKeptStores, or drops it when it
// failed or does not fit; older pages make room for it.
func (c *pageCache) done(key string, kept *keptPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pages[key] != kept {
		return // a newer generation came meanwhile
	}
	n := len(kept.page.Stores)
	if kept.err != nil || n > maxKeptStores {
		delete(c.pages, key)
		return
	}
	for k, p := range c.pages {
		if c.stores+n <= maxKeptStores {
			break
		}
		select {
		case <-p.ready:
			if k != key {
				delete(c.pages, k)
				c.stores -= len(p.page.Stores)
			}
		default: // still being read: counted when it is done
		}
	}
	if c.stores+n > maxKeptStores {
		delete(c.pages, key)
		return
	}
	c.stores += n
}

// JSON is the page's stores as a JSON array. A page kept in memory is
// encoded once, for every request that gets it; the bytes are shared and
// must not be changed.
func (p StorePage) JSON() ([]byte, error) {
	if p.kept == nil {
		return json.Marshal(p.Stores)
	}
	p.kept.jsonOnce.Do(func() { p.kept.json, p.kept.jsonErr = json.Marshal(p.Stores) })
	return p.kept.json, p.kept.jsonErr
}

// minGzip is the smallest encoding worth compressing: below a few packets
// the bytes saved cost more than the compression.
const minGzip = 1024

// Gzipped is the page's JSON and a newline, gzip-compressed, for a kept
// page asked for again: compressed once, on its second ask (a page asked
// for once is not worth it), and shared by every later request. ok is
// false for a page not kept, asked for the first time, or too small to
// gain.
func (p StorePage) Gzipped() (gz []byte, ok bool) {
	k := p.kept
	if k == nil || k.asks.Add(1) < 2 {
		return nil, false
	}
	k.gzOnce.Do(func() {
		b, err := p.JSON()
		if err != nil || len(b) < minGzip {
			return
		}
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if err != nil {
			return
		}
		_, _ = zw.Write(b)
		_, _ = zw.Write([]byte{'\n'})
		if zw.Close() == nil {
			k.gz = buf.Bytes()
		}
	})
	return k.gz, k.gz != nil
}
