package provision

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
	"weak"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/urumi/urumi/charts"
)

// storeDeployment is a WordPress Deployment much as the store chart makes
// it for store, as the API server returns it.
func storeDeployment(store string, seed uint64) *appsv1.Deployment {
	rng := rand.New(rand.NewPCG(seed, seed))
	ns := Namespace(store)
	labels := map[string]string{charts.LabelComponent: "wordpress", "app.kubernetes.io/instance": store,
		"app.kubernetes.io/name": "store", "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/part-of": "urumi-store"}
	env := []corev1.EnvVar{{Name: "WORDPRESS_DB_HOST", Value: "mariadb." + ns + ".svc"}, {Name: "WORDPRESS_DB_NAME", Value: "wordpress"},
		{Name: "WORDPRESS_DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "store-credentials"}, Key: "mariadb-password"}}},
		{Name: "WORDPRESS_HOME", Value: "https://" + store + ".shops.example.com"}}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "wordpress", Namespace: ns, Labels: labels, Generation: 1,
			UID:               types.UID(fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)),
			ResourceVersion:   fmt.Sprint(rng.IntN(1e7)),
			CreationTimestamp: metav1.NewTime(time.Unix(1.8e9+rng.Int64N(1e6), 0)),
			Annotations: map[string]string{"meta.helm.sh/release-name": store, "meta.helm.sh/release-namespace": ns,
				"deployment.kubernetes.io/revision": "1", "checksum/config": fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{charts.LabelComponent: "wordpress", "app.kubernetes.io/instance": store}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					Containers: []corev1.Container{{Name: "wordpress", Image: "wordpress:6.8-php8.3-apache", Env: env,
						Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/var/www/html"}, {Name: "tmp", MountPath: "/tmp"}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/wp-login.php"}}}}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "wordpress"}}}},
				},
			},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
				LastUpdateTime: metav1.NewTime(time.Unix(1.8e9+rng.Int64N(1e6), 0)), Reason: "MinimumReplicasAvailable"}}},
	}
}

func TestDelta(t *testing.T) {
	ref, err := storeDeployment("bakery", 1).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := storeDeployment("tea-house-of-the-north", 2).Marshal()
	r := newDeltaRef(ref)
	cases := map[string][]byte{
		"another store's": other, "the reference itself": ref, "nothing": nil, "shorter than a window": ref[:deltaWindow-1],
		"its end first": append(bytes.Clone(ref[len(ref)/2:]), ref[:len(ref)/2]...), "unrelated": bytes.Repeat([]byte("\x00\xff"), 700),
	}
	for what, src := range cases {
		d := r.encode(src)
		got, err := r.decode(d)
		if err != nil || !bytes.Equal(got, src) {
			t.Errorf("%s: decoded to %d bytes (%v), want the %d encoded", what, len(got), err, len(src))
		}
	}
	// What a delta saves: another store's Deployment differs in its names,
	// uid, resource version, times and checksum.
	if d := r.encode(other); len(d)*4 > len(other) {
		t.Errorf("another store's Deployment: a delta of %d bytes for %d, want at most a quarter", len(d), len(other))
	}
	if d := r.encode(ref); len(d) > 8 {
		t.Errorf("the reference itself: a delta of %d bytes, want one copy", len(d))
	}

	// A malformed delta is an error, never a panic or a read out of the
	// reference's bounds.
	d := r.encode(other)
	for i := range d {
		_, _ = r.decode(d[:i])
		bad := bytes.Clone(d)
		bad[i] ^= 0x80
		_, _ = r.decode(bad)
	}
	for what, bad := range map[string][]byte{
		"a copy past the reference": {10, 10<<1 | 1, 0xff, 0xff, 0x03},
		"a copy of what is not yet": {4, 2 << 1, 'a', 'b', 2<<1 | 1, 0xff, 0xff, 0x03},
		"bytes past the end":        {2, 10 << 1, 'a', 'b'},
		"more than it says":         {1, 2 << 1, 'a', 'b'},
		"less than it says":         {3, 2 << 1, 'a', 'b'},
		"no length":                 {},
	} {
		if _, err := r.decode(bad); err == nil {
			t.Errorf("%s: decoded", what)
		}
	}
}

