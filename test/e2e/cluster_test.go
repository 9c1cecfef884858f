package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/urumi/urumi/internal/simcluster"
)

// TestClusterSmoke proves the simulated cluster does what urumi relies on.
func TestClusterSmoke(t *testing.T) {
	c := cluster.Get(t)
	client := kubernetes.NewForConfigOrDie(c.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ns := "smoke"
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   ns,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}, metav1.CreateOptions{})
	must(t, err)

	labels := map[string]string{"app": "web"}
	_, err = client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels, "web"),
		},
	}, metav1.CreateOptions{})
	must(t, err)

	db := map[string]string{"app": "db"}
	_, err = client.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](1),
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: db},
			Template:    podTemplate(db, "db"),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}, metav1.CreateOptions{})
	must(t, err)

	job := map[string]string{"app": "job"}
	jobTmpl := podTemplate(job, "job")
	jobTmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	_, err = client.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "setup"},
		Spec:       batchv1.JobSpec{Template: jobTmpl},
	}, metav1.CreateOptions{})
	must(t, err)

	waitFor(ctx, t, "deployment available", func() (bool, error) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 2, err
	})
	waitFor(ctx, t, "statefulset ready with a bound claim", func() (bool, error) {
		pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-db-0", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil || pvc.Status.Phase != corev1.ClaimBound {
			return false, err
		}
		s, err := client.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == 1, err
	})
	waitFor(ctx, t, "job complete", func() (bool, error) {
		j, err := client.BatchV1().Jobs(ns).Get(ctx, "setup", metav1.GetOptions{})
		return err == nil && j.Status.Succeeded == 1, err
	})

	// Pod Security Admission is enforced: a privileged pod is rejected.
	priv := podTemplate(nil, "priv")
	priv.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	_, err = client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "priv"}, Spec: priv.Spec}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("privileged pod in a restricted namespace: got %v, want a PodSecurity rejection", err)
	}

	// Quota, LimitRange and NetworkPolicy are accepted; the quota is enforced.
	_, err = client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "quota"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceLimitsCPU: resource.MustParse("2"), corev1.ResourceLimitsMemory: resource.MustParse("2Gi"),
			corev1.ResourceRequestsCPU: resource.MustParse("2"), corev1.ResourceRequestsMemory: resource.MustParse("2Gi"),
		}},
	}, metav1.CreateOptions{})
	must(t, err)
	_, err = client.CoreV1().LimitRanges(ns).Create(ctx, &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
		}}},
	}, metav1.CreateOptions{})
	must(t, err)
	_, err = client.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default-deny"},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}, metav1.CreateOptions{})
	must(t, err)
	waitFor(ctx, t, "quota status computed", func() (bool, error) {
		q, err := client.CoreV1().ResourceQuotas(ns).Get(ctx, "quota", metav1.GetOptions{})
		return err == nil && len(q.Status.Hard) > 0, err
	})
	big := podTemplate(nil, "big")
	big.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	_, err = client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Spec: big.Spec}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota") {
		t.Fatalf("pod over the quota: got %v, want an exceeded quota rejection", err)
	}
	// The LimitRange's defaults are applied to a pod that sets none.
	small := podTemplate(nil, "small")
	small.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	p, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "small"}, Spec: small.Spec}, metav1.CreateOptions{})
	must(t, err)
	if got := p.Spec.Containers[0].Resources.Limits.Cpu().String(); got != "100m" {
		t.Fatalf("LimitRange default cpu limit: got %s, want 100m", got)
	}

	// Deleting the namespace removes everything in it, and the volume goes.
	pvc, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-db-0", metav1.GetOptions{})
	must(t, err)
	must(t, client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
	waitFor(ctx, t, "namespace gone", func() (bool, error) {
		_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	waitFor(ctx, t, "volume deleted", func() (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// What urumi expects of any cluster it is pointed at.
	_, err = client.NetworkingV1().IngressClasses().Get(ctx, simcluster.IngressClass, metav1.GetOptions{})
	must(t, err)
	_, err = client.CoreV1().Namespaces().Get(ctx, simcluster.IngressNamespace, metav1.GetOptions{})
	must(t, err)
	v, err := client.Discovery().ServerVersion()
	must(t, err)
	if !strings.HasPrefix(v.GitVersion, "v1.37.") {
		t.Fatalf("server version %s, want v1.37.x", v.GitVersion)
	}
}

// podTemplate is a pod that passes the restricted Pod Security level.
func podTemplate(labels map[string]string, name string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:  name,
				Image: "registry.invalid/never-pulled:1",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
				},
			}},
		},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last error: %v)", what, ctx.Err(), lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
