package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/urumi/urumi/internal/backup"
	"github.com/urumi/urumi/internal/store"
)

// The runner's side of backups: each backup, deletion or restore copies
// the repository's Secret into the store's namespace, applies the backup
// NetworkPolicies, runs one Job built by internal/backup, waits for it,
// reads its result from the pod's termination message, records it, and
// deletes the Job. Every step can run again: a job resumed by another
// worker finds the Job it started and waits on.

// Job poll interval: a backup takes minutes; the API server is asked once
// every few seconds per running backup.
const backupPoll = 2 * time.Second

// credentialKeyRE are the keys of the operator's Secret that restic reads
// from its environment (backup.Repository.CredentialKeys).
var credentialKeyRE = regexp.MustCompile(`^(AWS|RESTIC_REST|B2|AZURE|GOOGLE|OS|ST)_[A-Z0-9_]+$`)

// caCertKey is the key of the operator's Secret holding a private CA.
const caCertKey = "ca.crt"

// replicasAnnotation keeps WordPress's replicas while a restore has it
// scaled down, so a restore resumed elsewhere scales back to them.
const replicasAnnotation = "urumi.io/replicas-before-restore"

func (r *Runner) backupJob(ctx context.Context, job store.Job, s store.Store, events Events) error {
	start := time.Now()
	var p backupParams
	if err := json.Unmarshal(job.Params, &p); err != nil {
		return r.backupFailed(ctx, job, s, "", start, fmt.Errorf("read the job's params: %w", err))
	}
	b, err := r.DB.GetBackup(ctx, p.BackupID)
	if err != nil {
		return r.backupFailed(ctx, job, s, "", start, err)
	}
	if p.Operation == backup.OpBackup && b.Status == store.BackupQueued {
		b.Status = store.BackupRunning
		if err := r.DB.UpdateBackup(ctx, b); err != nil {
			return fmt.Errorf("mark backup %s running: %w", b.ID, err)
		}
	}
	var res backup.Result
	var reported bool
	steps := r.backupSteps(s, job.ID, backup.JobSpec{Operation: p.Operation, Store: s.Name, BackupID: b.ID, BackupStore: b.Store},
		func(got backup.Result, ok bool) { res, reported = got, ok })
	s.Options, s.Phases = nil, nil
	if err := r.runSteps(ctx, job, &s, steps, events); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return r.backupFailed(ctx, job, s, b.ID, start, err)
	}
	switch p.Operation {
	case backup.OpDelete:
		return r.outcome(ctx, job, store.JobSucceeded, "", func(tx store.DB) error {
			if err := tx.RemoveBackup(ctx, b.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return r.audit(ctx, tx, job, "backup.delete", s.Name, "succeeded", "backup "+b.ID, time.Since(start))
		})
	case backup.OpVerify:
		detail := "backup " + b.ID + " verified"
		if reported {
			detail += fmt.Sprintf(": %d tables, %d rows, %d files (%d bytes) read back", res.Tables, res.Rows, res.Files, res.FilesBytes)
		} else {
			detail += ", no result reported by the job"
		}
		b.Error = ""
		return r.outcome(ctx, job, store.JobSucceeded, "", func(tx store.DB) error {
			if err := tx.UpdateBackup(ctx, b); err != nil {
				return err
			}
			return r.audit(ctx, tx, job, "backup.verify", s.Name, "succeeded", detail, time.Since(start))
		})
	}
	b.Status, b.FinishedAt, b.Error = store.BackupSucceeded, time.Now().UTC(), ""
	detail := "backup " + b.ID
	if reported {
		b.Size, b.DBSnapshot, b.FilesSnapshot = res.Size, res.DBSnapshot, res.FilesSnapshot
		detail += fmt.Sprintf(", %d bytes, snapshots %s %s", res.Size, res.DBSnapshot, res.FilesSnapshot)
	} else {
		// The Job completed but its pod left no result (a cluster
		// that does not run pods, such as the simulated one, or a
		// pod already gone): the backup is recorded as succeeded
		// with no size and no snapshot IDs rather than invented ones.
		detail += ", no result reported by the job"
	}
	// The retention of a scheduled backup: restic forgets all but the
	// store's newest Keep backups, and their records go with them. The
	// backup itself is taken: a failed retention is noted on it, and
	// runs again after the next scheduled backup.
	var forgotten []string
	if p.Keep > 0 {
		retention := r.backupSteps(s, job.ID, backup.JobSpec{Operation: backup.OpForget, Store: s.Name,
			Retention: backup.Retention{Last: p.Keep}}, func(backup.Result, bool) {})
		if err := r.runSteps(ctx, job, &s, retention[2:], events); err != nil {
			if ctx.Err() != nil {
				return err
			}
			r.Log.Warn("backup retention failed", "store", s.Name, "job", job.ID, "err", err)
			b.Error = "backed up, but applying the retention (keep " + strconv.Itoa(p.Keep) + ") failed: " + withoutAddresses(err.Error())
		} else {
			detail += fmt.Sprintf("; retention kept the newest %d", p.Keep)
			forgotten = []string{}
		}
	}
	err = r.outcome(ctx, job, store.JobSucceeded, "", func(tx store.DB) error {
		if err := tx.UpdateBackup(ctx, b); err != nil {
			return err
		}
		if forgotten != nil {
			list, err := tx.ListBackups(ctx, store.BackupFilter{Store: s.Name})
			if err != nil {
				return err
			}
			kept := 0
			for _, old := range list {
				if old.Status != store.BackupSucceeded {
					continue
				}
				if kept++; kept > p.Keep {
					if err := tx.RemoveBackup(ctx, old.ID); err != nil {
						return err
					}
					forgotten = append(forgotten, old.ID)
				}
			}
			if len(forgotten) > 0 {
				detail += fmt.Sprintf(", forgot %d: %s", len(forgotten), strings.Join(forgotten, " "))
			}
		}
		return r.audit(ctx, tx, job, "backup.create", s.Name, "succeeded", detail, time.Since(start))
	})
	if err == nil && r.Backups != nil {
		r.Backups.BackupFinished(b.Kind, "succeeded")
	}
	return err
}

