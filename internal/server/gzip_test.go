package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestListGzip: a page of stores asked for again is sent gzip-compressed
// to a client that accepts it, and decompresses to the same bytes as the
// plain answer; clients that refuse gzip, and a page asked for the first
// time, get it plain.
func TestListGzip(t *testing.T) {
	h := newHarness(t, unlimited())
	if _, err := h.db.SetQuota(context.Background(), "alice", 50); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		h.createStore("alice", fmt.Sprintf("shop-%02d", i))
	}
	get := func(acceptEncoding string) response {
		t.Helper()
		r := h.do("GET", "/v1/stores?limit=20", "alice", nil, "Accept-Encoding", acceptEncoding)
		want(t, r, http.StatusOK, "")
		if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Accept-Encoding") {
			t.Errorf("Vary: %q, want Accept-Encoding named", r.header.Values("Vary"))
		}
		return r
	}
	plain := get("gzip")
	if enc := plain.header.Get("Content-Encoding"); enc != "" {
		t.Fatalf("the first ask of a page: Content-Encoding %q, want it plain", enc)
	}
	for _, refuse := range []string{"identity", "gzip;q=0", "br, gzip; q=0.0", "*"} {
		if r := get(refuse); r.header.Get("Content-Encoding") != "" || !bytes.Equal(r.body, plain.body) {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, body equal to the plain one: %v", refuse, r.header.Get("Content-Encoding"), bytes.Equal(r.body, plain.body))
		}
	}
	for _, accept := range []string{"gzip", "br, GZIP;q=0.5", "deflate, gzip"} {
		r := get(accept)
		if r.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Accept-Encoding %q on a page asked for again: Content-Encoding %q, want gzip", accept, r.header.Get("Content-Encoding"))
		}
		if n := r.header.Get("Content-Length"); n != fmt.Sprint(len(r.body)) {
			t.Errorf("Content-Length %s for %d bytes", n, len(r.body))
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain.body) {
			t.Fatalf("the gzipped page decompresses to\n%s\nwant\n%s", got, plain.body)
		}
		if len(r.body)*3 > len(plain.body) {
			t.Errorf("gzipped %d bytes of %d: less than a third saved", len(r.body), len(plain.body))
		}
	}
	// A client that does not ask for an encoding (Go's transport asks
	// and decompresses by itself) sees the same list.
	r := h.do("GET", "/v1/stores?limit=20", "alice", nil)
	if !bytes.Equal(r.body, plain.body) {
		t.Errorf("through Go's transparent decompression: %s", r.body)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"":                      false,
		"gzip":                  true,
		"GZip":                  true,
		"gzip;q=1.0":            true,
		"gzip; q=0.001":         true,
		"gzip;q=0":              false,
		"gzip;q=0.000":          false,
		"gzip;q=x":              false,
		"deflate, gzip;q=0.8":   true,
		"br;q=1, identity":      false,
		"*":                     false,
		"x-gzip":                false,
		"gzip;level=9":          true,
		"gzip ; Q=0 , deflate ": false,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Accept-Encoding", v)
		}
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", v, got, want)
		}
	}
}
