package provision

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
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

// Helm's release records carry urumi's label (an install labels them), but
// neither `store check` nor the reconciler's cache takes them for urumi's
// own Secrets: each holds a record once, compacted, among the records.
func TestSecretsLeaveOutReleaseRecords(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := Namespace(testStoreName)
	mine := map[string]string{LabelManagedBy: ManagedBy}
	record := helmSecret(t, ns, 1, rcommon.StatusDeployed, "---\nkind: ConfigMap\n", true)
	record.Labels[LabelManagedBy] = ManagedBy
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: mine}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: credentialsName, Namespace: ns, Labels: mine}},
		&record)
	k := &Kube{Client: client}
	snap, err := k.takeSnapshot(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newDriftCache(k, 0)
	if err := c.start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); c.stop() }()
	for what, s := range map[string]*snapshot{"store check": snap, "the reconciler": c.snapshot(ns)} {
		o := s.byNS[ns]
		if o == nil {
			t.Fatalf("%s: no objects in %s", what, ns)
		}
		var names []string
		for _, sec := range o.secrets {
			names = append(names, sec.Name)
		}
		if len(names) != 1 || names[0] != credentialsName || len(o.helm) != 1 {
			t.Errorf("%s: urumi's secrets %v, records %d; want the credentials and one record", what, names, len(o.helm))
		}
	}
}