// backupSteps are the steps of one backup Job of store s: the repository's
// Secret and policies, then the Job run to its end; done gets the Job's
// result and whether it reported one.
func (r *Runner) backupSteps(s store.Store, jobID int64, spec backup.JobSpec, done func(backup.Result, bool)) []step {
	k := r.Kube
	ns := Namespace(s.Name)
	labels := storeLabels(s.Name, s.Owner)
	repo, secretNS, secretName, repoErr := k.Settings.Backup.resolved()
	spec.Namespace, spec.Repository, spec.Images = ns, repo, backup.DefaultImages()
	// The Job carries the durable job's ID: a Job of the same name left by
	// an earlier run (a failed restore, run again) is not this run's.
	spec.CredentialsSecret, spec.Labels = credentialsName, maps.Clone(labels)
	spec.Labels[labelJob] = strconv.FormatInt(jobID, 10)
	return []step{
		{"backup-repository", func(ctx context.Context) error {
			if repoErr != nil {
				return repoErr
			}
			operator, err := k.Client.CoreV1().Secrets(secretNS).Get(ctx, secretName, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("read the backup repository's Secret %s/%s: %w", secretNS, secretName, describeAPIError(err))
			}
			for key := range operator.Data {
				if credentialKeyRE.MatchString(key) {
					spec.Repository.CredentialKeys = append(spec.Repository.CredentialKeys, key)
				}
			}
			slices.Sort(spec.Repository.CredentialKeys)
			if _, ok := operator.Data[caCertKey]; ok {
				spec.Repository.CACertKey = caCertKey
			}
			copied, err := backup.RepositorySecret(operator, spec.Repository, ns, labels)
			if err != nil {
				return err
			}
			return k.ensureRepositorySecret(ctx, copied)
		}},
		{"backup-policies", func(ctx context.Context) error {
			policies, err := backup.NetworkPolicies(ns, labels, spec.Repository.Endpoints)
			if err != nil {
				return err
			}
			for _, p := range policies {
				if err := ensure(ctx, k, gvrNetworkPolicy, k.Client.NetworkingV1().NetworkPolicies(ns), p); err != nil {
					return err
				}
			}
			return nil
		}},
		{"backup-" + string(spec.Operation), func(ctx context.Context) error {
			res, ok, err := k.runBackupJob(ctx, spec)
			if err != nil {
				return err
			}
			done(res, ok)
			return nil
		}},
	}
}

