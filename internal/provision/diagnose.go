package provision

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/urumi/urumi/charts"
)

var metaGet = metav1.GetOptions{}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

// diagnose explains why a store's workloads did not become ready, naming the
// object and the cause as the cluster reports it (quota, scheduling, image,
// crash, a failed setup Job ...). It returns "" when it finds nothing.
func (k *Kube) diagnose(ctx context.Context, namespace string) string {
	var found []string
	add := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		if !slices.Contains(found, s) {
			found = append(found, s)
		}
	}
	c := k.Client

	// What is not ready, and why when the controller says.
	var notReady []string
	if deps, err := c.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range deps.Items {
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			failed := false
			for _, cond := range d.Status.Conditions {
				if cond.Type == appsv1.DeploymentReplicaFailure && cond.Status == corev1.ConditionTrue {
					add("Deployment %s cannot create pods: %s", d.Name, cond.Message)
					failed = true
				}
			}
			if !failed && (d.Status.AvailableReplicas < want || d.Status.UpdatedReplicas < want) {
				notReady = append(notReady, fmt.Sprintf("Deployment %s has %d of %d pods updated and available", d.Name, min(d.Status.AvailableReplicas, d.Status.UpdatedReplicas), want))
			}
		}
	}
	if sets, err := c.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, s := range sets.Items {
			want := int32(1)
			if s.Spec.Replicas != nil {
				want = *s.Spec.Replicas
			}
			if s.Status.ReadyReplicas < want {
				notReady = append(notReady, fmt.Sprintf("StatefulSet %s has %d of %d pods ready", s.Name, s.Status.ReadyReplicas, want))
			}
		}
	}
	if jobs, err := c.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, j := range jobs.Items {
			// The cron job's runs come and go every minute; whether one
			// is running or failed says nothing about the release.
			if j.Labels[charts.LabelComponent] == charts.ComponentCron {
				continue
			}
			done := false
			for _, cond := range j.Status.Conditions {
				switch {
				case cond.Status != corev1.ConditionTrue:
				case cond.Type == batchv1.JobFailed:
					add("Job %s failed (%s): %s", j.Name, cond.Reason, cond.Message)
					done = true
				case cond.Type == batchv1.JobComplete:
					done = true
				}
			}
			if !done {
				notReady = append(notReady, fmt.Sprintf("Job %s has not completed (%d running, %d failed)", j.Name, j.Status.Active, j.Status.Failed))
			}
		}
	}
	// ReplicaSets a Deployment has replaced keep their old events; only the
	// current ones' events are news.
	stale := map[string]bool{}
	if rss, err := c.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, rs := range rss.Items {
			if rs.Spec.Replicas != nil && *rs.Spec.Replicas == 0 {
				stale[rs.Name] = true
			}
		}
	}
	if pvcs, err := c.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pvcs.Items {
			if p.Status.Phase == corev1.ClaimPending {
				add("PersistentVolumeClaim %s is Pending (no volume bound: check the storage class and its provisioner)", p.Name)
			}
		}
	}
	if pods, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
					add("pod %s cannot be scheduled: %s", p.Name, cond.Message)
				}
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionFalse && p.Status.Phase == corev1.PodRunning {
					notReady = append(notReady, fmt.Sprintf("pod %s is running but not ready: %s %s", p.Name, cond.Reason, cond.Message))
				}
			}
			for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
					add("pod %s container %s is %s: %s", p.Name, cs.Name, w.Reason, w.Message)
				}
				if t := cs.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 && !cs.Ready {
					add("pod %s container %s exited with code %d (%s), restarted %d times", p.Name, cs.Name, t.ExitCode, t.Reason, cs.RestartCount)
				}
			}
		}
	}
	// Controllers report what they could not create (quota, LimitRange,
	// Pod Security) only as events.
	if evs, err := c.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"}); err == nil {
		sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.After(evs.Items[j].LastTimestamp.Time) })
		for _, e := range evs.Items {
			switch e.Reason {
			case "FailedCreate", "FailedScheduling", "ProvisioningFailed", "FailedMount", "BackoffLimitExceeded", "DeadlineExceeded":
				if e.InvolvedObject.Kind == "ReplicaSet" && stale[e.InvolvedObject.Name] {
					continue
				}
				add("%s %s: %s", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
			}
		}
	}
	// Causes first; what is merely not ready explains a timeout without one.
	for _, n := range notReady {
		add("%s", n)
	}
	if len(found) > 4 {
		found = found[:4]
	}
	return strings.Join(found, "; ")
}

// leftBehind explains why a store's namespace is not gone yet: what the
// namespace controller says remains, and the objects in it held by a
// finalizer. It returns "" when the namespace is gone or nothing is known.
func (k *Kube) leftBehind(ctx context.Context, namespace string) string {
	c := k.Client
	ns, err := c.CoreV1().Namespaces().Get(ctx, namespace, metaGet)
	if err != nil {
		return ""
	}
	var found []string
	if pvcs, err := c.CoreV1().PersistentVolumeClaims(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pvcs.Items {
			if p.DeletionTimestamp != nil && len(p.Finalizers) > 0 {
				found = append(found, fmt.Sprintf("PersistentVolumeClaim %s is terminating, held by %s (a pod still uses it)",
					p.Name, strings.Join(p.Finalizers, ", ")))
			}
		}
	}
	if pods, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{}); err == nil {
		n := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				n++
			}
		}
		switch {
		case n == 1:
			found = append(found, "1 pod is still terminating")
		case n > 1:
			found = append(found, fmt.Sprintf("%d pods are still terminating", n))
		}
	}
	if len(found) == 0 {
		for _, cond := range ns.Status.Conditions {
			if cond.Status == corev1.ConditionTrue && cond.Message != "" {
				found = append(found, cond.Message)
			}
		}
	}
	if len(found) > 4 {
		found = found[:4]
	}
	return strings.Join(found, "; ")
}