func TestDeltaRefs(t *testing.T) {
	refs := newDeltaRefs()
	raw, _ := storeDeployment("bakery", 1).Marshal()
	if d, ref := refs.delta("deployment\x00wordpress", raw); ref == nil || len(d) >= len(raw) {
		t.Fatalf("the first object: a delta of %d bytes for %d against %p; want one against itself", len(d), len(raw), ref)
	}
	first := refs.refs.m["deployment\x00wordpress"]
	other, _ := storeDeployment("tea", 2).Marshal()
	d, ref := refs.delta("deployment\x00wordpress", other)
	if ref != first {
		t.Error("a second object took a reference of its own")
	}
	if cap(d) > len(d)*9/8+16 {
		t.Errorf("a delta of %d bytes holds %d", len(d), cap(d))
	}
	if got, err := undelta(d, ref); err != nil || !bytes.Equal(got, other) {
		t.Errorf("undelta: %d bytes, %v", len(got), err)
	}
	// Nothing in common: kept whole.
	noise := make([]byte, 500)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	if d, ref := refs.delta("deployment\x00wordpress", noise); ref != nil || !bytes.Equal(d, noise) {
		t.Errorf("bytes with nothing in common with the reference kept as a delta of %d", len(d))
	}
	// References are bounded in number and size.
	for i := range maxDeltaRefs + 10 {
		refs.delta(fmt.Sprint("key", i), raw)
	}
	if len(refs.refs.m) != maxDeltaRefs {
		t.Errorf("%d references kept, want at most %d", len(refs.refs.m), maxDeltaRefs)
	}
	if d, ref := newDeltaRefs().delta("big", make([]byte, maxDeltaRef+1)); ref != nil || len(d) != maxDeltaRef+1 {
		t.Error("an object larger than a reference may be became one")
	}
	var none *deltaRefs
	if d, ref := none.delta("k", raw); ref != nil || !bytes.Equal(d, raw) {
		t.Error("no references: the object is not kept whole")
	}
}

func FuzzDelta(f *testing.F) {
	ref, _ := storeDeployment("bakery", 1).Marshal()
	other, _ := storeDeployment("tea", 2).Marshal()
	f.Add(ref, other)
	f.Add([]byte("abcdefabcdefabcdef"), []byte("xxabcdefabcdefyyabcdef"))
	f.Add([]byte{}, []byte("a"))
	f.Fuzz(func(t *testing.T, ref, src []byte) {
		r := newDeltaRef(ref)
		got, err := r.decode(r.encode(src))
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("decoded to %q (%v), want %q", got, err, src)
		}
		_, _ = r.decode(src) // any bytes: an error or a result, never a panic
	})
}

