package provision

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/urumi/urumi/internal/store"
	"github.com/urumi/urumi/internal/store/storetest"
)

// TestDeleteFailureReadsCleanly: a delete that times out on a namespace
// still terminating says what failed and what is left in the namespace,
// in that order; the pods' scheduling troubles, which explain a create,
// are not glued in front of it.
func TestDeleteFailureReadsCleanly(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.SQLiteDSN(t), store.Options{AuditKey: storetest.AuditKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.CreateStore(ctx, store.Store{Name: "shop", Owner: "alice", Plan: "small"}, "alice"); err != nil {
		t.Fatal(err)
	}
	create, err := db.ClaimJob(ctx, "w1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CancelJob(ctx, create.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnqueueJob(ctx, "shop", store.JobDelete, "alice", nil); err != nil {
		t.Fatal(err)
	}
	job, err := db.ClaimJob(ctx, "w1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	ns := "store-shop"
	gone := metav1.Now()
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, DeletionTimestamp: &gone, Finalizers: []string{"kubernetes"}}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "wordpress", Namespace: ns,
			DeletionTimestamp: &gone, Finalizers: []string{"kubernetes.io/pvc-protection"}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "wordpress-1", Namespace: ns, DeletionTimestamp: &gone, Finalizers: []string{"test"}},
			Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."}}}},
	)
	r := &Runner{DB: db, Kube: &Kube{Client: client}, Worker: "w1", Lease: time.Minute, Log: slog.New(slog.DiscardHandler)}
	s, err := db.GetStore(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("namespace-delete: namespace store-shop still terminating: context deadline exceeded")
	if err := r.fail(ctx, job, s, time.Now(), cause); err == nil {
		t.Fatal("fail returned nil")
	}
	s, err = db.GetStore(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	want := "namespace-delete: namespace store-shop still terminating: context deadline exceeded; left in the namespace: " +
		"PersistentVolumeClaim wordpress is terminating, held by kubernetes.io/pvc-protection (a pod still uses it); 1 pod is still terminating"
	if s.Status != store.StatusFailed || s.Error != want {
		t.Fatalf("failed delete: %s %q\nwant FAILED %q", s.Status, s.Error, want)
	}
}
