package provision

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// countingMetrics records what a reconciler reports.
type countingMetrics struct {
	mu      sync.Mutex
	found   map[string]int
	orphans map[string]int
}

func (m *countingMetrics) DriftFound(kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.found[kind]++
}
func (m *countingMetrics) DriftRepaired(string) {}
func (m *countingMetrics) SetOrphans(kind string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.orphans[kind] = n
}

// reconcilerFixture is fakeStore's store on a fake API server (whose
// informers are real) and in a real SQLite database.
type reconcilerFixture struct {
	k  *Kube
	db store.DB
	st store.Store
}

func newReconcilerFixture(t *testing.T) reconcilerFixture {
	t.Helper()
	ctx := context.Background()
	k, snap, st := fakeStore(t)
	ns := Namespace(st.Name)
	objs := []runtime.Object{snap.namespaces[ns]}
	o := snap.byNS[ns]
	for _, l := range [][]runtime.Object{ptrs(o.quotas), ptrs(o.limitRanges), ptrs(o.policies), ptrs(o.secrets),
		ptrs(o.services), ptrs(o.deployments), ptrs(o.replicaSets), ptrs(o.jobs), ptrs(o.pods), ptrs(o.claims)} {
		objs = append(objs, l...)
	}
	for _, r := range o.helm {
		objs = append(objs, r.secret)
	}
	k.Client = fake.NewClientset(objs...)
	k.Log = slog.New(slog.DiscardHandler)
	db, err := store.Open(ctx, storetest.SQLiteDSN(t), store.Options{AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	created, job, err := db.CreateStore(ctx, store.Store{Name: st.Name, Owner: st.Owner, Plan: st.Plan, Namespace: ns, Options: st.Options}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CancelJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	created.Status = store.StatusReady
	if err := db.UpdateStore(ctx, created); err != nil {
		t.Fatal(err)
	}
	return reconcilerFixture{k: k, db: db, st: created}
}

// run starts a reconciler until the test ends.
func (f reconcilerFixture) run(t *testing.T, mode DriftMode, m DriftMetrics, grace time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Reconciler{Service: &Service{DB: f.db}, Kube: f.k, Mode: mode, Metrics: m, Settle: 10 * time.Millisecond, Grace: grace}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reconciler: %v", err)
		}
	})
}