// runBackupJob creates spec's Job (or finds it, on a resumed run), waits
// for it to complete or fail, reads its result and deletes it. The result
// is the script's last line in the container's termination message; ok is
// false when the pod left none (on the simulated cluster, pods never run).
func (k *Kube) runBackupJob(ctx context.Context, spec backup.JobSpec) (backup.Result, bool, error) {
	want, err := backup.Job(spec)
	if err != nil {
		return backup.Result{}, false, err
	}
	jobs := k.Client.BatchV1().Jobs(spec.Namespace)
	_, err = jobs.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		// This run's Job (a resumed run waits on), or an earlier run's
		// (left failed for a person to read): that one goes first.
		have, gerr := jobs.Get(ctx, want.Name, metav1.GetOptions{})
		if gerr != nil && !apierrors.IsNotFound(gerr) {
			return backup.Result{}, false, fmt.Errorf("read job %s: %w", want.Name, describeAPIError(gerr))
		}
		if gerr == nil && have.Labels[labelJob] != want.Labels[labelJob] {
			if err := k.replaceJob(ctx, spec.Namespace, want); err != nil {
				return backup.Result{}, false, err
			}
		}
		err = nil
	}
	if err != nil {
		return backup.Result{}, false, fmt.Errorf("create job %s: %w", want.Name, describeAPIError(err))
	}
	var finished *batchv1.Job
	for finished == nil {
		j, err := jobs.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return backup.Result{}, false, fmt.Errorf("read job %s: %w", want.Name, describeAPIError(err))
		}
		if jobEnded(j, batchv1.JobComplete) || jobEnded(j, batchv1.JobFailed) {
			finished = j
			break
		}
		select {
		case <-ctx.Done():
			return backup.Result{}, false, ctx.Err()
		case <-time.After(backupPoll):
		}
	}
	message, err := k.terminationMessage(ctx, finished)
	if err != nil {
		return backup.Result{}, false, err
	}
	if jobEnded(finished, batchv1.JobFailed) {
		if message == "" {
			return backup.Result{}, false, fmt.Errorf("the %s job failed: %s", spec.Operation, jobFailure(finished))
		}
		_, err := backup.ParseResult(spec.Operation, []byte(message))
		return backup.Result{}, false, err
	}
	var res backup.Result
	ok := message != ""
	if ok {
		if res, err = backup.ParseResult(spec.Operation, []byte(message)); err != nil {
			return backup.Result{}, false, err
		}
	}
	// The Job is done with and counts against the namespace's quota of
	// Jobs; its TTL would remove it within the hour anyway.
	bg := metav1.DeletePropagationBackground
	if err := jobs.Delete(ctx, want.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		return backup.Result{}, false, fmt.Errorf("delete job %s: %w", want.Name, describeAPIError(err))
	}
	return res, ok, nil
}

// labelJob names the durable job a backup Job runs for.
const labelJob = "urumi.io/job"

// replaceJob deletes an earlier run's Job of want's name, with its pods,
// waits for it to be gone and creates want.
func (k *Kube) replaceJob(ctx context.Context, ns string, want *batchv1.Job) error {
	jobs := k.Client.BatchV1().Jobs(ns)
	fg := metav1.DeletePropagationForeground
	if err := jobs.Delete(ctx, want.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the earlier job %s: %w", want.Name, describeAPIError(err))
	}
	for {
		_, err := jobs.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create job %s: %w", want.Name, describeAPIError(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backupPoll):
		}
	}
}

func jobEnded(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobFailure(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return c.Reason + ": " + c.Message
		}
	}
	return "no reason given"
}

// terminationMessage is the newest pod's script container's termination
// message: the result line on success, the script's last lines on failure.
func (k *Kube) terminationMessage(ctx context.Context, j *batchv1.Job) (string, error) {
	pods, err := k.Client.CoreV1().Pods(j.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + j.Name})
	if err != nil {
		return "", fmt.Errorf("list the pods of job %s: %w", j.Name, describeAPIError(err))
	}
	var newest *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if newest == nil || newest.CreationTimestamp.Before(&p.CreationTimestamp) {
			newest = p
		}
	}
	if newest == nil {
		return "", nil
	}
	for _, cs := range newest.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.Message != "" {
			return t.Message, nil
		}
	}
	return "", nil
}

