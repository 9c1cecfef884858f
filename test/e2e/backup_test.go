package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/internal/backup"
	"github.com/urumi/urumi/internal/provision"
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
		ObjectMeta: metav1.ObjectMeta{Name: "repo-" + name},
		Data:       map[string][]byte{"password": []byte("e2e-repository-password"), "RESTIC_REST_USERNAME": []byte("u"), "unrelated": []byte("x")},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	e.extra = append(e.extra,
		"URUMI_BACKUP_REPOSITORY=rest:https://192.0.2.10:8000/",
		"URUMI_BACKUP_SECRET="+secretNS+"/repo-"+name,
		"URUMI_BACKUP_ENDPOINTS=192.0.2.10:8000")
	// The default plan backs its stores up every 2s and keeps 2 backups:
	// only `urumi serve` takes them, started below.
	e.writeConfig(scheduledPlan)
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

	// Verify: a Job in the store's namespace (the simulator completes
	// it), audited; the backup stays as it was.
	e.ok("backup", "verify", b.ID)
	var entries []store.AuditEntry
	if err := json.Unmarshal([]byte(e.ok("audit", "--store", name, "-o", "json").stdout), &entries); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(a store.AuditEntry) bool { return a.Action == "backup.verify" && a.Outcome == "succeeded" }) {
		t.Errorf("no succeeded backup.verify entry: %+v", entries)
	}
	var verified store.Backup
	if err := json.Unmarshal([]byte(e.ok("backup", "list", name, "-o", "json").stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("backup list after verify: %v %+v", err, list)
	}
	if verified = list[0]; verified.Status != store.BackupSucceeded || verified.Error != "" {
		t.Errorf("the verified backup is %+v", verified)
	}

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

	scheduledBackups(t, e, name, secretNS, "repo-"+name)
}

// scheduledPlan is the built-in medium plan with a backup schedule.
const scheduledPlan = `default-plan: medium
plans:
  - name: medium
    description: A busy shop, backed up often.
    quota: {cpu: "4", memory: 4Gi, storage: 20Gi, pods: 15, persistentVolumeClaims: 4}
    wordpress: {requestCpu: 500m, requestMemory: 512Mi, limitCpu: "2", limitMemory: 1536Mi}
    mariadb: {requestCpu: 250m, requestMemory: 512Mi, limitCpu: "1", limitMemory: 1536Mi}
    setup: {requestCpu: 100m, requestMemory: 128Mi, limitCpu: 500m, limitMemory: 512Mi}
    wordpressStorage: 5Gi
    mariadbStorage: 5Gi
    egress: {publicHTTPS: true}
    backup: {every: 2s, keep: 2}
`

// scheduledBackups runs `urumi serve` with the schedule checked every
// second: scheduled backups are taken, the retention keeps the newest 2
// (the forget Job run after each, the records of the others removed),
// and a scheduled backup that fails (the repository's Secret gone) shows
// on the store.
func scheduledBackups(t *testing.T, e *env, name, secretNS, secret string) {
	ctx := context.Background()
	_, serveOut := e.start("serve", "--addr", "127.0.0.1:0", "--workers", "1", "--drift", "off", "--backup-schedule-interval", "1s")
	scheduledDone := func() int {
		n := 0
		var entries []store.AuditEntry
		if err := json.Unmarshal([]byte(e.ok("audit", "--store", name, "-o", "json").stdout), &entries); err != nil {
			t.Fatal(err)
		}
		for _, a := range entries {
			if a.Action == "backup.create" && a.Outcome == "succeeded" && a.Actor == provision.SchedulerActor &&
				strings.Contains(a.Detail, "retention kept the newest 2") {
				n++
			}
		}
		return n
	}
	waitFor(ctx, t, "three scheduled backups with their retention", func() (bool, error) {
		return scheduledDone() >= 3, nil
	})
	var list []store.Backup
	if err := json.Unmarshal([]byte(e.ok("backup", "list", name, "-o", "json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	succeeded := 0
	for _, b := range list {
		if b.Kind != store.BackupScheduled {
			t.Errorf("backup %s is %s, want scheduled", b.ID, b.Kind)
		}
		if b.Status == store.BackupSucceeded {
			succeeded++
		}
	}
	if succeeded > 2 {
		t.Errorf("%d succeeded backups listed after the retention keeping 2: %+v", succeeded, list)
	}

	// The repository's Secret goes: the next scheduled backup fails, and
	// the store says so.
	if err := e.client.CoreV1().Secrets(secretNS).Delete(ctx, secret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var st store.Store
	waitFor(ctx, t, "a failed scheduled backup on the store", func() (bool, error) {
		if err := json.Unmarshal([]byte(e.ok("store", "get", name, "-o", "json").stdout), &st); err != nil {
			return false, err
		}
		return st.LastBackup != nil && st.LastBackup.Status == store.BackupFailed, nil
	})
	if st.Status != store.StatusReady || st.LastBackup.Kind != store.BackupScheduled || !strings.Contains(st.LastBackup.Error, "Secret") {
		t.Errorf("the store after a failed scheduled backup: %s, last backup %+v", st.Status, st.LastBackup)
	}
	if out := e.ok("store", "get", name).stdout; !strings.Contains(out, "Last backup:") || !strings.Contains(out, "failed") {
		t.Errorf("store get does not show the failed backup:\n%s", out)
	}
	// The schedule keeps failing: one failed record stays, the newest.
	failedIDs := map[string]bool{st.LastBackup.ID: true}
	waitFor(ctx, t, "a second failed scheduled backup", func() (bool, error) {
		var now store.Store
		if err := json.Unmarshal([]byte(e.ok("store", "get", name, "-o", "json").stdout), &now); err != nil {
			return false, err
		}
		if now.LastBackup != nil && now.LastBackup.Status == store.BackupFailed {
			failedIDs[now.LastBackup.ID] = true
		}
		return len(failedIDs) >= 2, nil
	})
	if err := json.Unmarshal([]byte(e.ok("backup", "list", name, "-o", "json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, b := range list {
		if b.Status == store.BackupFailed {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d failed backups listed after %d failed scheduled attempts, want the newest only", failed, len(failedIDs))
	}
	if strings.Contains(serveOut.String(), "panic") {
		t.Errorf("serve panicked:\n%s", serveOut)
	}
}

func keys(m map[string][]byte) string {
	out := ""
	for k := range m {
		out += fmt.Sprintf("%q ", k)
	}
	return out
}
