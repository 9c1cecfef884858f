package server

import (
	"net/http"
	"net/url"
	"testing"
)

// The fuzz targets run their seeds in every `go test`; `go test -fuzz
// FuzzCreateStore ./internal/server` explores further. Whatever the input,
// the answer is a documented 2xx or 4xx, never a 5xx or a panic.

func FuzzCreateStore(f *testing.F) {
	for _, seed := range []string{
		`{"name":"shop"}`,
		`{"name":"shop-2","plan":"small","set":["resources.wordpress.limits.cpu=2"]}`,
		`{"name":"shop","owner":"bob"}`,
		`{"name":"Shop_1"}`,
		`{"name":"a"}`,
		`{"name":"` + "x\u0000y" + `"}`,
		`{"name":"shop","set":["host=x"]}`,
		`{"name":"shop","set":["a[0=1"]}`,
		`{"name":"shop","set":["{{.}}=1,,=="]}`,
		`{"name":"shop","extra":1}`,
		`{"name":"abc","NAME":"zzz"}`,
		`{"name":"abc","name":"zzz"}`,
		`{"name":"abc","set":[],"set":["a=b"]}`,
		`{"name":["shop"]}`,
		`{"name":"shop"} trailing`,
		`{"name":"shop",`,
		`{"name":"\ud800"}`,
		`null`, `[]`, `""`, `0`, ``, `{}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	h := newHarness(f, unlimited())
	f.Fuzz(func(t *testing.T, body []byte) {
		r := h.as(t).do("POST", "/v1/stores", "alice", body)
		if r.status >= 500 || (r.status != http.StatusAccepted && r.errorCode() == "") {
			t.Fatalf("body %q: %d %s", body, r.status, r.body)
		}
	})
}

func FuzzStorePath(f *testing.F) {
	for _, seed := range []string{"shop", "Shop", "a", "x\x00y", "../etc", "%2F", "sh%op", "\xff", "a b", "store-1-"} {
		f.Add(seed)
	}
	h := newHarness(f, unlimited())
	h.createStore("alice", "shop")
	f.Fuzz(func(t *testing.T, name string) {
		hh := h.as(t)
		for _, req := range [][2]string{{"GET", "/v1/stores/"}, {"DELETE", "/v1/stores/"}, {"GET", "/v1/quotas/"}, {"GET", "/v1/audit?store="}} {
			path := req[1] + url.PathEscape(name)
			if req[1] == "/v1/audit?store=" {
				path = req[1] + url.QueryEscape(name)
			}
			r := hh.do(req[0], path, "bob", nil)
			redirect := r.status >= 300 && r.status < 400 && r.header.Get("Location") != ""
			if r.status >= 500 || r.errorCode() == "" && r.status >= 300 && !redirect {
				t.Fatalf("%s %s: %d %s", req[0], path, r.status, r.body)
			}
			if r.status < 300 && req[0] == "DELETE" {
				t.Fatalf("bob deleted %q: %s", name, r.body)
			}
		}
	})
}