// backupFailed records a failed backup, deletion or restore: the job
// failed, the backup (when there is one) failed or back to succeeded for
// a failed deletion, the store as it was.
func (r *Runner) backupFailed(ctx context.Context, job store.Job, s store.Store, id string, start time.Time, cause error) error {
	r.Log.Warn("backup job failed", "store", s.Name, "job", job.ID, "err", cause)
	reason := withoutAddresses(cause.Error())
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := r.DB.RenewLease(dctx, job.ID, r.Worker, r.Lease); errors.Is(err, store.ErrLeaseLost) {
		return fmt.Errorf("%w (%s)", ErrLeaseLost, reason)
	}
	action := "backup.create"
	failedBackup := store.BackupKind("")
	if job.Kind == store.JobRestore {
		action = "backup.restore"
	}
	if err := r.outcome(dctx, job, store.JobFailed, reason, func(tx store.DB) error {
		if id != "" && job.Kind == store.JobBackup {
			b, err := tx.GetBackup(dctx, id)
			if err != nil {
				return err
			}
			switch {
			case b.Status == store.BackupDeleting:
				action = "backup.delete"
				b.Status, b.Error = store.BackupSucceeded, "delete failed: "+reason
			case b.Status == store.BackupSucceeded:
				// A verification of a taken backup failed: the backup
				// says so, and stays restorable by its owner's choice.
				action = "backup.verify"
				b.Error = "verify failed: " + reason
			default:
				b.Status, b.Error, b.FinishedAt = store.BackupFailed, reason, time.Now().UTC()
				failedBackup = b.Kind
			}
			if err := tx.UpdateBackup(dctx, b); err != nil {
				return err
			}
			if failedBackup == store.BackupScheduled {
				// A schedule that keeps failing leaves one failed
				// record, its newest, not one per attempt.
				list, err := tx.ListBackups(dctx, store.BackupFilter{Store: s.Name})
				if err != nil {
					return err
				}
				for _, old := range list {
					if old.ID != b.ID && old.Kind == store.BackupScheduled && old.Status == store.BackupFailed {
						if err := tx.RemoveBackup(dctx, old.ID); err != nil {
							return err
						}
					}
				}
			}
		}
		if job.Kind == store.JobRestore {
			s.Status, s.Error = store.StatusFailed, "restore of backup "+id+" failed: "+reason
			if err := tx.UpdateStore(dctx, s); err != nil {
				return err
			}
		}
		return r.audit(dctx, tx, job, action, s.Name, "failed", reason, time.Since(start))
	}); err != nil {
		return err
	}
	if failedBackup != "" && r.Backups != nil {
		r.Backups.BackupFinished(failedBackup, "failed")
	}
	return errors.New(reason)
}

// restoreJob restores a backup into its store: WordPress scaled down, the
// restore Job run, WordPress scaled back to its replicas, the store READY.
func (r *Runner) restoreJob(ctx context.Context, job store.Job, s store.Store, events Events) error {
	start := time.Now()
	var p backupParams
	if err := json.Unmarshal(job.Params, &p); err != nil {
		return r.backupFailed(ctx, job, s, "", start, fmt.Errorf("read the job's params: %w", err))
	}
	if p.NewStore {
		return r.restoreNew(ctx, job, s, p, events)
	}
	b, err := r.DB.GetBackup(ctx, p.BackupID)
	if err != nil {
		return r.backupFailed(ctx, job, s, p.BackupID, start, err)
	}
	steps := r.restoreSteps(s, job.ID, backup.JobSpec{Operation: backup.OpRestore, Store: s.Name, BackupID: b.ID, BackupStore: b.Store})
	s.Options, s.Phases = nil, nil
	if err := r.runSteps(ctx, job, &s, steps, events); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return r.backupFailed(ctx, job, s, b.ID, start, err)
	}
	s.Status, s.Error = store.StatusReady, ""
	return r.outcome(ctx, job, store.JobSucceeded, "", func(tx store.DB) error {
		if err := tx.UpdateStore(ctx, s); err != nil {
			return fmt.Errorf("mark %s ready: %w", s.Name, err)
		}
		return r.audit(ctx, tx, job, "backup.restore", s.Name, "succeeded", "backup "+b.ID, time.Since(start))
	})
}

// restoreSteps are a restore's steps into store s: the repository's
// Secret and policies, WordPress scaled down, the restore Job, WordPress
// scaled up.
func (r *Runner) restoreSteps(s store.Store, jobID int64, spec backup.JobSpec) []step {
	k := r.Kube
	ns := Namespace(s.Name)
	steps := r.backupSteps(s, jobID, spec, func(backup.Result, bool) {})
	return []step{steps[0], steps[1],
		{"scale-down", func(ctx context.Context) error { return k.scaleWordPressDown(ctx, ns) }},
		steps[2],
		{"scale-up", func(ctx context.Context) error { return k.scaleWordPressUp(ctx, ns) }},
	}
}

