package provision

import (
	"context"
	"log/slog"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/urumi/urumi/internal/backup"
)

// TestBackupJobRunAgain: a Job of the same name left failed by an earlier
// run (a verification or restore asked for again) is replaced, not taken
// for this run's; this run's own Job, found again on a resumed run, is
// waited on.
func TestBackupJobRunAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ep, err := backup.ParseEndpoint("192.0.2.10:8000")
	if err != nil {
		t.Fatal(err)
	}
	spec := backup.JobSpec{Operation: backup.OpVerify, Store: "shop", Namespace: "store-shop", BackupID: "shop-1",
		Repository: backup.Repository{URL: "rest:https://192.0.2.10:8000/", Secret: "repo", Endpoints: []backup.Endpoint{ep}},
		Images:     backup.DefaultImages(), CredentialsSecret: credentialsName, Labels: map[string]string{labelJob: "2"}}
	failed := batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}}
	earlier := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: spec.JobName(), Namespace: "store-shop", Labels: map[string]string{labelJob: "1"}}, Status: failed}
	client := fake.NewClientset(earlier)
	k := &Kube{Client: client, Log: slog.New(slog.DiscardHandler)}
	jobs := client.BatchV1().Jobs("store-shop")

	done := make(chan error, 1)
	go func() { _, _, err := k.runBackupJob(ctx, spec); done <- err }()
	// The simulator's part: this run's Job completes.
	for {
		j, err := jobs.Get(ctx, spec.JobName(), metav1.GetOptions{})
		if err == nil && j.Labels[labelJob] == "2" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
			if _, err := jobs.UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended on the earlier run's Job: %v", err)
		case <-ctx.Done():
			t.Fatal("no Job of this run was made")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("the run again: %v", err)
	}

	// A resumed run finds its own failed Job: it fails with it.
	mine := earlier.DeepCopy()
	mine.Labels[labelJob] = "2"
	if _, err := jobs.Create(ctx, mine, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := k.runBackupJob(ctx, spec); err == nil {
		t.Error("a resumed run whose own Job failed succeeded")
	}
}
