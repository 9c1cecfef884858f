package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	rcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/urumi/urumi/charts"
)

// The records urumi writes are the records Helm writes, but for the
// compression level: Helm's driver reads them back whole, and their
// Secrets carry the same name, type and labels.
func TestFastRecordsAreHelmRecords(t *testing.T) {
	ctx := context.Background()
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	rls := &release.Release{Name: releaseName, Namespace: testNamespace, Version: 1, Chart: ch,
		Config: map[string]any{"plan": "small"}, Manifest: "---\nkind: ConfigMap\n", Labels: map[string]string{LabelManagedBy: ManagedBy},
		Info: &release.Info{Status: rcommon.StatusPendingInstall, Description: "Initial install underway"}}
	key := "sh.helm.release.v1." + releaseName + ".v1"

	ours, theirs := fake.NewClientset(), fake.NewClientset()
	// The update below reuses the create's gzip writer.
	d := &fastRecords{Driver: driver.NewSecrets(ours.CoreV1().Secrets(testNamespace)), ctx: ctx, secrets: ours.CoreV1().Secrets(testNamespace),
		enc: &recordEncoder{}}
	helm := driver.NewSecrets(theirs.CoreV1().Secrets(testNamespace))
	helmOnOurs := driver.NewSecrets(ours.CoreV1().Secrets(testNamespace))
	for _, w := range []driver.Driver{d, helm} {
		if err := w.Create(key, rls); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Create(key, rls); !errors.Is(err, driver.ErrReleaseExists) {
		t.Errorf("a second create: %v, want %v", err, driver.ErrReleaseExists)
	}
	compare := func(when string) {
		t.Helper()
		got, err := ours.CoreV1().Secrets(testNamespace).Get(ctx, key, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := theirs.CoreV1().Secrets(testNamespace).Get(ctx, key, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		gl, wl := maps.Clone(got.Labels), maps.Clone(want.Labels)
		for _, stamp := range []string{"createdAt", "modifiedAt"} {
			if (gl[stamp] == "") != (wl[stamp] == "") {
				t.Errorf("%s: label %s is %q, Helm's %q", when, stamp, gl[stamp], wl[stamp])
			}
			delete(gl, stamp)
			delete(wl, stamp)
		}
		if !maps.Equal(gl, wl) || got.Type != want.Type || len(got.Data) != 1 || got.Data["release"] == nil {
			t.Errorf("%s: record %v %v %d keys, Helm writes %v %v", when, got.Type, gl, len(got.Data), want.Type, wl)
		}
		back, err := helmOnOurs.Get(key) // Helm's driver reading ours
		if err != nil {
			t.Fatalf("%s: Helm cannot read urumi's record: %v", when, err)
		}
		r, ok := back.(*release.Release)
		if !ok || r.Info.Status != rls.Info.Status || r.Manifest != rls.Manifest || r.Chart == nil ||
			len(r.Chart.Templates) != len(ch.Templates) || r.Config["plan"] != "small" {
			t.Errorf("%s: Helm read back %+v", when, back)
		}
		if len(got.Data["release"]) >= len(want.Data["release"])*2 {
			t.Errorf("%s: record is %d bytes, Helm's %d", when, len(got.Data["release"]), len(want.Data["release"]))
		}
	}
	compare("created")

	rls.Info.Status = rcommon.StatusDeployed
	if err := d.Update(key, rls); err != nil {
		t.Fatal(err)
	}
	if err := helm.Update(key, rls); err != nil {
		t.Fatal(err)
	}
	compare("updated")
}

// TestRecordEncoding: a record's gzip stream, three members (before the
// chart, the chart, after it), inflates to exactly the JSON Helm's driver
// writes, for releases with and without each field around the chart; the
// chart's member is reused while the chart encodes the same, and made
// again when it does not.
func TestRecordEncoding(t *testing.T) {
	ch, err := charts.Store()
	if err != nil {
		t.Fatal(err)
	}
	other := *ch
	other.Templates = ch.Templates[:1]
	info := &release.Info{Status: rcommon.StatusDeployed, Description: "Install complete"}
	hooks := []*release.Hook{{Name: "h", Manifest: "kind: ConfigMap\n"}}
	var enc recordEncoder
	for i, rls := range []*release.Release{
		{Name: releaseName, Namespace: testNamespace, Version: 3, Chart: ch, Info: info, Config: map[string]any{"a": 1}, Manifest: "---\nkind: ConfigMap\n", Hooks: hooks, ApplyMethod: "ssa"},
		{Name: releaseName, Chart: ch},
		{Info: info, Chart: ch, Version: 1},
		{Chart: ch, Manifest: "m"},
		{Chart: ch},
		{Chart: &other, Name: releaseName, Info: info},
		{Name: releaseName, Info: info, Manifest: "no chart"},
		{},
	} {
		data, err := enc.encode(rls)
		if err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
		got, err := inflateRecord(data)
		if err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
		want, err := json.Marshal(rls)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("release %d inflates to\n%.300s\nnot Helm's\n%.300s", i, got, want)
		}
		if rls.Chart != nil && !bytes.Equal(enc.chartJSON, must(json.Marshal(rls.Chart))) {
			t.Errorf("release %d: the kept chart member is not this release's chart", i)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkRecordEncode: a deployed record of the store chart, as encoded
// (the chart's gzip member reused), beside the whole JSON gzipped at once,
// as before.
func BenchmarkRecordEncode(b *testing.B) {
	ch, err := charts.Store()
	if err != nil {
		b.Fatal(err)
	}
	rls := &release.Release{Name: releaseName, Namespace: testNamespace, Version: 1, Chart: ch,
		Config: map[string]any{"plan": "small"}, Manifest: strings.Repeat("kind: ConfigMap\n", 3000),
		Info: &release.Info{Status: rcommon.StatusDeployed, Description: "Install complete"}}
	b.Run("members", func(b *testing.B) {
		var enc recordEncoder
		for b.Loop() {
			if _, err := enc.encode(rls); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("whole", func(b *testing.B) {
		var enc recordEncoder
		for b.Loop() {
			j, err := json.Marshal(rls)
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			if err := enc.gzip(&buf, j); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRecordWritesAskForMetadata: a record is written as a Secret, in
// protobuf, and the answer asked for is the metadata alone; the API
// server's "already exists" is still Helm's ErrReleaseExists.
func TestRecordWritesAskForMetadata(t *testing.T) {
	type seen struct{ method, path, accept, contentType string }
	var (
		mu   sync.Mutex
		reqs []seen
	)
	created := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.URL.Path, r.Header.Get("Accept"), r.Header.Get("Content-Type")})
		again := created && r.Method == http.MethodPost
		created = created || r.Method == http.MethodPost
		mu.Unlock()
		if !bytes.HasPrefix(body, []byte(protobufPrefix)) {
			http.Error(w, "not protobuf", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if again {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"AlreadyExists","code":409,"message":"exists"}`)
			return
		}
		fmt.Fprint(w, `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"x","resourceVersion":"7"}}`)
	}))
	defer srv.Close()
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{
		ContentType: runtime.ContentTypeProtobuf, AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON}})
	if err != nil {
		t.Fatal(err)
	}
	rc := recordsClient(client.CoreV1())
	if rc == nil {
		t.Fatal("no REST client for a real clientset")
	}
	if recordsClient(fake.NewClientset().CoreV1()) != nil {
		t.Error("a REST client for a fake clientset")
	}
	d := &fastRecords{ctx: context.Background(), enc: &recordEncoder{}, rest: rc, namespace: testNamespace}
	rls := &release.Release{Name: releaseName, Namespace: testNamespace, Version: 1, Manifest: "---\nkind: ConfigMap\n",
		Info: &release.Info{Status: rcommon.StatusDeployed}}
	key := "sh.helm.release.v1." + releaseName + ".v1"
	if err := d.Create(key, rls); err != nil {
		t.Fatal(err)
	}
	if err := d.Create(key, rls); !errors.Is(err, driver.ErrReleaseExists) {
		t.Errorf("a second create: %v, want %v", err, driver.ErrReleaseExists)
	}
	if err := d.Update(key, rls); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{http.MethodPost, "/api/v1/namespaces/" + testNamespace + "/secrets", metadataOnly, runtime.ContentTypeProtobuf},
		{http.MethodPost, "/api/v1/namespaces/" + testNamespace + "/secrets", metadataOnly, runtime.ContentTypeProtobuf},
		{http.MethodPut, "/api/v1/namespaces/" + testNamespace + "/secrets/" + key, metadataOnly, runtime.ContentTypeProtobuf},
	}
	if !slices.Equal(reqs, want) {
		t.Errorf("requests:\n%+v\nwant\n%+v", reqs, want)
	}
}
