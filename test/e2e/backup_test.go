package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/internal/backup"
	"github.com/urumi/urumi/internal/store"
)

// TestBackupOrchestration takes a backup of a store on the simulated
// cluster, lists it, and deletes it. Pods do not run
// there: the Job is admitted by the API server under the namespace's
// restricted profile and completed by the simulator, and no pod leaves a
// result, so the backup is recorded without snapshot IDs (as the runner
// does for a Job that reports none).
func TestBackupOrchestration(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			backupOrchestration(t, b.dsn(t), "backedup-"+b.name)
		})
	}
}

func backupOrchestration(t *testing.T, dsn, name string) {
	e := newEnv(t, dsn)
	ctx := context.Background()
	const secretNS = "urumi-backup-e2e"
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: secretNS}},
		metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := e.client.CoreV1().Secrets(secretNS).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "repo"},
		Data:       map[string][]byte{"password": []byte("e2e-repository-password"), "RESTIC_REST_USERNAME": []byte("u"), "unrelated": []byte("x")},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	e.extra = append(e.extra,
		"URUMI_BACKUP_REPOSITORY=rest:https://192.0.2.10:8000/",
		"URUMI_BACKUP_SECRET="+secretNS+"/repo",
		"URUMI_BACKUP_ENDPOINTS=192.0.2.10:8000")
	e.ok("store", "create", name)

	r := e.ok("backup", "create", name, "-o", "json")
	var b store.Backup
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatalf("backup create: %v: %s", err, r)
	}
	if b.Status != store.BackupSucceeded || b.Store != name || b.DBSnapshot != "" {
		t.Errorf("backup create ended %+v: want succeeded, with no snapshot IDs the job did not report", b)
	}
	// The copy of the repository's Secret has only the keys the Job reads.
	copied, err := e.client.CoreV1().Secrets("store-"+name).Get(ctx, "urumi-backup-repository", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("repository Secret in the store's namespace: %v", err)
	}
	if _, ok := copied.Data["unrelated"]; ok || len(copied.Data) != 2 {
		t.Errorf("the copied Secret holds keys %v, want password and RESTIC_REST_USERNAME only", keys(copied.Data))
	}
	for _, p := range []string{"allow-backup-egress", "allow-mariadb-from-backup"} {
		if _, err := e.client.NetworkingV1().NetworkPolicies("store-"+name).Get(ctx, p, metav1.GetOptions{}); err != nil {
			t.Errorf("backup NetworkPolicy %s: %v", p, err)
		}
	}
	if jobs, err := e.client.BatchV1().Jobs("store-"+name).List(ctx, metav1.ListOptions{LabelSelector: "urumi.io/backup-id=" + b.ID}); err != nil || len(jobs.Items) != 0 {
		t.Errorf("the finished backup Job is left: %v, %v", jobs, err)
	}

	// The namespace enforces the restricted profile on pods: a pod of the
	// backup Job's template is admitted there (a server-side dry run).
	endpoint, err := backup.ParseEndpoint("192.0.2.10:8000")
	if err != nil {
		t.Fatal(err)
	}
	job, err := backup.Job(backup.JobSpec{
		Operation: backup.OpBackup, Store: name, Namespace: "store-" + name, BackupID: b.ID,
		Repository: backup.Repository{URL: "rest:https://192.0.2.10:8000/", Secret: "urumi-backup-repository",
			Endpoints: []backup.Endpoint{endpoint}},
		Images: backup.DefaultImages(), CredentialsSecret: "store-credentials",
	})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "backup-admission", Labels: job.Spec.Template.Labels}, Spec: job.Spec.Template.Spec}
	if _, err := e.client.CoreV1().Pods("store-"+name).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("a backup pod is refused in the store's namespace: %v", err)
	}
	pod.Spec.SecurityContext = nil
	pod.Spec.Containers[0].SecurityContext = nil
	if _, err := e.client.CoreV1().Pods("store-"+name).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil {
		t.Errorf("a pod without the restricted profile's settings is admitted: the check above proves nothing")
	}

	r = e.ok("backup", "list", name, "-o", "json")
	var list []store.Backup
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("backup list: %v, %s", err, r)
	}
	// The local CLI acts as an admin; that another owner gets 404 for
	// these backups is shown over HTTP (internal/server TestBackupRoutes).

	// Restore into a new store: made for the same owner, READY with its
	// own credentials Secret and host, the restore Job run in its
	// namespace (the simulator completes it).
	copyName := name + "-copy"
	e.ok("backup", "restore", b.ID, "--to", copyName)
	r = e.ok("store", "get", copyName, "-o", "json")
	var source, restored store.Store
	if err := json.Unmarshal([]byte(r.stdout), &restored); err != nil {
		t.Fatalf("store get %s: %v: %s", copyName, err, r)
	}
	if err := json.Unmarshal([]byte(e.ok("store", "get", name, "-o", "json").stdout), &source); err != nil {
		t.Fatal(err)
	}
	if restored.Status != store.StatusReady || restored.Owner != source.Owner || restored.Plan != source.Plan ||
		restored.URL == source.URL || !strings.Contains(restored.URL, "//"+copyName+".") {
		t.Errorf("the restored copy is %+v; its source %+v", restored, source)
	}
	var phases []string
	for _, p := range restored.Phases {
		phases = append(phases, p.Name)
	}
	if got := strings.Join(phases, " "); !strings.Contains(got, "helm-install") || !strings.Contains(got, "backup-restore") ||
		strings.Index(got, "helm-install") > strings.Index(got, "backup-restore") {
		t.Errorf("the copy's phases: %s, want it created, then restored", got)
	}
	srcSecret, err := e.client.CoreV1().Secrets("store-"+name).Get(ctx, "store-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	copySecret, err := e.client.CoreV1().Secrets("store-"+copyName).Get(ctx, "store-credentials", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the copy's credentials Secret: %v", err)
	}
	if len(copySecret.Data) == 0 || string(copySecret.Data["mariadb-root-password"]) == string(srcSecret.Data["mariadb-root-password"]) {
		t.Errorf("the copy's credentials are empty or its source's (%d keys)", len(copySecret.Data))
	}
	if jobs, err := e.client.BatchV1().Jobs("store-"+copyName).List(ctx, metav1.ListOptions{LabelSelector: "urumi.io/backup-id=" + b.ID}); err != nil || len(jobs.Items) != 0 {
		t.Errorf("the finished restore Job is left: %v, %v", jobs, err)
	}
	audit := e.ok("audit", "--store", copyName, "-o", "json").stdout
	for _, want := range []string{`"backup.restore"`, `"create"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("the copy's audit has no %s entry: %s", want, audit)
		}
	}
	e.ok("store", "delete", copyName)

	e.ok("backup", "delete", b.ID)
	r = e.ok("backup", "list", name, "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 0 {
		t.Errorf("backup list after delete: %v, %s", err, r)
	}
}

func keys(m map[string][]byte) string {
	out := ""
	for k := range m {
		out += fmt.Sprintf("%q ", k)
	}
	return out
}
