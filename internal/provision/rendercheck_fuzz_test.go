package provision

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// injectedDeployment is the document of issue 10's attack: a privileged,
// hostPID, hostPath Deployment in kube-system.
const injectedDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: evil
  namespace: kube-system
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      hostPID: true
      containers: [{name: c, image: busybox, securityContext: {privileged: true}}]
      volumes: [{name: root, hostPath: {path: /}}]`

// FuzzSetEntries applies one `set` entry as a store's override, renders the
// store chart with it (values schema on) through urumi's post-render check,
// and holds that whatever the check lets through stays in the store's
// namespace and is of a kind the chart ships.
func FuzzSetEntries(f *testing.F) {
	for _, seed := range []string{
		"images.wordpress.tag=7.1.2-php8.3-apache\n---\n" + injectedDeployment,
		"images.wordpress.tag=7.1.2-php8.3-apache\n---\napiVersion: v1\nkind: Service\nmetadata: {name: lb, namespace: default}\nspec: {type: LoadBalancer, ports: [{port: 80}]}",
		"images.wordpress.repository=docker.io/library/wordpress\n---\n" + injectedDeployment,
		"images.mariadb.digest=sha256:0\n---\n" + injectedDeployment,
		"images.pullPolicy=Always\n---\n" + injectedDeployment,
		"storage.wordpress.size=5Gi\n---\n" + injectedDeployment,
		"storage.className=fast\"\n  namespace: kube-system",
		"ingress.className=nginx\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: steal, namespace: store-other}\nspec: {rules: [{host: other.stores.example.com}]}",
		"ingress.tlsIssuer=letsencrypt\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: evil}",
		"ingress.annotations.helm\\.sh/hook=pre-install",
		"ingress.annotations.a\nb=c",
		"ingress.annotations.x=y\n---\n" + injectedDeployment,
		"ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/server-snippet=location / { proxy_pass http://kubernetes.default; }",
		"ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/server-alias=other.stores.example.com",
		"ingress.annotations.urumi\\.io/store=other",
		"ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-body-size=64m",
		"ingress.enabled=false",
		"host=other.stores.example.com",
		"credentialsSecret=sh.helm.release.v1.store.v1",
		"site.title=Shop of Things",
		"site.title=\x00\x1b[31mred\r\n---\n" + injectedDeployment,
		"site.title={{ .Release.Namespace }}",
		"admin.user=o'brien\n  hostPID: true",
		"admin.email=owner@example.com",
		"woocommerce.version=10.1.2",
		"woocommerce.version=10.1.2\n---\n" + injectedDeployment,
		"resources.wordpress.limits.nvidia\\.com/gpu=1",
		"resources.wordpress.limits.cpu=2",
		"resources.wordpress.limits.cpu=2\n---\n" + injectedDeployment,
		"setup.backoffLimit=1000000",
		"setup.backoffLimit=4\n---\n" + injectedDeployment,
		"setup.activeDeadlineSeconds=600",
		"aa[65536]=",
		"images.wordpress.tag[3]=x",
		"images={}",
		"images.wordpress=null",
		"=",
		"",
	} {
		f.Add(seed)
	}
	plan := BuiltinPlans()[0]
	f.Fuzz(func(t *testing.T, entry string) {
		vals, err := chartValues(testStoreName, plan, Options{BaseDomain: testBaseDomain, IngressClass: "nginx", Set: []string{entry}})
		if err != nil {
			return // refused at the door
		}
		manifest, err := renderStore(t, vals, checker())
		if err != nil {
			return // refused by the schema, the templates or the render check
		}
		objs := appliedObjects(t, manifest)
		objs = append(objs, decodeLikeKubectl(t, manifest)...)
		if len(objs) == 0 {
			t.Fatal("the check passed a release with no objects")
		}
		for _, o := range objs {
			if ns := o.GetNamespace(); ns != "" && ns != testNamespace {
				t.Errorf("%s %q in namespace %q passed the render check", o.GetKind(), o.GetName(), ns)
			}
			if _, ok := newAllowedObject(o.GetAPIVersion(), o.GetKind()); !ok {
				t.Errorf("%s %s %q passed the render check", o.GetAPIVersion(), o.GetKind(), o.GetName())
			}
		}
	})
}

// decodeLikeKubectl reads a manifest as Helm's kube client (cli-runtime's
// resource builder) does: a YAML-or-JSON stream into unstructured objects.
func decodeLikeKubectl(t testing.TB, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("release manifest the check passed does not decode: %v", err)
		}
		if m != nil {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

// FuzzRenderCheck feeds the render check arbitrary manifests, as a broken
// or subverted chart might render them, and holds that whatever it passes
// on reads back, by Helm's and by kubectl's parsers alike, as objects in the
// store's namespace of kinds the chart ships.
func FuzzRenderCheck(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n--- {apiVersion: v1, kind: Namespace, metadata: {name: evil}}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n...\n--- !!map\napiVersion: v1\nkind: Namespace\nmetadata: {name: evil}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: store-shop\n  namespace: kube-system\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  Namespace: kube-system\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: a}\ndata: {<<: *m}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"a\\n---\\nkind: Namespace\"}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: wordpress}\nspec: {type: ClusterIP, ports: [{port: 80}]}\n",
		"{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\", \"namespace\": \"store-shop\"}}",
		injectedDeployment,
		"---\n# comment\n---\n",
	} {
		f.Add(seed)
	}
	// The check with the cache an install's has, shared by every input:
	// it must say what the check without says.
	cache := &docCache{}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := renderCheck{namespace: testNamespace, host: testHost}.Run(bytes.NewBufferString(in))
		for range 2 { // reading, then from the cache
			cached, cerr := renderCheck{namespace: testNamespace, host: testHost, docs: cache}.Run(bytes.NewBufferString(in))
			if (err == nil) != (cerr == nil) || err != nil && err.Error() != cerr.Error() || err == nil && cached.String() != out.String() {
				t.Fatalf("the check with its cache differs: %v, %v", err, cerr)
			}
		}
		if err != nil {
			return
		}
		objs := append(appliedObjects(t, out.String()), decodeLikeKubectl(t, out.String())...)
		for _, o := range objs {
			if ns := o.GetNamespace(); ns != "" && ns != testNamespace {
				t.Errorf("%s %q in namespace %q passed the render check", o.GetKind(), o.GetName(), ns)
			}
			if _, ok := newAllowedObject(o.GetAPIVersion(), o.GetKind()); !ok {
				t.Errorf("%s %s %q passed the render check", o.GetAPIVersion(), o.GetKind(), o.GetName())
			}
		}
	})
}