// restoreNew runs a restore into a new store: the create steps (its own
// namespace, credentials, release and host name), then the restore's, the
// site's URL rewritten to the new host by the restore script. A failure
// leaves the store FAILED, as a failed create does; deleting it gives its
// place back in the owner's limit.
func (r *Runner) restoreNew(ctx context.Context, job store.Job, s store.Store, p backupParams, events Events) error {
	start := time.Now()
	b, err := r.DB.GetBackup(ctx, p.BackupID)
	if err != nil {
		return r.fail(ctx, job, s, start, fmt.Errorf("read backup %s: %w", p.BackupID, err))
	}
	c, err := r.creation(ctx, job, &s)
	if err != nil {
		return r.fail(ctx, job, s, start, err)
	}
	if err := c.run(ctx, r, job, &s, events); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return r.fail(ctx, job, s, start, err)
	}
	// The script reads the old site URL from the backup's own options:
	// the store it was taken of may be gone, or have had its address
	// changed by its owner.
	spec := backup.JobSpec{Operation: backup.OpRestore, Store: s.Name, BackupID: b.ID, BackupStore: b.Store,
		NewURL: storeURL(s.Name, c.opts)}
	if err := r.runSteps(ctx, job, &s, r.restoreSteps(s, job.ID, spec), events); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return r.fail(ctx, job, s, start, fmt.Errorf("restore of backup %s: %w", b.ID, err))
	}
	return c.finish(ctx, r, job, s, start, func(tx store.DB) error {
		return r.audit(ctx, tx, job, "backup.restore", s.Name, "succeeded",
			fmt.Sprintf("backup %s of store %s into new store %s", b.ID, b.Store, s.Name), time.Since(start))
	})
}

// wordpressDeployment is the store chart's WordPress Deployment.
const wordpressDeployment = "wordpress"

// scaleWordPressDown notes WordPress's replicas on its Deployment, once,
// and scales it to zero: the restore Job mounts its volume read-write.
func (k *Kube) scaleWordPressDown(ctx context.Context, ns string) error {
	deployments := k.Client.AppsV1().Deployments(ns)
	d, err := deployments.Get(ctx, wordpressDeployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read the WordPress deployment: %w", describeAPIError(err))
	}
	if _, noted := d.Annotations[replicasAnnotation]; !noted {
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, replicasAnnotation, strconv.Itoa(int(replicas)))
		if _, err := deployments.Patch(ctx, wordpressDeployment, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("note WordPress's replicas: %w", describeAPIError(err))
		}
	}
	if _, err := deployments.Patch(ctx, wordpressDeployment, types.MergePatchType, []byte(`{"spec":{"replicas":0}}`),
		metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("scale WordPress down: %w", describeAPIError(err))
	}
	// Wait for its pods to go: the volume is ReadWriteOnce.
	for {
		pods, err := k.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=wordpress"})
		if err != nil {
			return fmt.Errorf("list WordPress pods: %w", describeAPIError(err))
		}
		if len(pods.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backupPoll):
		}
	}
}

// scaleWordPressUp scales WordPress back to the replicas noted before the
// restore and waits for them to be ready.
func (k *Kube) scaleWordPressUp(ctx context.Context, ns string) error {
	deployments := k.Client.AppsV1().Deployments(ns)
	d, err := deployments.Get(ctx, wordpressDeployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read the WordPress deployment: %w", describeAPIError(err))
	}
	replicas := 1
	if v, noted := d.Annotations[replicasAnnotation]; noted {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			replicas = n
		}
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}},"spec":{"replicas":%d}}`, replicasAnnotation, replicas)
	if _, err := deployments.Patch(ctx, wordpressDeployment, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("scale WordPress up: %w", describeAPIError(err))
	}
	for {
		d, err := deployments.Get(ctx, wordpressDeployment, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read the WordPress deployment: %w", describeAPIError(err))
		}
		if d.Status.ObservedGeneration >= d.Generation && int(d.Status.ReadyReplicas) >= replicas && int(d.Status.UpdatedReplicas) >= replicas {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backupPoll):
		}
	}
}

// ensureRepositorySecret creates the copy of the repository's Secret in a
// store's namespace, or brings an existing copy to it (an operator who
// rotated the password): by update, which urumi's role grants on Secrets,
// where it grants no patch.
func (k *Kube) ensureRepositorySecret(ctx context.Context, want *corev1.Secret) error {
	secrets := k.Client.CoreV1().Secrets(want.Namespace)
	_, err := secrets.Create(ctx, want, metav1.CreateOptions{FieldManager: fieldManager})
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("create secret %s: %w", want.Name, describeAPIError(err))
		}
		return nil
	}
	have, err := secrets.Get(ctx, want.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read secret %s: %w", want.Name, describeAPIError(err))
	}
	have.Data, have.Labels, have.Type = want.Data, want.Labels, want.Type
	if _, err := secrets.Update(ctx, have, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update secret %s: %w", want.Name, describeAPIError(err))
	}
	return nil
}