func (f reconcilerFixture) waitStatus(t *testing.T, want store.Status) store.Store {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := f.db.GetStore(context.Background(), f.st.Name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("store is %s (%q), want %s", st.Status, st.Error, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f reconcilerFixture) driftEntries(t *testing.T) []store.AuditEntry {
	t.Helper()
	entries, err := f.db.ListAudit(context.Background(), store.AuditFilter{Store: f.st.Name})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range entries {
		if e.Action == "drift" {
			out = append(out, e)
		}
	}
	return out
}

// TestReconcilerRepairsOnce: two reconcilers (two replicas) see a deleted
// policy; the store is marked DEGRADED once, with one audit entry and one
// repair job.
func TestReconcilerRepairsOnce(t *testing.T) {
	f := newReconcilerFixture(t)
	ctx := context.Background()
	m := &countingMetrics{found: map[string]int{}, orphans: map[string]int{}}
	f.run(t, DriftRepair, m, time.Minute)
	f.run(t, DriftRepair, m, time.Minute)
	time.Sleep(300 * time.Millisecond) // both judged the store once: it passes
	if st := f.waitStatus(t, store.StatusReady); len(f.driftEntries(t)) != 0 {
		t.Fatalf("a store as urumi made it was marked: %s %q", st.Status, st.Error)
	}
	if err := f.k.Client.NetworkingV1().NetworkPolicies(Namespace(f.st.Name)).Delete(ctx, "default-deny", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	st := f.waitStatus(t, store.StatusDegraded)
	if want := "network-policy NetworkPolicy/default-deny"; !strings.Contains(st.Error, want) {
		t.Errorf("DEGRADED reason %q does not name %s", st.Error, want)
	}
	job, err := f.db.ActiveJob(ctx, f.st.Name)
	if err != nil || job.Kind != store.JobRepair || job.Actor != ReconcilerActor {
		t.Fatalf("active job = %+v, %v; want a repair queued by the reconciler", job, err)
	}
	time.Sleep(300 * time.Millisecond) // the other replica's turn
	entries := f.driftEntries(t)
	if len(entries) != 1 || entries[0].Outcome != "found" || !strings.Contains(entries[0].Detail, "repair queued") {
		t.Errorf("drift audit entries: %+v, want one, found, with a repair queued", entries)
	}
	jobs, err := f.db.ListJobs(ctx, f.st.Name)
	if err != nil {
		t.Fatal(err)
	}
	repairs := 0
	for _, j := range jobs {
		if j.Kind == store.JobRepair {
			repairs++
		}
	}
	if repairs != 1 {
		t.Errorf("%d repair jobs, want 1", repairs)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.found["network-policy"] != 1 {
		t.Errorf("drift found by kind: %v, want network-policy once", m.found)
	}
}

// TestReconcilerReportOnly marks and unmarks without queuing anything:
// DEGRADED while the policy is gone, READY (with a resolved entry) once a
// person puts it back.
func TestReconcilerReportOnly(t *testing.T) {
	f := newReconcilerFixture(t)
	ctx := context.Background()
	f.run(t, DriftReport, nil, time.Minute)
	policies := f.k.Client.NetworkingV1().NetworkPolicies(Namespace(f.st.Name))
	p, err := policies.Get(ctx, "default-deny", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := policies.Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(t, store.StatusDegraded)
	if job, err := f.db.ActiveJob(ctx, f.st.Name); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("report mode queued %+v (%v)", job, err)
	}
	// More drift while DEGRADED: the reason comes to name it too.
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "someone", Namespace: Namespace(f.st.Name)},
		RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "admin"}}
	if _, err := f.k.Client.RbacV1().RoleBindings(rb.Namespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for st := f.waitStatus(t, store.StatusDegraded); !strings.Contains(st.Error, "RoleBinding/someone"); st = f.waitStatus(t, store.StatusDegraded) {
		if time.Now().After(deadline) {
			t.Fatalf("the reason does not come to name the RoleBinding: %q", st.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := f.k.Client.RbacV1().RoleBindings(rb.Namespace).Delete(ctx, rb.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p.ResourceVersion = ""
	if _, err := policies.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitStatus(t, store.StatusReady)
	entries := f.driftEntries(t)
	if len(entries) != 3 || !strings.Contains(entries[0].Detail, "reported only") || entries[2].Outcome != "resolved" {
		t.Errorf("drift audit entries: %+v, want found (reported only) twice, then resolved", entries)
	}
}

// TestReconcilerHealthGrace: a workload not ready with nothing changed is
// given the grace before it counts as drift.
func TestReconcilerHealthGrace(t *testing.T) {
	f := newReconcilerFixture(t)
	ctx := context.Background()
	const grace = 1500 * time.Millisecond
	f.run(t, DriftReport, nil, grace)
	deps := f.k.Client.AppsV1().Deployments(Namespace(f.st.Name))
	d, err := deps.Get(ctx, "wordpress", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{}
	start := time.Now()
	if _, err := deps.UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	st := f.waitStatus(t, store.StatusDegraded)
	if waited := time.Since(start); waited < grace {
		t.Errorf("a workload not ready was drift after %s, before the grace of %s", waited, grace)
	}
	if !strings.Contains(st.Error, "0 of 1 replicas ready") {
		t.Errorf("reason %q", st.Error)
	}
}

// TestReconcilerOrphans: a namespace labelled urumi's without a store,
// and a READY store whose namespace is gone, are counted; the store is
// marked with the way to forget it; nothing is deleted.
func TestReconcilerOrphans(t *testing.T) {
	f := newReconcilerFixture(t)
	ctx := context.Background()
	ghost := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace("ghost"), Labels: storeLabels("ghost", "bob")}}
	if _, err := f.k.Client.CoreV1().Namespaces().Create(ctx, ghost, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lost, job, err := f.db.CreateStore(ctx, store.Store{Name: "lost", Owner: "alice", Plan: "medium", Namespace: Namespace("lost")}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.CancelJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	lost.Status = store.StatusReady
	if err := f.db.UpdateStore(ctx, lost); err != nil {
		t.Fatal(err)
	}
	m := &countingMetrics{found: map[string]int{}, orphans: map[string]int{}}
	f.run(t, DriftRepair, m, time.Minute)
	deadline := time.Now().Add(20 * time.Second)
	for {
		m.mu.Lock()
		nsN, recN := m.orphans[FindingOrphanNS], m.orphans[FindingOrphanRecord]
		m.mu.Unlock()
		if nsN == 1 && recN == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphans counted: %d namespaces, %d records; want 1 and 1", nsN, recN)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := f.db.GetStore(ctx, "lost")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != store.StatusDegraded || !strings.Contains(st.Error, "urumi store forget lost") {
		t.Errorf("orphan record: %s %q, want DEGRADED naming forget", st.Status, st.Error)
	}
	if _, err := f.db.ActiveJob(ctx, "lost"); !errors.Is(err, store.ErrNotFound) {
		t.Error("a repair was queued for a store whose namespace is gone")
	}
	if _, err := f.k.Client.CoreV1().Namespaces().Get(ctx, ghost.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("the orphan namespace: %v", err)
	}
}

// BenchmarkJudge is what the reconciler spends judging one store from
// memory.
func BenchmarkJudge(b *testing.B) {
	t := &testing.T{}
	k, snap, st := fakeStore(t)
	ctx := context.Background()
	for b.Loop() {
		// A fresh copy of the records, as the cache hands out.
		for i := range snap.byNS[Namespace(st.Name)].helm {
			h := &snap.byNS[Namespace(st.Name)].helm[i]
			h.decoded, h.decodeEr = nil, nil
		}
		k.judge(ctx, snap, st)
	}
}

// gettingDB counts the store reads a reconciler makes.
type gettingDB struct {
	store.DB
	mu   sync.Mutex
	gets int
}

func (d *gettingDB) GetStore(ctx context.Context, name string) (store.Store, error) {
	d.mu.Lock()
	d.gets++
	d.mu.Unlock()
	return d.DB.GetStore(ctx, name)
}

// A store one of this process's workers is running a job for is left to
// the job: judging it reads nothing from the database. Once the job lets
// go, the store is read again.
func TestReconcilerLeavesHeldStores(t *testing.T) {
	ctx := context.Background()
	f := newReconcilerFixture(t)
	// A FAILED store: once read, it is left alone without the cache.
	f.st.Status = store.StatusFailed
	if err := f.db.UpdateStore(ctx, f.st); err != nil {
		t.Fatal(err)
	}
	db := &gettingDB{DB: f.db}
	leases := &Leases{DB: f.db, Lease: time.Hour}
	m := &countingMetrics{found: map[string]int{}, orphans: map[string]int{}}
	r := &Reconciler{Service: &Service{DB: db}, Kube: f.k, Mode: DriftRepair, Metrics: m, Leases: leases}
	r.defaults()

	release := leases.hold(1, f.st.Name, "w1", func(error) {})
	other := leases.hold(2, "another", "w2", func(error) {})
	defer other()
	if !leases.Running(f.st.Name) || leases.Running("nobody") {
		t.Fatalf("Running(%s) = %v, Running(nobody) = %v", f.st.Name, leases.Running(f.st.Name), leases.Running("nobody"))
	}
	if again, err := r.reconcile(ctx, f.st.Name); err != nil || again != 0 {
		t.Fatalf("reconcile of a held store: %v, %v", again, err)
	}
	if db.gets != 0 {
		t.Errorf("a held store was read %d times", db.gets)
	}
	release()
	if leases.Running(f.st.Name) {
		t.Error("released, and still running")
	}
	if _, err := r.reconcile(ctx, f.st.Name); err != nil {
		t.Fatal(err)
	}
	if db.gets != 1 {
		t.Errorf("released store read %d times, want 1", db.gets)
	}
	var none *Leases
	if none.Running(f.st.Name) {
		t.Error("no leases: running")
	}
}
