package provision

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// The reconciler's watches ask the API server for no gzip; urumi's other
// requests still accept it. (Over TLS, as to every API server: client-go
// gives a config without TLS options Go's default transport, which
// ignores the setting.)
func TestWatchesAskForNoCompression(t *testing.T) {
	var mu sync.Mutex
	enc := map[string]string{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		enc[r.URL.Query().Get("watch")] = r.Header.Get("Accept-Encoding")
		mu.Unlock()
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}`, http.StatusInternalServerError)
	}))
	defer srv.Close()
	k, err := NewKube(&rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, Settings{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = k.watches.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	_, _ = k.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	mu.Lock()
	defer mu.Unlock()
	if got := enc["true"]; got != "" {
		t.Errorf("the reconciler's watch sent Accept-Encoding %q, want none", got)
	}
	if got := enc[""]; got != "gzip" {
		t.Errorf("a list sent Accept-Encoding %q, want gzip", got)
	}
}
