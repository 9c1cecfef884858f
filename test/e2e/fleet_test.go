package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/urumi/urumi/internal/store"
)

// decodeRollout reads `urumi fleet ... -o json`.
func decodeRollout(t *testing.T, r result) store.Rollout {
	t.Helper()
	var ro store.Rollout
	if err := json.Unmarshal([]byte(r.stdout), &ro); err != nil {
		t.Fatalf("decode rollout: %v\n%s", err, r)
	}
	return ro
}

// runLong runs urumi to completion like run, with more time: a rollout's
// waves take minutes on a loaded machine.
func (e *env) runLong(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("run urumi %v: %v", args, err)
	}
	return r
}

// TestFleetRollout is issue 12's rollout: 20 stores, a canary then waves
// of 5, no failure tolerated; one store of the second wave cannot start
// its new pods, so it rolls back and the rollout halts after its wave,
// the later waves untouched. With the cause gone, a resume is killed
// mid-rollout, and the next resume completes it with every store upgraded
// exactly once.
func TestFleetRollout(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testFleetRollout(t, newEnv(t, b.dsn(t)), "fleet-"+b.name[:2]) })
	}
}

func testFleetRollout(t *testing.T, e *env, prefix string) {
	ctx := context.Background()
	const (
		n   = 20
		tag = "7.1.3-php8.3-apache"
	)
	name := func(i int) string { return fmt.Sprintf("%s-%02d", prefix, i) }
	e.ok("quota", "set", "--owner", "tester", "--max-stores", strconv.Itoa(n))

	// The stores, made by a serve's workers side by side.
	serve, serveOut := e.start("serve", "--addr", "127.0.0.1:0", "--workers", "5")
	for i := range n {
		e.ok("store", "create", name(i), "--wait=false")
	}
	db := e.openDB()
	wctx, cancel := context.WithTimeout(ctx, 8*time.Minute)
	waitFor(wctx, t, "20 READY stores", func() (bool, error) {
		list, err := db.ListStores(ctx, store.ListFilter{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, s := range list {
			if s.Status == store.StatusFailed {
				t.Fatalf("store %s failed: %s\nserve:\n%s", s.Name, s.Error, serveOut)
			}
			if s.Status == store.StatusReady {
				ready++
			}
		}
		return ready == n, nil
	})
	cancel()
	// The rollout is driven from the CLI below, not by serve.
	must(t, serve.Process.Signal(syscall.SIGTERM))
	_, _ = serve.Process.Wait()

	// fleet-03, of the second wave, cannot make its new revision's setup
	// Job (its first revision's is there): its upgrade fails, and the
	// rollback to revision 1, which needs no new Job, succeeds.
	blocked := name(3)
	block := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "block", Namespace: "store-" + blocked},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/jobs.batch": resource.MustParse("1")}},
	}
	_, err := e.client.CoreV1().ResourceQuotas(block.Namespace).Create(ctx, block, metav1.CreateOptions{})
	must(t, err)
	wctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	waitFor(wctx, t, "the blocking quota's usage", func() (bool, error) {
		q, err := e.client.CoreV1().ResourceQuotas(block.Namespace).Get(ctx, "block", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		used, ok := q.Status.Used["count/jobs.batch"]
		return ok && used.Value() >= 1, nil
	})
	cancel()

	r := e.runLong("fleet", "upgrade", "--canary", "1", "--batch-size", "5", "--max-failures", "0",
		"--set", "images.wordpress.tag="+tag, "--timeout", "90s", "-o", "json")
	if r.code == 0 || !strings.Contains(r.stderr, "halted") || !strings.Contains(r.stderr, "fleet resume") {
		t.Fatalf("a rollout with a failing store should halt and say how to resume: %s", r)
	}
	ro := decodeRollout(t, r)
	if ro.State != store.RolloutHalted || !strings.Contains(ro.Reason, blocked) || len(ro.Stores) != n {
		t.Fatalf("rollout after the failure: %s (%s), %d stores", ro.State, ro.Reason, len(ro.Stores))
	}
	for i, rs := range ro.Stores {
		want, wave := store.RolloutStoreSucceeded, 0
		if i > 0 {
			wave = 1 + (i-1)/5
		}
		switch {
		case rs.Store == blocked:
			want = store.RolloutStoreRolledBack
		case wave > 1:
			want = store.RolloutStorePending
		}
		if rs.Store != name(i) || rs.Wave != wave || rs.State != want {
			t.Errorf("rollout store %d: %+v, want %s in wave %d %s", i, rs, name(i), wave, want)
		}
		s, _ := e.getStore(rs.Store)
		switch {
		case wave > 1:
			// Untouched: its first revision, no job but its create.
			jobs, err := db.ListJobs(ctx, rs.Store)
			must(t, err)
			if s.Status != store.StatusReady || s.Release.Revision != 1 || len(jobs) != 1 {
				t.Errorf("store %s of a later wave was touched: %s, revision %d, %d jobs", rs.Store, s.Status, s.Release.Revision, len(jobs))
			}
		case rs.Store == blocked:
			if s.Status != store.StatusReady || s.Release.Versions.WordPress == tag || s.Release.LastChange == nil ||
				s.Release.LastChange.Outcome != store.ChangeRolledBack {
				t.Errorf("blocked store %s: %s on %s, last change %+v; want READY on its old tag, rolled back", rs.Store, s.Status, s.Release.Versions.WordPress, s.Release.LastChange)
			}
		default:
			if s.Release.Versions.WordPress != tag {
				t.Errorf("store %s of an upgraded wave runs %q", rs.Store, s.Release.Versions.WordPress)
			}
		}
	}
	status := e.ok("fleet", "status", strconv.FormatInt(ro.ID, 10))
	if !strings.Contains(status.stdout, blocked) || !strings.Contains(status.stderr, "halted") {
		t.Errorf("fleet status: %s", status)
	}

	// The cause fixed, a resume is killed while it upgrades a later wave.
	must(t, e.client.CoreV1().ResourceQuotas(block.Namespace).Delete(ctx, "block", metav1.DeleteOptions{}))
	// The API server's quota cache takes a moment to forget the quota: a
	// dry-run Job passes admission once it has.
	wctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	waitFor(wctx, t, "the quota gone from admission", func() (bool, error) {
		probe := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: block.Namespace},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
				Containers: []corev1.Container{{Name: "probe", Image: "busybox", SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				}}},
			}}},
		}
		_, err := e.client.BatchV1().Jobs(block.Namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil, nil
	})
	cancel()
	id := strconv.FormatInt(ro.ID, 10)
	resumedAt := time.Now()
	resume, resumeOut := e.start("fleet", "resume", id)
	wctx, cancel = context.WithTimeout(ctx, 6*time.Minute)
	waitFor(wctx, t, "a later wave's upgrades", func() (bool, error) {
		cur, err := db.GetRollout(ctx, ro.ID)
		if err != nil {
			return false, err
		}
		if cur.State == store.RolloutHalted && !cur.UpdatedAt.After(resumedAt) {
			return false, nil // the resume has not started yet
		}
		if cur.State != store.RolloutRunning {
			jobs, _ := db.ListJobs(ctx, blocked)
			t.Fatalf("the resumed rollout ended before the kill: %s (%s)\njobs of %s: %+v\n%s", cur.State, cur.Reason, blocked, jobs, resumeOut)
		}
		for _, rs := range cur.Stores {
			if rs.Wave >= 3 && rs.State == store.RolloutStoreRunning {
				return true, nil
			}
		}
		return false, nil
	})
	cancel()
	must(t, resume.Process.Signal(syscall.SIGKILL))
	_, _ = resume.Process.Wait()

	r = e.runLong("fleet", "resume", id, "-o", "json")
	if r.code != 0 {
		t.Fatalf("fleet resume: %s", r)
	}
	ro = decodeRollout(t, r)
	if ro.State != store.RolloutCompleted {
		t.Fatalf("rollout after the last resume: %s (%s)\n%s", ro.State, ro.Reason, r)
	}
	for _, rs := range ro.Stores {
		if rs.State != store.RolloutStoreSucceeded {
			t.Errorf("store %s ended %s: %s", rs.Store, rs.State, rs.Reason)
		}
		s, _ := e.getStore(rs.Store)
		if s.Status != store.StatusReady || s.Release.Versions.WordPress != tag {
			t.Errorf("store %s: %s on %q", rs.Store, s.Status, s.Release.Versions.WordPress)
		}
		jobs, err := db.ListJobs(ctx, rs.Store)
		must(t, err)
		var upgrades []string
		for _, j := range jobs {
			if j.Kind == store.JobUpgrade {
				upgrades = append(upgrades, string(j.State))
			}
		}
		want := "succeeded"
		if rs.Store == blocked {
			want = "failed succeeded"
		}
		if got := strings.Join(upgrades, " "); got != want {
			t.Errorf("store %s upgrade jobs: %q, want %q (each store upgraded once)", rs.Store, got, want)
		}
	}
	var actions []string
	entries, err := db.ListAudit(ctx, store.AuditFilter{})
	must(t, err)
	for _, en := range entries {
		if strings.HasPrefix(en.Action, "rollout.") {
			actions = append(actions, en.Action+":"+en.Outcome)
		}
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"rollout.start:requested", "rollout.wave:failed rollout.halt:failed", "rollout.resume:requested", "rollout.complete:succeeded"} {
		if !strings.Contains(got, want) {
			t.Errorf("audit %q lacks %q", got, want)
		}
	}
	list := e.ok("fleet", "status")
	if !strings.Contains(list.stdout, "completed") {
		t.Errorf("fleet status list: %s", list)
	}
}