// TestLazyDeltas: what a watch sends of a lazy kind is kept whole, and
// kept as a delta once it has stayed as it is for lazyDelay, in the
// informer's indexer; an object changed or deleted since is left alone;
// what an informer's first list brings, or a list brings back unchanged,
// is kept as a delta at once.
func TestLazyDeltas(t *testing.T) {
	kind := packedAs[appsv1.Deployment]().watching("deployments", newDeltaRefs(), nil).lazily()
	wire := func(store string, seed uint64) *packed {
		t.Helper()
		raw, err := storeDeployment(store, seed).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p, err := kind.packWire(raw, true)
		if err != nil {
			t.Fatal(err)
		}
		if p.ref != nil {
			t.Fatal("an object from a watch was kept as a delta at once")
		}
		return p
	}
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	var seen []string
	inner := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { seen = append(seen, "add "+obj.(*packed).name) },
		UpdateFunc: func(_, obj any) { seen = append(seen, "update "+obj.(*packed).namespace) },
		DeleteFunc: func(obj any) { seen = append(seen, "delete "+obj.(*packed).namespace) },
	}
	q := &lazyDeltas{kind: kind}
	h := lazyHandler{ResourceEventHandler: inner, q: q, idx: &idx}
	file := func(p *packed) {
		old, ok, _ := idx.Get(p)
		_ = idx.Update(p)
		if ok {
			h.OnUpdate(old, p)
		} else {
			h.OnAdd(p, false)
		}
	}
	stored := func(ns string) *packed {
		obj, _, _ := idx.GetByKey(ns + "/wordpress")
		p, _ := obj.(*packed)
		return p
	}

	a, b, c := wire("a", 1), wire("b", 2), wire("c", 3)
	for _, p := range []*packed{a, b, c} {
		file(p)
	}
	b2 := wire("b", 4) // b changes
	file(b2)
	_ = idx.Delete(c) // c goes
	h.OnDelete(c)
	if len(seen) != 5 || len(q.items) != 4 {
		t.Fatalf("handler told %v, %d queued; want every event passed on and 4 queued", seen, len(q.items))
	}
	// Before lazyDelay: all whole.
	q.settle(idx, time.Now())
	if stored("store-a") != a || stored("store-b") != b2 {
		t.Fatal("objects kept as deltas before lazyDelay")
	}
	// After: a, unchanged, as a delta reading the same; b, replaced, and
	// c, gone, left alone; b2, queued later, not yet.
	now := time.Now()
	q.items[len(q.items)-1].at = now.Add(time.Second) // b2
	q.settle(idx, now.Add(lazyDelay))
	if stored("store-b") != b2 || len(q.items)-q.head != 1 {
		t.Fatalf("b, replaced by b2, settled over it (or b2 too soon): %+v", stored("store-b").packedMeta)
	}
	q.settle(idx, now.Add(lazyDelay+time.Second))
	for _, p := range []*packed{a, b2} {
		got := stored(p.namespace)
		if got == p || got.ref == nil || got.packedMeta != p.packedMeta {
			t.Fatalf("%s after lazyDelay: %+v, want it as a delta", p.namespace, got)
		}
		want, _ := unpack(p)
		if back, err := unpack(got); err != nil || !equality.Semantic.DeepEqual(back, want) {
			t.Errorf("%s as a delta reads back otherwise: %v", p.namespace, err)
		}
	}
	if _, ok, _ := idx.GetByKey("store-c/wordpress"); ok || len(idx.List()) != 2 {
		t.Errorf("the deleted object came back, or another appeared: %d objects", len(idx.List()))
	}
	if len(q.items) != 0 {
		t.Errorf("%d still queued", len(q.items))
	}

	// The queue does not keep a replaced version alive until it is due.
	replaced := func() weak.Pointer[packed] {
		e := wire("e", 6)
		file(e)
		file(wire("e", 7))
		return weak.Make(e)
	}()
	runtime.GC()
	if replaced.Value() != nil {
		t.Error("a version the indexer replaced is still alive: the queue holds it")
	}
	if n := len(q.items) - q.head; n != 2 {
		t.Errorf("%d queued, want e's two versions", n)
	}
	q.settle(idx, time.Now().Add(lazyDelay))
	if got := stored("store-e"); got == nil || got.ref == nil {
		t.Error("e's current version not kept as a delta once due")
	}

	// The first list, and an object listed again unchanged: at once.
	d := wire("d", 5)
	_ = idx.Add(d)
	h.OnAdd(d, true)
	if got := stored("store-d"); got.ref == nil {
		t.Error("an object of the first list was kept whole")
	}
	e := wire("e", 6)
	file(e)
	again := *e
	_ = idx.Update(&again)
	h.OnUpdate(e, &again)
	if got := stored("store-e"); got.ref == nil {
		t.Error("an object listed again unchanged was kept whole")
	}
}
